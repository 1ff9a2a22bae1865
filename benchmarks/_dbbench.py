"""Shared helpers for the database benchmarks (not a benchmark itself)."""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from db.engine import create_engine_for
from db.migrate import head_revision, upgrade_to_head
from db.models import Base
from db.store import SqlStore
from db.writer import COUNTER_SQL, session_totals
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    SessionEvent,
    Stream,
    new_observation_id,
)

SESSION_S = 4 * 3600
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SENSOR = "F0:13:C3:5A:22:9B"
DATA_VERSION = 2
"""Bump when the generated content changes, so cached databases are rebuilt."""


def quick() -> bool:
    return "--quick" in sys.argv[1:]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank (nan when empty)."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


@contextlib.contextmanager
def write_locked(db: Path) -> Iterator[float]:
    """Another process holds ``db``'s write lock (``BEGIN IMMEDIATE``) until the block ends.

    Yields the ``perf_counter`` time the lock was taken; the lock is released (the holder's
    stdin closed, the process gone) before the block's exit returns.
    """
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute('BEGIN IMMEDIATE');"
         "print('locked', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    if holder.stdout.readline().strip() != "locked":
        holder.kill()
        raise RuntimeError(f"could not write-lock {db} from another process")
    try:
        yield time.perf_counter()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Minimum wall time of ``repeat`` runs (seconds): the least disturbed by other processes."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def median_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


CUFF = "E8:11:22:33:44:55"


def session_rows(session_id: int, start: datetime, seed: int, seconds: int = SESSION_S,
                 bp_every_s: int | None = None) -> list[tuple[int, str, int, float, str, int]]:
    """A session of ``seconds`` (4 hours by default): heart rate 1 Hz, RR ~1.2 Hz, SpO2 1 Hz,
    and with ``bp_every_s`` a cuff measurement (systolic, diastolic) that often, in arrival
    (time) order."""
    rng = np.random.default_rng(seed)
    t0 = int(start.timestamp() * 1000)
    hr_t = t0 + np.arange(seconds) * 1000 + rng.integers(0, 40, seconds)
    hr_v = np.round(72 + 8 * np.sin(np.arange(seconds) / 900) + rng.normal(0, 2, seconds), 0)
    rr_n = int(seconds * 1.2)
    rr_t = t0 + np.cumsum(rng.normal(833, 40, rr_n)).astype(np.int64)
    rr_v = np.round(rng.normal(833, 40, rr_n) * 1000 / 1024) * 1024 / 1000
    sp_t = t0 + np.arange(seconds) * 1000 + 500
    sp_v = np.round(97 + rng.normal(0, 0.7, seconds))
    flags = (rng.random(rr_n) < 0.01).astype(np.int64)
    rows = [(session_id, "heart_rate", int(t), float(v), SENSOR, 0) for t, v in zip(hr_t, hr_v, strict=True)]
    rows += [(session_id, "rr_interval", int(t), float(v), SENSOR, int(f))
             for t, v, f in zip(rr_t, rr_v, flags, strict=True)]
    rows += [(session_id, "spo2", int(t), float(v), "C4:7F:51:0E:88:10", 0)
             for t, v in zip(sp_t, sp_v, strict=True)]
    every_s = bp_every_s or 0
    for k in range(seconds // every_s if every_s else 0):
        bp_t = t0 + k * every_s * 1000 + 250
        rows += [(session_id, "bp_systolic", bp_t, 118.0 + k % 9, CUFF, 8),
                 (session_id, "bp_diastolic", bp_t, 76.0 + k % 5, CUFF, 8)]
    rows.sort(key=lambda r: r[2])
    return rows


def review_db(n_sessions: int, recorded_s: int | None = None, *, session_s: int = SESSION_S,
              bp_every_s: int | None = None) -> Path:
    """A database of ``n_sessions`` sessions of ``session_s`` (4 hours), cached under /tmp by schema
    revision, size and content.

    Each session: started, a dose at +20 min, 3 notes and one heart-rate alarm per hour of
    ``session_s`` (a note every 10 min from +25 min, an alarm every 30 min from +60 min), ended
    5 min after ``session_s``. ``recorded_s`` shortens the readings of each session (default: all
    of ``session_s``, ~46 k readings in 4 hours); ``bp_every_s`` adds a blood pressure measurement
    that often (none by default).
    """
    recorded_s = session_s if recorded_s is None else min(recorded_s, session_s)
    cut = "" if recorded_s == session_s else f"-s{recorded_s}"
    if session_s != SESSION_S:
        cut += f"-h{session_s / 3600:g}"
    if bp_every_s:
        cut += f"-bp{bp_every_s}"
    hours = session_s // 3600
    path = Path(f"/tmp/kapmonitor-bench-{head_revision()}-v{DATA_VERSION}-{n_sessions}{cut}.db")
    if path.exists():
        return path
    print(f"building {path} ({n_sessions} sessions; cached for later runs)...", flush=True)
    building = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(building) + suffix).unlink(missing_ok=True)
    store = SqlStore.open(building, synchronous="OFF")
    ids = []
    for i in range(n_sessions):
        start = T0 + timedelta(days=i)
        sid = store.create_session(SessionSpec(f"K-{i:04d}", PRESETS["sublingual"], 100.0), start)
        store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, start))
        store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, start + timedelta(minutes=20),
                                             {"amount": 100.0, "unit": "mg"}))
        for k in range(3 * hours):
            store.save_observation(sid, Observation(
                new_observation_id(), 1, ObservationKind.NOTE, "note", start + timedelta(minutes=25 + 10 * k),
                start + timedelta(minutes=26 + 10 * k), text=f"calm, breathing slowly ({k})", author="AB"))
        for k in range(hours):
            store.log_alarm(sid, AlarmTransition(
                start + timedelta(minutes=60 + 30 * k), "hr_high", "Heart rate high", AlarmPriority.MEDIUM,
                AlarmCategory.PHYSIOLOGICAL, AlarmState.ACTIVE, "raised", Stream.HEART_RATE, 121.0, 120.0))
        store.end_session(sid, start + timedelta(seconds=session_s, minutes=5), "fit to leave")
        ids.append(sid)
    store.close()
    index = Base.metadata.tables["readings"].indexes
    engine = create_engine_for(building)
    upgrade_to_head(engine)
    engine.dispose()
    conn = sqlite3.connect(building)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("DROP INDEX ix_readings_session_stream_t")
    for i, sid in enumerate(ids):
        rows = session_rows(sid, T0 + timedelta(days=i, minutes=1), i, recorded_s, bp_every_s)
        conn.executemany("INSERT INTO readings (session_id, stream, t_ms, value, sensor_id, flags) "
                         "VALUES (?, ?, ?, ?, ?, ?)", rows)
        # Bypassing the store's writer, so advance the session counters as it would (db.writer).
        conn.executemany(COUNTER_SQL.format(ph="?"), [
            (n, last, last, s) for s, (n, last) in session_totals(rows).items()])
        conn.commit()
    (ix,) = index
    conn.execute(f"CREATE INDEX {ix.name} ON readings ({', '.join(c.name for c in ix.columns)})")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.commit()
    conn.close()
    building.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(str(building) + suffix).unlink(missing_ok=True)
    return path


class ApplyTimes:
    """Times every ``apply_journal`` call the journal writer makes on ``db`` (wraps the bound method).

    ``calls`` holds ``(start, end, mark, entries)`` in ``perf_counter`` seconds; ``mark`` is -1
    when the database refused the batch (locked), the new journal mark otherwise.
    """

    def __init__(self, db: SqlStore) -> None:
        self.calls: list[tuple[float, float, int, int]] = []
        original = db.apply_journal

        def timed(journal_id: str, entries: Sequence[object]) -> int:
            started = time.perf_counter()
            try:
                mark = original(journal_id, entries)  # type: ignore[arg-type]
            except BaseException:
                self.calls.append((started, time.perf_counter(), -1, len(entries)))
                raise
            self.calls.append((started, time.perf_counter(), mark, len(entries)))
            return mark

        db.apply_journal = timed  # type: ignore[method-assign]

    def applied(self) -> list[tuple[float, float, int, int]]:
        """The successful calls, in order."""
        return [c for c in self.calls if c[2] >= 0]

    def busy_after(self, since: float) -> float:
        """Seconds the successful calls spent applying after ``since`` (a call begun earlier,
        waiting on the lock, counts from ``since`` only)."""
        return sum(end - max(start, since) for start, end, _, _ in self.applied() if end > since)
