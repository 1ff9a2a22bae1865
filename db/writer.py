"""The background writer that commits readings in batches.

Readings arrive several times a second from the sensor thread; committing each
one (an fsync with ``synchronous=FULL``) would be wasteful, so they are queued
in memory and one thread commits whatever is queued every ``flush_interval_s``
(0.25 s by default, so a reading reaches disk well within the 1 s promise).
The thread has its own raw DBAPI connection and uses ``executemany`` on it
(PITFALLS #5: ~2x faster than Core ``insert()`` and ~50x faster than ORM rows).

Each batch also advances its sessions' counters (``sessions.reading_count``
and ``sessions.last_reading_ms``, which the session list reads instead of
counting readings) with one ``UPDATE`` per session in the batch, in the SAME
transaction as the batch's ``INSERT``. A crash or a failed commit therefore
loses (or keeps) the rows and their count together: the counters always equal
``COUNT(*)``/``MAX(t_ms)`` of what is committed, and a retried batch is counted
once. Anything that inserts readings other than through this writer must
advance the counters the same way (see :data:`COUNTER_SQL`).

Errors never kill the thread silently: a failed batch is logged, kept at the
head of the queue to be retried on the next cycle (a full disk may be freed, a
lock released), and the error is raised once from the next :meth:`add` or
:meth:`flush`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine

from db.errors import store_error
from kapmonitor.ports import StoreError

__all__ = ["COUNTER_SQL", "ReadingRowTuple", "ReadingWriter", "session_totals"]

log = logging.getLogger(__name__)

ReadingRowTuple = tuple[int, str, int, float, str, int]
"""``(session_id, stream, t_ms, value, sensor_id, flags)``, the column order of :data:`INSERT_COLUMNS`."""

INSERT_COLUMNS = "session_id, stream, t_ms, value, sensor_id, flags"

COUNTER_SQL = (
    "UPDATE sessions SET reading_count = reading_count + {ph}, "
    "last_reading_ms = CASE WHEN last_reading_ms IS NULL OR last_reading_ms < {ph} "
    "THEN {ph} ELSE last_reading_ms END WHERE id = {ph}"
)
"""Advance one session's counters by ``(n, max_t_ms, max_t_ms, session_id)`` (portable SQL: ``CASE``,
not SQLite's two-argument ``max`` or PostgreSQL's ``GREATEST``); ``{ph}`` is the parameter marker."""

_SESSION = itemgetter(0)
_T_MS = itemgetter(2)


def session_totals(rows: Sequence[ReadingRowTuple]) -> dict[int, tuple[int, int]]:
    """``{session_id: (row count, latest t_ms)}`` of a batch of reading rows.

    Rows usually come in long runs of one session (one ``add_readings`` call),
    so this groups consecutive runs and aggregates each with C-level builtins.
    """
    totals: dict[int, tuple[int, int]] = {}
    for sid, run in groupby(rows, _SESSION):
        chunk = list(run)
        n, latest = len(chunk), max(map(_T_MS, chunk))
        if sid in totals:
            n0, latest0 = totals[sid]
            n, latest = n + n0, max(latest, latest0)
        totals[sid] = (n, latest)
    return totals


def placeholders(bind: Engine | Connection, count: int) -> str:
    """``count`` positional parameter markers in the driver's paramstyle (``?`` for SQLite, ``%s``
    for PostgreSQL's driver), comma-separated."""
    marker = "?" if bind.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([marker] * count)


class ReadingWriter:
    """One thread that owns a connection and commits queued reading rows.

    Args:
        engine: the store's engine (the thread takes one raw connection from it).
        where: the database location, for error messages.
        flush_interval_s: how long queued rows may wait before a commit.
        write_lock: held around each batch commit. The store passes the lock of
            its immediate writes, so writers in this process queue on a lock
            instead of meeting in SQLite's busy handler, whose back-off sleeps
            (up to 100 ms per retry) would delay a therapist's note.
    """

    def __init__(self, engine: Engine, where: str, flush_interval_s: float = 0.25,
                 write_lock: threading.Lock | None = None) -> None:
        if not 0 < flush_interval_s <= 1.0:
            raise ValueError(f"flush_interval_s must be in (0, 1] seconds, got {flush_interval_s!r}")
        self._engine = engine
        self._where = where
        self._interval = flush_interval_s
        self._write_lock = write_lock if write_lock is not None else threading.Lock()
        self._sql = f"INSERT INTO readings ({INSERT_COLUMNS}) VALUES ({placeholders(engine, 6)})"
        self._counter_sql = COUNTER_SQL.format(ph=placeholders(engine, 1))
        self._cond = threading.Condition()
        self._pending: list[ReadingRowTuple] = []
        self._queued = 0
        self._committed = 0
        self._failures = 0
        self._reported_failures = 0
        self._last_error: StoreError | None = None
        self._wake = False
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="kapmonitor-db-writer", daemon=True)
        self._thread.start()

    def add(self, rows: Sequence[ReadingRowTuple]) -> None:
        """Queue rows (never blocks on I/O).

        Raises:
            StoreError: the writer is closed, or an earlier batch failed since
                the last report (the rows given here are queued nonetheless).
        """
        with self._cond:
            if self._closed or self._stopping:
                raise StoreError(f"The database {self._where} is closed; reopen it before recording.")
            if not self._thread.is_alive():
                raise StoreError(f"The database writer for {self._where} has stopped; restart kapmonitor.")
            self._pending.extend(rows)
            self._queued += len(rows)
            self._raise_unreported()

    def flush(self) -> None:
        """Block until every row queued before this call is committed.

        Raises:
            StoreError: a commit failed (the rows stay queued and are retried).
        """
        with self._cond:
            self._raise_unreported()
            target = self._queued
            failures_at_start = self._failures
            self._wake = True
            self._cond.notify_all()
            while self._committed < target and self._failures == failures_at_start:
                if not self._thread.is_alive():
                    raise StoreError(
                        f"The database writer for {self._where} has stopped; restart kapmonitor."
                    )
                self._cond.wait(0.5)
            if self._committed < target:
                self._raise_unreported()

    def close(self) -> None:
        """Commit what is queued, stop the thread and release its connection.

        Raises:
            StoreError: queued readings could not be written (they are lost).
        """
        with self._cond:
            if self._closed:
                return
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            self._closed = True
            lost = len(self._pending)
            if lost:
                raise StoreError(
                    f"{lost} readings could not be written to the database {self._where} "
                    f"({self._last_error}); they are lost."
                )

    @property
    def pending(self) -> int:
        """Rows queued but not yet committed."""
        with self._cond:
            return self._queued - self._committed

    def _raise_unreported(self) -> None:
        if self._failures > self._reported_failures and self._last_error is not None:
            self._reported_failures = self._failures
            raise self._last_error

    def _run(self) -> None:
        conn: Any = None
        try:
            while True:
                with self._cond:
                    if not (self._stopping or self._wake):
                        self._cond.wait(self._interval)
                    self._wake = False
                    batch, self._pending = self._pending, []
                    upto = self._queued
                    stopping = self._stopping
                if batch:
                    try:
                        if conn is None:
                            conn = self._engine.raw_connection()
                        counters = [(n, latest, latest, sid)
                                    for sid, (n, latest) in session_totals(batch).items()]
                        with self._write_lock:
                            cursor = conn.cursor()
                            try:
                                # One transaction: the rows and their sessions' counters commit together.
                                cursor.executemany(self._sql, batch)
                                cursor.executemany(self._counter_sql, counters)
                            finally:
                                cursor.close()
                            conn.commit()
                    except Exception as exc:  # any failure is kept and reported, never fatal
                        conn = self._discard(conn)
                        error = store_error(exc, self._where)
                        log.error("writing %d readings failed: %s", len(batch), error, exc_info=exc)
                        with self._cond:
                            self._pending[:0] = batch
                            self._failures += 1
                            self._last_error = error
                            self._cond.notify_all()
                        if stopping:
                            return
                        continue
                    with self._cond:
                        self._committed = upto
                        self._cond.notify_all()
                if stopping:
                    with self._cond:
                        if not self._pending:
                            return
        finally:
            self._discard(conn)

    @staticmethod
    def _discard(conn: Any) -> None:
        if conn is None:
            return None
        try:
            conn.rollback()
        except Exception:  # the connection may already be unusable
            log.debug("rollback after a failed batch failed", exc_info=True)
        try:
            conn.close()
        except Exception:
            log.debug("closing the writer connection failed", exc_info=True)
        return None
