"""The simulated sensor's engine: what is sent when, without threads or a clock.

:class:`SimulationEngine` is driven by :class:`devices.simulated.SimulatedSensor`
(from its thread, or from :meth:`~devices.simulated.SimulatedSensor.advance_to`)
with clock readings passed in, and returns the sink calls due, in time order.
It is not thread-safe; the sensor holds a lock around it.

Model time ``t`` is clock seconds since :meth:`SimulationEngine.connect`. The
engine keeps it as an integer number of microsecond *ticks* (clock readings are
rounded to the microsecond once, on the way in), so the whole schedule is
integer arithmetic: it cannot drift or stall however long it runs and whatever
the monotonic clock's start offset, and every pass of :meth:`~SimulationEngine.advance`
consumes at least one event. Events:

* ``t = 1, 2, 3 ...``: a Heart Rate Measurement packet (the k-th at ``k`` s);
* ``t = 0.5, 1.5 ...``: a PLX Continuous packet (when the oximeter is on);
* a BP result ``bp_inflation_s`` after a request;
* fault boundaries (link and contact changes), at the first tick at or after them.

At every event time the device state (link, contact, battery) is evaluated
first and a :class:`~kapmonitor.types.SensorStatus` is emitted when it changed,
so a packet at the very moment a fault starts is already affected by it.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from devices.gatt import parse_battery_level, parse_heart_rate_measurement
from devices.gatt_medical import parse_blood_pressure_measurement, parse_plx_continuous
from devices.readings import battery_reading, blood_pressure_readings, heart_rate_readings, plx_readings
from devices.simulated_faults import Fault, FaultTimeline
from devices.simulated_packets import (
    CONTACT_DETECTED,
    CONTACT_NOT_DETECTED,
    battery_level_packet,
    blood_pressure_packet,
    heart_rate_packet,
    plx_continuous_packet,
)
from devices.simulated_physiology import BeatKind, SimulatedPhysiology
from kapmonitor import __version__
from kapmonitor.types import Reading, SensorInfo, SensorKind, SensorState, SensorStatus, Stream

__all__ = ["DeliveredBeat", "Emission", "SimulationEngine"]

logger = logging.getLogger(__name__)

Emission = Reading | SensorStatus | SensorInfo
"""One call to make on the sink: reading_received, status_changed or info_received."""

TICKS_PER_S = 1_000_000
"""Model time is kept in integer microseconds."""
HR_PACKET_INTERVAL_S = 1.0
_HR_INTERVAL_TICKS = round(HR_PACKET_INTERVAL_S * TICKS_PER_S)
_SPO2_INTERVAL_TICKS = 1_000_000
_SPO2_OFFSET_TICKS = 500_000
#: Beats the reported heart rate is averaged over (real straps smooth over a few beats).
HR_SMOOTHING_BEATS = 6
_WALL_JUMP_TOLERANCE_S = 1.0


@dataclass(frozen=True, slots=True)
class DeliveredBeat:
    """Ground truth for one delivered RR reading.

    Attributes:
        at: the time stamp of the RR reading (its packet's time).
        rr_ms: the RR value delivered.
        kind: normal, or which artifact the simulator put there.
        end_s: model time of the beat (seconds after start).
    """

    at: datetime
    rr_ms: float
    kind: BeatKind
    end_s: float


def _ticks(seconds: float) -> int:
    """``seconds`` as the nearest whole number of ticks."""
    return round(seconds * TICKS_PER_S)


def _tick_at_or_after(t_s: float) -> int | None:
    """The first tick whose time in seconds is not before ``t_s`` (None if out of range)."""
    scaled = t_s * TICKS_PER_S
    if not math.isfinite(scaled):
        return None
    n = round(scaled)
    for _ in range(3):  # rounding of ``scaled`` is off by at most a tick
        if n / TICKS_PER_S >= t_s:
            break
        n += 1
    return n


class SimulationEngine:
    """Schedules and encodes everything the simulated sensor sends (see module docstring)."""

    def __init__(
        self,
        physiology: SimulatedPhysiology,
        *,
        sensor_id: str,
        name: str,
        seed: int,
        faults: Iterable[Fault] = (),
        spo2: bool = True,
        lost_after_s: float = 10.0,
        bp_inflation_s: float = 30.0,
        battery_start_pct: int = 90,
    ) -> None:
        if not (math.isfinite(bp_inflation_s) and bp_inflation_s >= 0):
            raise ValueError(
                f"bp_inflation_s must be a finite number of seconds >= 0, got {bp_inflation_s!r}"
            )
        self.physiology = physiology
        self.sensor_id = sensor_id
        self._name = name
        self._seed = seed
        self._spo2 = spo2
        self._bp_inflation_ticks = _ticks(bp_inflation_s)
        self.timeline = FaultTimeline(
            faults, lost_after_s=lost_after_s, battery_start_pct=battery_start_pct
        )
        self.delivered_beats: list[DeliveredBeat] = []
        self._done = 0  # ticks after start up to which everything has been sent
        self._start_tick = 0  # the clock's monotonic time at connect, in ticks
        self._anchor_tick = 0  # monotonic ticks at which the wall clock read _anchor_wall
        self._anchor_wall: datetime | None = None
        self._next_hr_k = 1  # the next HR packet is the k-th, at k * interval
        self._next_spo2_k = 0  # the next PLX packet is at k * interval + offset
        self._bp_due: int | None = None
        self._last_bpm: int | None = None
        self._recent_rr: deque[int] = deque(maxlen=HR_SMOOTHING_BEATS)
        self._status: tuple[SensorState, bool | None, int | None] = (SensorState.CONNECTING, None, None)
        self._battery_sent: int | None = None

    # -- time ------------------------------------------------------------------------

    @property
    def done_s(self) -> float:
        """Model seconds up to which everything due has been returned by :meth:`advance`."""
        return self._done / TICKS_PER_S

    def _wall_at_tick(self, tick: int) -> datetime:
        """Wall time at model tick ``tick`` (exact: integer microseconds from the anchor)."""
        assert self._anchor_wall is not None
        return self._anchor_wall + timedelta(microseconds=self._start_tick + tick - self._anchor_tick)

    def _wall(self, t_s: float) -> datetime:
        """Wall time at model time ``t_s`` (seconds after start)."""
        return self._wall_at_tick(_ticks(t_s))

    def check_wall(self, mono_before: float, wall: datetime, mono_after: float) -> None:
        """Follow the wall clock if it jumped (a reading of ``now()`` between two monotonic readings)."""
        if self._anchor_wall is None:
            return
        tolerance = timedelta(seconds=_WALL_JUMP_TOLERANCE_S)
        lo = self._wall_at_tick(_ticks(mono_before) - self._start_tick) - tolerance
        hi = self._wall_at_tick(_ticks(mono_after) - self._start_tick) + tolerance
        if not lo <= wall <= hi:
            logger.info("%s: wall clock jumped; reading times follow the new wall time", self.sensor_id)
            self._anchor_wall = wall
            self._anchor_tick = _ticks((mono_before + mono_after) / 2.0)

    def set_dose_wall(self, at: datetime) -> None:
        """Tell the physiology the dose time, given as wall time."""
        assert self._anchor_wall is not None
        since_anchor = (at - self._anchor_wall) // timedelta(microseconds=1)
        self.physiology.set_dose_time((self._anchor_tick - self._start_tick + since_anchor) / TICKS_PER_S)

    def _hr_tick(self) -> int:
        return self._next_hr_k * _HR_INTERVAL_TICKS

    def _spo2_tick(self) -> int:
        return self._next_spo2_k * _SPO2_INTERVAL_TICKS + _SPO2_OFFSET_TICKS

    def _next_event_tick(self) -> int:
        """Model tick of the next thing that may be sent.

        Every candidate is either a packet or BP result that :meth:`advance`
        consumes when it is due, or a fault boundary strictly after ``_done``, so
        each step of the event loop makes progress.
        """
        tick = self._hr_tick()
        if self._spo2:
            tick = min(tick, self._spo2_tick())
        if self._bp_due is not None:
            tick = min(tick, self._bp_due)
        change = self.timeline.next_change_after(self.done_s)
        if change is not None:
            change_tick = _tick_at_or_after(change)
            if change_tick is not None:
                tick = min(tick, max(self._done + 1, change_tick))
        return tick

    def next_event_mono(self) -> float:
        """Clock monotonic time of the next thing that may be sent."""
        return (self._start_tick + self._next_event_tick()) / TICKS_PER_S

    # -- lifecycle ---------------------------------------------------------------------

    def connect(self, mono: float, wall: datetime) -> list[Emission]:
        """Anchor model time 0 at ``mono``/``wall``; SensorInfo, CONNECTING, then the state at t=0."""
        self._start_tick = self._anchor_tick = _ticks(mono)
        self._anchor_wall = wall
        kinds: tuple[SensorKind, ...] = (
            SensorKind.SIMULATED, SensorKind.HEART_RATE, SensorKind.BLOOD_PRESSURE,
        )
        if self._spo2:
            kinds += (SensorKind.PULSE_OXIMETER,)
        out: list[Emission] = [
            SensorInfo(
                sensor_id=self.sensor_id, name=self._name, kinds=kinds, manufacturer="kapmonitor",
                model="Simulated sensor", serial=f"seed-{self._seed}", firmware=__version__,
                body_location="chest",
            ),
            SensorStatus(self.sensor_id, SensorState.CONNECTING, wall, detail="simulated"),
        ]
        self._update_status(0.0, out)
        return out

    def disconnect(self, mono: float, wall: datetime) -> list[Emission]:
        """The final DISCONNECTED status; a BP measurement under way is abandoned."""
        self._bp_due = None
        self._status = (SensorState.DISCONNECTED, None, None)
        return [SensorStatus(self.sensor_id, SensorState.DISCONNECTED, wall, detail="stopped")]

    def add_fault(self, fault: Fault) -> None:
        """Add a fault; one whose start has passed starts at the current time."""
        if fault.at_s < self.done_s:
            fault = replace(fault, at_s=self.done_s)
        self.timeline.add(fault)

    def request_blood_pressure(self, mono: float) -> bool:
        t = max(self._done, _ticks(mono) - self._start_tick)
        if self.timeline.link_down_since(t / TICKS_PER_S) is not None:
            return False
        if self._bp_due is None:
            self._bp_due = t + self._bp_inflation_ticks
        return True

    # -- the event loop ----------------------------------------------------------------

    def advance(self, mono: float) -> list[Emission]:
        """Everything due in ``(done, mono]``, in time order.

        Always terminates: each pass of the loop either consumes a due packet
        or BP result (counters only move forward) or moves ``_done`` to a later
        fault boundary, and all of it is integer arithmetic.
        """
        until = _ticks(mono) - self._start_tick
        out: list[Emission] = []
        while (tick := self._next_event_tick()) <= until:
            t = tick / TICKS_PER_S
            self._update_status(t, out)
            if self._bp_due is not None and self._bp_due <= tick:
                self._bp_due = None
                self._blood_pressure(t, out)
            if self._hr_tick() <= tick:
                self._next_hr_k += 1
                self._heart_rate(t, out)
            if self._spo2 and self._spo2_tick() <= tick:
                self._next_spo2_k += 1
                self._pulse_oximeter(t, out)
            self._done = max(self._done, tick)
        self._done = max(self._done, until)
        return out

    def _update_status(self, t: float, out: list[Emission]) -> None:
        since = self.timeline.link_down_since(t)
        new: tuple[SensorState, bool | None, int | None]
        if since is None:
            new = (SensorState.CONNECTED, self.timeline.contact(t), self.timeline.battery_pct(t))
        elif t - since >= self.timeline.lost_after_s:
            new = (SensorState.LOST, None, None)
        else:
            new = (SensorState.RECONNECTING, None, None)
        if new == self._status:
            return
        was_up = self._status[0] is SensorState.CONNECTED
        self._status = new
        state, contact, battery = new
        at = self._wall(t)
        detail = {
            SensorState.CONNECTED: "simulated" if contact else "simulated; no skin contact",
            SensorState.RECONNECTING: "link dropped (simulated); reconnecting",
            SensorState.LOST: f"no link for {self.timeline.lost_after_s:g} s (simulated)",
        }[state]
        out.append(
            SensorStatus(self.sensor_id, state, at, detail=detail, battery_pct=battery, contact=contact)
        )
        if battery is not None and (battery != self._battery_sent or not was_up):
            self._battery_sent = battery
            level = parse_battery_level(battery_level_packet(battery))
            out.append(battery_reading(level, at, self.sensor_id))

    def _heart_rate(self, t: float, out: list[Emission]) -> None:
        beats = self.physiology.beats_until(t)
        if self._status[0] is not SensorState.CONNECTED:
            return
        if not self._status[1]:
            packet = heart_rate_packet(0, CONTACT_NOT_DETECTED)
            beats = []
        else:
            self._recent_rr.extend(b.rr_1024 for b in beats)
            if self._recent_rr:
                # Like real straps, report HR averaged over the last few beats, so a single
                # ectopic or missed beat nudges the number instead of spiking it.
                bpm = round(60.0 * 1024 * len(self._recent_rr) / sum(self._recent_rr))
            elif self._last_bpm is not None:
                bpm = self._last_bpm
            else:
                bpm = round(self.physiology.heart_rate_bpm(t))
            self._last_bpm = bpm
            packet = heart_rate_packet(bpm, CONTACT_DETECTED, [b.rr_1024 for b in beats])
        at = self._wall(t)
        readings = heart_rate_readings(parse_heart_rate_measurement(packet), at, self.sensor_id)
        rr = [r for r in readings if r.stream is Stream.RR_INTERVAL]
        self.delivered_beats.extend(
            DeliveredBeat(at, r.value, b.kind, b.end_s) for r, b in zip(rr, beats, strict=True)
        )
        out.extend(readings)

    def _pulse_oximeter(self, t: float, out: list[Emission]) -> None:
        if self._status[0] is not SensorState.CONNECTED:
            return
        phys = self.physiology
        packet = plx_continuous_packet(
            phys.spo2_pct(t), round(phys.mean_heart_rate_bpm(t)), on_finger=bool(self._status[1])
        )
        out.extend(plx_readings(parse_plx_continuous(packet), self._wall(t), self.sensor_id))

    def _blood_pressure(self, t: float, out: list[Emission]) -> None:
        if self._status[0] is not SensorState.CONNECTED:
            logger.warning("%s: blood pressure result lost: the link was down when it finished",
                           self.sensor_id)
            return
        bp = self.physiology.blood_pressure(t)
        packet = blood_pressure_packet(bp.systolic, bp.diastolic, bp.mean)
        out.extend(
            blood_pressure_readings(parse_blood_pressure_measurement(packet), self._wall(t), self.sensor_id)
        )
