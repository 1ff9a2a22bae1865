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
* Leases (``session_leases``, :mod:`db.leases`): :meth:`SqlStore.claim`,
  :meth:`~SqlStore.renew`, :meth:`~SqlStore.release` and :meth:`~SqlStore.take_over`
  each run in their own short transaction and use the database server's clock
  (PostgreSQL's ``clock_timestamp()``; on SQLite, one machine, the store's
  clock), so the rooms' clocks need not agree.
* Reads take a pooled connection each; WAL mode gives them a consistent
  snapshot without blocking the writers. Bulk reads (``load_stream``, CSV
  export) use the raw DBAPI cursor straight into numpy (PITFALLS #5).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, exists, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from db.engine import (
    DEFAULT_BUSY_TIMEOUT_S,
    Synchronous,
    create_engine_for,
    database_url,
    describe_location,
    sqlite_file_of,
)
from db.errors import store_error
from db.journal_apply import applied_seq, apply_batch
from db.leases import LEASE_S
from db.migrate import refuse_foreign_sqlite, upgrade_to_head
from db.models import (
    AlarmLogRow,
    ClientRow,
    ObservationRow,
    SensorRow,
    SessionEventRow,
    SessionLeaseRow,
    SessionRow,
    SettingRow,
)
from db.rows import (
    alarm_from_row,
    cursor_of,
    event_from_row,
    observation_from_row,
    record_from_row,
    sensor_from_row,
    stream_from_rows,
    stream_sql,
)
from db.sqltypes import EPOCH
from db.summaries import load_summaries
from db.writer import ReadingRowTuple, ReadingWriter, placeholders
from kapmonitor.clock import Clock, SystemClock, ensure_utc
from kapmonitor.journal import AnyEntry
from kapmonitor.ports import (
    DamagedSetting,
    JournalStatus,
    LeaseHeld,
    NotThisRoomsSession,
    SessionRecord,
    SessionSpec,
    SessionSummary,
    StoreError,
    StreamData,
)
from kapmonitor.types import (
    AlarmTransition,
    EventKind,
    Observation,
    Reading,
    SensorInfo,
    SessionEvent,
    Stream,
)

__all__ = ["LeaseInfo", "SqlStore", "json_checked"]

log = logging.getLogger(__name__)

_R = TypeVar("_R")

_SESSION_OF = itemgetter(1)
_STREAM_NAMES = {s: s.value for s in Stream}
_HALF_MS_US = 500


def json_checked(value: Any, what: str) -> Any:
    """``value``, or ``ValueError`` naming ``what`` when it is not plain JSON (no NaN/inf)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable (no NaN/inf): {exc}") from exc
    return value


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A session's lease as the database holds it, seen at the server's time ``now``."""

    session_id: int
    room: str
    holder: str
    renewed_at: datetime
    expires_at: datetime
    waiting: int
    waiting_detail: str
    now: datetime

    @property
    def live(self) -> bool:
        """The holder renewed it within the lease time (released or expired: False)."""
        return self.expires_at > self.now

    @property
    def renewed_ago_s(self) -> float:
        return max(0.0, (self.now - self.renewed_at).total_seconds())


class SqlStore:
    """The session store on a SQL database; make one with :meth:`open`.

    The constructor takes an engine whose database is already at the newest
    schema (it does not migrate); :meth:`open` makes the engine and migrates.

    Args:
        room: this workstation's room, stored with each session it creates
            (``''``: none given, as before rooms existed).
        lease_s: seconds without renewal after which a lease taken here expires.
    """

    def __init__(self, engine: Engine, *, clock: Clock | None = None, flush_interval_s: float = 0.25,
                 room: str = "", lease_s: float = LEASE_S) -> None:
        if not lease_s > 0:
            raise ValueError(f"lease_s must be above 0 seconds, got {lease_s!r}")
        self._engine = engine
        self._room = room
        self._lease = timedelta(seconds=lease_s)
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
        room: str = "",
        lease_s: float = LEASE_S,
    ) -> SqlStore:
        """Open (creating if needed) the database at a path or URL and upgrade it to the newest schema.

        Raises:
            StoreError: the database is locked, damaged, newer than this app,
                or its folder cannot be created or written.
        """
        existing = sqlite_file_of(database_url(location))
        if existing is not None and existing.is_file() and existing.stat().st_size > 0:
            refuse_foreign_sqlite(existing, str(existing))
        engine = create_engine_for(location, busy_timeout_s=busy_timeout_s, synchronous=synchronous)
        try:
            upgrade_to_head(engine)
        except BaseException:
            engine.dispose()
            raise
        log.info("opened database %s", describe_location(engine.url))
        return cls(engine, clock=clock, flush_interval_s=flush_interval_s, room=room, lease_s=lease_s)

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

    @property
    def room(self) -> str:
        """This workstation's room (``''``: none)."""
        return self._room

    @property
    def lease_s(self) -> float:
        return self._lease.total_seconds()

    @property
    def placeholder(self) -> str:
        """The driver's parameter marker for :meth:`raw_cursor` queries (``?`` or ``%s``)."""
        return self._ph

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

    def create_session(self, spec: SessionSpec, started_at: datetime, *,
                       lease_holder: str | None = None) -> int:
        """Create a session (and its client, if new) of this store's room durably and return its id.

        With ``lease_holder`` the room takes the session's lease for that holder in the same
        transaction (the recorder's store, :class:`db.journaled_store.JournaledStore`).

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
                return self._insert_session(spec, code, started, settings, lease_holder)
            except IntegrityError:
                # Another room (sharing a server database) created the same client meanwhile.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _insert_session(self, spec: SessionSpec, code: str, started: datetime, settings: Any,
                        lease_holder: str | None) -> int:
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
                room=self._room,
            )
            s.add(row)
            s.flush()
            session_id = row.id
            if lease_holder is not None:
                self._hold(s, None, session_id, self._room, lease_holder, self._server_now(s))
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
            # An UPDATE, not a load and change: the old value is never decoded, so a row damaged outside
            # kapmonitor (not JSON, nested too deeply) can be replaced too.
            now = self._clock.now()
            changed = s.connection().execute(update(SettingRow).where(SettingRow.key == key)
                                .values(value=value, updated_at=now))
            if not changed.rowcount:
                s.add(SettingRow(key=key, value=value, updated_at=now))

    def get_setting(self, key: str) -> Any | None:
        """The stored value of a clinic setting, or None if it was never set.

        Raises:
            DamagedSetting: the stored value is not valid JSON, or nested too deeply to read (the row
                was written outside kapmonitor); the message names the setting and the cure.
        """
        try:
            with self._reading() as s:
                row = s.get(SettingRow, key)
                return None if row is None else row.value
        except (ValueError, RecursionError) as exc:  # the JSON column's decoding
            what = "nested too deeply" if isinstance(exc, RecursionError) else f"not valid JSON ({exc})"
            raise DamagedSetting(f"The setting {key!r} stored in {self._where} is {what}; it was written "
                             "outside kapmonitor. Import a settings file to replace it "
                             "('kapmonitor settings import').") from None

    # -- leases ------------------------------------------------------------------------------

    def _server_now(self, s: Session) -> datetime:
        """The database server's time: PostgreSQL's clock (shared by every room); SQLite's is this
        machine's, the store's clock."""
        if self._engine.dialect.name == "postgresql":
            value = s.scalar(select(func.clock_timestamp()))
            assert isinstance(value, datetime)
            return value.astimezone(UTC)
        return ensure_utc(self._clock.now())

    def _hold(self, s: Session, lease: SessionLeaseRow | None, session_id: int, room: str, holder: str,
              now: datetime) -> None:
        if lease is None:
            s.add(SessionLeaseRow(session_id=session_id, room=room, holder=holder, renewed_at=now,
                                  expires_at=now + self._lease, waiting=0, waiting_detail=""))
        else:
            lease.room, lease.holder = room, holder
            lease.renewed_at, lease.expires_at = now, now + self._lease
            lease.waiting, lease.waiting_detail = 0, ""

    def _locked_lease(self, s: Session, session_id: int) -> SessionLeaseRow | None:
        return s.scalar(select(SessionLeaseRow).where(SessionLeaseRow.session_id == session_id)
                        .with_for_update())

    def _refuse_if_held(self, lease: SessionLeaseRow | None, holder: str, now: datetime) -> None:
        if lease is not None and lease.holder != holder and lease.expires_at > now:
            raise LeaseHeld(lease.session_id, lease.room, max(0.0, (now - lease.renewed_at).total_seconds()),
                            self.lease_s)

    def _session_row(self, s: Session, session_id: int) -> SessionRow:
        row = s.scalar(select(SessionRow).where(SessionRow.id == session_id).with_for_update())
        if row is None:
            raise KeyError(f"there is no session with id {session_id} in {self._where}")
        return row

    def _leasing(self) -> contextlib.AbstractContextManager[Session]:
        return self._writing(pass_integrity_errors=True)

    def _retrying(self, fn: Callable[[Session], _R]) -> _R:
        """``fn`` in a locked unit of work, once more if another room inserted the same lease meanwhile."""
        for attempt in range(2):
            try:
                with self._leasing() as s:
                    return fn(s)
            except IntegrityError as exc:
                if attempt:
                    raise StoreError(f"The database {self._where} refused a lease ({exc.orig}); "
                                     "see the log and report this as a bug.") from exc
        raise AssertionError("unreachable")

    def claim(self, session_id: int, room: str, holder: str) -> None:
        """Take the lease of one of ``room``'s own sessions for ``holder`` (to record or resume it).

        A session recorded before rooms existed (room ``''``) becomes ``room``'s. ``holder``'s own
        lease (the same workstation, restarted) is simply renewed.

        Raises:
            KeyError: there is no such session.
            NotThisRoomsSession: it belongs to another room (see :meth:`take_over`).
            LeaseHeld: another workstation holds a live lease on it.
        """
        def claim(s: Session) -> None:
            row = self._session_row(s, session_id)
            if row.room not in (room, ""):
                raise NotThisRoomsSession(session_id, row.room, room)
            now = self._server_now(s)
            lease = self._locked_lease(s, session_id)
            self._refuse_if_held(lease, holder, now)
            self._hold(s, lease, session_id, room, holder, now)
            row.room = room

        self._retrying(claim)
        self._known_sessions.add(session_id)

    def take_over(self, session_id: int, room: str, holder: str, by: str = "") -> str:
        """Take another room's session over for ``room`` (explicit and confirmed by the caller).

        Records a ``session_taken_over`` event (``from_room``, ``to_room``, ``by``: initials or
        ``''``) and makes the session ``room``'s, in one transaction. Returns the room it came from.

        Raises:
            KeyError: there is no such session.
            StoreError: the session has ended.
            LeaseHeld: its room's lease is live (it is being recorded there).
        """
        def take(s: Session) -> str:
            row = self._session_row(s, session_id)
            if row.ended_at is not None:
                raise StoreError(f"session {session_id} ended at {row.ended_at.isoformat()}; "
                                 "an ended session cannot be taken over")
            now = self._server_now(s)
            lease = self._locked_lease(s, session_id)
            self._refuse_if_held(lease, holder, now)
            from_room = row.room
            self._hold(s, lease, session_id, room, holder, now)
            row.room = room
            s.add(SessionEventRow(
                session_id=session_id, kind=EventKind.SESSION_TAKEN_OVER.value,
                at=ensure_utc(self._clock.now()), data={"from_room": from_room, "to_room": room, "by": by}))
            return from_room

        from_room = self._retrying(take)
        self._known_sessions.add(session_id)
        log.info("session %d taken over from room %r by room %r", session_id, from_room, room)
        return from_room

    def renew(self, session_id: int, holder: str, status: JournalStatus | None = None) -> bool:
        """Renew ``holder``'s lease with what it has waiting for the database; False: not its lease
        any more (another room took the session over)."""
        waiting = status.observations + status.events + status.other + status.unwritten \
            if status is not None and status.waiting else 0
        detail = status.describe() if status is not None else ""
        with self._writing() as s:
            now = self._server_now(s)
            result = s.connection().execute(
                update(SessionLeaseRow)
                .where(SessionLeaseRow.session_id == session_id, SessionLeaseRow.holder == holder)
                .values(renewed_at=now, expires_at=now + self._lease, waiting=waiting, waiting_detail=detail))
            return bool(result.rowcount)

    def release(self, session_id: int, holder: str) -> bool:
        """End ``holder``'s lease now (the session ended); False: it was not holding it."""
        with self._writing() as s:
            now = self._server_now(s)
            result = s.connection().execute(
                update(SessionLeaseRow)
                .where(SessionLeaseRow.session_id == session_id, SessionLeaseRow.holder == holder)
                .values(renewed_at=now, expires_at=now, waiting=0, waiting_detail=""))
            return bool(result.rowcount)

    def lease(self, session_id: int) -> LeaseInfo | None:
        """The session's lease as stored, with the server's time (None: never held)."""
        with self._reading() as s:
            now = self._server_now(s)
            row = s.get(SessionLeaseRow, session_id)
            if row is None:
                return None
            return LeaseInfo(session_id=session_id, room=row.room, holder=row.holder,
                             renewed_at=row.renewed_at, expires_at=row.expires_at, waiting=row.waiting,
                             waiting_detail=row.waiting_detail, now=now)

    def session_room(self, session_id: int) -> str:
        """The room a session belongs to (``''``: recorded before rooms existed)."""
        with self._reading() as s:
            room = s.scalar(select(SessionRow.room).where(SessionRow.id == session_id))
        if room is None:
            raise KeyError(f"there is no session with id {session_id} in {self._where}")
        return room

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
            return record_from_row(row, code)

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

    def latest_unfinished(self, *, room: str | None = None,
                          holder: str | None = None) -> SessionSummary | None:
        """The most recent unfinished session: of any room (``room=None``), or one ``room`` may resume.

        With ``room``: its own sessions and those recorded before rooms existed, leaving out any
        whose lease is live in a holder other than ``holder`` (another room, or another workstation
        of the same name, is recording it).
        """
        with self._reading() as s:
            if room is None:
                found = load_summaries(s.connection(), unfinished_only=True, limit=1)
                return found[0] if found else None
            now = self._server_now(s)
            held = (select(SessionLeaseRow.session_id)
                    .where(SessionLeaseRow.session_id == SessionRow.id, SessionLeaseRow.expires_at > now))
            if holder is not None:
                held = held.where(SessionLeaseRow.holder != holder)
            session_id = s.scalar(
                select(SessionRow.id)
                .where(SessionRow.ended_at.is_(None), SessionRow.room.in_((room, "")), ~exists(held))
                .order_by(SessionRow.started_at.desc(), SessionRow.id.desc()).limit(1))
            if session_id is None:
                return None
            found = load_summaries(s.connection(), [session_id])
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
            with cursor_of(conn, self._dbapi_error, self._where) as cursor:
                yield cursor
        finally:
            conn.close()

    def load_stream(self, session_id: int, stream: Stream) -> StreamData:
        """One stream of a session as numpy arrays in time order (ties in write order).

        Built with ``np.fromiter`` straight from the DBAPI cursor; empty arrays
        when the session has no such readings.
        """
        with self.raw_cursor() as cur:
            cur.execute(stream_sql(self._ph), (session_id, stream.value))
            return stream_from_rows(cur, stream)

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
