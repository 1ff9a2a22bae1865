"""Session counters (``sessions.reading_count``/``last_reading_ms``): exact under concurrent writes,
committed with their readings, and backfilled by migration 0002."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect

from db.engine import create_engine_for
from db.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from db.sqltypes import from_epoch_ms, to_epoch_ms
from db.store import SqlStore
from db.writer import session_totals
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import Observation, ObservationKind, Reading, Stream

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore.open(tmp_path / "k.db", clock=FakeClock(T0), flush_interval_s=0.02)
    yield s
    s.close()


def fresh_counts(path: Path) -> dict[int, tuple[int, int | None]]:
    """``{session: (COUNT(*), MAX(t_ms))}`` straight from the readings table (every session listed)."""
    conn = sqlite3.connect(path)
    try:
        return {sid: (n, last) for sid, n, last in conn.execute(
            "SELECT s.id, COUNT(r.id), MAX(r.t_ms) FROM sessions s "
            "LEFT JOIN readings r ON r.session_id = s.id GROUP BY s.id")}
    finally:
        conn.close()


def stored_counters(path: Path) -> dict[int, tuple[int, int | None]]:
    conn = sqlite3.connect(path)
    try:
        return {sid: (n, last) for sid, n, last in
                conn.execute("SELECT id, reading_count, last_reading_ms FROM sessions")}
    finally:
        conn.close()


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 10**13)), max_size=60))
def test_session_totals_match_a_plain_count(pairs: list[tuple[int, int]]) -> None:
    rows = [(sid, "heart_rate", t, 70.0, "s", 0) for sid, t in pairs]
    expected: dict[int, tuple[int, int]] = {}
    for sid, t in pairs:
        n, last = expected.get(sid, (0, t))
        expected[sid] = (n + 1, max(last, t))
    assert session_totals(rows) == expected


def test_counters_equal_a_fresh_count_after_concurrent_writes(store: SqlStore, tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    sids = [store.create_session(SessionSpec(f"K-{i}", PRESETS["sublingual"]), at(i)) for i in range(4)]
    empty = store.create_session(SessionSpec("K-empty", PRESETS["sublingual"]), at(10))
    errors: list[BaseException] = []
    latest: dict[int, float] = {}
    lock = threading.Lock()

    def sensor(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(120):
                sid = rng.choice(sids)
                # Times jump back and forth (late manual entries): the counter keeps the maximum.
                ts = [rng.uniform(0, 20_000) for _ in range(rng.randint(1, 7))]
                store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, at(t), "s") for t in ts])
                with lock:
                    latest[sid] = max(latest.get(sid, 0.0), *ts)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def therapist() -> None:
        try:
            for i in range(20):
                store.save_observation(sids[i % 4], Observation(
                    f"o{i}", 1, ObservationKind.NOTE, "note", at(5), at(6), text="calm"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sensor, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=therapist))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.flush()
    assert errors == []
    fresh = fresh_counts(path)
    assert stored_counters(path) == fresh
    assert fresh[empty] == (0, None)
    summaries = {s.session_id: s for s in store.sessions()}
    for sid in sids:
        assert summaries[sid].reading_count == fresh[sid][0] > 0
        assert summaries[sid].observation_count == 5
        assert summaries[sid].last_activity_at == from_epoch_ms(to_epoch_ms(at(latest[sid])))
    assert summaries[empty].reading_count == 0
    assert summaries[empty].last_activity_at == at(10)


def test_a_reader_never_sees_readings_without_their_count(store: SqlStore, tmp_path: Path) -> None:
    """The counter is committed in the transaction of its batch: every snapshot agrees with COUNT(*)."""
    sid = store.create_session(SessionSpec("K-1", PRESETS["sublingual"]), at(0))
    stop = threading.Event()

    def sensor() -> None:
        i = 0
        while not stop.is_set():
            store.add_readings(sid, [Reading(Stream.SPO2, 97.0, at(i + k), "s") for k in range(3)])
            i += 3
            stop.wait(0.002)

    thread = threading.Thread(target=sensor)
    thread.start()
    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    seen = set()
    deadline = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            conn.execute("BEGIN")
            (counter,) = conn.execute("SELECT reading_count FROM sessions WHERE id = ?", (sid,)).fetchone()
            (count,) = conn.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", (sid,)).fetchone()
            conn.execute("COMMIT")
            assert counter == count
            seen.add(count)
    finally:
        stop.set()
        thread.join()
        conn.close()
    store.flush()
    assert len(seen) > 5, "the reader should have seen the count grow while it checked"


def test_migration_0002_backfills_counts_from_existing_readings(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine_for(path)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    assert current_revision(engine) == "0001"
    assert "reading_count" not in {c["name"] for c in inspect(engine).get_columns("sessions")}
    raw = sqlite3.connect(path)
    started = "2026-01-01 09:00:00.000000"
    raw.execute("INSERT INTO clients (id, code, created_at) VALUES (1, 'K-1', ?)", (started,))
    for sid in (1, 2, 3):
        raw.execute(
            "INSERT INTO sessions (id, client_id, protocol_name, protocol, route, dose_amount, dose_unit, "
            "lot, clinician_initials, app_version, settings, started_at, dose_at, ended_at, end_reason) "
            "VALUES (?, 1, 'sublingual', ?, 'sublingual', 100.0, 'mg', '', '', '0.1', '{}', ?, "
            "NULL, NULL, '')",
            (sid, '{"name": "sublingual"}', started))
    t0 = to_epoch_ms(T0)
    rows = [(1, "heart_rate", t0 + 1000 * i, 70.0, "s", 0) for i in range(50)]
    rows += [(1, "battery", t0 + 99_000, 80.0, "s", 0)]
    rows += [(2, "spo2", t0 + 500 * i, 97.0, "s", 0) for i in range(7)]
    raw.executemany("INSERT INTO readings (session_id, stream, t_ms, value, sensor_id, flags) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
    raw.commit()
    raw.close()

    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    expected = {1: (51, t0 + 99_000), 2: (7, t0 + 3000), 3: (0, None)}
    assert stored_counters(path) == expected == fresh_counts(path)

    # Downgrade drops the columns and keeps the readings; upgrading again backfills the same values.
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert "reading_count" not in {c["name"] for c in inspect(engine).get_columns("sessions")}
    engine.dispose()
    assert fresh_counts(path) == expected
    engine = create_engine_for(path)
    upgrade_to_head(engine)
    engine.dispose()
    assert stored_counters(path) == expected

    with SqlStore.open(path) as store:
        by_id = {s.session_id: s for s in store.sessions()}
        assert [by_id[i].reading_count for i in (1, 2, 3)] == [51, 7, 0]
        assert by_id[1].last_activity_at == at(99)
        assert by_id[3].last_activity_at == T0
        store.add_readings(3, [Reading(Stream.HEART_RATE, 60.0, at(5), "s")])
        store.flush()
        assert {s.session_id: s.reading_count for s in store.sessions()}[3] == 1
