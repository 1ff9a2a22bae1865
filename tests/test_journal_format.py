"""The journal's sensor-packet lines ("R"): rows made once, encoded several packets a line, replayed once.

Sensor packets are converted to database rows on the recording thread
(``kapmonitor.journal.reading_rows``), written by the writer's sync as ``"R"`` lines of up to
``PACKETS_PER_LINE`` packets and inserted by the store as they are. These tests hold that path to
what the old one did: the same rows as ``db.sqltypes.to_epoch_ms``, every packet identifiable by
its own sequence number, a torn line cut off, a replay applying each packet once, and lines of
the earlier ``"r"`` format still read and applied.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from db.journaled_store import JournaledStore
from db.sqltypes import to_epoch_ms
from db.store import SqlStore
from kapmonitor.journal import (
    PACKETS_PER_LINE,
    AnyEntry,
    Entry,
    Journal,
    ReadingBatch,
    ReadingRow,
    decode_entries,
    decode_line,
    encode_entries,
    encode_entry,
    reading_rows,
    rows_of,
)
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import (
    Observation,
    ObservationKind,
    Reading,
    ReadingFlag,
    Stream,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENSOR = "F0:13:C3:5A:22:9B"


def _spec() -> SessionSpec:
    return SessionSpec(client_code="K-0001", protocol=next(iter(PRESETS.values())))


def _obs(n: int) -> Observation:
    return Observation(observation_id=f"obs-{n}", revision=1, kind=ObservationKind.NOTE, name="note",
                       occurred_at=T0, recorded_at=T0, text=f"note {n}")


def _packet(i: int, at: datetime | None = None) -> list[Reading]:
    at = at if at is not None else T0 + timedelta(milliseconds=333 * i, microseconds=137 * i)
    return [Reading(Stream.HEART_RATE, 60.0 + i % 50, at, SENSOR),
            Reading(Stream.RR_INTERVAL, 845.703125 + i, at + timedelta(microseconds=500), SENSOR,
                    ReadingFlag.ARTIFACT if i % 7 == 0 else ReadingFlag.NONE)]


def _expected_rows(sid: int, readings: list[Reading]) -> list[ReadingRow]:
    """What the store inserted for these readings before "R" lines existed (db.journal_apply)."""
    return [(sid, r.stream.value, to_epoch_ms(r.at), float(r.value), r.sensor_id, int(r.flags))
            for r in readings]


def _db_rows(db: Path) -> list[Any]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT session_id, stream, t_ms, value, sensor_id, flags FROM readings "
                            "ORDER BY id").fetchall()
    finally:
        conn.close()


def _new_db(tmp_path: Path) -> tuple[Path, int]:
    db = tmp_path / "k.db"
    with SqlStore.open(db) as store:
        return db, store.create_session(_spec(), T0)


# -- rows made once, on the recording thread --------------------------------------------------

def test_rows_are_what_the_store_inserted_before_rounding_included() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    times = [T0, T0 + timedelta(microseconds=499), T0 + timedelta(microseconds=500),  # half a ms: up
             T0 + timedelta(microseconds=1500), T0 - timedelta(microseconds=500),
             datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC),  # before the epoch
             datetime(2026, 3, 2, 14, 30, 0, 250_500, tzinfo=tz)]  # aware, not UTC
    readings = [Reading(Stream.SPO2, 97 + k, at, SENSOR, ReadingFlag(k % 4)) for k, at in enumerate(times)]
    rows = rows_of(reading_rows(7, readings))
    assert rows == _expected_rows(7, readings)
    assert all(type(v) is float for _, _, _, v, _, _ in rows)  # an int value is stored as a float
    assert all(type(s) is str and type(f) is int for _, s, _, _, _, f in rows)  # not the enums


@pytest.mark.parametrize("bad", [
    Reading(Stream.HEART_RATE, 70.0, datetime(2026, 3, 2, 9, 0), SENSOR),  # naive
    Reading(Stream.HEART_RATE, float("nan"), T0, SENSOR),
    Reading(Stream.HEART_RATE, float("inf"), T0, SENSOR),
])
def test_a_packet_with_an_unstorable_reading_is_refused_whole(tmp_path: Path, bad: Reading) -> None:
    journal = Journal.open(tmp_path)
    try:
        with pytest.raises(ValueError, match="refused"):
            journal.append_readings(1, [Reading(Stream.HEART_RATE, 70.0, T0, SENSOR), bad])
        assert journal.next_seq == 1  # nothing numbered, nothing queued
        with pytest.raises(ValueError, match="at least one reading"):
            journal.append_readings(1, [])  # an empty packet would make its whole line unreadable
        assert journal.append_readings(1, _packet(0)) == 1
    finally:
        journal.close()


# -- the line format --------------------------------------------------------------------------

def test_packets_and_other_entries_survive_their_lines() -> None:
    n = PACKETS_PER_LINE + 10
    entries: list[AnyEntry] = [(k + 1, 3, reading_rows(3, _packet(k))) for k in range(n)]
    entries.insert(5, (6, 3, _obs(1)))  # a note between packets ends their line
    entries = [(k + 1, sid, item) for k, (_, sid, item) in enumerate(entries)]
    entries.append((n + 10, 4, reading_rows(4, _packet(99))))  # a gap in numbering: a line of its own
    data = encode_entries(entries)
    lines = data.split(b"\n")
    assert lines[-1] == b""
    # 5 packets | the note | PACKETS_PER_LINE packets | the rest | the one after the gap
    assert len(lines[:-1]) == 5
    decoded = [e for line in lines[:-1] for e in decode_entries(line)]
    assert decoded == entries
    assert all(isinstance(e, Entry) for e in decoded)
    assert [e.kind for e in decoded[4:7]] == ["r", "o", "r"]
    assert all(json.loads(line)[1] == "R" for k, line in enumerate(lines[:-1]) if k != 1)
    # A line of one packet is an entry of its own, as for any other kind.
    single = Entry(12, 3, reading_rows(3, _packet(12)))
    assert decode_line(encode_entry(single).rstrip(b"\n")) == single
    with pytest.raises(ValueError, match="holds 5 entries"):
        decode_line(lines[0])


@pytest.mark.parametrize("line", [
    b'[1,"R",[[3,"heart_rate",1772442000000,70.0,"s"]]]',  # 5 values, not 6 per reading
    b'[1,"R",[[3,"heart_rate",1772442000000,70.0,"s",0,4,"heart_rate",1772442000001,71.0,"s",0]]]',
    b'[1,"R",[[3,"heart_rate",1772442000000,NaN,"s",0]]]',
    b'[1,"R",[[3,"no_such_stream",1772442000000,70.0,"s",0]]]',
    b'[1,"R",[[]]]',
    b'["1","R",[[3,"heart_rate",1772442000000,70.0,"s",0]]]',
    b'[1,"R",[[3,"heart_rate",1772442000000,70.0,"s",0]]',  # torn
])
def test_a_damaged_packet_line_is_refused_whole(line: bytes) -> None:
    with pytest.raises(ValueError, match="malformed journal line"):
        decode_entries(line)


def test_a_torn_packet_line_is_cut_off_and_numbering_continues(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    for k in range(4):
        journal.append_readings(1, _packet(k))
    journal.sync()
    journal.close()
    segment = next((tmp_path / "0").glob("*.jsonl"))
    whole = segment.read_bytes()
    assert whole.count(b"\n") == 1  # the four packets share a line
    torn = encode_entries([(k + 5, 1, reading_rows(1, _packet(k + 4))) for k in range(3)])
    with open(segment, "ab") as out:
        out.write(torn[: len(torn) // 2])  # a crash in the middle of the writer's write
    journal = Journal.open(tmp_path)
    try:
        assert [e.seq for e in journal.recovered(0)] == [1, 2, 3, 4]
        assert [e.seq for e in journal.recovered(2)] == [3, 4]
        item = journal.recovered(3)[0].item
        assert isinstance(item, tuple) and rows_of(item) == _expected_rows(1, _packet(3))
        assert segment.read_bytes() == whole
        assert journal.append_readings(1, _packet(5)) == 5
    finally:
        journal.close()


# -- applied once ------------------------------------------------------------------------------

def test_a_replayed_journal_of_packets_is_applied_once_in_journal_order(tmp_path: Path) -> None:
    db, sid = _new_db(tmp_path)
    # A process journals packets (and a packet in the earlier "r" format, as a journal left by the
    # previous version holds), and dies before the writer applied any.
    journal = Journal.open(tmp_path / "journal")
    packets = [_packet(k) for k in range(2 * PACKETS_PER_LINE + 3)]
    for k, pkt in enumerate(packets):
        if k == 10:
            journal.append(sid, [ReadingBatch(tuple(pkt))], durable=False)
        else:
            journal.append_readings(sid, pkt)
        if k == 20:
            journal.append(sid, [_obs(1)], durable=True)
    journal.close()
    for _ in range(3):  # every later start replays what the database lacks, and only that
        with JournaledStore.open(db, journal_dir=tmp_path / "journal") as store:
            store.wait_applied(10)
    expected = [row for pkt in packets for row in _expected_rows(sid, pkt)]
    assert _db_rows(db) == expected
    with SqlStore.open(db) as store:
        assert [o.observation_id for o in store.observations(sid)] == ["obs-1"]
        last = store.last_recorded_at(sid)
    conn = sqlite3.connect(db)
    try:
        count, last_ms = conn.execute("SELECT reading_count, last_reading_ms FROM sessions WHERE id = ?",
                                      (sid,)).fetchone()
    finally:
        conn.close()
    assert count == len(expected)  # the counters advanced once too
    assert last_ms == max(r[2] for r in expected)
    assert last is not None


def test_packets_applied_before_a_crash_are_not_applied_again(tmp_path: Path) -> None:
    db, sid = _new_db(tmp_path)
    folder = tmp_path / "journal"
    with JournaledStore.open(db, journal_dir=folder) as store:
        for k in range(50):
            store.add_readings(sid, _packet(k))
        store.wait_applied(10)
        applied = store.journal.next_seq - 1

        def crashed(journal_id: str, entries: object) -> int:
            raise RuntimeError("the process died")

        store.database.apply_journal = crashed  # type: ignore[method-assign]
        for k in range(50, 80):  # journaled and synced, but the process dies before applying them
            store.add_readings(sid, _packet(k))
        store.flush()
    assert len(_db_rows(db)) == 100  # the first 50 packets only
    # Start again: the file still holds every packet (its segment is not retired: it is the
    # current one), the mark says how far the database got.
    journal = Journal.open(folder)
    assert len(journal.recovered(0)) == 80 and len(journal.recovered(applied)) == 30
    journal.close()
    with JournaledStore.open(db, journal_dir=folder) as store:
        store.wait_applied(10)
    assert _db_rows(db) == [row for k in range(80) for row in _expected_rows(sid, _packet(k))]


def test_the_status_counts_what_waits_while_the_database_is_locked(tmp_path: Path) -> None:
    db, sid = _new_db(tmp_path)
    store = JournaledStore.open(db, journal_dir=tmp_path / "journal", interval_s=0.05)
    try:
        store.wait_applied(10)
        blocker = sqlite3.connect(db, timeout=0)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            before = time.monotonic()
            for k in range(3):
                store.add_readings(sid, _packet(k))
            store.save_observation(sid, _obs(1))
            deadline = time.monotonic() + 30
            while not store.journal_status().error:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            status = store.journal_status()
            assert (status.observations, status.events, status.other) == (1, 0, 3)
            assert status.waiting_since is not None and status.waiting_since >= before
        finally:
            blocker.rollback()
            blocker.close()
        store.wait_applied(30)
        status = store.journal_status()
        assert (status.observations, status.events, status.other, status.waiting_since) == (0, 0, 0, None)
    finally:
        store.close()
    assert len(_db_rows(db)) == 6


def test_packets_reach_the_journal_file_within_a_second_while_the_database_is_locked(tmp_path: Path) -> None:
    db, sid = _new_db(tmp_path)
    folder = tmp_path / "journal"
    store = JournaledStore.open(db, journal_dir=folder)
    try:
        store.wait_applied(10)
        blocker = sqlite3.connect(db, timeout=0)
        blocker.execute("BEGIN IMMEDIATE")  # the writer now waits in SQLite's busy handler, then backs off
        try:
            store.save_observation(sid, _obs(1))  # the writer takes it at once, and blocks on the lock
            time.sleep(0.3)
            for k in range(8):  # 2 s of packets, 4 a second
                store.add_readings(sid, _packet(k))
                seq = store.journal.next_seq - 1
                time.sleep(0.25)
                on_disk = {e.seq for p in sorted(folder.glob("*/*.jsonl"))
                           for line in p.read_bytes().splitlines() for e in decode_entries(line)}
                # Every packet journaled a second ago or more is in the file (the fsync follows the
                # write within the same sync call).
                assert seq - 4 in on_disk or seq <= 4, (seq, sorted(on_disk))
        finally:
            blocker.rollback()
            blocker.close()
        store.wait_applied(30)
    finally:
        store.close()
