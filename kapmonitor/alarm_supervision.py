"""Sensor supervision for the alarm engine: data freshness, link, skin contact, battery, nonsense.

:class:`SensorSupervisor` keeps the facts (when each stream last delivered data, which sensors are
lost, since when a sensor has had no skin contact, battery levels, when a sensor sent values
outside the possible range of their stream) and answers two questions:

* :meth:`SensorSupervisor.conditions` -- which technical alarm conditions are present right now;
  the engine reconciles its technical alarms with this set (raise the new ones, clear the gone).
* :meth:`SensorSupervisor.live_value` -- the latest valid value of a stream, or None if the stream
  is stale (no valid reading for ``no_data_s``, or its sensor's link dropped since that reading).

Technical alarm ids contain a dot, which rule ids cannot, so they never clash with rules:
``no_data.<stream>``, ``signal_lost.<sensor_id>``, ``no_contact.<sensor_id>``,
``battery_low.<sensor_id>``, ``implausible.<sensor_id>``. Not thread-safe; owned by one
:class:`~kapmonitor.alarms.AlarmEngine`.

"Sensor sending implausible values" (medium): one sensor sent at least
:data:`IMPLAUSIBLE_BURST_COUNT` values flagged ``IMPLAUSIBLE`` within
:data:`IMPLAUSIBLE_BURST_WINDOW_S`. The condition stays present until the sensor has sent no
implausible value for :data:`IMPLAUSIBLE_QUIET_S`; a later burst raises it again. A single stray
value raises nothing (it is stored flagged and otherwise ignored).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Final

from kapmonitor.alarm_settings import TechnicalRules
from kapmonitor.streams import CONTINUOUS_STREAMS
from kapmonitor.types import AlarmPriority, SensorState, SensorStatus, Stream

__all__ = [
    "CONTINUOUS_STREAMS",
    "IMPLAUSIBLE_BURST_COUNT",
    "IMPLAUSIBLE_BURST_WINDOW_S",
    "IMPLAUSIBLE_QUIET_S",
    "SensorSupervisor",
    "TechnicalCondition",
]

logger = logging.getLogger(__name__)

IMPLAUSIBLE_BURST_COUNT: Final = 3
"""This many implausible values from one sensor within :data:`IMPLAUSIBLE_BURST_WINDOW_S` raise
"Sensor sending implausible values"."""
IMPLAUSIBLE_BURST_WINDOW_S: Final = 10.0
"""The window (monotonic seconds) in which :data:`IMPLAUSIBLE_BURST_COUNT` values make a burst."""
IMPLAUSIBLE_QUIET_S: Final = 30.0
"""The alarm's condition clears once the sensor has sent no implausible value for this long."""

_TECHNICAL_KINDS = ("signal_lost", "no_contact", "battery_low", "implausible")


@dataclass
class _Implausible:
    """One sensor's recent implausible values: their times in the burst window, the episode."""

    recent: deque[float]
    last: float
    burst: bool = False
    count: int = 0
    """Implausible values since the current episode began (the alarm's value)."""


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


class SensorSupervisor:
    """The technical facts about sensors and streams, all timed on the monotonic clock."""

    def __init__(self) -> None:
        self._last_data: dict[Stream, float] = {}
        self._last_valid: dict[Stream, tuple[float, float]] = {}
        self._last_sensor: dict[Stream, str] = {}
        self._dead: set[Stream] = set()
        self._watches: dict[Stream, set[str]] = {}
        self._watch_start: dict[Stream, float] = {}
        self._lost: set[str] = set()
        self._no_contact_since: dict[str, float] = {}
        self._battery: dict[str, float] = {}
        self._implausible: dict[str, _Implausible] = {}
        self._names: dict[str, str] = {}

    def set_name(self, sensor_id: str, name: str) -> None:
        self._names[sensor_id] = name

    def name(self, sensor_id: str) -> str:
        return self._names.get(sensor_id, sensor_id)

    # -- facts in -----------------------------------------------------------------------------

    def record_data(self, stream: Stream, sensor_id: str, now: float) -> None:
        """A reading (valid or not) arrived: the stream is delivering data."""
        self._last_data[stream] = now
        self._last_sensor[stream] = sensor_id
        self._dead.discard(stream)

    def record_valid(self, stream: Stream, value: float, now: float) -> None:
        """A valid reading (finite, not flagged) arrived; it may be compared with limits."""
        self._last_valid[stream] = (value, now)

    def record_implausible(self, sensor_id: str, now: float) -> None:
        """``sensor_id`` sent a value outside the possible range of its stream (or not finite).

        Feeds "Sensor sending implausible values"; such a value is not data for any other purpose.
        """
        seen = self._implausible.get(sensor_id)
        if seen is None or now - seen.last >= IMPLAUSIBLE_QUIET_S:
            seen = self._implausible[sensor_id] = _Implausible(deque(), now)
        seen.last = now
        seen.count += 1
        seen.recent.append(now)
        while now - seen.recent[0] > IMPLAUSIBLE_BURST_WINDOW_S:
            seen.recent.popleft()
        if len(seen.recent) >= IMPLAUSIBLE_BURST_COUNT and not seen.burst:
            seen.burst = True
            logger.warning("%s: %d implausible values within %g s", self.name(sensor_id),
                           len(seen.recent), IMPLAUSIBLE_BURST_WINDOW_S)

    def record_battery(self, sensor_id: str, pct: float) -> None:
        self._battery[sensor_id] = pct

    def record_status(self, status: SensorStatus, now: float) -> None:
        """Link state, contact and battery from one status report (None fields change nothing)."""
        sid = status.sensor_id
        if status.state in (SensorState.LOST, SensorState.RECONNECTING):
            self._dead.update(s for s, owner in self._last_sensor.items() if owner == sid)
        if status.state == SensorState.LOST:
            self._lost.add(sid)
        elif status.state == SensorState.CONNECTED:
            self._lost.discard(sid)
        if status.contact is False:
            self._no_contact_since.setdefault(sid, now)
        elif status.contact is True:
            self._no_contact_since.pop(sid, None)
        if status.battery_pct is not None:
            self.record_battery(sid, float(status.battery_pct))

    def watch(self, stream: Stream, sensor_id: str, now: float) -> bool:
        """Supervise ``stream`` for "no data"; False (and nothing done) for a sparse stream."""
        if stream not in CONTINUOUS_STREAMS:
            logger.debug("not supervising sparse stream %s for no data", stream)
            return False
        if stream not in self._watches:
            self._watch_start[stream] = now
        self._watches.setdefault(stream, set()).add(sensor_id)
        return True

    def unwatch(self, sensor_id: str) -> list[str]:
        """Forget a removed sensor; return the ids of technical alarms that no longer apply."""
        gone = [f"{kind}.{sensor_id}" for kind in _TECHNICAL_KINDS]
        for stream in sorted(self._watches):
            self._watches[stream].discard(sensor_id)
            if not self._watches[stream]:
                del self._watches[stream], self._watch_start[stream]
                gone.append(f"no_data.{stream}")
        self._dead.update(s for s, owner in self._last_sensor.items() if owner == sensor_id)
        self._lost.discard(sensor_id)
        self._no_contact_since.pop(sensor_id, None)
        self._battery.pop(sensor_id, None)
        self._implausible.pop(sensor_id, None)
        return gone

    # -- questions ----------------------------------------------------------------------------

    def live_value(self, stream: Stream, now: float, no_data_s: float) -> float | None:
        """The latest valid value of ``stream`` if the stream is live, else None (stale/unknown)."""
        last = self._last_valid.get(stream)
        if last is None or stream in self._dead:
            return None
        if now - max(last[1], self._last_data.get(stream, last[1])) >= no_data_s:
            return None
        return last[0]

    def conditions(self, now: float, rules: TechnicalRules) -> dict[str, TechnicalCondition]:
        """The technical alarm conditions present at monotonic time ``now``."""
        found: dict[str, TechnicalCondition] = {}
        medium, low = AlarmPriority.MEDIUM, AlarmPriority.LOW
        for stream in sorted(self._watches):
            silent_s = now - max(self._watch_start[stream], self._last_data.get(stream, -math.inf))
            if silent_s >= rules.no_data_s:
                found[f"no_data.{stream}"] = TechnicalCondition(
                    f"no_data.{stream}",
                    f"No data: {stream.replace('_', ' ')}",
                    medium,
                    stream=stream,
                    value=round(silent_s, 3),
                    limit=rules.no_data_s,
                )
        for sid in sorted(self._lost):
            found[f"signal_lost.{sid}"] = TechnicalCondition(
                f"signal_lost.{sid}", f"Signal lost: {self.name(sid)}", medium, sensor_id=sid
            )
        for sid, since in sorted(self._no_contact_since.items()):
            if now - since >= rules.no_contact_s:
                found[f"no_contact.{sid}"] = TechnicalCondition(
                    f"no_contact.{sid}",
                    f"No skin contact: {self.name(sid)}",
                    low,
                    sensor_id=sid,
                    value=round(now - since, 3),
                    limit=rules.no_contact_s,
                )
        limit = float(rules.battery_low_pct)
        for sid, pct in sorted(self._battery.items()):
            if pct <= limit:
                found[f"battery_low.{sid}"] = TechnicalCondition(
                    f"battery_low.{sid}",
                    f"Sensor battery low: {self.name(sid)}",
                    low,
                    sensor_id=sid,
                    value=pct,
                    limit=limit,
                )
        for sid, seen in sorted(self._implausible.items()):
            if seen.burst and now - seen.last < IMPLAUSIBLE_QUIET_S:
                found[f"implausible.{sid}"] = TechnicalCondition(
                    f"implausible.{sid}",
                    f"Sensor sending implausible values: {self.name(sid)}",
                    medium,
                    sensor_id=sid,
                    value=float(seen.count),
                    limit=float(IMPLAUSIBLE_BURST_COUNT),
                )
        return found
