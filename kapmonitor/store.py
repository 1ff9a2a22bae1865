"""The storage contract the core records into (implemented in ``db/``).

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
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

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

__all__ = [
    "SessionRecord",
    "SessionSpec",
    "SessionStore",
    "SessionSummary",
    "StoreError",
    "StreamData",
]


class StoreError(RuntimeError):
    """The database could not do what was asked (locked, corrupt, full disk...).

    The message says what went wrong in words a clinic's IT person can act on.
    """


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


@runtime_checkable
class SessionStore(Protocol):
    """Where a session's record lives."""

    def create_session(self, spec: SessionSpec, started_at: datetime) -> int:
        """Create a session durably and return its id."""
        ...

    def append_event(self, session_id: int, event: SessionEvent) -> None:
        """Commit a session event durably before returning."""
        ...

    def save_observation(self, session_id: int, observation: Observation) -> None:
        """Commit one observation revision durably before returning."""
        ...

    def log_alarm(self, session_id: int, transition: AlarmTransition) -> None:
        """Commit one alarm-log row durably before returning."""
        ...

    def save_sensor(self, session_id: int, info: SensorInfo) -> None:
        """Record (or update) a sensor used in this session."""
        ...

    def add_readings(self, session_id: int, readings: Sequence[Reading]) -> None:
        """Queue readings; they reach disk within 1 s. Never blocks on I/O."""
        ...

    def flush(self) -> None:
        """Block until every queued reading is committed."""
        ...

    def close(self) -> None:
        """Flush, stop the writer and release the database."""
        ...

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

    def sessions(self) -> list[SessionSummary]:
        """All sessions, most recent first."""
        ...

    def latest_unfinished(self) -> SessionSummary | None:
        """The most recent session without an end, if any."""
        ...

    def last_recorded_at(self, session_id: int) -> datetime | None:
        """The latest time anything of the session was recorded at (None: nothing yet)."""
        ...

    def load_stream(self, session_id: int, stream: Stream) -> StreamData:
        """One stream of a session as numpy arrays, in time order."""
        ...
