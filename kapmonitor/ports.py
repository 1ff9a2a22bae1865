"""Ports: what the core and the UI need from storage, as Protocols (adapters live in ``db/``).

* :class:`SessionJournal` is where a session is written (the recorder's side);
* :class:`SessionArchive` is where sessions are read back (review, export, the session list);
* :class:`SettingsRepository` holds the clinic's settings;
* :class:`SessionStore` is a journal that can also read its own sessions back (what the
  recorder needs to resume).

The UI and the CLI type against these, never against the SQLAlchemy classes, so that a fake in
memory serves the core's tests and the database behind can change (SQLite, PostgreSQL).

Durability contract:

* ``append_event`` and ``save_observation`` return only once the entry is
  durable (in the app: fsync'd in the local journal, ``kapmonitor.journal``;
  the bare SQL store: committed): once they return, a power cut cannot lose it.
* ``log_alarm``, ``save_sensor`` and ``add_readings`` never wait on the
  database; what they are given reaches disk within 1 s.
* Reads for review return numpy arrays, never lists of ORM objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kapmonitor.protocols import TreatmentProtocol
from kapmonitor.types import (
    AlarmTransition,
    Observation,
    Phase,
    Reading,
    SensorInfo,
    SessionEvent,
    Stream,
)

if TYPE_CHECKING:  # the arrays' types only: the session list and the CSV never load numpy (issue 16)
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DamagedSetting",
    "JournalStatus",
    "LeaseHeld",
    "NotThisRoomsSession",
    "SessionArchive",
    "SessionJournal",
    "SessionRecord",
    "SessionSpec",
    "SessionStore",
    "SessionSummary",
    "SettingsRepository",
    "StoreError",
    "StreamData",
]


class StoreError(RuntimeError):
    """The database could not do what was asked (locked, corrupt, full disk...).

    The message says what went wrong in words a clinic's IT person can act on.
    """


class DamagedSetting(StoreError):
    """A stored setting cannot be read (not valid JSON, nested too deeply): written outside kapmonitor."""


class LeaseHeld(StoreError):
    """Another workstation holds a live lease on the session (it is recording it).

    Attributes:
        session_id: the session asked for.
        room: the room holding it.
        renewed_ago_s: seconds since that room last renewed its lease (database server time).
        lease_s: seconds without renewal after which the lease expires.
    """

    def __init__(self, session_id: int, room: str, renewed_ago_s: float, lease_s: float) -> None:
        self.session_id = session_id
        self.room = room
        self.renewed_ago_s = renewed_ago_s
        self.lease_s = lease_s
        name = room or "another workstation"
        super().__init__(
            f"session {session_id} is being recorded in {name} (lease renewed {renewed_ago_s:.0f} s ago); "
            f"it can be taken over only once {name} has stopped for {lease_s:.0f} s")


class NotThisRoomsSession(StoreError):
    """The session belongs to another room: resuming it here needs an explicit, confirmed take-over."""

    def __init__(self, session_id: int, room: str, mine: str) -> None:
        self.session_id = session_id
        self.room = room
        super().__init__(
            f"session {session_id} belongs to {room}, not to {mine}; taking it over is an explicit "
            f"action (kapmonitor record --resume --take-over {session_id})")


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """Everything fixed when a session starts (a snapshot: later settings changes never touch it)."""

    client_code: str
    protocol: TreatmentProtocol
    dose_amount: float | None = None
    dose_unit: str = "mg"
    lot: str = ""
    clinician_initials: str = ""
    app_version: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serialisable snapshot of the clinic settings in force (alarm limits, tags...)."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored session: its spec and the times that anchor it (UTC)."""

    session_id: int
    spec: SessionSpec
    started_at: datetime
    dose_at: datetime | None
    ended_at: datetime | None
    end_reason: str = ""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One line of the session list."""

    session_id: int
    client_code: str
    protocol_name: str
    route: str
    dose_amount: float | None
    dose_unit: str
    started_at: datetime
    dose_at: datetime | None
    ended_at: datetime | None
    last_activity_at: datetime
    phase_reached: Phase
    reading_count: int
    observation_count: int
    alarm_count: int


@dataclass(frozen=True, slots=True)
class StreamData:
    """One stream of one session, in time order.

    Attributes:
        t: UTC wall times as float64 seconds since the Unix epoch.
        value: float64 values in the stream's unit.
        flags: int32 :class:`~kapmonitor.types.ReadingFlag` bits.
    """

    stream: Stream
    t: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    flags: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.t.shape[0])


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True, slots=True)
class JournalStatus:
    """What is kept in the journal but not yet in the database.

    Attributes:
        observations: observation revisions waiting.
        events: session events waiting.
        other: readings packets, alarm transitions and sensor details waiting.
        unwritten: entries not even in the journal file yet (its disk is full), kept in memory.
        error: why the database is not taking them, while it is not.
        waiting_since: monotonic time the oldest waiting entry was queued (None: nothing waits).
    """

    observations: int = 0
    events: int = 0
    other: int = 0
    unwritten: int = 0
    error: str | None = None
    waiting_since: float | None = None

    @property
    def waiting(self) -> bool:
        """Something is held back: the database refused it, or the journal's own disk is full.

        Entries on their normal way (applied within a cycle) do not count: a person is told only
        when the database is actually not taking the record.
        """
        return bool(self.unwritten or (self.error and (self.observations or self.events or self.other)))

    def describe(self) -> str:
        """One line for a person: empty when the database has everything."""
        if not self.waiting:
            return ""
        parts = []
        if self.observations:
            parts.append(_plural(self.observations, "note", "notes"))
        if self.events:
            parts.append(_plural(self.events, "session event", "session events"))
        if not parts:
            parts.append("readings")
        text = " and ".join(parts)
        verb = "is" if text.startswith("1 ") and " and " not in text else "are"
        line = f"{text} {verb} waiting for the database — kept safely on this computer"
        if self.unwritten:
            line = (f"{_plural(self.unwritten, 'entry', 'entries')} cannot be written even on this "
                    "computer (its disk is full) — kept in memory and retried; " + line)
        if self.error:
            line += f" ({self.error})"
        return line



@runtime_checkable
class SessionJournal(Protocol):
    """Where a session is written."""

    def create_session(self, spec: SessionSpec, started_at: datetime) -> int:
        """Create a session durably and return its id."""
        ...

    def append_event(self, session_id: int, event: SessionEvent) -> None:
        """Make a session event durable before returning."""
        ...

    def save_observation(self, session_id: int, observation: Observation) -> None:
        """Make one observation revision durable before returning."""
        ...

    def log_alarm(self, session_id: int, transition: AlarmTransition) -> None:
        """Record one alarm-log row; it reaches disk within 1 s."""
        ...

    def save_sensor(self, session_id: int, info: SensorInfo) -> None:
        """Record (or update) a sensor used in this session."""
        ...

    def add_readings(self, session_id: int, readings: Sequence[Reading]) -> None:
        """Queue readings; they reach disk within 1 s. Never blocks on I/O."""
        ...

    def flush(self) -> None:
        """Block until every queued entry is on disk."""
        ...

    def close(self) -> None:
        """Flush, stop any writer thread and release the storage."""
        ...


@runtime_checkable
class SessionArchive(Protocol):
    """Where recorded sessions are read back (review, export, the session list, resume)."""

    def session(self, session_id: int) -> SessionRecord:
        """The stored session; raises ``KeyError`` if there is none with that id."""
        ...

    def events(self, session_id: int) -> list[SessionEvent]:
        """All events of a session in time order."""
        ...

    def observations(self, session_id: int) -> list[Observation]:
        """Every revision of every observation of a session, in write order."""
        ...

    def alarms(self, session_id: int) -> list[AlarmTransition]:
        """The session's alarm log in time order."""
        ...

    def sensors(self, session_id: int) -> list[SensorInfo]:
        """The sensors used in a session."""
        ...

    def sessions(self) -> list[SessionSummary]:
        """All sessions, most recent first."""
        ...

    def latest_unfinished(self, *, room: str | None = None) -> SessionSummary | None:
        """The most recent session without an end, if any.

        ``room=None``: of any room (review tools). A room name: only that room's own sessions (or
        those recorded before rooms existed) that no other workstation holds a live lease on.
        """
        ...

    def last_recorded_at(self, session_id: int) -> datetime | None:
        """The latest time anything of the session was recorded at (None: nothing yet)."""
        ...

    def load_stream(self, session_id: int, stream: Stream) -> StreamData:
        """One stream of a session as numpy arrays, in time order."""
        ...


@runtime_checkable
class SettingsRepository(Protocol):
    """Named JSON settings documents (the clinic settings live under one key)."""

    def get_setting(self, key: str) -> Any | None:
        """The stored value, or None when the key was never written."""
        ...

    def put_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value durably."""
        ...


@runtime_checkable
class SessionStore(SessionJournal, SessionArchive, Protocol):
    """A journal that reads its own sessions back: what the recorder records into and resumes from."""
