"""The central station's view of the clinic: one :class:`RoomStatus` per room with a live session.

The station (``kapmonitor station``) shows the supervising clinician every room recording on the
clinic's database. These are the values it shows, as plain frozen records the window, the
``--json`` output and the benchmark all read; ``db.station`` fills them from the database, the
UI only formats them. Everything here is stdlib.

Every time in a :class:`RoomStatus` is absolute (aware UTC), beside one ``now`` -- the database
server's time when it was read -- so ages ("4 s ago", "silent for 45 s") are computed, never
counted, and a lease's age does not depend on this computer's clock. Readings carry the recording
workstation's time; their age is measured against the same server ``now`` (on one clinic network
the clocks agree within a second or so; a negative age is shown as 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from kapmonitor.types import AlarmPriority, AlarmState, Phase, ReadingFlag, SensorState

__all__ = [
    "BloodPressure",
    "CheckDue",
    "RoomStatus",
    "SensorLink",
    "StationAlarm",
    "StationSource",
    "StationUpdate",
    "VitalValue",
    "age_words",
    "room_json",
    "station_json",
    "unusable_words",
]

_UNUSABLE_WORDS: Final = ((ReadingFlag.IMPLAUSIBLE, "impossible value"),
                          (ReadingFlag.NO_CONTACT, "no skin contact"),
                          (ReadingFlag.ARTIFACT, "disturbed signal"))


def unusable_words(flags: int) -> str:
    """Why a value with these flags is not shown (``''``: it is usable)."""
    return next((words for flag, words in _UNUSABLE_WORDS if flags & flag), "")


def _age_s(now: datetime, at: datetime) -> float:
    return max(0.0, (now - at).total_seconds())


def age_words(seconds: float) -> str:
    """A short age for a screen read from across the room: ``4 s``, ``3 min``, ``2 h 05 min``."""
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True, slots=True)
class VitalValue:
    """The latest reading of one stream: its value, when it was measured and its flags.

    A value whose flags make it unusable (no skin contact, an impossible value) is kept so the
    station can say why there is no number, but :attr:`usable` is False and it is never shown.
    """

    value: float
    at: datetime
    flags: int = 0

    @property
    def usable(self) -> bool:
        return not unusable_words(self.flags)

    @property
    def unusable_reason(self) -> str:
        return unusable_words(self.flags)


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """The last blood pressure measurement (systolic and diastolic of one cuff reading), mmHg."""

    systolic: float
    diastolic: float | None
    at: datetime
    flags: int = 0

    @property
    def usable(self) -> bool:
        return not unusable_words(self.flags)


@dataclass(frozen=True, slots=True)
class StationAlarm:
    """An alarm of the room that is not resolved (active, latched, acknowledged or audio-paused)."""

    alarm_id: str
    label: str
    priority: AlarmPriority
    state: AlarmState
    raised_at: datetime
    """When it was (last) raised."""
    value: float | None = None


@dataclass(frozen=True, slots=True)
class CheckDue:
    """A scheduled check announced as due and neither done nor dismissed yet."""

    name: str
    label: str
    due_at: datetime
    grace_s: float

    def late(self, now: datetime) -> bool:
        """Past its grace time: overdue."""
        return (now - self.due_at).total_seconds() > self.grace_s


@dataclass(frozen=True, slots=True)
class SensorLink:
    """One sensor of the session and its last recorded link state (None: none recorded yet)."""

    sensor_id: str
    name: str
    state: SensorState | None
    at: datetime | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RoomStatus:
    """One room's live (or silent) session as the station shows it, read at the server's ``now``.

    Attributes:
        room: the room holding the session's lease.
        live: the room renewed its lease in time; False: it has stopped renewing (silent).
        renewed_at: the server's time of the room's last renewal.
        waiting: journal entries the room had waiting for the database at its last renewal.
        waiting_detail: the room's own words for what waits (``''``: nothing).
    """

    room: str
    session_id: int
    client_code: str
    protocol_name: str
    started_at: datetime
    dose_at: datetime | None
    phase: Phase
    now: datetime
    renewed_at: datetime
    expires_at: datetime
    heart_rate: VitalValue | None = None
    spo2: VitalValue | None = None
    blood_pressure: BloodPressure | None = None
    alarms: tuple[StationAlarm, ...] = ()
    checks_due: tuple[CheckDue, ...] = ()
    sensors: tuple[SensorLink, ...] = ()
    waiting: int = 0
    waiting_detail: str = ""

    @property
    def live(self) -> bool:
        return self.expires_at > self.now

    @property
    def silent_for_s(self) -> float:
        """Seconds since the room last renewed its lease."""
        return _age_s(self.now, self.renewed_at)

    @property
    def since_dose_s(self) -> float | None:
        return None if self.dose_at is None else _age_s(self.now, self.dose_at)

    @property
    def highest_priority(self) -> AlarmPriority | None:
        """The most urgent of the room's alarms (None: no alarm)."""
        return min((a.priority for a in self.alarms), key=lambda p: p.rank, default=None)

    def age_s(self, at: datetime) -> float:
        """Seconds from ``at`` to this status's ``now`` (never negative)."""
        return _age_s(self.now, at)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _vital_json(now: datetime, vital: VitalValue | None) -> dict[str, Any] | None:
    if vital is None:
        return None
    return {"value": vital.value if vital.usable else None, "at": _iso(vital.at),
            "age_s": round(_age_s(now, vital.at), 1), "unusable": vital.unusable_reason}


def room_json(room: RoomStatus) -> dict[str, Any]:
    """One room as plain JSON values (the layout of ``kapmonitor station --json``)."""
    now = room.now
    bp = room.blood_pressure
    since = room.since_dose_s
    return {
        "room": room.room,
        "session_id": room.session_id,
        "client_code": room.client_code,
        "protocol": room.protocol_name,
        "live": room.live,
        "renewed_at": _iso(room.renewed_at),
        "silent_for_s": None if room.live else round(room.silent_for_s, 1),
        "phase": room.phase.value,
        "started_at": _iso(room.started_at),
        "dose_at": _iso(room.dose_at),
        "since_dose_s": None if since is None else round(since, 1),
        "heart_rate": _vital_json(now, room.heart_rate),
        "spo2": _vital_json(now, room.spo2),
        "blood_pressure": None if bp is None else {
            "systolic": bp.systolic if bp.usable else None,
            "diastolic": bp.diastolic if bp.usable else None,
            "at": _iso(bp.at), "age_s": round(_age_s(now, bp.at), 1), "unusable": unusable_words(bp.flags)},
        "alarms": [{"alarm_id": a.alarm_id, "label": a.label, "priority": a.priority.value,
                    "state": a.state.value, "raised_at": _iso(a.raised_at), "value": a.value}
                   for a in room.alarms],
        "highest_priority": None if room.highest_priority is None else room.highest_priority.value,
        "checks_due": [{"check": c.name, "label": c.label, "due_at": _iso(c.due_at), "late": c.late(now)}
                       for c in room.checks_due],
        "sensors": [{"sensor_id": s.sensor_id, "name": s.name,
                     "state": None if s.state is None else s.state.value, "at": _iso(s.at),
                     "detail": s.detail} for s in room.sensors],
        "waiting": room.waiting,
        "waiting_detail": room.waiting_detail,
    }


@dataclass(frozen=True, slots=True)
class StationUpdate:
    """One poll of the clinic: every room's status, read at the server's time ``at``."""

    at: datetime
    rooms: tuple[RoomStatus, ...]


class StationSource(Protocol):
    """Where the station's window gets its updates (``db.station.StationReader``); blocking I/O."""

    def poll(self) -> StationUpdate:
        """Read every room now; raises ``kapmonitor.ports.StoreError`` when the database cannot be read."""
        ...


def station_json(update: StationUpdate) -> dict[str, Any]:
    """One update of the station: ``{"at": ISO UTC, "rooms": [...]}``."""
    return {"at": update.at.isoformat(), "rooms": [room_json(r) for r in update.rooms]}
