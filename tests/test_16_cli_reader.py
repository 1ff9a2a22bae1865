"""The read-only SQLite reader of ``sessions`` and ``export`` (issue 16) reads what the store reads.

:class:`db.sqlite_read.SqliteReader` reads a SQLite file at the current schema through ``sqlite3``
alone, so the commands that only read need not import SQLAlchemy. Every read method the exports and
the session list use must give exactly what :class:`db.store.SqlStore` gives on the same file, and
every export format must write the same bytes through either; a file the reader must not open
(missing, empty, older, newer, another program's, damaged) is left to the store, whose words the
command still says.
"""

from __future__ import annotations

import io
import random
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from export14_session import Recorded, record_session

from db.engine import DEFAULT_BUSY_TIMEOUT_S, create_engine_for
from db.export import EXPORTERS
from db.export.csv import _iso, export_session_csv
from db.export.edf import export_session_edf
from db.export.fhir import export_session_fhir
from db.export.source import SessionSource, StoredSession
from db.migrate import packaged_head
from db.sqlite_read import BUSY_TIMEOUT_S, SqliteReader
from db.store import SqlStore
from kapmonitor.exporters import ExportOptions
from kapmonitor.ports import SessionSpec, StoreError
from kapmonitor.protocols import PRESETS
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Phase,
    Reading,
    SessionEvent,
    Stream,
)
from ui.main import main

T0 = datetime(2026, 5, 4, 9, 15, 30, 125_000, tzinfo=UTC)
GENERATED = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)


def _add_sessions(path: Path) -> list[int]:
    """Sessions beside the recorded one: each phase reached through its events, one unfinished without
    readings, an unknown event kind (a newer app's), odd values (no dose, no stream, a text-only
    observation, a time with a non-UTC offset)."""
    ids = []
    with SqlStore.open(path) as store:
        for n, phase in enumerate(p for p in Phase if p is not Phase.ENDED):
            start = T0 + timedelta(hours=n)
            sid = store.create_session(SessionSpec(f"K-{n:04d}", PRESETS["intranasal"], None, "mg",
                                                   settings={"room": "Room 2", "n": [n, None]}), start)
            store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, start, {}))
            store.append_event(sid, SessionEvent(EventKind.PHASE_CHANGED, start + timedelta(minutes=1),
                                                 {"phase": phase.value}))
            store.add_readings(sid, [Reading(Stream.HEART_RATE, 60.0 + i, start + timedelta(seconds=i), "s")
                                     for i in range(5)])
            ids.append(sid)
        dosed = store.create_session(SessionSpec("K-DOSE", PRESETS["sublingual"], 2.5, "mg/kg"), T0)
        store.append_event(dosed, SessionEvent(EventKind.DOSE_GIVEN, T0 + timedelta(minutes=2),
                                               {"amount": 2.5}))
        store.log_alarm(dosed, AlarmTransition(
            at=T0 + timedelta(minutes=3), alarm_id="check_overdue.x", label="Check overdue",
            priority=AlarmPriority.LOW, category=AlarmCategory.TECHNICAL, state=AlarmState.ACTIVE,
            action="raised", stream=None, value=None, limit=None, detail=""))
        store.save_observation(dosed, Observation(
            observation_id="o-1", revision=1, kind=ObservationKind.NOTE, name="note",
            occurred_at=T0.astimezone(timezone(timedelta(hours=2))), recorded_at=T0, text="ünïcode"))
        store.end_session(dosed, T0 + timedelta(minutes=30), "done")
        ids.append(dosed)
        bare = store.create_session(SessionSpec("K-BARE", PRESETS["intravenous"]), T0 - timedelta(days=400))
        ids.append(bare)
        store.flush()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO session_events (session_id, kind, at, data) VALUES (?, 'from_the_future', "
                     "'2026-05-04 09:20:00.000000', '{}')", (ids[0],))
    return ids


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record_session(tmp_path_factory.mktemp("reader16") / "k.db")


@pytest.fixture(scope="module")
def session_ids(recorded: Recorded) -> list[int]:
    return [recorded.session_id, *_add_sessions(recorded.path)]


def _reader(path: Path) -> SqliteReader:
    reader = SqliteReader.open_at_head(path)
    assert reader is not None, "a database at the packaged head opens"
    return reader


def test_every_read_gives_what_the_store_gives(recorded: Recorded, session_ids: list[int]) -> None:
    with SqlStore.open(recorded.path) as store, _reader(recorded.path) as reader:
        listed = store.sessions()
        assert len(listed) == len(session_ids) >= 7
        assert reader.sessions() == listed
        assert {s.phase_reached for s in listed} == {p for p in Phase if p is not Phase.ENDED}
        for sid in session_ids:
            assert reader.session(sid) == store.session(sid)
            assert reader.events(sid) == store.events(sid)
            assert reader.observations(sid) == store.observations(sid)
            assert reader.alarms(sid) == store.alarms(sid)
            assert reader.sensors(sid) == store.sensors(sid)
            for stream in Stream:
                mine, theirs = reader.load_stream(sid, stream), store.load_stream(sid, stream)
                assert mine.stream is theirs.stream
                for name in ("t", "value", "flags"):
                    a, b = getattr(mine, name), getattr(theirs, name)
                    assert a.dtype == b.dtype and a.flags.c_contiguous == b.flags.c_contiguous
                    np.testing.assert_array_equal(a, b)
        rich = recorded.session_id
        assert len(store.observations(rich)) > 5 and store.alarms(rich) and store.sensors(rich)
        assert all(o.occurred_at.tzinfo is UTC for o in reader.observations(session_ids[-2]))
        for read in ("events", "observations", "alarms", "sensors"):
            assert getattr(reader, read)(999) == getattr(store, read)(999) == []
        with pytest.raises(KeyError) as mine_error:
            reader.session(999)
        with pytest.raises(KeyError) as store_error:
            store.session(999)
        assert str(mine_error.value) == str(store_error.value)


@pytest.mark.parametrize("name", EXPORTERS.names())
def test_every_format_writes_the_same_bytes_through_either(recorded: Recorded, session_ids: list[int],
                                                           name: str) -> None:
    exporter = EXPORTERS.get(name)
    options = ExportOptions(generated_at=GENERATED, summary_interval_s=30.0)
    with SqlStore.open(recorded.path) as store, _reader(recorded.path) as reader:
        for sid in session_ids:
            outputs = []
            for source in (store, reader):
                out = io.BytesIO()
                try:
                    exporter.write_to(StoredSession(source, sid), out, options)
                except Exception as exc:  # a session a format cannot write fails alike through either
                    outputs.append(repr(exc).encode())
                else:
                    outputs.append(out.getvalue())
            assert outputs[0] == outputs[1], (name, sid)
            assert sid != recorded.session_id or len(outputs[0]) > 1000


def _deidentified(name: str, source: SessionSource, session_id: int) -> bytes:
    """The de-identified export ``name`` of a session, with one fixed random source."""
    rng = random.Random(16)
    out = io.BytesIO()
    if name == "csv":
        text = io.StringIO()
        export_session_csv(source, session_id, text, deidentify=True, rng=rng)
        return text.getvalue().encode()
    if name == "edf":
        export_session_edf(source, session_id, out, deidentify=True, rng=rng)
    else:
        export_session_fhir(source, session_id, out, generated_at=GENERATED, deidentify=True, rng=rng)
    return out.getvalue()


@pytest.mark.parametrize("name", ["csv", "edf", "fhir"])
def test_a_deidentified_export_is_the_same_through_either(recorded: Recorded, name: str) -> None:
    with SqlStore.open(recorded.path) as store, _reader(recorded.path) as reader:
        through_store = _deidentified(name, store, recorded.session_id)
        assert _deidentified(name, reader, recorded.session_id) == through_store
    assert len(through_store) > 1000 and b"ZQ-40917" not in through_store


def test_the_command_writes_what_the_store_writes(recorded: Recorded, tmp_path: Path) -> None:
    """``kapmonitor export`` (through the reader) against the store's own export of the same session."""
    with SqlStore.open(recorded.path) as store:
        for name in ("csv", "edf", "rr"):  # FHIR names the moment it was made: compared above instead
            expected = io.BytesIO()
            EXPORTERS.get(name).write_to(StoredSession(store, recorded.session_id), expected,
                                          ExportOptions(generated_at=GENERATED))
            target = tmp_path / f"s.{name}"
            assert main(["--db", str(recorded.path), "export", str(recorded.session_id), "--format", name,
                         "-o", str(target)]) == 0
            assert target.read_bytes() == expected.getvalue(), name


def test_the_time_stamps_are_numpys() -> None:
    """The CSV's time stamps, written without numpy, are what numpy's ``datetime_as_string`` writes."""
    rng = random.Random(16)
    times = [rng.randint(-62_000_000_000_000, 253_402_300_799_999) for _ in range(20_000)]
    times += [0, -1, -999, -1000, -1001, 59_999, 60_000, 951_782_399_999, 951_782_400_000, 1_798_761_599_999]
    times += list(range(1_777_000_000_000, 1_777_000_200_000, 997))
    expected = np.datetime_as_string(np.array(times, dtype=np.int64).astype("datetime64[ms]"), unit="ms",
                                     timezone="UTC").tolist()
    assert _iso(times) == expected


def _downgraded(path: Path) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    previous = ScriptDirectory.from_config(alembic_config()).get_revision(packaged_head()).down_revision
    assert isinstance(previous, str)
    engine = create_engine_for(path)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), previous)
    engine.dispose()


def _revision(value: str) -> object:
    def put(path: Path) -> None:
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (value,))
    return put


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, " * 400)


def _foreign(path: Path) -> None:
    path.unlink()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")


@pytest.mark.parametrize("prepare", [_downgraded, _revision("ffffffffffff"), _garbage, _foreign,
                                     lambda p: p.write_bytes(b"")],
                         ids=["older schema", "newer schema", "not a database", "another program's", "empty"])
def test_a_file_the_reader_must_not_open_is_left_to_the_store(
        recorded: Recorded, session_ids: list[int], tmp_path: Path, prepare: object,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "k.db"
    shutil.copyfile(recorded.path, db)
    db.chmod(0o600)
    prepare(db)  # type: ignore[operator]
    twin = tmp_path / "twin.db"
    shutil.copyfile(db, twin)
    twin.chmod(0o600)
    assert SqliteReader.open_at_head(db) is None
    try:
        with SqlStore.open(twin) as store:
            expected: list[str] | str = [str(s.session_id) for s in store.sessions()]
    except StoreError as exc:
        expected = str(exc).replace(str(twin), str(db))
    code = main(["--db", str(db), "sessions"])
    captured = capsys.readouterr()
    if isinstance(expected, str):  # refused, in the store's words
        said = [line for line in captured.err.splitlines() if "error" in line]
        assert code == 2 and said == [f"kapmonitor: error: {expected}"], captured.err
    else:  # migrated (or made) by the store, then listed
        assert code == 0, captured.err
        assert [line.split()[0] for line in captured.out.splitlines()[1:]] == expected
        reader = SqliteReader.open_at_head(db)
        assert reader is not None, "at the packaged head now"
        reader.close()


def test_a_missing_file_is_not_created_and_a_damaged_page_is_the_stores_words(
        recorded: Recorded, tmp_path: Path) -> None:
    assert SqliteReader.open_at_head(tmp_path / "none.db") is None
    assert not (tmp_path / "none.db").exists()
    db = tmp_path / "k.db"
    shutil.copyfile(recorded.path, db)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'readings'").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(db, "r+b") as f:  # the readings table's root page, overwritten
        f.seek((root - 1) * page)
        f.write(b"\xff" * page)
    errors = []
    reader = _reader(db)
    with SqlStore.open(db) as store, reader:
        for source in (store, reader):
            with pytest.raises(StoreError) as raised:
                source.load_stream(recorded.session_id, Stream.HEART_RATE)
            errors.append(str(raised.value))
    assert errors[0] == errors[1] and "is damaged" in errors[0]


def test_the_reader_writes_nothing_and_waits_as_long_as_the_store(recorded: Recorded) -> None:
    assert BUSY_TIMEOUT_S == DEFAULT_BUSY_TIMEOUT_S
    with _reader(recorded.path) as reader, pytest.raises(StoreError) as raised, reader.raw_cursor() as cur:
        cur.execute("DELETE FROM sessions")
    assert "read-only" in str(raised.value)
    with pytest.raises(StoreError, match="is closed"), reader.raw_cursor():
        pass


def test_reading_leaves_the_file_as_it_was_and_no_wal_files_beside_it(recorded: Recorded,
                                                                       tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    shutil.copyfile(recorded.path, db)
    before = db.read_bytes()
    assert main(["--db", str(db), "sessions"]) == 0
    assert main(["--db", str(db), "export", "latest", "-o", str(tmp_path / "s.csv")]) == 0
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.db", "s.csv"], "no -wal, no -shm left"
