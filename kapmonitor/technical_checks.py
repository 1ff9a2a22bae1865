"""The per-sensor technical alarms, one small class each, all behind one :class:`SensorCheck`.

Each check keeps its own facts about every sensor and says which of its conditions are present
now. :class:`~kapmonitor.alarm_supervision.SensorSupervisor` lists them in one table and loops
over it; a check's alarm ids are ``<kind>.<sensor_id>``:

* :class:`SignalLost` -- "Signal lost" (medium) from ``SensorState.LOST`` until the sensor is
  CONNECTED again.
* :class:`NoContact` -- "No skin contact" (low) once a sensor has reported no contact for
  ``no_contact_s``.
* :class:`BatteryLow` -- "Sensor battery low" (low) at or below ``battery_low_pct``, from status
  reports and battery readings.
* :class:`ImplausibleBurst` -- "Sensor sending implausible values" (medium): one sensor sent at
  least :data:`IMPLAUSIBLE_BURST_COUNT` values flagged ``IMPLAUSIBLE`` within
  :data:`IMPLAUSIBLE_BURST_WINDOW_S`. The condition stays present until the sensor has sent no
  implausible value for :data:`IMPLAUSIBLE_QUIET_S`; a later burst raises it again. A single
  stray value raises nothing (it is stored flagged and otherwise ignored).

Times are monotonic seconds. Not thread-safe; owned by one supervisor.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Protocol

from kapmonitor.alarm_settings import TechnicalRules
from kapmonitor.types import AlarmPriority, SensorState, SensorStatus, Stream

__all__ = [
    "IMPLAUSIBLE_BURST_COUNT",
    "IMPLAUSIBLE_BURST_WINDOW_S",
    "IMPLAUSIBLE_QUIET_S",
    "BatteryLow",
    "ImplausibleBurst",
    "NoContact",
    "SensorCheck",
    "SignalLost",
    "TechnicalCondition",
]

IMPLAUSIBLE_BURST_COUNT: Final = 3
"""This many implausible values from one sensor within :data:`IMPLAUSIBLE_BURST_WINDOW_S` raise
"Sensor sending implausible values"."""
IMPLAUSIBLE_BURST_WINDOW_S: Final = 10.0
"""The window (monotonic seconds) in which :data:`IMPLAUSIBLE_BURST_COUNT` values make a burst."""
IMPLAUSIBLE_QUIET_S: Final = 30.0
"""The alarm's condition clears once the sensor has sent no implausible value for this long."""

_MEDIUM, _LOW = AlarmPriority.MEDIUM, AlarmPriority.LOW


@dataclass(frozen=True)
class TechnicalCondition:
    """A technical alarm condition that is present now."""

    alarm_id: str
    label: str
    priority: AlarmPriority
    stream: Stream | None = None
    sensor_id: str | None = None
    value: float | None = None
    limit: float | None = None


class SensorCheck(Protocol):
    """One per-sensor technical alarm kind: its facts in, its present conditions out."""

    @property
    def kind(self) -> str:
        """The alarm id prefix: the check's alarms are ``<kind>.<sensor_id>``."""
        ...

    def record_status(self, status: SensorStatus, now: float) -> None:
        """Take what this check needs from one status report (None fields change nothing)."""
        ...

    def forget(self, sensor_id: str) -> None:
        """Drop everything known about a removed sensor."""
        ...

    def conditions(
        self, now: float, rules: TechnicalRules, name: Callable[[str], str]
    ) -> Iterator[TechnicalCondition]:
        """This check's conditions present at ``now``, sorted by sensor id; ``name`` labels."""
        ...


class SignalLost:
    """Raises "Signal lost" while a sensor is LOST (until it is CONNECTED again)."""

    kind = "signal_lost"

    def __init__(self) -> None:
        self._lost: set[str] = set()

    def record_status(self, status: SensorStatus, now: float) -> None:
        if status.state == SensorState.LOST:
            self._lost.add(status.sensor_id)
        elif status.state == SensorState.CONNECTED:
            self._lost.discard(status.sensor_id)

    def forget(self, sensor_id: str) -> None:
        self._lost.discard(sensor_id)

    def conditions(
        self, now: float, rules: TechnicalRules, name: Callable[[str], str]
    ) -> Iterator[TechnicalCondition]:
        for sid in sorted(self._lost):
            yield TechnicalCondition(
                f"{self.kind}.{sid}", f"Signal lost: {name(sid)}", _MEDIUM, sensor_id=sid
            )


class NoContact:
    """Raises "No skin contact" once a sensor has reported no contact for ``no_contact_s``."""

    kind = "no_contact"

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def record_status(self, status: SensorStatus, now: float) -> None:
        if status.contact is False:
            self._since.setdefault(status.sensor_id, now)
        elif status.contact is True:
            self._since.pop(status.sensor_id, None)

    def forget(self, sensor_id: str) -> None:
        self._since.pop(sensor_id, None)

    def conditions(
        self, now: float, rules: TechnicalRules, name: Callable[[str], str]
    ) -> Iterator[TechnicalCondition]:
        for sid, since in sorted(self._since.items()):
            if now - since >= rules.no_contact_s:
                yield TechnicalCondition(
                    f"{self.kind}.{sid}",
                    f"No skin contact: {name(sid)}",
                    _LOW,
                    sensor_id=sid,
                    value=round(now - since, 3),
                    limit=rules.no_contact_s,
                )


class BatteryLow:
    """Raises "Sensor battery low" at or below ``battery_low_pct`` (status reports and readings)."""

    kind = "battery_low"

    def __init__(self) -> None:
        self._pct: dict[str, float] = {}

    def record(self, sensor_id: str, pct: float) -> None:
        self._pct[sensor_id] = pct

    def record_status(self, status: SensorStatus, now: float) -> None:
        if status.battery_pct is not None:
            self.record(status.sensor_id, float(status.battery_pct))

    def forget(self, sensor_id: str) -> None:
        self._pct.pop(sensor_id, None)

    def conditions(
        self, now: float, rules: TechnicalRules, name: Callable[[str], str]
    ) -> Iterator[TechnicalCondition]:
        limit = float(rules.battery_low_pct)
        for sid, pct in sorted(self._pct.items()):
            if pct <= limit:
                yield TechnicalCondition(
                    f"{self.kind}.{sid}",
                    f"Sensor battery low: {name(sid)}",
                    _LOW,
                    sensor_id=sid,
                    value=pct,
                    limit=limit,
                )


@dataclass
class _Episode:
    """One sensor's recent implausible values: their times in the burst window, the episode."""

    recent: deque[float]
    last: float
    burst: bool = False
    count: int = 0
    """Implausible values since the current episode began (the alarm's value)."""


class ImplausibleBurst:
    """Raises "Sensor sending implausible values" on a burst, until the sensor has been quiet."""

    kind = "implausible"

    def __init__(self) -> None:
        self._seen: dict[str, _Episode] = {}

    def record(self, sensor_id: str, now: float) -> int | None:
        """One implausible value; the number in the window if it began a burst, else None."""
        seen = self._seen.get(sensor_id)
        if seen is None or now - seen.last >= IMPLAUSIBLE_QUIET_S:
            seen = self._seen[sensor_id] = _Episode(deque(), now)
        seen.last = now
        seen.count += 1
        seen.recent.append(now)
        while now - seen.recent[0] > IMPLAUSIBLE_BURST_WINDOW_S:
            seen.recent.popleft()
        if len(seen.recent) >= IMPLAUSIBLE_BURST_COUNT and not seen.burst:
            seen.burst = True
            return len(seen.recent)
        return None

    def record_status(self, status: SensorStatus, now: float) -> None:
        """Status reports say nothing about implausible values."""

    def forget(self, sensor_id: str) -> None:
        self._seen.pop(sensor_id, None)

    def conditions(
        self, now: float, rules: TechnicalRules, name: Callable[[str], str]
    ) -> Iterator[TechnicalCondition]:
        for sid, seen in sorted(self._seen.items()):
            if seen.burst and now - seen.last < IMPLAUSIBLE_QUIET_S:
                yield TechnicalCondition(
                    f"{self.kind}.{sid}",
                    f"Sensor sending implausible values: {name(sid)}",
                    _MEDIUM,
                    sensor_id=sid,
                    value=float(seen.count),
                    limit=float(IMPLAUSIBLE_BURST_COUNT),
                )
