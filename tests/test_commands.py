"""Headless commands end to end: record, sessions, export, and their one-line errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from db.store import SqlStore
from kapmonitor.types import EventKind, ObservationKind
from ui.main import main


@pytest.fixture(scope="module")
def recorded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cmd") / "k.db"
    mp = pytest.MonkeyPatch()
    mp.setattr("sys.stdin", io.StringIO("client calm, eyes closed\n!nausea\n"))
    try:
        status = main(["--db", str(db), "record", "--speed", "1200", "--baseline-minutes", "2",
                       "--minutes", "60", "--seed", "5", "--client", "K-042", "--dose-mg", "200"])
    finally:
        mp.undo()
    assert status == 0
    return db


def test_record_stores_a_whole_session(recorded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SqlStore.open(recorded_db) as store:
        (summary,) = store.sessions()
        assert summary.client_code == "K-042"
        assert summary.dose_amount == 200
        assert summary.ended_at is not None
        assert summary.phase_reached.value == "integration"
        events = store.events(summary.session_id)
        assert events[0].kind is EventKind.SESSION_STARTED
        assert events[-1].kind is EventKind.SESSION_ENDED
        assert events[-1].data.get("reason") == "recording complete"
        obs = store.observations(summary.session_id)
        assert {(o.kind, o.name, o.text) for o in obs} == {
            (ObservationKind.NOTE, "note", "client calm, eyes closed"),
            (ObservationKind.TAG, "nausea", ""),
        }
        assert summary.reading_count > 3000


def test_sessions_text_and_json(recorded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(recorded_db), "sessions"]) == 0
    out = capsys.readouterr().out
    assert "K-042" in out
    assert "integration" in out
    assert main(["--db", str(recorded_db), "sessions", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["client_code"] == "K-042"
    assert row["finished"] is True
    assert row["observations"] == 2
    # 2 min baseline + 60 min after the dose; at x1200 each wake-up may overshoot by a few clock seconds
    assert 62 * 60 <= row["duration_s"] <= 62 * 60 + 300


def test_export_to_stdout_and_file_agree(
    recorded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(recorded_db), "export", "latest"]) == 0
    printed = capsys.readouterr().out
    target = tmp_path / "s.csv"
    assert main(["--db", str(recorded_db), "export", "1", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8").replace("\r\n", "\n") == printed.replace("\r\n", "\n")
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert {r["phase"] for r in rows} >= {"preparation", "onset", "effect", "integration"}
    assert {r["kind"] for r in rows} == {"session", "reading", "event", "observation"} | (
        {"alarm"} if any(r["kind"] == "alarm" for r in rows) else set()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"], "no temporary file is left behind"


def test_deidentified_export_hides_the_client(recorded_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(recorded_db), "export", "latest", "--deidentify"]) == 0
    text = capsys.readouterr().out
    assert "K-042" not in text
    assert "eyes closed" not in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "7"], "no session 7 in the database"),
        (["export", "1", "--format", "xls"], "unknown export format 'xls' (known: csv, edf, fhir, rr)"),
        (["record", "--protocol", "oral-magic"], "unknown protocol 'oral-magic'"),
        (["record", "--resume"], "no unfinished session of"),
    ],
)
def test_bad_requests_get_one_line_and_status_2(
    recorded_db: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = recorded_db.read_bytes()
    assert main(["--db", str(recorded_db), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.strip().count("\n") == 0
    assert recorded_db.read_bytes() == before


def test_export_latest_on_an_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.db"
    SqlStore.open(empty).close()
    assert main(["--db", str(empty), "export", "latest"]) == 2
    assert "no sessions yet" in capsys.readouterr().err


def test_export_from_a_database_that_does_not_exist_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "typo.db"), "export", "latest"]) == 2
    assert "there is no database at" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()


def test_export_to_an_unwritable_place(recorded_db: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--db", str(recorded_db), "export", "1", "-o", str(blocker / "s.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_corrupt_database_is_refused_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    before = bad.read_bytes()
    assert main(["--db", str(bad), "sessions"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "damaged or is not a kapmonitor database" in err[-1]
    assert bad.read_bytes() == before


def test_locked_database_is_reported(recorded_db: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "locked.db"
    copy.write_bytes(recorded_db.read_bytes())
    holder = sqlite3.connect(copy, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another program is writing (WAL still lets readers in)
    try:
        status = main(["--db", str(copy), "record", "--speed", "600", "--minutes", "1"])
    finally:
        holder.rollback()
        holder.close()
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "locked" in err[-1].lower()
    with SqlStore.open(copy) as store:
        assert len(store.sessions()) == 1


def test_scan_without_bluetooth_is_one_line_status_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-socket")
    assert main(["scan", "--seconds", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kapmonitor: no Bluetooth adapter found")
    assert "\n" not in err
