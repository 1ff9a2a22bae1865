"""Every bad input a clinic's IT person tried (issue 15), answered with one specific line and exit 2.

Each row is a command as typed, what the one error line must say, and what must not have happened:
no traceback, nothing recorded changed (the database's row counts), no session left behind, no
folder or database conjured up by a typo, another program's file left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ui.main import main

FORTY_DIGITS = "1234567890" * 4


def _copy(recorded: Path, db: Path) -> None:
    """A private copy of the module's database (owner-only, as kapmonitor makes its files)."""
    db.write_bytes(recorded.read_bytes())
    db.chmod(0o600)


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("sessions", "session_events", "readings", "observations", "settings")}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with one finished session (recorded once for the module)."""
    db = tmp_path_factory.mktemp("clinic") / "kapmonitor.db"
    old_stdin = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        assert main(["--db", str(db), "record", "--speed", "1200", "--baseline-minutes", "0.5",
                     "--minutes", "5", "--seed", "5"]) == 0
    finally:
        sys.stdin = old_stdin
    return db


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    said: str
    prepare: Callable[[Path], None] | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    creates_nothing: tuple[str, ...] = ()
    """Paths (relative to the test's folder) that must not exist afterwards."""


def _second_revision(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")


def _revision_back(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM alembic_version WHERE version_num = '0001'")


def _setting(value: str) -> Callable[[Path], None]:
    def put(db: Path) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('clinic', ?, "
                         "'2026-12-02 10:00:00')", (value,))
    return put


NO_DISPLAY: dict[str, str | None] = {"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None}

CASES = {
    "unknown URL scheme": Case(("--db", "foo://bar", "sessions"), "'foo://' is not a kind of database"),
    "PostgreSQL driver missing": Case(("--db", "postgresql+pg8000://kap@localhost/kap", "sessions"),
                                      "support is not installed in this kapmonitor"),
    "minutes 1e10": Case(("record", "--minutes", "1e10"), "--minutes must be from 0 to 1440 minutes"),
    "minutes 1e308": Case(("record", "--minutes", "1e308"), "--minutes must be from 0 to 1440 minutes"),
    "baseline 1e308": Case(("record", "--baseline-minutes", "1e308"),
                           "--baseline-minutes must be from 0 to 240 minutes"),
    "speed 1e308": Case(("record", "--speed", "1e308"), "--speed must be a clock speed from 0.1 to 10000"),
    "speed 1e-300": Case(("record", "--speed", "1e-300"), "--speed must be a clock speed from 0.1 to 10000"),
    "export 40-digit id": Case(("export", FORTY_DIGITS),
                               "session must be a session id (a whole number from 1"),
    "report 40-digit id": Case(("report", FORTY_DIGITS, "-o", "r.pdf"), "session must be a session id"),
    "take-over 40 digits": Case(("record", "--resume", "--take-over", FORTY_DIGITS),
                                "--take-over needs a whole number from 1 to"),
    "scan 1e308 s": Case(("scan", "--seconds", "1e308"),
                         "--seconds must be a number above 0 and at most 300"),
    "second alembic_version row": Case(("sessions",), "records 2 schema revisions", prepare=_second_revision),
    "settings row not JSON": Case(("settings", "export", "s.json"), "is not valid JSON",
                                  prepare=_setting("{not json")),
    "settings row 5000 deep": Case(("settings", "export", "s.json"), "is nested too deeply",
                                   prepare=_setting("[" * 5000 + "]" * 5000)),
    "no display": Case((), "no display: the bedside window needs an X11 or Wayland desktop", env=NO_DISPLAY),
    "station window, no display": Case(("station",), "no display: the station window needs", env=NO_DISPLAY),
    "empty --db": Case(("--db", "", "sessions"), "--db needs a database file or URL, got an empty value"),
    "--db in a missing folder": Case(("--db", "{tmp}/typo/kapmonitr.db", "record"),
                                     "of the database --db names does not exist (a typo?)",
                                     creates_nothing=("typo",)),
    "window, --db in a missing folder": Case(("--db", "{tmp}/typo/k.db"), "names does not exist (a typo?)",
                                             env={"QT_QPA_PLATFORM": "offscreen"}, creates_nothing=("typo",)),
    "--db file missing, read": Case(("--db", "{tmp}/kapmonitr.db", "sessions"), "there is no database at",
                                    creates_nothing=("kapmonitr.db",)),
    "KAPMONITOR_DB in a missing folder": Case(("export", "latest"), "of the database KAPMONITOR_DB names",
                                              env={"KAPMONITOR_DB": "{tmp}/nowhere/k.db"},
                                              creates_nothing=("nowhere",)),
    "--speed before the command": Case(("--speed", "5", "record"),
                                       "--speed before a command applies only with --demo"),
    "--client with --resume": Case(("record", "--resume", "--client", "K-77"),
                                   "--client describes a new session; --resume continues"),
    "--lot with --resume": Case(("record", "--resume", "--lot", "L-1"), "--lot describes a new session"),
    "100 000-character lot": Case(("record", "--lot", "x" * 100_000),
                                  "--lot must be at most 64 characters, got 100000"),
    "lot with a line break": Case(("record", "--lot", "A1\nB2"), "--lot must be printable text"),
    "ble with no Bluetooth stack": Case(("record", "--sensor", "ble:F0:13:C3:5A:22:9B"),
                                        "no Bluetooth adapter found",
                                        env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path={tmp}/no-dbus-here"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_one_specific_line_exit_2_and_changes_nothing(
    name: str, recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    db = tmp_path / "kapmonitor.db"
    _copy(recorded, db)
    if case.prepare is not None:
        case.prepare(db)
    before = _counts(db)
    for key, value in case.env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value.replace("{tmp}", str(tmp_path)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    if "--db" not in argv and "KAPMONITOR_DB" not in case.env:
        argv = ["--db", str(db), *argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # the argument parser's checks
        code = int(str(exc.code))
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error" in line.lower()]
    assert code == 2, captured.err[-2000:]
    assert len(errors) == 1, captured.err[-2000:]
    assert case.said in errors[0], errors[0][:500]
    assert "Traceback" not in captured.err
    if case.prepare is _second_revision:
        _revision_back(db)
    assert _counts(db) == before, "nothing recorded changed, no session left behind"
    for path in case.creates_nothing:
        assert not (tmp_path / path).exists(), f"{path} was created"


def test_another_programs_sqlite_file_is_refused_and_left_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other-apps.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('A', '1')")
    other.chmod(0o600)
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    for command in (["sessions"], ["record", "--speed", "1000", "--minutes", "1"]):
        assert main(["--db", str(other), *command]) == 2
        err = capsys.readouterr().err
        assert "holds another program's tables (contacts) and no kapmonitor records" in err
        assert hashlib.sha256(other.read_bytes()).hexdigest() == digest
        assert sorted(p.name for p in tmp_path.iterdir()) == ["other-apps.db"], "no -wal, no -shm"


def _kapmonitor(*args: str, stdout: int | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "kapmonitor", *args], stdout=stdout,
                            stderr=subprocess.PIPE, env=env)


def test_an_export_to_a_full_disk_or_a_closed_pipe_is_one_line(recorded: Path, tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    _copy(recorded, db)
    with open("/dev/full", "wb") as full:
        proc = _kapmonitor("--db", str(db), "export", "latest", stdout=full.fileno())
        _, err = proc.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2, err.decode()
    assert lines == ["kapmonitor: error: could not write the export to standard output: "
                     "No space left on device"], lines

    proc = _kapmonitor("--db", str(db), "export", "latest", stdout=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    _, err = proc.communicate(timeout=60)
    assert first.startswith(b"session_id,")
    assert proc.returncode == 2, err.decode()
    assert err.decode().strip().splitlines() == [
        "kapmonitor: error: standard output was closed before everything was written"]


def test_the_clinic_settings_stay_usable_when_a_damaged_row_is_replaced(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "k.db"
    _copy(recorded, db)
    _setting("[" * 5000 + "]" * 5000)(db)
    good = tmp_path / "clinic.json"
    fresh = tmp_path / "fresh.db"
    assert main(["--db", str(fresh), "settings", "import", "/dev/null"]) == 2  # not a settings file
    capsys.readouterr()
    assert main(["--db", str(recorded), "settings", "export", str(good)]) == 0
    assert main(["--db", str(db), "settings", "import", str(good)]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "settings", "export", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["kapmonitor"] == "clinic settings"


def test_an_export_into_a_named_pipe_writes_into_it_and_never_replaces_it(
    recorded: Path, tmp_path: Path
) -> None:
    """``-o /dev/null`` (or a FIFO) must stay what it is: the atomic replace once turned /dev/null into
    a regular file, as root. Tested on a FIFO so that a regression cannot break this machine."""
    import stat
    import threading

    db = tmp_path / "k.db"
    _copy(recorded, db)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["--db", str(db), "export", "latest", "-o", str(fifo)]) == 0
    reader.join(30)
    assert stat.S_ISFIFO(fifo.stat().st_mode), "the pipe is still a pipe"
    assert received and received[0].startswith(b"session_id,client_code,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.db", "pipe"], "no part file left beside it"
