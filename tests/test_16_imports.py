"""Commands that need no Qt never import it (issue 16): each runs in a fresh interpreter, and what it
imported is read from ``sys.modules`` when it has finished.

Qt costs a quarter of a second and tens of megabytes before a command does anything; a headless
``record``, an ``export`` or ``sessions`` on a server without a display must not pay it (the
printable report and the windows do, and are not in this list).

The commands that only read a SQLite file at the current schema (``sessions``, ``export``) read it
through the standard library (:mod:`db.sqlite_read`): they import no SQLAlchemy, and the session list
and the CSV no numpy either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from ui.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split('.')[0] for m in sys.modules}
               & {'PySide6', 'shiboken6', 'pyqtgraph', 'bleak', 'pylsl'})
database = sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic', 'numpy', 'edfio'})
print(json.dumps({"code": code, "heavy": heavy, "alembic": 'alembic' in sys.modules, "database": database}),
      file=sys.__stderr__)
"""


def _imports(*args: str, cwd: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    lines = proc.stderr.strip().splitlines()
    try:
        result: dict[str, object] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"kapmonitor {' '.join(args)} ended with {proc.returncode} before the probe reported; "
                    f"stderr: {proc.stderr[-2000:]!r}; stdout: {proc.stdout[-500:]!r}")
    result["stderr"] = proc.stderr[-1000:]
    return result


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("imports") / "k.db"
    proc = subprocess.run([sys.executable, "-m", "kapmonitor", "--db", str(path), "record", "--speed", "2000",
                           "--baseline-minutes", "0.1", "--minutes", "2", "--seed", "1"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.mark.parametrize("command", [
    ["--version"],
    ["protocols"],
    ["sessions"],
    ["sessions", "--json"],
    ["export", "latest", "-o", "{tmp}/s.csv"],
    ["export", "latest", "--format", "edf", "-o", "{tmp}/s.edf"],
    ["export", "latest", "--format", "fhir", "-o", "{tmp}/s.json"],
    ["export", "latest", "--format", "rr", "-o", "{tmp}/s.txt"],
    ["record", "--speed", "2000", "--baseline-minutes", "0", "--minutes", "0.5"],
    ["station", "--json", "--count", "1", "--interval", "0.1"],
    ["backup", "-o", "{tmp}/b.db"],
    ["settings", "export", "{tmp}/settings.json"],
])
def test_a_command_without_a_window_imports_no_qt_and_no_bluetooth(
    command: list[str], db: Path, tmp_path: Path
) -> None:
    argv = ["--db", str(db), *(a.replace("{tmp}", str(tmp_path)) for a in command)]
    found = _imports(*argv, cwd=tmp_path)
    assert found["code"] in (0, None), found
    assert found["heavy"] == [], f"kapmonitor {' '.join(command)} imported {found['heavy']}"


def test_the_packaged_head_read_without_alembic_is_alembics() -> None:
    from db.migrate import head_revision, packaged_head

    assert packaged_head() == head_revision()


def test_a_database_at_the_current_schema_opens_without_importing_alembic(db: Path, tmp_path: Path) -> None:
    found = _imports("--db", str(db), "sessions", cwd=tmp_path)
    assert found["code"] in (0, None) and found["alembic"] is False, found


@pytest.mark.parametrize(("command", "allowed"), [
    (["sessions"], []),
    (["sessions", "--json"], []),
    (["export", "latest", "-o", "{tmp}/s.csv"], []),
    (["export", "latest", "--format", "csv", "--deidentify", "-o", "{tmp}/d.csv"], []),
    (["export", "latest", "--format", "rr", "-o", "{tmp}/s.txt"], ["numpy"]),
    (["export", "latest", "--format", "fhir", "-o", "{tmp}/s.json"], ["numpy"]),
    (["export", "latest", "--format", "edf", "-o", "{tmp}/s.edf"], ["edfio", "numpy"]),
])
def test_a_command_that_only_reads_a_sqlite_file_imports_no_sqlalchemy(
    command: list[str], allowed: list[str], db: Path, tmp_path: Path
) -> None:
    argv = ["--db", str(db), *(a.replace("{tmp}", str(tmp_path)) for a in command)]
    found = _imports(*argv, cwd=tmp_path)
    assert found["code"] in (0, None), found
    assert found["database"] == allowed, f"kapmonitor {' '.join(command)} imported {found['database']}"
    assert found["heavy"] == []


def test_a_database_to_migrate_still_goes_through_the_store(db: Path, tmp_path: Path) -> None:
    """The check that keeps SQLAlchemy out can fail: a file not at the packaged head is the store's."""
    import shutil
    import sqlite3
    from contextlib import closing

    old = tmp_path / "old.db"
    shutil.copyfile(db, old)
    with closing(sqlite3.connect(old)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    found = _imports("--db", str(old), "sessions", cwd=tmp_path)
    assert found["code"] == 2 and "sqlalchemy" in found["database"], found
