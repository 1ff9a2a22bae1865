"""``JournaledStore``: the session store the recorder writes into, journal first, database second.

Writes (:meth:`append_event`, :meth:`save_observation`, :meth:`log_alarm`,
:meth:`save_sensor`, :meth:`add_readings`) go to the local
:class:`~kapmonitor.journal.Journal` and return: events and observations once
fsync'd there, the rest once written. The one :class:`~db.journal_writer.JournalWriter`
thread applies them to the :class:`~db.store.SqlStore`. No recording thread
ever waits on the database. Creating a session (it needs the database's id)
runs on the writer thread too, so this process has one writer.

The store holds the lease of the session it records (``session_leases``,
:mod:`db.leases`): :meth:`JournaledStore.create_session` takes it with the new
session, :meth:`~JournaledStore.claim_for_resume` or
:meth:`~JournaledStore.take_over` before resuming one; the writer thread renews
it and releases it when the session's end is applied.

Reads go to the database after giving the writer a moment to catch up
(:data:`SETTLE_S`); :meth:`wait_applied` waits for everything, for callers that
must see the whole record (resuming a session).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from db.journal_writer import JournalWriter
from db.leases import LEASE_S, RENEW_S
from db.paths import journal_folder, workstation_file
from db.store import SqlStore, json_checked
from kapmonitor.clock import Clock, ensure_utc
from kapmonitor.journal import Journal
from kapmonitor.ports import JournalStatus, SessionRecord, SessionSpec, SessionSummary, StoreError, StreamData
from kapmonitor.types import (
    AlarmTransition,
    Observation,
    Reading,
    SensorInfo,
    SessionEvent,
    Stream,
)
from kapmonitor.workstation import resolve_room

__all__ = ["SETTLE_S", "JournaledStore"]

log = logging.getLogger(__name__)

SETTLE_S: Final = 2.0
"""How long a read waits for the writer to apply what is queued before reading what the database has."""


class JournaledStore:
    """The :class:`~kapmonitor.ports.SessionStore` the recorder uses; make one with :meth:`open`."""

    def __init__(self, store: SqlStore, journal: Journal, writer: JournalWriter) -> None:
        self._store = store
        self._journal = journal
        self._writer = writer
        self._closed = False

    @classmethod
    def open(cls, location: str | Path, *, clock: Clock | None = None,
             journal_dir: Path | None = None, interval_s: float = 0.25, room: str | None = None,
             lease_s: float = LEASE_S, renew_s: float = RENEW_S) -> JournaledStore:
        """Open the database at ``location`` (migrating it) and this workstation's journal for it.

        ``room`` is this workstation's room, stored with the sessions it creates and part of the
        journal folder's name; None: resolved as the command line does without ``--room``
        (:func:`kapmonitor.workstation.resolve_room`: ``KAPMONITOR_ROOM``, the workstation file,
        the host name), so a later open finds the journal a recorder left.

        Whatever the journal holds that the database lacks (a crash, an outage) is applied by the
        writer in the background, exactly once.

        Raises:
            StoreError: the database or the journal cannot be opened (the message says which and why).
        """
        if room is None:
            try:
                room = resolve_room(None, workstation_file())
            except ValueError as exc:
                raise StoreError(str(exc)) from exc
        store = SqlStore.open(location, clock=clock, room=room, lease_s=lease_s)
        try:
            journal = Journal.open(journal_dir if journal_dir is not None
                                   else journal_folder(store.location, room))
        except BaseException:
            store.close()
            raise
        return cls(store, journal, JournalWriter(store, journal, interval_s=interval_s, renew_s=renew_s))

    # -- what it is ----------------------------------------------------------------------------

    @property
    def database(self) -> SqlStore:
        """The database behind the journal (for reads, settings and exports)."""
        return self._store

    @property
    def journal(self) -> Journal:
        return self._journal

    @property
    def location(self) -> str:
        return self._store.location

    @property
    def room(self) -> str:
        """This workstation's room."""
        return self._store.room

    @property
    def holder(self) -> str:
        """This workstation's lease holder id (its journal id)."""
        return self._journal.journal_id

    def journal_status(self) -> JournalStatus:
        """What is kept in the journal but not yet in the database."""
        return self._writer.status()

    def add_status_listener(self, callback: Callable[[JournalStatus], None]) -> None:
        """Hear whenever what waits for the database changes (any thread; must not block)."""
        self._writer.add_listener(callback)

    def wait_applied(self, timeout: float | None = None) -> None:
        """Block until the database holds everything journaled so far.

        Raises:
            StoreError: not within ``timeout`` seconds; the message says what waits and why.
        """
        self._writer.flush(timeout)

    # -- writes: the journal ------------------------------------------------------------------

    def create_session(self, spec: SessionSpec, started_at: datetime) -> int:
        """Create the session (in the database: it gives the id) with this room's lease on it."""
        holder = self.holder
        session_id = self._writer.run(lambda s: s.create_session(spec, started_at, lease_holder=holder))
        self._writer.hold(session_id)
        return session_id

    def claim_for_resume(self, session_id: int) -> None:
        """Take the lease of one of this room's sessions before resuming it.

        Raises:
            NotThisRoomsSession: it is another room's (see :meth:`take_over`).
            LeaseHeld: another workstation is recording it.
            StoreError: the database did not answer.
        """
        room, holder = self.room, self.holder
        self._writer.run(lambda s: s.claim(session_id, room, holder))
        self._writer.hold(session_id)

    def take_over(self, session_id: int, by: str = "") -> str:
        """Take another room's session over (explicit, confirmed by the caller) before resuming it;
        returns the room it came from. Recorded as a ``session_taken_over`` event.

        Raises:
            LeaseHeld: its room's lease is live.
            StoreError: the session has ended, or the database did not answer.
        """
        room, holder = self.room, self.holder
        from_room = self._writer.run(lambda s: s.take_over(session_id, room, holder, by))
        self._writer.hold(session_id)
        return from_room

    def append_event(self, session_id: int, event: SessionEvent) -> None:
        json_checked(dict(event.data), f"{event.kind.value} event data")
        ensure_utc(event.at)
        self._journal.append(session_id, [event], durable=True)

    def save_observation(self, session_id: int, observation: Observation) -> None:
        o = observation
        if o.value is not None and not math.isfinite(o.value):
            raise ValueError(f"observation {o.name!r}: value must be a finite number, got {o.value!r}")
        ensure_utc(o.occurred_at)
        ensure_utc(o.recorded_at)
        self._journal.append(session_id, [o], durable=True)

    def log_alarm(self, session_id: int, transition: AlarmTransition) -> None:
        self.log_alarms(session_id, [transition])

    def log_alarms(self, session_id: int, transitions: Sequence[AlarmTransition]) -> None:
        """Journal several alarm transitions at once (one write)."""
        if transitions:
            self._journal.append(session_id, list(transitions), durable=False)

    def save_sensor(self, session_id: int, info: SensorInfo) -> None:
        self._journal.append(session_id, [info], durable=False)

    def add_readings(self, session_id: int, readings: Sequence[Reading]) -> None:
        """Journal one packet's readings as one entry (never waits on the database).

        The readings become database rows here, once (:func:`kapmonitor.journal.reading_rows`):
        the journal line and the writer's insert both use those rows as they are.

        Raises:
            ValueError: a reading has a naive time or a non-finite value (nothing is journaled).
        """
        if readings:
            self._journal.append_readings(session_id, readings)

    def flush(self) -> None:
        """Make everything recorded so far durable on this computer (the journal's fsync)."""
        self._journal.sync()

    def close(self) -> None:
        """Apply what can be applied (5 s at most), then release the journal and the database.

        What the database did not take stays in the journal for the next start.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
        finally:
            self._journal.close()
            self._store.close()

    def __enter__(self) -> JournaledStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads: the database --------------------------------------------------------------------

    def _settle(self) -> None:
        try:
            self._writer.flush(SETTLE_S)
        except StoreError as exc:
            log.info("reading while entries still wait for the database: %s", exc)

    def session(self, session_id: int) -> SessionRecord:
        self._settle()
        return self._store.session(session_id)

    def events(self, session_id: int) -> list[SessionEvent]:
        self._settle()
        return self._store.events(session_id)

    def observations(self, session_id: int) -> list[Observation]:
        self._settle()
        return self._store.observations(session_id)

    def alarms(self, session_id: int) -> list[AlarmTransition]:
        self._settle()
        return self._store.alarms(session_id)

    def sensors(self, session_id: int) -> list[SensorInfo]:
        self._settle()
        return self._store.sensors(session_id)

    def sessions(self) -> list[SessionSummary]:
        self._settle()
        return self._store.sessions()

    def latest_unfinished(self, *, room: str | None = None) -> SessionSummary | None:
        """As :meth:`db.store.SqlStore.latest_unfinished`; this workstation's own lease does not
        count as another's."""
        self._settle()
        return self._store.latest_unfinished(room=room, holder=self.holder)

    def load_stream(self, session_id: int, stream: Stream) -> StreamData:
        self._settle()
        return self._store.load_stream(session_id, stream)

    def last_recorded_at(self, session_id: int) -> datetime | None:
        self._settle()
        return self._store.last_recorded_at(session_id)

    def get_setting(self, key: str) -> Any | None:
        return self._store.get_setting(key)

    def put_setting(self, key: str, value: Any) -> None:
        self._writer.run(lambda s: s.put_setting(key, value))

