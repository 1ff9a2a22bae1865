"""The recording journal and the one writer: durability, replay exactly once, a store that refuses."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.journaled_store import JournaledStore
from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.journal import (
    Item,
    Journal,
    JournalError,
    ReadingBatch,
    decode_line,
    encode_entry,
    reading_rows,
)
from kapmonitor.ports import SessionSpec, StoreError
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Reading,
    ReadingFlag,
    SensorInfo,
    SensorKind,
    SessionEvent,
    Stream,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _spec() -> SessionSpec:
    return SessionSpec(client_code="K-0001", protocol=next(iter(PRESETS.values())))


def _obs(n: int, at: datetime = T0) -> Observation:
    return Observation(observation_id=f"obs-{n}", revision=1, kind=ObservationKind.NOTE, name="note",
                       occurred_at=at, recorded_at=at, text=f"note {n}")


def test_every_kind_of_entry_survives_its_line_format() -> None:
    items: list[Item] = [
        reading_rows(3, (Reading(Stream.HEART_RATE, 71.0, T0, "aa:bb", ReadingFlag.NONE),
                         Reading(Stream.RR_INTERVAL, 845.703125, T0, "aa:bb", ReadingFlag.ARTIFACT))),
        ReadingBatch((Reading(Stream.HEART_RATE, 71.0, T0, "aa:bb", ReadingFlag.NONE),
                      Reading(Stream.RR_INTERVAL, 845.703125, T0, "aa:bb", ReadingFlag.ARTIFACT))),
        SessionEvent(EventKind.DOSE_GIVEN, T0 + timedelta(microseconds=7), {"amount": 50.0, "unit": "mg"}),
        _obs(1),
        AlarmTransition(T0, "hr_high", "HR high", AlarmPriority.MEDIUM, AlarmCategory.PHYSIOLOGICAL,
                        AlarmState.ACTIVE, "raised", Stream.HEART_RATE, 131.0, 130.0, ""),
        SensorInfo("aa:bb", "Polar H10", (SensorKind.HEART_RATE,), "Polar", "H10", None, "5.0", "chest"),
    ]
    from kapmonitor.journal import Entry

    for seq, item in enumerate(items, start=1):
        entry = Entry(seq, 3, item)
        assert decode_line(encode_entry(entry).rstrip(b"\n")) == entry


def test_a_torn_last_line_is_cut_off_and_numbering_continues(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(1, [_obs(1), _obs(2)], durable=True)
    journal.close()
    segment = next((tmp_path / "0").glob("*.jsonl"))
    with open(segment, "ab") as out:
        out.write(b'[3,1,"o",{"id":"obs-3"')  # a crash in the middle of a write
    journal = Journal.open(tmp_path)
    assert [e.seq for e in journal.recovered(0)] == [1, 2]
    assert journal.recovered(1)[0].item == _obs(2)
    assert journal.append(1, [_obs(4)], durable=True)[0].seq == 3
    journal.close()
    assert all(line.endswith(b"]") for line in segment.read_bytes().splitlines())


def test_a_second_process_takes_its_own_journal(tmp_path: Path) -> None:
    first = Journal.open(tmp_path)
    second = Journal.open(tmp_path)
    assert first.folder != second.folder
    assert first.journal_id != second.journal_id
    second.close()
    first.close()


def test_replay_after_a_crash_applies_each_entry_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    with SqlStore.open(db) as store:
        sid = store.create_session(_spec(), T0)
    # A process journals a note, readings and an event, and dies before the writer applied any.
    journal = Journal.open(tmp_path / "journal")
    journal.append(sid, [_obs(1)], durable=True)
    journal.append(sid, [ReadingBatch((Reading(Stream.HEART_RATE, 70.0, T0, "s"),))], durable=False)
    dose = SessionEvent(EventKind.DOSE_GIVEN, T0, {"amount": None, "unit": "mg"})
    journal.append(sid, [dose], durable=True)
    journal.close()
    for _ in range(3):  # every later start replays what the database lacks, and only that
        with JournaledStore.open(db, journal_dir=tmp_path / "journal") as store:
            store.wait_applied(10)
    with SqlStore.open(db) as store:
        assert [o.observation_id for o in store.observations(sid)] == ["obs-1"]
        assert len(store.load_stream(sid, Stream.HEART_RATE)) == 1
        assert store.session(sid).dose_at == T0
        assert [e.kind for e in store.events(sid)] == [EventKind.DOSE_GIVEN]


def test_a_note_is_saved_while_another_process_holds_the_database_locked(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    clock = FakeClock(start=T0)
    store = JournaledStore.open(db, clock=clock, journal_dir=tmp_path / "journal")
    recorder = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sid = recorder.start_session(_spec())
    store.wait_applied(10)
    seen: list[str] = []
    store.add_status_listener(lambda status: seen.append(status.describe()))
    blocker = sqlite3.connect(db, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another program's write lock
    try:
        started = time.monotonic()
        obs = recorder.add_observation(ObservationKind.NOTE, "note", text="client calm")
        assert time.monotonic() - started < 1.0  # durable in the journal, not waiting for the lock
        deadline = time.monotonic() + 30
        while not any("1 note is waiting for the database" in line for line in seen):
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
        assert store.journal_status().waiting
    finally:
        blocker.rollback()
        blocker.close()
    store.wait_applied(30)
    assert seen[-1] == ""  # and the window/CLI hear that the database has it
    assert [o.observation_id for o in store.observations(sid)] == [obs.observation_id]
    assert store.observations(sid)[0].occurred_at == T0  # the time it was entered, not applied
    recorder.close()
    store.close()


def test_when_even_the_journal_cannot_be_written_the_note_is_refused_not_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal.open(tmp_path)
    journal.append(1, [_obs(1)], durable=True)
    import errno
    import os as real_os

    real_write = real_os.write
    full = threading.Event()
    full.set()

    def write(fd: int, data: bytes | memoryview) -> int:
        if full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr("kapmonitor.journal.os.write", write)
    with pytest.raises(JournalError, match=r"disk holding .* is full") as refused:
        journal.append(1, [_obs(2)], durable=True)
    assert isinstance(refused.value, StoreError)
    journal.append(1, [ReadingBatch((Reading(Stream.HEART_RATE, 70.0, T0, "s"),))], durable=False)
    assert journal.unwritten == 1  # a reading is kept in memory meanwhile
    full.clear()
    journal.append(1, [_obs(2)], durable=True)  # the retry, once space returns
    assert journal.unwritten == 0
    journal.close()
    reopened = Journal.open(tmp_path)
    assert [(e.seq, e.kind) for e in reopened.recovered(0)] == [(1, "o"), (2, "r"), (3, "o")]
    reopened.close()
