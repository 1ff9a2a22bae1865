"""The frozen Linux application: build it, then run it as a clinic would.

Building takes about a minute on two cores and needs PyInstaller (the ``packaging`` extra) and the
system libraries named in ``packaging/build.sh``, so this runs only when asked::

    KAPMONITOR_TEST_BUNDLE=1 .venv/bin/pytest tests/test_bundle.py

``KAPMONITOR_BUNDLE_TARBALL=path/to/kapmonitor-...tar.gz`` tests an existing build instead of
building. Every run of the bundle uses ``env -i`` (no virtual environment, no PYTHONPATH):

* ``packaging/smoke_test.sh`` unpacks the tarball, runs ``--version``, ``--self-test``, a simulated
  ``record``/``export``/``report``, installs and uninstalls it into a scratch HOME and reports the
  unpacked size, which must stay under 250 MB;
* the bundle's own bleak and dbus-fast scan for and record from an emulated heart-rate strap served
  by a fake BlueZ on a private D-Bus (``tests/bluez``), proving the frozen app reaches Bluetooth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bluez.fake_bluez import FakeBlueZ
from bluez.fake_devices import full_uuid, heart_rate_strap

ROOT = Path(__file__).resolve().parent.parent
SIZE_LIMIT_MIB = 250
HR_MEASUREMENT = full_uuid(0x2A37)

pytest_plugins = ["bluez.fixtures"]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("KAPMONITOR_TEST_BUNDLE") != "1",
                       reason="set KAPMONITOR_TEST_BUNDLE=1 to build and test the frozen bundle (~1.5 min)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux bundle is built on Linux"),
]


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None,
         cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-6000:]}"
    return proc


@pytest.fixture(scope="module")
def build_said() -> str:
    """What packaging/build.sh printed ('' when KAPMONITOR_BUNDLE_TARBALL names a tarball built before)."""
    if os.environ.get("KAPMONITOR_BUNDLE_TARBALL"):
        return ""
    env = dict(os.environ)
    env.setdefault("KAPMONITOR_VENV", str(Path(sys.executable).parent.parent))  # this test run's venv
    proc = _run([str(ROOT / "packaging" / "build.sh")], timeout=900, env=env)
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def tarball(build_said: str) -> Path:
    given = os.environ.get("KAPMONITOR_BUNDLE_TARBALL")
    if given:
        return Path(given).resolve()
    (built,) = (ROOT / "packaging" / "dist").glob("kapmonitor-*-linux-*.tar.gz")
    return built


def test_the_build_reports_its_size_against_the_budget_and_writes_a_valid_sbom_of_the_locked_versions(
    build_said: str, tarball: Path
) -> None:
    if not build_said:
        pytest.skip("KAPMONITOR_BUNDLE_TARBALL: the build ran elsewhere")
    sizes = re.search(r"bundle: .*\((\d+) MiB unpacked; budget (\d+) MiB\)", build_said)
    packed = re.search(r"tarball: .*\((\d+) MiB; budget (\d+) MiB\)", build_said)
    assert sizes and packed, build_said[-3000:]
    assert int(sizes.group(1)) <= int(sizes.group(2)) and int(packed.group(1)) <= int(packed.group(2))
    sbom_path = tarball.with_name(tarball.name.removesuffix(".tar.gz") + ".cdx.json")
    assert f"SBOM:    {sbom_path.relative_to(ROOT)}" in build_said
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = sbom_path.read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None, "CycloneDX 1.6 schema"
    bom = json.loads(text)
    versions = {c["name"].lower(): c["version"] for c in bom["components"]
                if c["purl"].startswith("pkg:pypi/")}
    for name in ("pyside6-essentials", "numpy", "sqlalchemy", "bleak", "pyqtgraph", "edfio", "psycopg"):
        assert name in versions, f"{name} missing from the SBOM"
    lock = (ROOT / "requirements" / "run.lock").read_text(encoding="utf-8")
    for name, version in versions.items():
        pinned = rf"^{re.escape(name)}(\[[^\]]*\])?=={re.escape(version)}[\s;]"
        assert re.search(pinned, lock, re.M | re.I), f"{name} {version} is not the locked version"
    debs = [c for c in bom["components"] if c["purl"].startswith("pkg:deb/debian/")]
    assert any(c["name"].startswith("libpulse") for c in debs), "the system libraries bundled are listed"


@pytest.fixture(scope="module")
def bundle(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(tarball) as tf:
        tf.extractall(target, filter="tar")
    (folder,) = target.iterdir()
    return folder


def test_smoke_test_passes_and_the_bundle_is_small_enough(tarball: Path) -> None:
    out = _run([str(ROOT / "packaging" / "smoke_test.sh"), str(tarball)], timeout=600).stdout
    assert "self-test passed" in out
    assert "smoke_test: all passed" in out
    match = re.search(r"unpacked: \S+\s+\((\d+) MiB\)", out)
    assert match, out
    assert int(match.group(1)) < SIZE_LIMIT_MIB, f"bundle is {match.group(1)} MiB unpacked"


@pytest.fixture
def beating_strap(fake_bluez: FakeBlueZ) -> Iterator[tuple[FakeBlueZ, str]]:
    """An emulated strap that notifies 72-75 bpm every 0.25 s while subscribed."""
    strap = fake_bluez.add(heart_rate_strap())
    stop = threading.Event()

    def beat() -> None:
        n = 0
        while not stop.wait(0.25):
            fake_bluez.notify(strap.address, HR_MEASUREMENT, bytes([0x00, 72 + n % 4]))
            n += 1

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield fake_bluez, strap.address
    stop.set()
    thread.join(5)


def test_frozen_bundle_scans_and_records_a_bluetooth_strap(
    bundle: Path, beating_strap: tuple[FakeBlueZ, str], tmp_path: Path
) -> None:
    fake, address = beating_strap
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "DBUS_SYSTEM_BUS_ADDRESS": os.environ["DBUS_SYSTEM_BUS_ADDRESS"]}
    exe = str(bundle / "kapmonitor")
    scan = _run([exe, "scan", "--seconds", "1", "--json"], timeout=60, env=env, cwd=tmp_path)
    found = json.loads(scan.stdout)
    assert [s["address"] for s in found] == [address]
    assert found[0]["kinds"] == ["heart_rate"]

    db = tmp_path / "ble.db"
    _run([exe, "--db", str(db), "record", "--sensor", f"ble:{address}", "--baseline-minutes", "0.05",
          "--minutes", "0.1"], timeout=120, env=env, cwd=tmp_path)
    sessions = json.loads(_run([exe, "--db", str(db), "sessions", "--json"], timeout=60, env=env,
                               cwd=tmp_path).stdout)
    assert len(sessions) == 1
    assert sessions[0]["finished"] is True
    assert sessions[0]["readings"] >= 10, sessions
    assert not fake.is_connected(address)  # the bundle disconnected cleanly at the end
