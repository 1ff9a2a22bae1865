"""Alarms grouped per problem, bedside-wide acknowledge and pause, alarm values in words (no Qt)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from kapmonitor.alarm_problems import group_alarms, problem_key
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.alarm_words import describe_alarm
from kapmonitor.alarms import AlarmEngine
from kapmonitor.clock import FakeClock
from kapmonitor.types import (
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    Reading,
    SensorState,
    SensorStatus,
    Stream,
)

HR, SPO2, SBP, DBP = Stream.HEART_RATE, Stream.SPO2, Stream.BP_SYSTOLIC, Stream.BP_DIASTOLIC


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> AlarmEngine:
    settings = AlarmSettings.defaults()
    return AlarmEngine(dataclasses.replace(settings, audio_pause_s=30.0), clock)


def read(engine: AlarmEngine, clock: FakeClock, stream: Stream, value: float) -> list[AlarmTransition]:
    return engine.on_reading(Reading(stream, value, clock.now(), "s1"))


def bp(engine: AlarmEngine, clock: FakeClock, sbp: float, dbp: float) -> list[AlarmTransition]:
    return read(engine, clock, SBP, sbp) + read(engine, clock, DBP, dbp)


def test_one_blood_pressure_is_one_problem_and_one_acknowledge(engine: AlarmEngine, clock: FakeClock) -> None:
    raised = bp(engine, clock, 192.0, 112.0)
    # the log keeps every rule
    assert sorted(t.alarm_id for t in raised) == ["dbp_high", "dbp_very_high", "sbp_high", "sbp_very_high"]
    (problem,) = group_alarms(engine.active())
    assert problem.head.alarm_id == "sbp_very_high"
    assert problem.priority is AlarmPriority.HIGH
    assert [a.alarm_id for a in problem.others] == ["dbp_very_high", "sbp_high", "dbp_high"]
    out = engine.acknowledge(problem.head.alarm_id)
    assert sorted((t.alarm_id, t.action) for t in out) == [
        ("dbp_high", "acknowledged"),
        ("dbp_very_high", "acknowledged"),
        ("sbp_high", "acknowledged"),
        ("sbp_very_high", "acknowledged"),
    ]
    assert engine.highest_audible() is None
    assert group_alarms(engine.active())[0].acknowledged


def test_a_lower_alarm_joining_an_acknowledged_problem_needs_no_new_acknowledge(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    read(engine, clock, SBP, 195.0)
    engine.acknowledge("sbp_high")
    clock.advance(60.0)
    engine.tick()
    (joined,) = read(engine, clock, DBP, 104.0)
    assert (joined.alarm_id, joined.action, joined.state) == ("dbp_high", "raised", AlarmState.ACKNOWLEDGED)
    assert "already acknowledged" in joined.detail
    (higher,) = read(engine, clock, DBP, 115.0)  # a worse rule of the problem is raised on its own
    assert (higher.alarm_id, higher.state) == ("dbp_very_high", AlarmState.ACKNOWLEDGED)


def test_a_sensor_loss_is_one_problem(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.set_sensor_name("s1", "Nonin 3230")
    engine.watch_stream(HR, "s1")
    engine.watch_stream(SPO2, "s1")
    read(engine, clock, HR, 70.0)
    read(engine, clock, SPO2, 97.0)
    engine.on_sensor_status(SensorStatus("s1", SensorState.LOST, clock.now()))
    clock.advance(10.0)
    engine.tick()
    labels = sorted(a.label for a in engine.active())
    assert labels == ["No SpO2 data", "No heart rate data", "Signal lost: Nonin 3230"]
    (problem,) = group_alarms(engine.active())
    assert problem.key == "sensor:s1"
    assert problem.head.label == "Signal lost: Nonin 3230"
    assert len(engine.acknowledge(problem.head.alarm_id)) == 3


def test_pause_silences_the_whole_bedside_for_the_configured_length(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    read(engine, clock, SPO2, 85.0)  # high
    for _ in range(11):
        read(engine, clock, HR, 125.0)  # medium, behind
        clock.advance(1.0)
        engine.tick()
    shown = group_alarms(engine.active())[0].head.alarm_id
    out = engine.pause_audio(shown)
    assert sorted(t.alarm_id for t in out) == ["hr_high", "spo2_very_low"]
    assert engine.highest_audible() is None
    (joined,) = read(engine, clock, SBP, 165.0)  # a new medium alarm during the pause stays quiet
    assert (joined.state, joined.detail) == (AlarmState.AUDIO_PAUSED, "during audio pause")
    paused = {a.alarm_id: a.paused_until_s for a in engine.active()}
    assert paused["hr_high"] == pytest.approx(clock.monotonic() + 30.0)
    assert {a.audio_pause_s for a in engine.active()} == {30.0}
    clock.advance(29.0)
    engine.tick()
    assert engine.highest_audible() is None
    clock.advance(1.0)
    resumed = engine.tick()
    assert sorted(t.alarm_id for t in resumed if t.action == "audio_resumed") == [
        "hr_high",
        "sbp_high",
        "spo2_very_low",
    ]


def test_a_higher_priority_alarm_sounds_during_a_pause(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, SBP, 165.0)  # medium
    engine.pause_audio("sbp_high")
    (worse,) = read(engine, clock, SPO2, 85.0)  # high: never hidden by a pause of a medium alarm
    assert worse.state is AlarmState.ACTIVE
    assert engine.highest_audible() is not None


def test_acknowledge_quiets_the_alarms_behind_for_the_pause(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, SPO2, 85.0)
    read(engine, clock, SBP, 165.0)
    out = engine.acknowledge("spo2_very_low")
    assert [(t.alarm_id, t.action) for t in out] == [
        ("spo2_very_low", "acknowledged"),
        ("sbp_high", "audio_paused"),
    ]
    assert engine.highest_audible() is None
    clock.advance(30.0)
    engine.tick()
    audible = engine.highest_audible()
    assert audible is not None and audible.alarm_id == "sbp_high"


def test_when_raised_is_the_value_that_raised_it(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, SBP, 195.0)
    clock.advance(300.0)
    read(engine, clock, SBP, 126.0)  # latched: the condition ended
    latched = next(a for a in engine.active() if a.alarm_id == "sbp_very_high")
    assert (latched.state, latched.value, latched.raised_value) == (AlarmState.LATCHED, 126.0, 195.0)
    assert describe_alarm(latched, clock.now()) == "195 mmHg when raised · limit 180 mmHg"


def test_technical_alarms_in_words_with_their_own_units(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.watch_stream(SPO2, "s1")
    read(engine, clock, SPO2, 97.0)
    clock.advance(10.0)
    engine.tick()
    engine.on_sensor_status(SensorStatus("s2", SensorState.CONNECTED, clock.now(), battery_pct=12))
    by_id = {a.alarm_id: a for a in engine.active()}
    later = clock.now() + timedelta(seconds=61)
    assert describe_alarm(by_id["no_data.spo2"], later) == "for 71 s · alarm after 10 s"
    assert describe_alarm(by_id["battery_low.s2"], later) == "battery 12% · low at 15%"
    assert problem_key(by_id["no_data.spo2"]) == "sensor:s1"


def test_alarm_log_values_carry_their_own_units() -> None:
    from kapmonitor.alarm_words import value_with_unit
    from kapmonitor.types import AlarmCategory

    tech, phys = AlarmCategory.TECHNICAL, AlarmCategory.PHYSIOLOGICAL
    assert value_with_unit("no_data.spo2", tech, SPO2, 71.0) == "71 s"
    assert value_with_unit("battery_low.s1", tech, Stream.BATTERY, 12.0) == "12%"
    assert value_with_unit("implausible.s1", tech, None, 3.0) == "3 values"
    assert value_with_unit("signal_lost.s1", tech, None, None) == ""
    assert value_with_unit("sbp_very_high", phys, SBP, 195.0) == "195 mmHg"
