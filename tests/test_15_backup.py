"""``kapmonitor backup`` and ``kapmonitor restore``, as a clinic's IT person would use them.

A backup is taken while ``kapmonitor record`` runs in another process, then restored into a new
path: the copy passes SQLite's integrity check and holds the same sessions and row counts as the
backup. Every bad restore (a damaged file, not a database, another application's database, a newer
schema, a database in use) is refused with one line, exit 2, and the database is left byte for byte
as it was; a replaced database and its recording journal are kept, never deleted.
"""

from __future__ import annotations

import hashlib
import io
import signal
import sqlite3
from pathlib import Path

import pytest
from record_process import start_record

from db.backup import BackupError, check_database
from db.journaled_store import JournaledStore
from db.paths import journal_folder
from db.store import SqlStore
from ui.main import main


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("sessions", "session_events", "readings", "observations", "alarm_log", "settings")}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recorded(db: Path, monkeypatch: pytest.MonkeyPatch, *, seed: int = 3) -> None:
    """A finished 30-minute session with one note, recorded at 1200x."""
    monkeypatch.setattr("sys.stdin", io.StringIO("client resting\n"))
    assert main(["--db", str(db), "record", "--speed", "1200", "--baseline-minutes", "1", "--minutes", "30",
                 "--seed", str(seed), "--dose-mg", "100"]) == 0


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kapmonitor: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.slow
def test_a_backup_taken_while_recording_restores_with_the_same_sessions_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "clinic" / "kapmonitor.db"
    db.parent.mkdir()
    run = start_record(db, "--minutes", "600", speed=60.0, baseline_min=0.5)
    try:
        run.wait_for_stderr(" T+0:", timeout=60)  # dosed and recording a reading every (scaled) second
        backup = tmp_path / "usb" / "monday.db"
        backup.parent.mkdir()
        assert main(["--db", str(db), "backup", "-o", str(backup)]) == 0
        said = capsys.readouterr().err
        assert f"backed up {db} to {backup}" in said
        assert run.proc.poll() is None, "the recording went on during the backup"
        live = _counts(db)
    finally:
        run.proc.send_signal(signal.SIGINT)
        run.close()
    held = _counts(backup)
    assert held["sessions"] == 1
    assert held["readings"] > 30, held
    assert held["readings"] <= live["readings"]
    assert f"{held['sessions']} sessions, {held['readings']} readings" in said
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete", "a backup is one file"
    assert not list(backup.parent.glob("*.partial"))

    restored = tmp_path / "new-laptop" / "kapmonitor.db"
    restored.parent.mkdir()
    assert main(["--db", str(restored), "restore", str(backup)]) == 0
    assert f"restored {restored} from {backup}" in capsys.readouterr().err
    assert _counts(restored) == held
    with sqlite3.connect(restored) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    store = SqlStore.open(restored)
    try:
        [session] = store.sessions()
        assert session.client_code == "DEMO"
        assert session.ended_at is None, "the backup was taken mid-session"
    finally:
        store.close()


def test_backup_without_o_goes_to_a_backups_folder_beside_the_database_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "kapmonitor.db"
    _recorded(db, monkeypatch)
    capsys.readouterr()
    assert main(["--db", str(db), "backup"]) == 0
    [made] = (tmp_path / "backups").iterdir()
    assert made.name.startswith("kapmonitor-") and made.name.endswith("Z.db"), made.name
    assert _counts(made) == _counts(db)
    assert (tmp_path / "backups").stat().st_mode & 0o077 == 0, "health data: the folder is the owner's"
    capsys.readouterr()

    before = _digest(made)
    assert main(["--db", str(db), "backup", "-o", str(made)]) == 2
    assert "already exists; a backup never overwrites a file" in _one_error_line(capsys)
    assert _digest(made) == before


@pytest.mark.parametrize(("args", "said"), [
    (["--db", "postgresql://kap@localhost/kapmonitor", "backup"], "pg_dump -Fc and pg_restore"),
    (["--db", "postgresql://kap@localhost/kapmonitor", "restore", "x.db"], "pg_dump -Fc and pg_restore"),
    (["--db", "{tmp}/absent.db", "backup"], "there is no database at"),
    (["--db", "{tmp}/k.db", "backup", "-o", "{tmp}/no/such/folder/b.db"], "is not a folder; create it first"),
    (["--db", "{tmp}/k.db", "restore", "{tmp}/absent.db"], "absent.db: no such file"),
    (["--db", "{tmp}/k.db", "backup", "-o", " "], "-o needs a file name"),
])
def test_backup_and_restore_refuse_what_they_cannot_do_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    SqlStore.open(tmp_path / "k.db").close()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    try:
        code = main(argv)
    except SystemExit as exc:  # the argument parser's own checks
        code = int(str(exc.code))
    assert code == 2
    assert said in _one_error_line(capsys) or said in capsys.readouterr().err


def _not_sqlite(path: Path) -> None:
    path.write_text("session_id,client_code\n1,K-1\n", encoding="utf-8")


def _damaged(path: Path, good: Path) -> None:
    data = bytearray(good.read_bytes())
    page = 4096
    for at in range(2 * page + 100, len(data), page):  # scribble over every page after the schema's
        data[at:at + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))


def _other_app(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")


def _newer_schema(path: Path, good: Path) -> None:
    path.write_bytes(good.read_bytes())
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed9999'")


def _two_revisions(path: Path, good: Path) -> None:
    path.write_bytes(good.read_bytes())
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")


@pytest.mark.parametrize(("make", "said"), [
    ("not_sqlite", "is not a SQLite database"),
    ("damaged", "is damaged: SQLite's integrity check reports"),
    ("other_app", "is not a kapmonitor database (it has no alembic_version, sessions"),
    ("newer", "was written by a newer version of kapmonitor (schema f00dfeed9999)"),
    ("two_revisions", "has 2 schema revisions recorded"),
])
def test_a_bad_backup_is_refused_and_the_database_is_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], make: str, said: str
) -> None:
    db = tmp_path / "kapmonitor.db"
    _recorded(db, monkeypatch)
    good = tmp_path / "good.db"
    assert main(["--db", str(db), "backup", "-o", str(good)]) == 0
    bad = tmp_path / "bad.db"
    if make == "not_sqlite":
        _not_sqlite(bad)
    elif make == "damaged":
        _damaged(bad, good)
    elif make == "other_app":
        _other_app(bad)
    elif make == "newer":
        _newer_schema(bad, good)
    else:
        _two_revisions(bad, good)
    capsys.readouterr()
    before = {p.name: _digest(p) for p in tmp_path.iterdir() if p.is_file()}

    assert main(["--db", str(db), "restore", str(bad)]) == 2
    line = _one_error_line(capsys)
    assert "nothing was restored" in line and said in line, line
    assert {p.name: _digest(p) for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_database_in_use_is_not_replaced_and_a_closed_one_is_kept_beside_the_restored_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monday = tmp_path / "monday.db"
    _recorded(monday, monkeypatch, seed=1)
    db = tmp_path / "kapmonitor.db"
    _recorded(db, monkeypatch, seed=2)
    _recorded(db, monkeypatch, seed=3)
    journal = JournaledStore.open(db)  # a kapmonitor with the database and its journal open
    journal_dir = journal_folder(str(db), journal.room)
    try:
        capsys.readouterr()
        assert main(["--db", str(db), "restore", str(monday)]) == 2
        assert "is in use by another program (a running kapmonitor?)" in _one_error_line(capsys)
        assert _counts(db)["sessions"] == 2
    finally:
        journal.close()
    assert journal_dir.exists()
    old = _counts(db)

    assert main(["--db", str(db), "restore", str(monday)]) == 0
    said = capsys.readouterr().err
    assert _counts(db) == _counts(monday)
    [kept] = tmp_path.glob("kapmonitor.before-restore-*Z.db")
    assert f"the database it replaced is kept as {kept}" in said
    assert _counts(kept) == old, "the replaced database is kept whole"
    assert not journal_dir.exists(), "the replaced database's journal is set aside"
    [aside] = journal_dir.parent.glob(f"{journal_dir.name}.before-restore-*")
    assert f"recording journal is kept as {aside}" in said
    store = SqlStore.open(db)  # the restored database opens (and migrates) as any other
    try:
        assert len(store.sessions()) == 1
    finally:
        store.close()


def test_check_database_names_the_file_and_what_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "k.db"
    _recorded(db, monkeypatch)
    checked = check_database(db)
    assert (checked.sessions, checked.readings) == (_counts(db)["sessions"], _counts(db)["readings"])
    assert checked.counts().startswith("1 sessions, ")
    with pytest.raises(BackupError, match=r"k2\.db: no such file"):
        check_database(tmp_path / "k2.db")
