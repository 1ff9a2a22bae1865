"""Sensor supervision for the alarm engine: data freshness, link, skin contact, battery, nonsense.

:class:`SensorSupervisor` keeps when each stream last delivered data (and its latest valid value),
and hands every per-sensor fact to the per-sensor technical checks of
:mod:`kapmonitor.technical_checks` (signal lost, no skin contact, battery low, implausible
values), listed once in :meth:`SensorSupervisor.__init__`. It answers two questions:

* :meth:`SensorSupervisor.conditions` -- which technical alarm conditions are present right now;
  the engine reconciles its technical alarms with this set (raise the new ones, clear the gone).
* :meth:`SensorSupervisor.live_value` -- the latest valid value of a stream, or None if the stream
  is stale (no valid reading for ``no_data_s``, or its sensor's link dropped since that reading).

Technical alarm ids contain a dot, which rule ids cannot, so they never clash with rules:
``no_data.<stream>`` (kept here, per watched stream) and ``<kind>.<sensor_id>`` for each check
(``signal_lost``, ``no_contact``, ``battery_low``, ``implausible``). Not thread-safe; owned by one
:class:`~kapmonitor.alarms.AlarmEngine`.
"""

from __future__ import annotations

import logging
import math

from kapmonitor.alarm_settings import TechnicalRules
from kapmonitor.alarm_words import stream_name
from kapmonitor.streams import CONTINUOUS_STREAMS
from kapmonitor.technical_checks import (
    IMPLAUSIBLE_BURST_WINDOW_S,
    BatteryLow,
    ImplausibleBurst,
    NoContact,
    SensorCheck,
    SignalLost,
    TechnicalCondition,
)
from kapmonitor.types import AlarmPriority, SensorState, SensorStatus, Stream

__all__ = ["SensorSupervisor"]

log = logging.getLogger(__name__)


class SensorSupervisor:
    """The technical facts about sensors and streams, all timed on the monotonic clock."""

    def __init__(self) -> None:
        self._last_data: dict[Stream, float] = {}
        self._last_valid: dict[Stream, tuple[float, float]] = {}
        self._last_sensor: dict[Stream, str] = {}
        self._dead: set[Stream] = set()
        self._watches: dict[Stream, set[str]] = {}
        self._watch_start: dict[Stream, float] = {}
        self._names: dict[str, str] = {}
        self._battery = BatteryLow()
        self._implausible = ImplausibleBurst()
        self._checks: tuple[SensorCheck, ...] = (
            SignalLost(),
            NoContact(),
            self._battery,
            self._implausible,
        )
        """Every per-sensor technical alarm, in the order their conditions are reported."""

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
        in_window = self._implausible.record(sensor_id, now)
        if in_window is not None:
            log.warning(
                "%s: %d implausible values within %g s",
                self.name(sensor_id),
                in_window,
                IMPLAUSIBLE_BURST_WINDOW_S,
            )

    def record_battery(self, sensor_id: str, pct: float) -> None:
        self._battery.record(sensor_id, pct)

    def record_status(self, status: SensorStatus, now: float) -> None:
        """Link state, contact and battery from one status report (None fields change nothing)."""
        sid = status.sensor_id
        if status.state in (SensorState.LOST, SensorState.RECONNECTING):
            self._dead.update(s for s, owner in self._last_sensor.items() if owner == sid)
        for check in self._checks:
            check.record_status(status, now)

    def watch(self, stream: Stream, sensor_id: str, now: float) -> bool:
        """Supervise ``stream`` for "no data"; False (and nothing done) for a sparse stream."""
        if stream not in CONTINUOUS_STREAMS:
            log.debug("not supervising sparse stream %s for no data", stream)
            return False
        if stream not in self._watches:
            self._watch_start[stream] = now
        self._watches.setdefault(stream, set()).add(sensor_id)
        return True

    def unwatch(self, sensor_id: str) -> list[str]:
        """Forget a removed sensor; return the ids of technical alarms that no longer apply."""
        gone = [f"{check.kind}.{sensor_id}" for check in self._checks]
        for stream in sorted(self._watches):
            self._watches[stream].discard(sensor_id)
            if not self._watches[stream]:
                del self._watches[stream], self._watch_start[stream]
                gone.append(f"no_data.{stream}")
        self._dead.update(s for s, owner in self._last_sensor.items() if owner == sensor_id)
        for check in self._checks:
            check.forget(sensor_id)
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

    def _feeder(self, stream: Stream) -> str | None:
        """The sensor a watched stream's data comes from: the last one that sent it, else the
        first watcher (so "no data" joins that sensor's problem)."""
        watchers = self._watches.get(stream, set())
        last = self._last_sensor.get(stream)
        if last in watchers:
            return last
        return min(watchers) if watchers else None

    def conditions(self, now: float, rules: TechnicalRules) -> dict[str, TechnicalCondition]:
        """The technical alarm conditions present at monotonic time ``now``."""
        found: dict[str, TechnicalCondition] = {}
        for stream in sorted(self._watches):
            silent_s = now - max(self._watch_start[stream], self._last_data.get(stream, -math.inf))
            if silent_s >= rules.no_data_s:
                found[f"no_data.{stream}"] = TechnicalCondition(
                    f"no_data.{stream}",
                    f"No {stream_name(stream)} data",
                    AlarmPriority.MEDIUM,
                    stream=stream,
                    sensor_id=self._feeder(stream),
                    value=round(silent_s, 3),
                    limit=rules.no_data_s,
                )
        for check in self._checks:
            found.update((c.alarm_id, c) for c in check.conditions(now, rules, self.name))
        return found
