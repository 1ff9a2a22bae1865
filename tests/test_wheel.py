"""The wheel carries everything kapmonitor needs at run time, proven by installing it somewhere new.

A copy of the project's sources is built into a wheel (``pip wheel``, as ``pip install .`` does)
and installed with ``--no-deps`` into a fresh virtual environment. Downloading PySide6 for every
run would take minutes, so the new environment reaches the *third-party* dependencies already
installed in this one through a ``.pth`` line naming this environment's site-packages. A path added
that way does not process the ``.pth`` files inside it, so this checkout's editable install stays
invisible: the test asserts that ``kapmonitor``, ``db``, ``ui`` and ``devices`` are imported from
the new environment, and then runs the installed console script from an unrelated directory with
a clean environment: ``--version``, a fast simulated ``record`` into a temporary database, and
``--self-test`` (which needs the migrations, fonts, sounds and icons from the wheel).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from kapmonitor import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "kapmonitor", "devices", "db", "ui")
FIRST_PARTY = ("kapmonitor", "devices", "db", "ui")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("wheelhouse")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)], cwd=src)
    wheels = list(out.glob("kapmonitor-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
          str(wheel)], cwd=target)
    new_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         cwd=target).stdout.strip())
    (new_site / "zz_kapmonitor_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return target


def _clean_env(home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen",
            "XDG_DATA_HOME": str(home / "data"), "XDG_STATE_HOME": str(home / "state"), "LANG": "C.UTF-8"}


def test_wheel_contains_migrations_assets_and_entry_point(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    expected = {
        "db/migrations/env.py", "db/migrations/versions/0001_initial.py", "db/py.typed",
        "ui/assets/fonts/DejaVuSans.ttf", "ui/assets/fonts/DejaVuSans-Bold.ttf", "ui/assets/fonts/LICENSE",
        "ui/assets/sounds/alarm_high.wav", "ui/assets/sounds/alarm_medium.wav",
        "ui/assets/sounds/alarm_low.wav", "ui/assets/lsl_api.cfg",
        "ui/assets/icons/kapmonitor-256.png", "ui/assets/icons/kapmonitor.svg", "ui/selftest.py",
        "kapmonitor/py.typed", "kapmonitor/settings.py", "devices/simulated.py",
    }
    assert expected <= names, sorted(expected - names)
    assert "kapmonitor = ui.main:main" in entry_points
    assert not any(n.startswith(("tests/", "packaging/", "benchmarks/")) for n in names)


def test_installed_wheel_imports_from_the_new_environment(fresh_venv: Path, tmp_path: Path) -> None:
    code = "; ".join(f"import {m}; print({m}.__file__)" for m in FIRST_PARTY)
    out = _run([str(fresh_venv / "bin" / "python"), "-c", code], cwd=tmp_path, env=_clean_env(tmp_path / "h"))
    files = out.stdout.split()
    assert len(files) == len(FIRST_PARTY)
    for f in files:
        assert Path(f).resolve().is_relative_to(fresh_venv.resolve()), f"imported from outside the venv: {f}"


def test_installed_console_script_runs_version_record_and_self_test(fresh_venv: Path, tmp_path: Path) -> None:
    exe = str(fresh_venv / "bin" / "kapmonitor")
    env = _clean_env(tmp_path / "home")
    work = tmp_path / "work"
    work.mkdir()
    out = _run([exe, "--version"], cwd=work, env=env)
    assert out.stdout.strip() == f"kapmonitor {__version__}"

    db = tmp_path / "record.db"
    rec = _run([exe, "--db", str(db), "record", "--sensor", "simulated", "--speed", "600", "--minutes", "10",
                "--baseline-minutes", "1", "--seed", "11"], cwd=work, env=env, timeout=120)
    assert "recorded event dose_given" in rec.stdout
    assert "recorded event session_ended" in rec.stdout
    assert "session 1 ended (recording complete)" in rec.stderr
    assert db.stat().st_size > 0
    listed = _run([exe, "--db", str(db), "sessions", "--json"], cwd=work, env=env)
    assert '"finished": true' in listed.stdout

    selftest = _run([exe, "--self-test"], cwd=work, env=env, timeout=180)
    assert f"self-test: Python installation at {fresh_venv / 'bin'}" in selftest.stdout
    assert selftest.stdout.splitlines()[-1].startswith("self-test passed"), selftest.stdout
    data = tmp_path / "home" / "data" / "kapmonitor"
    assert not (data / "kapmonitor.db").exists()  # the default database was never made
    # record kept its journal on this computer, and applied all of it: only the newest segment is left
    (journal,) = (data / "journal").iterdir()
    assert len(list((journal / "0").glob("*.jsonl"))) == 1
