"""Tests for the simulated sensor (devices.simulated and its physiology, faults and packets)."""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import random
import signal
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.gatt import parse_heart_rate_measurement
from devices.gatt_fields import parse_sfloat
from devices.simulated import SimulatedSensor
from devices.simulated_engine import Emission, SimulationEngine
from devices.simulated_faults import Fault
from devices.simulated_packets import (
    CONTACT_DETECTED,
    encode_sfloat,
    heart_rate_packet,
)
from devices.simulated_physiology import Beat, BeatKind, SimulatedPhysiology, dose_response
from kapmonitor.clock import FakeClock, ScaledClock
from kapmonitor.sensor import Sensor
from kapmonitor.types import Reading, ReadingFlag, SensorInfo, SensorState, SensorStatus, Stream

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Sink:
    """Collects what a sensor delivers (thread-safe enough for one producer thread)."""

    readings: list[Reading] = field(default_factory=list)
    statuses: list[SensorStatus] = field(default_factory=list)
    infos: list[SensorInfo] = field(default_factory=list)
    log: list[Reading | SensorStatus | SensorInfo] = field(default_factory=list)

    def readings_received(self, readings: Sequence[Reading]) -> None:
        for reading in readings:
            self.reading_received(reading)

    def reading_received(self, reading: Reading) -> None:
        self.readings.append(reading)
        self.log.append(reading)

    def status_changed(self, status: SensorStatus) -> None:
        self.statuses.append(status)
        self.log.append(status)

    def info_received(self, info: SensorInfo) -> None:
        self.infos.append(info)
        self.log.append(info)

    def of(self, stream: Stream) -> list[Reading]:
        return [r for r in self.readings if r.stream is stream]


def run(
    seconds: float,
    *,
    seed: int = 1,
    dose_after_s: float | None = None,
    step_s: float | None = None,
    **kwargs: object,
) -> tuple[SimulatedSensor, Sink, FakeClock]:
    """Run a manual sensor on a FakeClock for ``seconds``, optionally in steps, with a dose."""
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock, seed=seed, **kwargs)  # type: ignore[arg-type]
    sink = Sink()
    sensor.start_manual(sink)
    if dose_after_s is not None:
        sensor.dose_given(START + timedelta(seconds=dose_after_s))
    step = seconds if step_s is None else step_s
    done = 0.0
    while done < seconds:
        delta = min(step, seconds - done)
        clock.advance(delta)
        done += delta
        sensor.advance_to()
    return sensor, sink, clock


def secs(r: Reading | SensorStatus) -> float:
    return (r.at - START).total_seconds()


def mean_hr(sink: Sink, from_s: float, to_s: float) -> float:
    values = [r.value for r in sink.of(Stream.HEART_RATE) if from_s <= secs(r) < to_s]
    assert values, f"no heart rate between {from_s} and {to_s} s"
    return statistics.fmean(values)


# -- determinism -------------------------------------------------------------------------


def test_same_seed_same_readings_however_time_is_stepped() -> None:
    _, one_shot, _ = run(900, seed=7, dose_after_s=60)
    _, stepped, _ = run(900, seed=7, dose_after_s=60, step_s=37.25)  # binary-exact steps
    assert one_shot.readings == stepped.readings
    assert one_shot.statuses == stepped.statuses
    assert len(one_shot.readings) > 2000


def test_different_seeds_differ() -> None:
    _, a, _ = run(300, seed=1)
    _, b, _ = run(300, seed=2)
    assert [r.value for r in a.of(Stream.RR_INTERVAL)] != [r.value for r in b.of(Stream.RR_INTERVAL)]
    assert SimulatedPhysiology(1).baseline_hr_bpm != SimulatedPhysiology(2).baseline_hr_bpm


# -- heart rate ------------------------------------------------------------------------------


def test_connects_with_info_then_connecting_then_connected() -> None:
    sensor, sink, _ = run(5)
    assert isinstance(sensor, Sensor)
    assert isinstance(sink.log[0], SensorInfo)
    assert sink.log[0].sensor_id == "simulated:1"
    assert [s.state for s in sink.statuses[:2]] == [SensorState.CONNECTING, SensorState.CONNECTED]
    connected = sink.statuses[1]
    assert connected.contact is True
    assert connected.battery_pct == 90
    assert sink.of(Stream.BATTERY)[0].value == 90.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_baseline_heart_rate_and_rr_are_plausible(seed: int) -> None:
    sensor, sink, _ = run(600, seed=seed, spo2=False)
    hr = [r.value for r in sink.of(Stream.HEART_RATE)]
    rr = [r.value for r in sink.of(Stream.RR_INTERVAL)]
    assert 55 <= statistics.fmean(hr) <= 85
    assert abs(60000 / statistics.fmean(rr) - statistics.fmean(hr)) < 3
    # Sum of RR = elapsed time: beats are consistent with the clock.
    assert sum(rr) / 1000 == pytest.approx(600, abs=2.5)
    # Respiratory sinus arrhythmia: beat-to-beat variation, RMSSD over normal beats only.
    beats = sensor.delivered_beats()
    diffs = [
        (b.rr_ms - a.rr_ms) ** 2
        for a, b in itertools.pairwise(beats)
        if a.kind is BeatKind.NORMAL and b.kind is BeatKind.NORMAL
    ]
    rmssd = math.sqrt(statistics.fmean(diffs))
    assert 15 < rmssd < 120


def test_breathing_modulates_rr_at_the_breathing_rate() -> None:
    phys = SimulatedPhysiology(4)
    period = 1 / phys.breathing_hz
    hr = [phys.heart_rate_bpm(t / 10) for t in range(int(period * 10))]
    assert max(hr) - min(hr) == pytest.approx(2 * phys.rsa_bpm, rel=0.15)


def test_stays_at_baseline_without_a_dose() -> None:
    _, sink, _ = run(3600, seed=5, spo2=False)
    early, late = mean_hr(sink, 0, 600), mean_hr(sink, 1800, 3000)
    assert abs(late - early) < 6


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_heart_rate_rises_after_dose_and_returns(seed: int) -> None:
    dose = 600.0
    _, sink, _ = run(dose + 120 * 60, seed=seed, dose_after_s=dose, spo2=False)
    baseline = mean_hr(sink, 0, dose)
    peak = mean_hr(sink, dose + 25 * 60, dose + 45 * 60)
    late = mean_hr(sink, dose + 110 * 60, dose + 120 * 60)
    assert 2 <= peak - baseline <= 30
    assert abs(late - baseline) < 0.5 * (peak - baseline)


def test_dose_response_peaks_and_fades() -> None:
    assert dose_response(-10, 2100) == 0.0
    assert dose_response(2100, 2100) == pytest.approx(1.0)
    assert dose_response(0.7 * 2100, 2100) > 0.85
    assert dose_response(3.3 * 2100, 2100) < 0.15


def test_packets_arrive_once_a_second_with_zero_to_several_rr() -> None:
    _, sink, _ = run(600, seed=1, spo2=False)
    hr = sink.of(Stream.HEART_RATE)
    assert len(hr) == 600
    assert {secs(b) - secs(a) for a, b in itertools.pairwise(hr)} == {1.0}
    per_packet = [sum(1 for r in sink.of(Stream.RR_INTERVAL) if r.at == h.at) for h in hr]
    assert {0, 1, 2} <= set(per_packet)
    assert max(per_packet) <= 4


def test_heart_rate_value_is_the_average_of_the_last_beats() -> None:
    from devices.simulated_engine import HR_SMOOTHING_BEATS

    _, sink, _ = run(120, seed=2, spo2=False)
    rr = sink.of(Stream.RR_INTERVAL)
    for h in sink.of(Stream.HEART_RATE):
        recent = [r.value for r in rr if r.at <= h.at][-HR_SMOOTHING_BEATS:]
        if recent:
            assert h.value == round(60000 * len(recent) / sum(recent))


def test_artifacts_occur_at_the_configured_rate() -> None:
    phys = SimulatedPhysiology(11, ectopic_rate=0.03, missed_rate=0.02)
    beats = phys.beats_until(3 * 3600)
    n = len(beats)
    ectopic = [i for i, b in enumerate(beats) if b.kind is BeatKind.ECTOPIC]
    missed = [b for b in beats if b.kind is BeatKind.MISSED]
    # Each draw is one interval; ectopic draws add two intervals, missed draws one.
    assert len(ectopic) / n == pytest.approx(0.03, rel=0.25)
    assert len(missed) / n == pytest.approx(0.02, rel=0.3)
    normal_rr = statistics.median(b.rr_ms for b in beats if b.kind is BeatKind.NORMAL)
    for i in ectopic:
        assert beats[i].rr_ms < 0.85 * normal_rr
        assert beats[i + 1].kind is BeatKind.COMPENSATORY
        assert beats[i].rr_ms + beats[i + 1].rr_ms == pytest.approx(2 * normal_rr, rel=0.2)
    assert statistics.median(b.rr_ms for b in missed) == pytest.approx(2 * normal_rr, rel=0.15)


def test_default_artifact_rate_is_about_half_a_percent_and_truth_matches_readings() -> None:
    sensor, sink, _ = run(3600, seed=3, spo2=False)
    beats = sensor.delivered_beats()
    rr = sink.of(Stream.RR_INTERVAL)
    assert [(b.at, b.rr_ms) for b in beats] == [(r.at, r.value) for r in rr]
    fraction = sum(b.kind.is_artifact for b in beats) / len(beats)
    assert 0.002 <= fraction <= 0.012


# -- SpO2, blood pressure, battery ---------------------------------------------------------------


def test_spo2_and_pulse_rate_once_a_second() -> None:
    _, sink, _ = run(600, seed=1, dose_after_s=0)
    spo2 = sink.of(Stream.SPO2)
    assert len(spo2) == 600
    assert secs(spo2[0]) == 0.5
    assert all(95 <= r.value <= 100 for r in spo2)
    assert 96.5 <= statistics.fmean(r.value for r in spo2) <= 99.5
    pulse = sink.of(Stream.PULSE_RATE)
    assert len(pulse) == 600
    assert abs(statistics.fmean(r.value for r in pulse) - mean_hr(sink, 0, 600)) < 3


def test_no_spo2_when_the_oximeter_is_off() -> None:
    _, sink, _ = run(60, spo2=False)
    assert not sink.of(Stream.SPO2)
    assert not sink.of(Stream.PULSE_RATE)


def test_blood_pressure_arrives_after_the_cuff_inflation_delay() -> None:
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock, spo2=False)
    sink = Sink()
    assert sensor.request_blood_pressure() is False  # not started
    sensor.start_manual(sink)
    clock.advance(10)
    sensor.advance_to()
    assert sensor.request_blood_pressure() is True
    assert sensor.request_blood_pressure() is True  # already under way: no second measurement
    clock.advance(29.9)
    sensor.advance_to()
    assert not sink.of(Stream.BP_SYSTOLIC)
    clock.advance(60)
    sensor.advance_to()
    sbp, dbp, mean = sink.of(Stream.BP_SYSTOLIC), sink.of(Stream.BP_DIASTOLIC), sink.of(Stream.BP_MEAN)
    assert len(sbp) == len(dbp) == len(mean) == 1
    assert secs(sbp[0]) == pytest.approx(40.0)
    assert 100 <= sbp[0].value <= 140
    assert 60 <= dbp[0].value <= 90
    assert dbp[0].value < mean[0].value < sbp[0].value


def test_blood_pressure_rises_about_16_over_11_near_40_min() -> None:
    phys = SimulatedPhysiology(1)
    phys.set_dose_time(0.0)
    before = [phys.blood_pressure(-600 + i) for i in range(200)]
    at_40 = [phys.blood_pressure(40 * 60 + i) for i in range(200)]
    rise_sbp = statistics.fmean(b.systolic for b in at_40) - statistics.fmean(b.systolic for b in before)
    rise_dbp = statistics.fmean(b.diastolic for b in at_40) - statistics.fmean(b.diastolic for b in before)
    assert rise_sbp == pytest.approx(16 * phys.bp_rise_factor, abs=1.5)
    assert rise_dbp == pytest.approx(11 * phys.bp_rise_factor, abs=1.5)
    # Through the sensor: a reading before the dose, then one completing at +40 min.
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock, seed=1, spo2=False)
    sink = Sink()
    sensor.start_manual(sink)
    sensor.request_blood_pressure()
    clock.advance(60)
    sensor.advance_to()
    sensor.dose_given(clock.now())
    clock.advance(39.5 * 60)
    sensor.advance_to()
    sensor.request_blood_pressure()
    clock.advance(60)
    sensor.advance_to()
    sbp = sink.of(Stream.BP_SYSTOLIC)
    assert [secs(r) for r in sbp] == [30.0, 60 + 40 * 60]
    assert sbp[1].value - sbp[0].value >= 5


def test_battery_falls_slowly() -> None:
    _, sink, _ = run(2 * 3600, spo2=False)
    levels = [r.value for r in sink.of(Stream.BATTERY)]
    assert levels[0] == 90
    assert 80 <= levels[-1] < 90
    assert levels == sorted(levels, reverse=True)


# -- faults ----------------------------------------------------------------------------------------


def test_contact_lost_flags_readings_and_status() -> None:
    _, sink, _ = run(120, faults=[Fault("contact_lost", at_s=30, duration_s=20)])
    during = [r for r in sink.readings if 30 <= secs(r) < 50]
    outside = [r for r in sink.readings if not 30 <= secs(r) < 50 and r.stream is not Stream.BATTERY]
    assert {r.stream for r in during} == {Stream.HEART_RATE}
    assert all(r.flags & ReadingFlag.NO_CONTACT and r.value == 0 for r in during)
    assert len(during) == 20
    assert all(r.flags == ReadingFlag.NONE for r in outside)
    contact = [(secs(s), s.contact) for s in sink.statuses if s.state is SensorState.CONNECTED]
    assert contact == [(0.0, True), (30.0, False), (50.0, True)]
    assert sink.of(Stream.RR_INTERVAL)[-1].at > START + timedelta(seconds=50)


def test_link_drop_reconnects_after_being_lost() -> None:
    _, sink, _ = run(120, faults=[Fault("link_drop", at_s=30, duration_s=25)])
    states = [(secs(s), s.state) for s in sink.statuses]
    assert states == [
        (0.0, SensorState.CONNECTING),
        (0.0, SensorState.CONNECTED),
        (30.0, SensorState.RECONNECTING),
        (40.0, SensorState.LOST),
        (55.0, SensorState.CONNECTED),
    ]
    assert not [r for r in sink.readings if 30 <= secs(r) < 55]
    after = [r for r in sink.readings if secs(r) >= 55]
    assert {Stream.HEART_RATE, Stream.RR_INTERVAL, Stream.SPO2, Stream.BATTERY} <= {r.stream for r in after}


def test_short_link_drop_is_never_lost_and_loses_a_bp_finishing_during_it() -> None:
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock, faults=[Fault("link_drop", at_s=20, duration_s=15)], lost_after_s=20)
    sink = Sink()
    sensor.start_manual(sink)
    assert sensor.request_blood_pressure()  # would finish at 30 s, inside the drop
    clock.advance(22)
    sensor.advance_to()
    assert sensor.request_blood_pressure() is False  # link down: cannot measure
    clock.advance(60)
    sensor.advance_to()
    assert [s.state for s in sink.statuses][2:] == [SensorState.RECONNECTING, SensorState.CONNECTED]
    assert not sink.of(Stream.BP_SYSTOLIC)
    assert sensor.request_blood_pressure()
    clock.advance(30)
    sensor.advance_to()
    assert [secs(r) for r in sink.of(Stream.BP_SYSTOLIC)] == [112.0]


def test_battery_drain_reaches_the_alarm_level() -> None:
    _, sink, _ = run(300, faults=[Fault("battery_drain", at_s=60, duration_s=120)], spo2=False)
    levels = [r.value for r in sink.of(Stream.BATTERY)]
    assert min(levels) <= 15
    assert levels[-1] == 12
    low = [s for s in sink.statuses if s.battery_pct is not None and s.battery_pct <= 15]
    assert low
    assert secs(low[0]) < 180


def test_inject_fault_at_runtime_starts_now() -> None:
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock, spo2=False)
    sink = Sink()
    sensor.start_manual(sink)
    clock.advance(100)
    sensor.advance_to()
    sensor.inject_fault(Fault("link_drop", at_s=0, duration_s=30))
    clock.advance(60)
    sensor.advance_to()
    drops = [s for s in sink.statuses if s.state is SensorState.RECONNECTING]
    assert len(drops) == 1
    assert 100 <= secs(drops[0]) <= 101
    assert not [r for r in sink.readings if 101 <= secs(r) < 130]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "unplugged", "at_s": 1, "duration_s": 1}, "unknown fault kind"),
        ({"kind": "link_drop", "at_s": -1, "duration_s": 1}, "at_s"),
        ({"kind": "link_drop", "at_s": 1, "duration_s": 0}, "duration_s"),
        ({"kind": "battery_drain", "at_s": 1, "duration_s": 1, "to_pct": 120}, "to_pct"),
    ],
)
def test_bad_faults_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(**kwargs)  # type: ignore[arg-type]


# -- lifecycle ---------------------------------------------------------------------------------------


def test_lifecycle_errors() -> None:
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock)
    with pytest.raises(RuntimeError, match="start_manual"):
        sensor.advance_to()
    sink = Sink()
    sensor.start_manual(sink)
    with pytest.raises(RuntimeError, match="starts once"):
        sensor.start(sink)
    with pytest.raises(ValueError, match="naive"):
        sensor.dose_given(datetime(2026, 3, 2, 9, 0))
    sensor.stop()
    sensor.stop()
    assert [s.state for s in sink.statuses].count(SensorState.DISCONNECTED) == 1
    clock.advance(10)
    sensor.advance_to()  # after stop: nothing more
    assert sink.statuses[-1].state is SensorState.DISCONNECTED
    assert not [r for r in sink.readings if secs(r) > 0]


def test_reading_times_follow_a_wall_clock_jump() -> None:
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock, spo2=False)
    sink = Sink()
    sensor.start_manual(sink)
    clock.advance(10)
    sensor.advance_to()
    clock.set_wall(clock.now() + timedelta(hours=1))
    clock.advance(10)
    sensor.advance_to()
    hr = sink.of(Stream.HEART_RATE)
    assert secs(hr[9]) == 10.0
    assert secs(hr[-1]) == pytest.approx(3600 + 20.0)


def test_threaded_sensor_matches_the_manual_one_on_a_fake_clock() -> None:
    _, manual, _ = run(30, seed=9)
    clock = FakeClock(start=START)
    sensor = SimulatedSensor(clock, seed=9)
    sink = Sink()
    sensor.start(sink)
    clock.advance(30)
    deadline = time.monotonic() + 5
    while len(sink.readings) < len(manual.readings) and time.monotonic() < deadline:
        time.sleep(0.01)
    sensor.stop()
    assert sink.readings == manual.readings


def test_threaded_scaled_clock_runs_fast_and_stops_cleanly() -> None:
    clock = ScaledClock(speed=600, start=START)
    sensor = SimulatedSensor(clock, seed=2)
    sink = Sink()
    sensor.start(sink)
    time.sleep(1.0)
    t0 = time.monotonic()
    sensor.stop()
    assert time.monotonic() - t0 < 1.0
    count = len(sink.log)
    hr = sink.of(Stream.HEART_RATE)
    # ~600 clock seconds passed; allow for a busy machine delaying the thread's last burst.
    assert 300 <= len(hr) <= 700
    assert len(hr) <= sensor.elapsed_s + 1
    times = [item.at for item in sink.log if not isinstance(item, SensorInfo)]
    assert times == sorted(times)
    started = sink.statuses[0].at
    hr_times = [round((r.at - started).total_seconds(), 6) for r in hr]
    assert hr_times == [float(i) for i in range(1, len(hr) + 1)]  # exact, even when the thread ran late
    assert sink.statuses[-1].state is SensorState.DISCONNECTED
    time.sleep(0.1)
    assert len(sink.log) == count
    assert not any(t.name.startswith("sim-sensor") for t in threading.enumerate())


# -- packets ---------------------------------------------------------------------------------------


@given(
    bpm=st.integers(0, 400),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=8),
)
def test_heart_rate_packet_round_trips_through_the_real_parser(bpm: int, rr: list[int]) -> None:
    m = parse_heart_rate_measurement(heart_rate_packet(bpm, CONTACT_DETECTED, rr))
    assert (m.bpm, m.sensor_contact, m.rr_1024) == (bpm, True, tuple(rr))


@given(value=st.integers(-2000, 2000), decimals=st.integers(0, 3))
def test_sfloat_encoding_round_trips(value: int, decimals: int) -> None:
    x = value / 10**decimals
    assert parse_sfloat(encode_sfloat(x, decimals)) == pytest.approx(x)


class _BrokenPhysiology(SimulatedPhysiology):
    def beats_until(self, t_s: float) -> list[Beat]:
        raise ArithmeticError("model broke")


def test_a_failing_simulation_reports_the_sensor_lost() -> None:
    clock = ScaledClock(speed=100, start=START)
    sensor = SimulatedSensor(clock, physiology=_BrokenPhysiology(1))
    sink = Sink()
    sensor.start(sink)
    deadline = time.monotonic() + 5
    while not any(s.state is SensorState.LOST for s in sink.statuses) and time.monotonic() < deadline:
        time.sleep(0.01)
    sensor.stop()
    lost = [s for s in sink.statuses if s.state is SensorState.LOST]
    assert len(lost) == 1
    assert "model broke" in lost[0].detail
    assert sink.statuses[-1].state is SensorState.DISCONNECTED


class _StopOnFirstHeartRate(Sink):
    sensor: SimulatedSensor | None = None

    def reading_received(self, reading: Reading) -> None:
        super().reading_received(reading)
        if reading.stream is Stream.HEART_RATE and self.sensor is not None:
            self.sensor.stop()


def test_stop_from_inside_the_sink_on_the_sensor_thread_does_not_deadlock() -> None:
    clock = ScaledClock(speed=100, start=START)
    sensor = SimulatedSensor(clock, spo2=False)
    sink = _StopOnFirstHeartRate()
    sink.sensor = sensor
    sensor.start(sink)
    deadline = time.monotonic() + 5
    while not any(s.state is SensorState.DISCONNECTED for s in sink.statuses) and time.monotonic() < deadline:
        time.sleep(0.01)
    sensor.stop()
    time.sleep(0.05)
    assert len(sink.of(Stream.HEART_RATE)) == 1
    assert sink.log[-1] == sink.statuses[-1]
    assert sink.statuses[-1].state is SensorState.DISCONNECTED


def test_a_manual_sensor_started_by_its_owner_delivers_only_when_advanced() -> None:
    clock = FakeClock()
    sensor = SimulatedSensor(clock, seed=4, manual=True)
    sink = Sink()
    before = threading.active_count()
    sensor.start(sink)  # what a recorder calls
    assert threading.active_count() == before, "manual mode starts no thread"
    assert sink.of(Stream.HEART_RATE) == []
    clock.advance(30)
    sensor.advance_to()
    assert len(sink.of(Stream.HEART_RATE)) == 30
    sensor.stop()


# -- long runs, any monotonic start offset (the schedule is integer ticks) ---------------------------


class _RunawayLoop(AssertionError):
    """SimulationEngine.advance looped far more often than there were events due."""


class _ScheduleOnlyEngine(SimulationEngine):
    """The real schedule and status logic, with the packet encoding stubbed out (for speed).

    Counts the engine's loop iterations (each one evaluates the device status) so an
    ``advance`` that stops making progress fails the test instead of hanging it.
    """

    max_iterations_per_advance = 200

    def __init__(self, seed: int) -> None:
        super().__init__(SimulatedPhysiology(seed), sensor_id="simulated:9", name="sim", seed=seed)
        self.iterations = 0
        self.hr_times: list[datetime] = []
        self.spo2_count = 0

    def _update_status(self, t: float, out: list[Emission]) -> None:
        self.iterations += 1
        if self.iterations > self.max_iterations_per_advance:
            raise _RunawayLoop(f"advance() stalled at model time t={t!r} s")
        super()._update_status(t, out)

    def _heart_rate(self, t: float, out: list[Emission]) -> None:
        at = self._wall(t)
        self.hr_times.append(at)
        out.append(Reading(Stream.HEART_RATE, 60.0, at, self.sensor_id))

    def _pulse_oximeter(self, t: float, out: list[Emission]) -> None:
        self.spo2_count += 1


_SEEDED = random.Random(20260302)
# 1234.567, 3000.1, 7.3 and the last random one stalled the old float schedule within a day.
_START_OFFSETS = [1234.567, 3000.1, 98765.4321, 1e6 + 0.1, 7.3, 86399.999] + [
    round(_SEEDED.uniform(1.0, 5e6), 4) for _ in range(4)
]


@pytest.mark.parametrize("start_mono", _START_OFFSETS)
def test_engine_runs_a_day_without_stalls_or_drift_from_any_monotonic_start(start_mono: float) -> None:
    engine = _ScheduleOnlyEngine(seed=3)
    engine.connect(start_mono, START)
    steps = random.Random(start_mono)
    day_s = 24 * 3600
    mono = start_mono
    hr_count = 0
    calls = 0
    while mono - start_mono < day_s:
        calls += 1
        assert calls < 100_000, "the test loop itself ran away"
        mono += steps.uniform(0.1, 10.0)
        engine.iterations = 0
        out = engine.advance(mono)  # raises _RunawayLoop if it stops making progress
        hr_count += sum(1 for e in out if isinstance(e, Reading) and e.stream is Stream.HEART_RATE)
    expected = math.floor(engine.done_s + 1e-6)
    assert expected >= day_s
    assert hr_count == len(engine.hr_times) == expected
    offsets = [(at - START).total_seconds() for at in engine.hr_times]
    # One packet per second, exactly on the second, from 1 s on: no gaps, no drift after a day.
    assert offsets == [float(k) for k in range(1, expected + 1)]
    assert max(b - a for a, b in itertools.pairwise(offsets)) <= 2.0
    assert engine.spo2_count in (expected, expected + 1)


@contextlib.contextmanager
def _fails_after(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this (the main) thread if the block runs longer than ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_sensor_on_a_clock_with_an_awkward_monotonic_start_keeps_delivering() -> None:
    # With the monotonic clock starting at 1234.567 s the old float schedule stalled at
    # t = 6957.5 s (an SpO2 packet), spinning for ever with the engine lock held.
    clock = FakeClock(start=START, monotonic_start=1234.567)
    sensor = SimulatedSensor(clock, seed=1)
    sink = Sink()
    sensor.start_manual(sink)
    steps = random.Random(5)
    with _fails_after(30):
        while clock.monotonic() - 1234.567 < 2 * 3600:
            clock.advance(steps.uniform(0.1, 10.0))
            sensor.advance_to()
    n = math.floor(sensor.elapsed_s + 1e-6)
    assert [secs(r) for r in sink.of(Stream.HEART_RATE)] == [float(k) for k in range(1, n + 1)]
    spo2 = [secs(r) for r in sink.of(Stream.SPO2)]
    assert spo2 == [k + 0.5 for k in range(len(spo2))]
    assert sensor.elapsed_s - 1 < spo2[-1] <= sensor.elapsed_s
    sensor.stop()
    assert sink.statuses[-1].state is SensorState.DISCONNECTED


# -- stop() is bounded even when the delivering thread is stuck -------------------------------------


class _BlockingSink(Sink):
    """Blocks in readings_received (on the sensor's thread, after taking the packet) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def readings_received(self, readings: Sequence[Reading]) -> None:
        super().readings_received(readings)
        if threading.current_thread().name.startswith("sim-sensor") and not self.entered.is_set():
            self.entered.set()
            self.release.wait(10)


def _sim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sim-sensor")]


def test_stop_returns_promptly_when_the_sink_blocks_the_sensor_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ScaledClock(speed=100, start=START)
    sensor = SimulatedSensor(clock, seed=2)
    sink = _BlockingSink()
    sensor.start(sink)
    try:
        assert sink.entered.wait(5), "the sensor never delivered a reading"
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="devices.simulated"):
            sensor.stop()
        assert time.monotonic() - t0 < 1.0
        assert "did not end" in caplog.text
        assert sink.statuses[-1].state is SensorState.DISCONNECTED
        count = len(sink.log)
    finally:
        sink.release.set()
    deadline = time.monotonic() + 5
    while _sim_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _sim_threads(), "the sensor thread should end once the sink returns"
    assert len(sink.log) == count, "nothing is delivered after stop() returned"
    sensor.stop()  # idempotent


class _BlockingPhysiology(SimulatedPhysiology):
    """Blocks inside the engine (so with the engine lock held) until released."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.entered = threading.Event()
        self.release = threading.Event()

    def beats_until(self, t_s: float) -> list[Beat]:
        if t_s >= 3 and not self.entered.is_set():
            self.entered.set()
            self.release.wait(10)
        return super().beats_until(t_s)


def test_stop_returns_promptly_when_the_engine_is_stuck_holding_its_lock() -> None:
    clock = ScaledClock(speed=100, start=START)
    physiology = _BlockingPhysiology(1)
    sensor = SimulatedSensor(clock, physiology=physiology, spo2=False)
    sink = Sink()
    sensor.start(sink)
    try:
        assert physiology.entered.wait(5)
        t0 = time.monotonic()
        sensor.stop()
        assert time.monotonic() - t0 < 1.0
        assert sink.statuses[-1].state is SensorState.DISCONNECTED
        assert not sensor.started
        count = len(sink.log)
    finally:
        physiology.release.set()
    deadline = time.monotonic() + 5
    while _sim_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _sim_threads()
    assert len(sink.log) == count, "the step that was under way delivers nothing after stop()"
