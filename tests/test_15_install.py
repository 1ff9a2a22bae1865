"""kapmonitor refuses loudly to run beside another distribution's ``db``, ``devices`` or ``ui`` package.

The three generic package names are fixed by the design card; a clinic's Python environment may
already hold a package called ``db`` or ``ui``. kapmonitor then says so in one line (exit 2) and
names the fix (its own environment), instead of failing later with a confusing import error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _kapmonitor(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(ROOT)])
    return subprocess.run([sys.executable, "-m", "kapmonitor", *args], capture_output=True, text=True,
                          env=env, timeout=60, cwd=pythonpath or ROOT)


@pytest.mark.parametrize(("name", "marker"), [("db", ""), ("devices", ""),
                                              ("db", 'DISTRIBUTION = "kapmonitor"\n')])
def test_another_distributions_package_of_the_same_name_is_refused_in_one_line(
    tmp_path: Path, name: str, marker: str
) -> None:
    other = tmp_path / name
    other.mkdir()
    (other / "__init__.py").write_text(f'"""Some other project\'s {name} package."""\n{marker}')
    proc = _kapmonitor("sessions", pythonpath=tmp_path)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line == (f"kapmonitor: error: the package '{name}' in this Python environment is not "
                    f"kapmonitor's ({other / '__init__.py'}): another distribution provides a package of "
                    "that name. kapmonitor must be installed in an environment of its own: pipx install "
                    "kapmonitor, the .venv that ./run.sh makes, or the packaged app (README, 'Installing')")


def test_kapmonitors_own_packages_pass_the_check() -> None:
    from ui.main import foreign_package

    assert foreign_package() is None
    proc = _kapmonitor("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("kapmonitor "), proc.stderr
