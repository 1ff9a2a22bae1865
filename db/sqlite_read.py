"""``SqliteReader``: a SQLite database at the current schema, read through the standard library alone.

The commands that only read (``kapmonitor sessions``, ``kapmonitor export``) spent most of their
time importing SQLAlchemy (about a quarter of a second) before they read one row (issue 16). For a
plain SQLite file this reader gives them what they read of :class:`db.store.SqlStore` -- the session
list, one session's record, events, observation revisions, alarms, sensors and streams, and the raw
cursor the CSV streams its readings from -- through ``sqlite3``, on a connection that refuses every
write (:meth:`SqliteReader.open_at_head`).

It opens only a kapmonitor database whose schema is exactly the packaged head
(:func:`db.migrate.packaged_head`, the check :class:`~db.store.SqlStore` makes first as well).
Anything else -- no file yet, an empty file, an older schema to migrate, a newer one, another
program's file, a damaged or locked file -- is left to the store (:meth:`SqliteReader.open_at_head`
returns None), which migrates it or says what is wrong in the same words as always.

Values come back as the store's column types hand them back: times aware UTC
(:class:`db.sqltypes.UTCDateTime`), JSON decoded, booleans as ``bool``; the records are made by the
same converters (:mod:`db.rows`), so both give identical results (``tests/test_16_cli_reader.py``).
Driver errors become the store's :class:`~kapmonitor.ports.StoreError` sentences
(:func:`db.errors.store_error`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from db.migrate import packaged_head
from db.rows import (
    alarm_from_row,
    cursor_of,
    event_from_row,
    observation_from_row,
    phase_ranks,
    record_from_row,
    sensor_from_row,
    stream_from_rows,
    stream_sql,
    summary_from_values,
)
from kapmonitor.ports import SessionRecord, SessionSummary, StoreError, StreamData
from kapmonitor.types import AlarmTransition, Observation, SensorInfo, SessionEvent, Stream

__all__ = ["BUSY_TIMEOUT_S", "SqliteReader"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0
"""How long a read waits for another process's write lock: as long as the store
(``db.engine.DEFAULT_BUSY_TIMEOUT_S``)."""


def _utc(text: str | None) -> datetime | None:
    """A stored time as :class:`db.sqltypes.UTCDateTime` returns it: aware UTC (naive means UTC)."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _when(text: str) -> datetime:
    """A stored time that is never NULL."""
    moment = _utc(text)
    assert moment is not None
    return moment


def _json(text: str | None) -> Any:
    """A JSON column as SQLAlchemy's ``JSON`` type decodes it."""
    return None if text is None else json.loads(text)


class _Session(NamedTuple):
    id: int
    protocol: dict[str, Any]
    dose_amount: float | None
    dose_unit: str
    lot: str
    clinician_initials: str
    app_version: str
    settings: dict[str, Any]
    started_at: datetime
    dose_at: datetime | None
    ended_at: datetime | None
    end_reason: str


class _Event(NamedTuple):
    id: int
    kind: str
    at: datetime
    data: dict[str, Any]


class _Observation(NamedTuple):
    observation_id: str
    revision: int
    kind: str
    name: str
    value: float | None
    text: str
    author: str
    deleted: bool
    reason: str
    added_later: bool
    occurred_at: datetime
    recorded_at: datetime


class _Alarm(NamedTuple):
    at: datetime
    alarm_id: str
    label: str
    priority: str
    category: str
    state: str
    action: str
    stream: str | None
    value: float | None
    limit_value: float | None
    detail: str


class _Sensor(NamedTuple):
    sensor_id: str
    name: str
    kinds: list[str]
    model: str | None
    manufacturer: str | None
    serial: str | None
    firmware: str | None
    body_location: str | None


def _columns(row: type[tuple[Any, ...]], table: str) -> str:
    """``table.a, table.b, ...`` of a row tuple's fields, in its order."""
    return ", ".join(f"{table}.{name}" for name in row._fields)  # type: ignore[attr-defined]


def _summaries_sql() -> str:
    """The session list (:func:`db.summaries.load_summaries` for every session), in SQLite's SQL."""
    named = "CAST(json_extract(data, '$.\"phase\"') AS VARCHAR)"
    whens = " ".join(
        f"WHEN kind = '{kind.value}'" + ("" if phase is None else f" AND {named} = '{phase.value}'")
        + f" THEN {rank}"
        for kind, phase, rank in phase_ranks())
    return (
        "SELECT s.id, c.code, s.protocol_name, s.route, s.dose_amount, s.dose_unit, s.started_at, s.dose_at, "
        "s.ended_at, s.reading_count, o.n, o.last, a.n, a.last, e.last, e.rank, s.last_reading_ms "
        "FROM sessions AS s JOIN clients AS c ON c.id = s.client_id "
        "LEFT OUTER JOIN (SELECT session_id, count(*) AS n, max(recorded_at) AS last FROM observations "
        "GROUP BY session_id) AS o ON o.session_id = s.id "
        "LEFT OUTER JOIN (SELECT session_id, count(*) AS n, max(at) AS last FROM alarm_log "
        "GROUP BY session_id) AS a ON a.session_id = s.id "
        f"LEFT OUTER JOIN (SELECT session_id, max(at) AS last, max(CASE {whens} ELSE 0 END) AS rank "
        "FROM session_events GROUP BY session_id) AS e ON e.session_id = s.id "
        "ORDER BY s.started_at DESC, s.id DESC")


_SESSION_SQL = (f"SELECT {_columns(_Session, 'sessions')}, clients.code FROM sessions "
                "JOIN clients ON clients.id = sessions.client_id WHERE sessions.id = ?")
_EVENTS_SQL = (f"SELECT {_columns(_Event, 'session_events')} FROM session_events WHERE session_id = ? "
               "ORDER BY at, id")
_OBSERVATIONS_SQL = (f"SELECT {_columns(_Observation, 'observations')} FROM observations "
                     "WHERE session_id = ? ORDER BY id")
_ALARMS_SQL = (f"SELECT {_columns(_Alarm, 'alarm_log')} FROM alarm_log WHERE session_id = ? "
               "ORDER BY at, id")
_SENSORS_SQL = f"SELECT {_columns(_Sensor, 'sensors')} FROM sensors WHERE session_id = ? ORDER BY id"
_STREAM_SQL = stream_sql("?")
_SUMMARIES_SQL = _summaries_sql()
_SUMMARY_TIMES = (6, 7, 8, 11, 13, 14)
"""The columns of a session-list row that are times (started, dose, end, last observation, alarm, event)."""


class SqliteReader:
    """Read-only access to a kapmonitor SQLite file at the packaged schema; make one with
    :meth:`open_at_head`. One connection, used by one thread (a command's)."""

    placeholder = "?"
    """The parameter marker of :meth:`raw_cursor` queries (``sqlite3``'s qmark style)."""

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where
        self._closed = False

    @classmethod
    def open_at_head(cls, location: str | Path) -> SqliteReader | None:
        """The reader of the SQLite file ``location`` if it is a kapmonitor database at the packaged
        head; None for anything the store must open instead (see the module docstring).

        Nothing is created or changed. The schema is checked on a read-only connection (``mode=ro``:
        not even another program's file is written to); a file that is ours is then read on a
        connection that refuses every write (``PRAGMA query_only``) but, being able to write, tidies
        the ``-wal`` and ``-shm`` files away when it closes as the last one, as the store does (a
        read-only connection leaves them behind).
        """
        path = Path(location).expanduser().resolve()
        uri = path.as_uri()
        try:
            if not path.is_file() or path.stat().st_size == 0:
                return None
            probe = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                revisions = probe.execute("SELECT version_num FROM alembic_version").fetchall()
            finally:
                probe.close()
            if revisions != [(packaged_head(),)]:
                return None
            conn = sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
        except (OSError, sqlite3.Error):
            return None
        try:
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error:
            conn.close()
            return None
        log.info("opened database %s to read", path)
        return cls(conn, str(path))

    @property
    def location(self) -> str:
        """The database file's path, as shown to users."""
        return self._where

    def close(self) -> None:
        """Release the database (idempotent)."""
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> SqliteReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def raw_cursor(self) -> Iterator[sqlite3.Cursor]:
        """A cursor on the connection, for bulk reads; driver errors become :class:`StoreError`."""
        if self._closed:
            raise StoreError(f"The database {self._where} is closed; reopen it first.")
        with cursor_of(self._conn, sqlite3.Error, self._where) as cursor:
            yield cursor

    def _rows(self, sql: str, *params: object) -> list[Any]:
        with self.raw_cursor() as cur:
            return cur.execute(sql, params).fetchall()

    # -- the reads of SqlStore, same results ---------------------------------------------------

    def session(self, session_id: int) -> SessionRecord:
        found = self._rows(_SESSION_SQL, session_id)
        if not found:
            raise KeyError(f"there is no session with id {session_id} in {self._where}")
        sid, protocol, dose, unit, lot, initials, version, settings, started, dose_at, ended, reason, code = (
            found[0])
        row = _Session(sid, _json(protocol), dose, unit, lot, initials, version, _json(settings),
                       _when(started), _utc(dose_at), _utc(ended), reason)
        return record_from_row(row, code)

    def events(self, session_id: int) -> list[SessionEvent]:
        rows = self._rows(_EVENTS_SQL, session_id)
        events = (event_from_row(_Event(i, kind, _when(at), _json(data))) for i, kind, at, data in rows)
        return [e for e in events if e is not None]

    def observations(self, session_id: int) -> list[Observation]:
        return [observation_from_row(_Observation(
                    oid, revision, kind, name, value, text, author, bool(deleted), reason, bool(later),
                    _when(occurred), _when(recorded)))
                for oid, revision, kind, name, value, text, author, deleted, reason, later, occurred, recorded
                in self._rows(_OBSERVATIONS_SQL, session_id)]

    def alarms(self, session_id: int) -> list[AlarmTransition]:
        return [alarm_from_row(_Alarm(_when(at), *rest)) for at, *rest in self._rows(_ALARMS_SQL, session_id)]

    def sensors(self, session_id: int) -> list[SensorInfo]:
        """The sensors recorded for a session, in the order first seen."""
        return [sensor_from_row(_Sensor(sensor_id, name, _json(kinds), *rest))
                for sensor_id, name, kinds, *rest in self._rows(_SENSORS_SQL, session_id)]

    def sessions(self) -> list[SessionSummary]:
        """Every session, most recent start first (the store's session list)."""
        out = []
        for row in self._rows(_SUMMARIES_SQL):
            values = list(row)
            for i in _SUMMARY_TIMES:
                values[i] = _utc(values[i])
            out.append(summary_from_values(values))
        return out

    def load_stream(self, session_id: int, stream: Stream) -> StreamData:
        """One stream of a session as numpy arrays in time order (ties in write order)."""
        with self.raw_cursor() as cur:
            cur.execute(_STREAM_SQL, (session_id, stream.value))
            return stream_from_rows(cur, stream)
