"""``SqlStore``: the :class:`kapmonitor.ports.SessionStore` on SQLAlchemy + SQLite (or PostgreSQL).

Thread model:

* Any thread may call any method (the sensor thread, the GUI, a worker).
* Immediate writes (``create_session``, ``append_event``, ``save_observation``,
  ``log_alarm``, ``save_sensor``, ``put_setting``) run one at a time under a
  lock, each in its own short ORM session that commits (``synchronous=FULL``:
  on disk) before the method returns.
* Readings go to a :class:`~db.writer.ReadingWriter` thread that owns its own
  connection and commits batches every ``flush_interval_s``, holding the same
  lock while it commits, so this process never has two writers waiting on each
  other inside SQLite. Writers in other processes (another room on a shared
  file) are waited for up to ``busy_timeout_s``.
* Reads take a pooled connection each; WAL mode gives them a consistent
  snapshot without blocking the writers. Bulk reads (``load_stream``, CSV
  export) use the raw DBAPI cursor straight into numpy (PITFALLS #5).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from db.engine import DEFAULT_BUSY_TIMEOUT_S, Synchronous, create_engine_for, describe_location
from db.errors import store_error
from db.journal_apply import applied_seq, apply_batch
from db.migrate import upgrade_to_head
from db.models import (
    AlarmLogRow,
    ClientRow,
    ObservationRow,
    SensorRow,
    SessionEventRow,
    SessionRow,
    SettingRow,
)
from db.rows import alarm_from_row, event_from_row, observation_from_row, sensor_from_row, spec_from_row
from db.sqltypes import EPOCH
from db.summaries import load_summaries
from db.writer import ReadingRowTuple, ReadingWriter, placeholders
from kapmonitor.clock import Clock, SystemClock, ensure_utc
from kapmonitor.journal import AnyEntry
from kapmonitor.ports import SessionRecord, SessionSpec, SessionSummary, StoreError, StreamData
from kapmonitor.types import (
    AlarmTransition,
    EventKind,
    Observation,
    Reading,
    SensorInfo,
    SessionEvent,
    Stream,
)

__all__ = ["SqlStore", "json_checked"]

log = logging.getLogger(__name__)

_SESSION_OF = itemgetter(1)
_STREAM_DTYPE = np.dtype([("t", np.int64), ("v", np.float64), ("f", np.int32)])
_STREAM_NAMES = {s: s.value for s in Stream}
_HALF_MS_US = 500


def json_checked(value: Any, what: str) -> Any:
    """``value``, or ``ValueError`` naming ``what`` when it is not plain JSON (no NaN/inf)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable (no NaN/inf): {exc}") from exc
    return value


class SqlStore:
    """The session store on a SQL database; make one with :meth:`open`.

    The constructor takes an engine whose database is already at the newest
    schema (it does not migrate); :meth:`open` makes the engine and migrates.
    """

    def __init__(self, engine: Engine, *, clock: Clock | None = None, flush_interval_s: float = 0.25) -> None:
        self._engine = engine
        self._where = describe_location(engine.url)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._write_lock = threading.Lock()
        self._known_sessions: set[int] = set()
        self._ph = placeholders(engine, 1)
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._flush_interval_s = flush_interval_s
        self._writer_instance: ReadingWriter | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        location: str | Path,
        *,
        clock: Clock | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        flush_interval_s: float = 0.25,
        synchronous: Synchronous = "FULL",
    ) -> SqlStore:
        """Open (creating if needed) the database at a path or URL and upgrade it to the newest schema.

        Raises:
            StoreError: the database is locked, damaged, newer than this app,
                or its folder cannot be created or written.
        """
        engine = create_engine_for(location, busy_timeout_s=busy_timeout_s, synchronous=synchronous)
        try:
            upgrade_to_head(engine)
        except BaseException:
            engine.dispose()
            raise
        log.info("opened database %s", describe_location(engine.url))
        return cls(engine, clock=clock, flush_interval_s=flush_interval_s)

    @property
    def _writer(self) -> ReadingWriter:
        """The direct reading writer, started on first use (a journaled store never uses it)."""
        if self._writer_instance is None:
            self._writer_instance = ReadingWriter(self._engine, self._where, self._flush_interval_s,
                                                  write_lock=self._write_lock)
        return self._writer_instance

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def location(self) -> str:
        """The database file path (or URL without password), as shown to users."""
        return self._where

    # -- unit of work helpers ------------------------------------------------------------------

    @contextmanager
    def _writing(self, *, pass_integrity_errors: bool = False) -> Iterator[Session]:
        """One locked, committed unit of work; driver errors become :class:`StoreError`.

        With ``pass_integrity_errors`` a constraint violation is re-raised as is,
        for the caller to turn into a specific error.
        """
        self._check_open()
        with self._write_lock:
            try:
                with Session(self._engine, expire_on_commit=False) as session, session.begin():
                    yield session
            except IntegrityError as exc:
                if pass_integrity_errors:
                    raise
                raise StoreError(
                    f"The database {self._where} refused a row that breaks its rules ({exc.orig}); "
                    "see the log and report this as a bug."
                ) from exc
            except SQLAlchemyError as exc:
                raise store_error(exc, self._where) from exc

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        self._check_open()
        try:
            with Session(self._engine) as session:
                yield session
        except SQLAlchemyError as exc:
            raise store_error(exc, self._where) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"The database {self._where} is closed; reopen it first.")

    def _require_session(self, session_id: int) -> None:
        if session_id in self._known_sessions:
            return
        with self._reading() as s:
            if s.get(SessionRow, session_id) is None:
                raise KeyError(f"there is no session with id {session_id} in {self._where}")
        self._known_sessions.add(session_id)

    # -- writes ------------------------------------------------------------------------------

    def create_session(self, spec: SessionSpec, started_at: datetime) -> int:
        """Create a session (and its client, if new) durably and return its id.

        Raises:
            ValueError: empty client code, naive ``started_at`` or settings that are not JSON.
        """
        code = spec.client_code.strip()
        if not code:
            raise ValueError("a session needs a client code (a pseudonym such as 'K-0042')")
        started = ensure_utc(started_at)
        settings = json_checked(dict(spec.settings), "session settings")
        for attempt in range(2):
            try:
                return self._insert_session(spec, code, started, settings)
            except IntegrityError:
                # Another room (sharing a server database) created the same client meanwhile.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _insert_session(self, spec: SessionSpec, code: str, started: datetime, settings: Any) -> int:
        with self._writing(pass_integrity_errors=True) as s:
            client = s.scalar(select(ClientRow).where(ClientRow.code == code))
            if client is None:
                client = ClientRow(code=code, created_at=started)
                s.add(client)
                s.flush()
            row = SessionRow(
                client_id=client.id, protocol_name=spec.protocol.name, protocol=spec.protocol.to_dict(),
                route=spec.protocol.route.value, dose_amount=spec.dose_amount, dose_unit=spec.dose_unit,
                lot=spec.lot, clinician_initials=spec.clinician_initials, app_version=spec.app_version,
                settings=settings, started_at=started, dose_at=None, ended_at=None, end_reason="",
            )
            s.add(row)
            s.flush()
            session_id = row.id
        self._known_sessions.add(session_id)
        return session_id

    def append_event(self, session_id: int, event: SessionEvent) -> None:
        """Commit an event; ``dose_given`` also sets the session's first dose time and
        ``session_ended`` its end time and reason (``data["reason"]``), in the same transaction."""
        at = ensure_utc(event.at)
        data = json_checked(dict(event.data), f"{event.kind.value} event data")
        self._require_session(session_id)
        with self._writing() as s:
            s.add(SessionEventRow(session_id=session_id, kind=event.kind.value, at=at, data=data))
            if event.kind is EventKind.DOSE_GIVEN:
                s.execute(update(SessionRow)
                          .where(SessionRow.id == session_id, SessionRow.dose_at.is_(None))
                          .values(dose_at=at))
            elif event.kind is EventKind.SESSION_ENDED:
                s.execute(update(SessionRow).where(SessionRow.id == session_id)
                          .values(ended_at=at, end_reason=str(data.get("reason") or "")))

    def end_session(self, session_id: int, at: datetime, reason: str = "") -> None:
        """Record the end of a session (a ``session_ended`` event with ``{"reason": reason}``)."""
        self.append_event(session_id, SessionEvent(EventKind.SESSION_ENDED, at, {"reason": reason}))

    def save_observation(self, session_id: int, observation: Observation) -> None:
        """Append one observation revision durably.

        Raises:
            ValueError: that ``(observation_id, revision)`` is already stored
                (an edit must use the next revision number).
        """
        o = observation
        if o.value is not None and not math.isfinite(o.value):
            raise ValueError(f"observation {o.name!r}: value must be a finite number, got {o.value!r}")
        row = ObservationRow(
            session_id=session_id, observation_id=o.observation_id, revision=o.revision, kind=o.kind.value,
            name=o.name, value=o.value, text=o.text, author=o.author, deleted=o.deleted, reason=o.reason,
            added_later=o.added_later, occurred_at=ensure_utc(o.occurred_at),
            recorded_at=ensure_utc(o.recorded_at),
        )
        self._require_session(session_id)
        try:
            with self._writing(pass_integrity_errors=True) as s:
                s.add(row)
        except IntegrityError as exc:
            raise ValueError(
                f"observation {o.observation_id} revision {o.revision} is already stored; "
                "an edit must be saved as the next revision"
            ) from exc

    def log_alarm(self, session_id: int, transition: AlarmTransition) -> None:
        """Append one alarm-log row durably."""
        t = transition
        row = AlarmLogRow(
            session_id=session_id, at=ensure_utc(t.at), alarm_id=t.alarm_id, label=t.label,
            priority=t.priority.value, category=t.category.value, state=t.state.value, action=t.action,
            stream=None if t.stream is None else t.stream.value, value=t.value, limit_value=t.limit,
            detail=t.detail,
        )
        self._require_session(session_id)
        with self._writing() as s:
            s.add(row)

    def save_sensor(self, session_id: int, info: SensorInfo) -> None:
        """Record a sensor used in the session, or update its description if already recorded."""
        self._require_session(session_id)
        fields = dict(
            name=info.name, kinds=[k.value for k in info.kinds], model=info.model,
            manufacturer=info.manufacturer, serial=info.serial, firmware=info.firmware,
            body_location=info.body_location,
        )
        with self._writing() as s:
            row = s.scalar(select(SensorRow).where(SensorRow.session_id == session_id,
                                                   SensorRow.sensor_id == info.sensor_id))
            if row is None:
                s.add(SensorRow(session_id=session_id, sensor_id=info.sensor_id, **fields))
            else:
                for key, value in fields.items():
                    setattr(row, key, value)

    def put_setting(self, key: str, value: Any) -> None:
        """Store a clinic setting (any JSON value) shared by every room using this database."""
        if not key.strip():
            raise ValueError("a setting needs a non-empty key")
        json_checked(value, f"setting {key!r}")
        with self._writing() as s:
            row = s.get(SettingRow, key)
            if row is None:
                s.add(SettingRow(key=key, value=value, updated_at=self._clock.now()))
            else:
                row.value = value
                row.updated_at = self._clock.now()

    def get_setting(self, key: str) -> Any | None:
        """The stored value of a clinic setting, or None if it was never set."""
        with self._reading() as s:
            row = s.get(SettingRow, key)
            return None if row is None else row.value

    # -- readings ----------------------------------------------------------------------------

    def add_readings(self, session_id: int, readings: Sequence[Reading]) -> None:
        """Queue readings for the writer thread; they are committed within ``flush_interval_s``.

        Raises:
            ValueError: a reading has a naive time or a non-finite value (nothing is queued).
            KeyError: there is no such session.
            StoreError: an earlier batch failed to commit (these readings are queued nonetheless).
        """
        if not readings:
            return
        self._check_open()
        self._require_session(session_id)
        names = _STREAM_NAMES
        isfinite = math.isfinite
        rows: list[ReadingRowTuple] = []
        append = rows.append
        for r in readings:
            at = r.at
            value = float(r.value)
            if at.tzinfo is None or not isfinite(value):
                raise ValueError(
                    f"reading {r.stream} at {at.isoformat()} refused: times must be aware UTC "
                    f"and values finite (got {r.value!r})"
                )
            delta = at - EPOCH
            t_ms = (delta.days * 86_400_000 + delta.seconds * 1000
                    + (delta.microseconds + _HALF_MS_US) // 1000)
            append((session_id, names[r.stream], t_ms, value, r.sensor_id, int(r.flags)))
        self._writer.add(rows)

    def flush(self) -> None:
        """Block until every queued reading is committed (raises :class:`StoreError` if that fails)."""
        self._writer.flush()

    def close(self) -> None:
        """Flush, stop the writer and release the database (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._writer_instance is not None:
                self._writer_instance.close()
        finally:
            self._engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pending_readings(self) -> int:
        """Readings queued but not yet committed."""
        return self._writer_instance.pending if self._writer_instance is not None else 0

    # -- the recording journal ---------------------------------------------------------------

    def journal_mark(self, journal_id: str) -> int:
        """How far the journal ``journal_id`` has been applied (0: not at all)."""
        self._check_open()
        try:
            with self._engine.connect() as conn:
                return applied_seq(conn, journal_id)
        except SQLAlchemyError as exc:
            raise store_error(exc, self._where) from exc

    def apply_journal(self, journal_id: str, entries: Sequence[AnyEntry]) -> int:
        """Apply journal entries (sequence order) and advance the journal's mark, in one transaction.

        Called by the one writer thread (:class:`db.journal_writer.JournalWriter`).

        Raises:
            StoreError: the database refused (nothing of the batch was applied).
        """
        self._check_open()
        with self._write_lock:
            try:
                with self._engine.begin() as conn:
                    mark = apply_batch(conn, journal_id, entries)
            except SQLAlchemyError as exc:
                raise store_error(exc, self._where) from exc
        self._known_sessions.update(map(_SESSION_OF, entries))
        return mark

    def last_recorded_at(self, session_id: int) -> datetime | None:
        """The latest time anything of the session was recorded at (event, reading, observation, alarm)."""
        with self._reading() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise KeyError(f"there is no session with id {session_id} in {self._where}")
            times = [
                s.scalar(select(func.max(SessionEventRow.at))
                         .where(SessionEventRow.session_id == session_id)),
                s.scalar(select(func.max(ObservationRow.recorded_at))
                         .where(ObservationRow.session_id == session_id)),
                s.scalar(select(func.max(AlarmLogRow.at)).where(AlarmLogRow.session_id == session_id)),
            ]
            if row.last_reading_ms is not None:
                times.append(EPOCH + timedelta(milliseconds=row.last_reading_ms))
        found = [t for t in times if t is not None]
        return max(found) if found else None

    # -- reads -------------------------------------------------------------------------------

    def session(self, session_id: int) -> SessionRecord:
        with self._reading() as s:
            found = s.execute(select(SessionRow, ClientRow.code)
                              .join(ClientRow, ClientRow.id == SessionRow.client_id)
                              .where(SessionRow.id == session_id)).first()
            if found is None:
                raise KeyError(f"there is no session with id {session_id} in {self._where}")
            row, code = found
            return SessionRecord(session_id=row.id, spec=spec_from_row(row, code), started_at=row.started_at,
                                 dose_at=row.dose_at, ended_at=row.ended_at, end_reason=row.end_reason)

    def events(self, session_id: int) -> list[SessionEvent]:
        with self._reading() as s:
            rows = s.scalars(select(SessionEventRow).where(SessionEventRow.session_id == session_id)
                             .order_by(SessionEventRow.at, SessionEventRow.id))
            return [e for e in map(event_from_row, rows) if e is not None]

    def observations(self, session_id: int) -> list[Observation]:
        with self._reading() as s:
            rows = s.scalars(select(ObservationRow).where(ObservationRow.session_id == session_id)
                             .order_by(ObservationRow.id))
            return [observation_from_row(r) for r in rows]

    def alarms(self, session_id: int) -> list[AlarmTransition]:
        with self._reading() as s:
            rows = s.scalars(select(AlarmLogRow).where(AlarmLogRow.session_id == session_id)
                             .order_by(AlarmLogRow.at, AlarmLogRow.id))
            return [alarm_from_row(r) for r in rows]

    def sensors(self, session_id: int) -> list[SensorInfo]:
        """The sensors recorded for a session, in the order first seen."""
        with self._reading() as s:
            rows = s.scalars(select(SensorRow).where(SensorRow.session_id == session_id)
                             .order_by(SensorRow.id))
            return [sensor_from_row(r) for r in rows]

    def sessions(self) -> list[SessionSummary]:
        with self._reading() as s:
            return load_summaries(s.connection())

    def latest_unfinished(self) -> SessionSummary | None:
        with self._reading() as s:
            found = load_summaries(s.connection(), unfinished_only=True, limit=1)
        return found[0] if found else None

    @contextmanager
    def raw_cursor(self) -> Iterator[Any]:
        """A raw DBAPI cursor on a pooled connection, for bulk reads; driver errors become StoreError."""
        self._check_open()
        try:
            conn = self._engine.raw_connection()
        except SQLAlchemyError as exc:
            raise store_error(exc, self._where) from exc
        try:
            cursor = conn.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        except self._dbapi_error as exc:
            raise store_error(exc, self._where) from exc
        finally:
            conn.close()

    def load_stream(self, session_id: int, stream: Stream) -> StreamData:
        """One stream of a session as numpy arrays in time order (ties in write order).

        Built with ``np.fromiter`` straight from the DBAPI cursor; empty arrays
        when the session has no such readings.
        """
        ph = self._ph
        sql = (f"SELECT t_ms, value, flags FROM readings WHERE session_id = {ph} AND stream = {ph} "
               "ORDER BY t_ms, id")
        with self.raw_cursor() as cur:
            cur.execute(sql, (session_id, stream.value))
            arr = np.fromiter(cur, dtype=_STREAM_DTYPE)
        return StreamData(
            stream=stream,
            t=arr["t"] / 1000.0,
            value=np.ascontiguousarray(arr["v"]),
            flags=np.ascontiguousarray(arr["f"]),
        )

    def check_integrity(self) -> None:
        """Run SQLite's ``quick_check`` (seconds on a large file: call it off the GUI thread).

        Raises:
            StoreError: the file is damaged.
        """
        if self._engine.dialect.name != "sqlite":
            return
        with self.raw_cursor() as cur:
            cur.execute("PRAGMA quick_check")
            result = [str(r[0]) for r in cur.fetchall()]
        if result != ["ok"]:
            log.error("integrity check of %s failed: %s", self._where, result[:10])
            raise StoreError(f"The database {self._where} is damaged ({result[0]}); "
                             "restore it from a backup or point kapmonitor at another file.")
