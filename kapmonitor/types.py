"""Domain records shared by every layer.

These are the values that cross layer boundaries: a sensor produces
:class:`Reading` and :class:`SensorStatus`; the session produces
:class:`SessionEvent`; the therapist produces :class:`Observation`; the alarm
engine produces :class:`AlarmTransition`. The store persists all of them.
All wall times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntFlag, StrEnum
from typing import Final

__all__ = [
    "AlarmCategory",
    "AlarmPriority",
    "AlarmState",
    "AlarmTransition",
    "EventKind",
    "Observation",
    "ObservationKind",
    "Phase",
    "Reading",
    "ReadingFlag",
    "SensorInfo",
    "SensorKind",
    "SensorState",
    "SensorStatus",
    "SessionEvent",
    "Stream",
    "new_observation_id",
]


class Stream(StrEnum):
    """A kind of measurement; its unit and possible range are in :mod:`kapmonitor.streams`."""

    HEART_RATE = "heart_rate"
    RR_INTERVAL = "rr_interval"
    SPO2 = "spo2"
    PULSE_RATE = "pulse_rate"
    BP_SYSTOLIC = "bp_systolic"
    BP_DIASTOLIC = "bp_diastolic"
    BP_MEAN = "bp_mean"
    BATTERY = "battery"


class ReadingFlag(IntFlag):
    """Flags stored beside a raw value; the value itself is never altered."""

    NONE = 0
    ARTIFACT = 1
    """Judged an artifact (e.g. an ectopic or missed beat in RR)."""
    NO_CONTACT = 2
    """The sensor reported no skin contact when this value was measured."""
    MANUAL = 4
    """Entered by hand, not streamed from a sensor."""
    SENSOR_TIMESTAMP = 8
    """The sensor supplied its own measurement time (e.g. a BP cuff's time stamp)."""
    IMPLAUSIBLE = 16
    """Outside the physically possible range of its stream (or not finite): stored, never shown
    live, never alarms (:mod:`kapmonitor.streams`)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value.

    Attributes:
        stream: what was measured; the unit follows from it.
        value: the value in the stream's unit (RR intervals in milliseconds,
            converted exactly from the sensor's 1/1024 s units).
        at: UTC wall time the packet arrived (or the sensor's own time stamp
            when ``ReadingFlag.SENSOR_TIMESTAMP`` is set).
        sensor_id: which sensor produced it (BLE address or ``simulated:N``).
        flags: artifact / contact / manual flags.
    """

    stream: Stream
    value: float
    at: datetime
    sensor_id: str
    flags: ReadingFlag = ReadingFlag.NONE


class SensorKind(StrEnum):
    HEART_RATE = "heart_rate"
    BLOOD_PRESSURE = "blood_pressure"
    PULSE_OXIMETER = "pulse_oximeter"
    SIMULATED = "simulated"


class SensorState(StrEnum):
    """Link state of a sensor as the therapist should see it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LOST = "lost"
    """Away long enough that the therapist must be told (signal lost)."""
    DISCONNECTED = "disconnected"
    """Deliberately disconnected (session ended or sensor removed)."""


@dataclass(frozen=True, slots=True)
class SensorStatus:
    sensor_id: str
    state: SensorState
    at: datetime
    detail: str = ""
    battery_pct: int | None = None
    contact: bool | None = None


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What a sensor says about itself (Device Information, location, kind)."""

    sensor_id: str
    name: str
    kinds: tuple[SensorKind, ...] = ()
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    body_location: str | None = None


class Phase(StrEnum):
    """Session phases, in order (CLINICAL.md default phase model)."""

    PREPARATION = "preparation"
    ONSET = "onset"
    EFFECT = "effect"
    INTEGRATION = "integration"
    ENDED = "ended"

    @property
    def order(self) -> int:
        return _PHASE_ORDER[self]


_PHASE_ORDER = {p: i for i, p in enumerate(Phase)}


class EventKind(StrEnum):
    SESSION_STARTED = "session_started"
    DOSE_GIVEN = "dose_given"
    BOOSTER_GIVEN = "booster_given"
    PHASE_CHANGED = "phase_changed"
    CHECK_DUE = "check_due"
    CHECK_DONE = "check_done"
    CHECK_DISMISSED = "check_dismissed"
    SENSOR_CONNECTED = "sensor_connected"
    SENSOR_RECONNECTING = "sensor_reconnecting"
    SENSOR_LOST = "sensor_lost"
    SENSOR_DISCONNECTED = "sensor_disconnected"
    SESSION_RESUMED = "session_resumed"
    CLOCK_STEPPED = "clock_stepped"
    """The computer's clock jumped (data ``step_s``, ``offset_s``, ``reason``); the session went on."""
    SESSION_TAKEN_OVER = "session_taken_over"
    """Another room took over the session, its lease expired (data ``from_room``, ``to_room``, ``by``)."""
    SESSION_ENDED = "session_ended"


EventValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Something that happened to the session, at ``at`` (UTC).

    ``data`` holds small typed details: the dose amount for ``dose_given``,
    the phase for ``phase_changed``, the check name for ``check_due``...
    """

    kind: EventKind
    at: datetime
    data: Mapping[str, EventValue] = field(default_factory=dict)


class ObservationKind(StrEnum):
    NOTE = "note"
    TAG = "tag"
    SCALE = "scale"
    VITAL = "vital"
    INTERVENTION = "intervention"


def new_observation_id() -> str:
    """A fresh identity shared by all revisions of one observation."""
    import uuid  # here: commands that record nothing need not import it (with platform, ~2.5 ms)

    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Observation:
    """One revision of a therapist's observation.

    Nothing is overwritten: an edit is a new revision with the same
    ``observation_id`` and ``revision + 1``; a deletion is a revision with
    ``deleted=True`` and a ``reason``.

    Attributes:
        occurred_at: when it happened (may be earlier than written: "N minutes ago").
        recorded_at: when this revision was written.
        added_later: written after the session ended (a late correction).
    """

    observation_id: str
    revision: int
    kind: ObservationKind
    name: str
    occurred_at: datetime
    recorded_at: datetime
    value: float | None = None
    text: str = ""
    author: str = ""
    deleted: bool = False
    reason: str = ""
    added_later: bool = False


class AlarmPriority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for the most urgent (high), 2 for low: sort by it to put the worst first."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK: Final = {AlarmPriority.HIGH: 0, AlarmPriority.MEDIUM: 1, AlarmPriority.LOW: 2}


class AlarmCategory(StrEnum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


class AlarmState(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    AUDIO_PAUSED = "audio_paused"
    LATCHED = "latched"
    """Condition gone, but a high-priority alarm stays until acknowledged."""
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """One row of the alarm log: an alarm changed state.

    Attributes:
        alarm_id: the rule's stable name, e.g. ``hr_high``.
        action: what caused the transition: ``raised``, ``acknowledged``,
            ``audio_paused``, ``audio_resumed``, ``condition_cleared``,
            ``resolved``, ``escalated``, ``limit_changed``.
        value: the triggering or current value, when there is one.
        limit: the limit that was crossed, when there is one.
    """

    at: datetime
    alarm_id: str
    label: str
    priority: AlarmPriority
    category: AlarmCategory
    state: AlarmState
    action: str
    stream: Stream | None = None
    value: float | None = None
    limit: float | None = None
    detail: str = ""
