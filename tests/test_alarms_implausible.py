"""The alarm engine and readings outside their stream's possible range (``IMPLAUSIBLE``)."""

from __future__ import annotations

import math
import random

import pytest

from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.alarms import AlarmEngine
from kapmonitor.clock import FakeClock
from kapmonitor.streams import STREAMS
from kapmonitor.technical_checks import (
    IMPLAUSIBLE_BURST_COUNT,
    IMPLAUSIBLE_BURST_WINDOW_S,
    IMPLAUSIBLE_QUIET_S,
)
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    Reading,
    ReadingFlag,
    Stream,
)

HR, SPO2 = Stream.HEART_RATE, Stream.SPO2
NONSENSE = {
    Stream.HEART_RATE: [65071.0, 0.0, 19.0, 301.0, -5.0],
    Stream.RR_INTERVAL: [63971.0, 0.9765625, 3001.0],
    Stream.SPO2: [-2e10, 100.5, 2047e7, -1.0],
    Stream.PULSE_RATE: [1e9, 0.0, 400.0],
    Stream.BP_SYSTOLIC: [1.2e11, 0.0, 301.0, -2e10],
    Stream.BP_DIASTOLIC: [1.2e11, 5.0, 251.0],
    Stream.BP_MEAN: [1.2e11, 0.0, 281.0],
    Stream.BATTERY: [101.0, -1.0, 255.0],
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> AlarmEngine:
    return AlarmEngine(AlarmSettings.defaults(), clock)


def read(engine: AlarmEngine, clock: FakeClock, stream: Stream, value: float, *, sensor: str = "s1",
         flags: ReadingFlag = ReadingFlag.NONE) -> list[AlarmTransition]:
    return engine.on_reading(Reading(stream, value, clock.now(), sensor, flags))


def actions(ts: list[AlarmTransition]) -> list[tuple[str, str, AlarmState]]:
    return [(t.alarm_id, t.action, t.state) for t in ts]


def physiological(ts: list[AlarmTransition]) -> list[AlarmTransition]:
    return [t for t in ts if t.category is AlarmCategory.PHYSIOLOGICAL]


def test_fuzz_of_implausible_readings_raises_no_clinical_alarm(engine: AlarmEngine, clock: FakeClock) -> None:
    """2000 random readings: calm plausible values mixed with nonsense (random and crafted),
    some of them pre-flagged; none of the nonsense may raise, clear or hold a clinical alarm."""
    rng = random.Random(20260102)
    calm = {HR: (55.0, 100.0), SPO2: (95.0, 100.0), Stream.PULSE_RATE: (55.0, 100.0),
            Stream.RR_INTERVAL: (600.0, 1100.0), Stream.BP_SYSTOLIC: (100.0, 140.0),
            Stream.BP_DIASTOLIC: (60.0, 90.0), Stream.BP_MEAN: (75.0, 100.0), Stream.BATTERY: (50.0, 100.0)}
    out: list[AlarmTransition] = []
    engine.watch_stream(HR, "s1")
    engine.watch_stream(SPO2, "s2")
    nonsense = 0
    for _ in range(2000):
        stream = rng.choice(list(Stream))
        row = STREAMS[stream]
        kind = rng.random()
        if kind < 0.3:
            value = rng.uniform(*calm[stream])
        elif kind < 0.6:
            value = rng.choice(NONSENSE[stream])
        elif kind < 0.9:  # anywhere outside the possible range, up to float-sized nonsense
            side = rng.choice([-1.0, 1.0])
            edge = row.high if side > 0 else row.low
            value = edge + side * 10 ** rng.uniform(-3, 12)
        else:
            value = rng.choice([math.nan, math.inf, -math.inf])
        nonsense += kind >= 0.3
        flags = rng.choice([ReadingFlag.NONE] * 6 + [ReadingFlag.SENSOR_TIMESTAMP, ReadingFlag.ARTIFACT,
                                                     ReadingFlag.NO_CONTACT, ReadingFlag.IMPLAUSIBLE])
        out += read(engine, clock, stream, value, sensor=rng.choice(["s1", "s2"]), flags=flags)
        clock.advance(rng.uniform(0.0, 0.5))
        out += engine.tick()
    assert nonsense > 1000
    assert physiological(out) == []
    assert all(a.category is AlarmCategory.TECHNICAL for a in engine.active())
    # the nonsense did raise the technical alarm, once per sensor per episode, with the sensor named
    raised = [t for t in out if t.action == "raised" and t.alarm_id.startswith("implausible.")]
    assert {t.alarm_id for t in raised} == {"implausible.s1", "implausible.s2"}
    assert all(t.priority is AlarmPriority.MEDIUM and t.category is AlarmCategory.TECHNICAL for t in raised)


def test_a_burst_raises_exactly_one_technical_alarm_that_clears_after_quiet(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    engine.set_sensor_name("s1", "Polar H10")
    out: list[AlarmTransition] = []
    for _ in range(IMPLAUSIBLE_BURST_COUNT - 1):
        out += read(engine, clock, HR, 65071.0)
        clock.advance(1.0)
    assert out == []  # two stray values raise nothing
    (raised,) = read(engine, clock, Stream.SPO2, -2e10)
    assert (raised.alarm_id, raised.action, raised.state) == ("implausible.s1", "raised", AlarmState.ACTIVE)
    assert raised.label == "Sensor sending implausible values: Polar H10"
    assert (raised.category, raised.priority) == (AlarmCategory.TECHNICAL, AlarmPriority.MEDIUM)
    # more nonsense while it is active raises nothing more
    for _ in range(20):
        clock.advance(1.0)
        assert read(engine, clock, Stream.BP_SYSTOLIC, 1.2e11) == []
        assert engine.tick() == []
    clock.advance(IMPLAUSIBLE_QUIET_S - 0.5)
    assert engine.tick() == []
    assert read(engine, clock, HR, 72.0) == []  # valid data does not end the episode early
    clock.advance(0.5)
    assert actions(engine.tick()) == [("implausible.s1", "condition_cleared", AlarmState.RESOLVED)]
    assert engine.active() == []


def test_values_spread_wider_than_the_window_are_not_a_burst(engine: AlarmEngine, clock: FakeClock) -> None:
    step = IMPLAUSIBLE_BURST_WINDOW_S / (IMPLAUSIBLE_BURST_COUNT - 1) + 0.1
    for _ in range(10):
        assert read(engine, clock, HR, 65071.0) == []
        clock.advance(step)
        assert engine.tick() == []


def test_bursts_from_two_sensors_are_two_alarms_and_unwatch_resolves_one(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    out: list[AlarmTransition] = []
    for _ in range(IMPLAUSIBLE_BURST_COUNT):
        out += read(engine, clock, HR, 0.0, sensor="strap")
        out += read(engine, clock, SPO2, 150.0, sensor="oxi")
    assert sorted(t.alarm_id for t in out) == ["implausible.oxi", "implausible.strap"]
    assert actions(engine.unwatch("strap")) == [("implausible.strap", "resolved", AlarmState.RESOLVED)]
    assert [a.alarm_id for a in engine.active()] == ["implausible.oxi"]


def test_implausible_values_neither_clear_nor_raise_nor_reset(engine: AlarmEngine, clock: FakeClock) -> None:
    out: list[AlarmTransition] = []
    for _ in range(11):  # hr_high: above 120 for 10 s
        out += read(engine, clock, HR, 125.0)
        out += read(engine, clock, HR, 65071.0)  # does not reset the pending delay
        clock.advance(1.0)
        out += engine.tick()
    assert [t.alarm_id for t in physiological(out)] == ["hr_high"]
    # nonsense below every limit does not clear it, nonsense above does not escalate to very high
    for value in (0.0, 19.0, 301.0, 65071.0, math.nan):
        assert physiological(read(engine, clock, HR, value)) == []
    assert "hr_high" in {a.alarm_id for a in engine.active()}
    assert actions(read(engine, clock, HR, 100.0)) == [("hr_high", "condition_cleared", AlarmState.RESOLVED)]


def test_a_stream_of_only_implausible_values_ends_in_no_data(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.watch_stream(SPO2, "oxi")
    out: list[AlarmTransition] = []
    for _ in range(12):
        out += read(engine, clock, SPO2, -2e10, sensor="oxi")
        clock.advance(1.0)
        out += engine.tick()
    assert "no_data.spo2" in {t.alarm_id for t in out if t.action == "raised"}
    assert physiological(out) == []
    assert actions(read(engine, clock, SPO2, 97.0, sensor="oxi")) == [
        ("no_data.spo2", "condition_cleared", AlarmState.RESOLVED)
    ]


def test_heart_rate_zero_without_contact_is_covered_by_no_contact(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    """Straps send 0 bpm without skin contact: it is data (no "no data"), not a burst."""
    engine.watch_stream(HR, "s1")
    out: list[AlarmTransition] = []
    for _ in range(30):
        out += read(engine, clock, HR, 0.0, flags=ReadingFlag.NO_CONTACT)
        clock.advance(1.0)
        out += engine.tick()
    assert out == []


def test_the_engine_checks_readings_itself(engine: AlarmEngine, clock: FakeClock) -> None:
    """Unflagged nonsense (a caller that did not run streams.checked) is still recognised."""
    out: list[AlarmTransition] = []
    for _ in range(15):
        out += read(engine, clock, Stream.BP_SYSTOLIC, 1.2e11)
        out += read(engine, clock, Stream.BATTERY, 255.0)
        clock.advance(1.0)
    assert [t.alarm_id for t in out] == ["implausible.s1"]  # no sbp_very_high, no battery state
