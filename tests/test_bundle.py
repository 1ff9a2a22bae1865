"""The frozen Linux application: build it, then run it as a clinic would (``packaging/smoke_test.sh``).

Building takes about a minute on two cores and needs PyInstaller (the ``packaging`` extra) and the
system libraries named in ``packaging/build.sh``, so this runs only when asked::

    KAPMONITOR_TEST_BUNDLE=1 .venv/bin/pytest tests/test_bundle.py

``KAPMONITOR_BUNDLE_TARBALL=path/to/kapmonitor-...tar.gz`` tests an existing build instead of
building. The smoke test unpacks the tarball, runs ``--version``, ``--self-test`` and a simulated
``record``/``export`` with ``env -i`` (no virtual environment, no PYTHONPATH), installs and
uninstalls it into a scratch HOME and reports the unpacked size, which must stay under 250 MB.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIZE_LIMIT_MIB = 250

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("KAPMONITOR_TEST_BUNDLE") != "1",
                       reason="set KAPMONITOR_TEST_BUNDLE=1 to build and test the frozen bundle (~1.5 min)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux bundle is built on Linux"),
]


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{cmd[0]} failed ({proc.returncode}):\n{output[-6000:]}"
    return proc.stdout


def test_frozen_bundle_passes_self_test_in_a_clean_environment() -> None:
    tarball = os.environ.get("KAPMONITOR_BUNDLE_TARBALL")
    if not tarball:
        env = dict(os.environ)
        env.setdefault("KAPMONITOR_VENV", str(Path(sys.executable).parent.parent))  # this test run's venv
        _run([str(ROOT / "packaging" / "build.sh")], timeout=900, env=env)
    out = _run([str(ROOT / "packaging" / "smoke_test.sh"), *([tarball] if tarball else [])], timeout=600)
    assert "self-test passed" in out
    assert "smoke_test: all passed" in out
    match = re.search(r"unpacked: \S+\s+\((\d+) MiB\)", out)
    assert match, out
    assert int(match.group(1)) < SIZE_LIMIT_MIB, f"bundle is {match.group(1)} MiB unpacked"
