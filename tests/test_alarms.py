"""Alarm engine: delays, hysteresis, latching, audio pause, escalation, technical alarms, settings."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kapmonitor.alarm_settings import (
    LIMIT_RANGES,
    AlarmSettings,
    AlarmSettingsError,
    LimitRule,
    TechnicalRules,
)
from kapmonitor.alarms import AlarmEngine
from kapmonitor.clock import FakeClock
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    Reading,
    ReadingFlag,
    SensorState,
    SensorStatus,
    Stream,
)

HR, SPO2, SBP = Stream.HEART_RATE, Stream.SPO2, Stream.BP_SYSTOLIC
H, M, L = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> AlarmEngine:
    return AlarmEngine(AlarmSettings.defaults(), clock)


def read(
    engine: AlarmEngine, clock: FakeClock, stream: Stream, value: float, **kw: object
) -> list[AlarmTransition]:
    return engine.on_reading(Reading(stream, value, clock.now(), str(kw.pop("sensor", "s1")), **kw))  # type: ignore[arg-type]


def status(
    engine: AlarmEngine,
    clock: FakeClock,
    state: SensorState = SensorState.CONNECTED,
    sensor: str = "s1",
    **kw: object,
) -> list[AlarmTransition]:
    return engine.on_sensor_status(SensorStatus(sensor, state, clock.now(), **kw))  # type: ignore[arg-type]


def stream_of(
    engine: AlarmEngine, clock: FakeClock, stream: Stream, values: list[float], dt: float = 1.0
) -> list[AlarmTransition]:
    """Feed one reading per ``dt`` seconds, ticking in between; return every transition."""
    out: list[AlarmTransition] = []
    for v in values:
        out += read(engine, clock, stream, v)
        clock.advance(dt)
        out += engine.tick()
    return out


def actions(ts: list[AlarmTransition]) -> list[tuple[str, str, AlarmState]]:
    return [(t.alarm_id, t.action, t.state) for t in ts]


def state_of(engine: AlarmEngine, alarm_id: str) -> AlarmState | None:
    return next((a.state for a in engine.active() if a.alarm_id == alarm_id), None)


# -- condition delay -------------------------------------------------------------------------


def test_raised_only_after_the_delay(engine: AlarmEngine, clock: FakeClock) -> None:
    start = clock.now()
    assert stream_of(engine, clock, HR, [125.0] * 9) == []  # 9 s beyond 120: still pending
    out = read(engine, clock, HR, 125.0)  # the reading at +9 s
    assert out == []
    clock.advance(1.0)
    out = engine.tick()  # +10 s
    assert actions(out) == [("hr_high", "raised", AlarmState.ACTIVE)]
    (t,) = out
    assert (t.priority, t.category, t.stream, t.value, t.limit) == (
        M,
        AlarmCategory.PHYSIOLOGICAL,
        HR,
        125.0,
        120.0,
    )
    assert t.at == clock.now()
    assert (t.at - start).total_seconds() == 10.0
    assert engine.tick() == []  # nothing twice


def test_one_in_range_reading_resets_the_delay(engine: AlarmEngine, clock: FakeClock) -> None:
    assert stream_of(engine, clock, HR, [125.0] * 8 + [119.0] + [125.0] * 9) == []
    out = stream_of(engine, clock, HR, [125.0])
    assert actions(out) == [("hr_high", "raised", AlarmState.ACTIVE)]


def test_zero_delay_raises_on_the_reading(engine: AlarmEngine, clock: FakeClock) -> None:
    out = read(engine, clock, SBP, 185.0)
    assert {t.alarm_id for t in out} == {"sbp_very_high", "sbp_high"}
    assert read(engine, clock, SBP, 185.0) == []


def test_pending_delay_dropped_when_the_stream_goes_stale(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, HR, 130.0)
    clock.advance(10.0)  # no reading for no_data_s: the value was not seen to stay high
    assert engine.tick() == []
    clock.advance(5.0)
    assert read(engine, clock, HR, 130.0) == []  # the delay starts again


def test_pending_delay_dropped_when_the_sensor_reconnects(engine: AlarmEngine, clock: FakeClock) -> None:
    stream_of(engine, clock, HR, [130.0] * 3)
    assert status(engine, clock, SensorState.RECONNECTING) == []
    clock.advance(8.0)
    assert engine.tick() == []
    status(engine, clock, SensorState.CONNECTED)
    assert stream_of(engine, clock, HR, [130.0] * 9) == []
    assert actions(stream_of(engine, clock, HR, [130.0])) == [("hr_high", "raised", AlarmState.ACTIVE)]


def test_sparse_stream_delay_needs_a_second_reading(clock: FakeClock) -> None:
    base = AlarmSettings.defaults()
    s = base.with_rule(dataclasses.replace(base.rule("sbp_very_high"), delay_s=300.0))
    engine = AlarmEngine(s, clock)
    assert [t.alarm_id for t in read(engine, clock, SBP, 190.0)] == ["sbp_high"]
    engine.acknowledge("sbp_high")
    clock.advance(300.0)
    assert engine.tick() == []  # no reading since: not known to have stayed high
    assert actions(read(engine, clock, SBP, 185.0)) == []  # stale pending dropped; delay restarts
    clock.advance(300.0)
    assert actions(read(engine, clock, SBP, 186.0)) == [("sbp_very_high", "raised", AlarmState.ACTIVE)]


def test_flagged_and_nan_readings_are_not_compared_and_reset_the_delay(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    assert read(engine, clock, HR, 200.0, flags=ReadingFlag.NO_CONTACT) == []
    assert read(engine, clock, HR, math.nan) == []
    stream_of(engine, clock, HR, [130.0] * 5)
    read(engine, clock, HR, 130.0, flags=ReadingFlag.ARTIFACT)
    assert stream_of(engine, clock, HR, [130.0] * 9) == []
    assert engine.active() == []


# -- hysteresis, clearing, latching -------------------------------------------------------------


def test_hysteresis(clock: FakeClock) -> None:
    base = AlarmSettings.defaults()
    s = base.with_rule(dataclasses.replace(base.rule("hr_high"), delay_s=0.0, hysteresis=5.0))
    engine = AlarmEngine(s, clock)
    assert actions(read(engine, clock, HR, 121.0)) == [("hr_high", "raised", AlarmState.ACTIVE)]
    assert read(engine, clock, HR, 119.0) == []
    assert read(engine, clock, HR, 115.0) == []  # 120 - 5 is not yet inside by 5
    assert engine.active()[0].value == 115.0
    assert actions(read(engine, clock, HR, 114.9)) == [("hr_high", "condition_cleared", AlarmState.RESOLVED)]
    assert engine.active() == []


def test_medium_alarm_resolves_automatically(engine: AlarmEngine, clock: FakeClock) -> None:
    stream_of(engine, clock, HR, [125.0] * 11)
    assert state_of(engine, "hr_high") == AlarmState.ACTIVE
    assert actions(read(engine, clock, HR, 100.0)) == [("hr_high", "condition_cleared", AlarmState.RESOLVED)]
    assert engine.active() == []


def test_high_alarm_latches_until_acknowledged(engine: AlarmEngine, clock: FakeClock) -> None:
    assert actions(read(engine, clock, SPO2, 85.0)) == [("spo2_very_low", "raised", AlarmState.ACTIVE)]
    out = read(engine, clock, SPO2, 97.0)
    assert actions(out) == [("spo2_very_low", "condition_cleared", AlarmState.LATCHED)]
    (alarm,) = engine.active()
    assert (alarm.state, alarm.condition_present, alarm.audio_on) == (AlarmState.LATCHED, False, True)
    assert stream_of(engine, clock, SPO2, [97.0] * 5) == []  # stays latched, no repeated log rows
    assert engine.highest_audible() is not None
    out = engine.acknowledge("spo2_very_low")
    assert actions(out) == [("spo2_very_low", "acknowledged", AlarmState.RESOLVED)]
    assert engine.active() == []
    assert engine.highest_audible() is None


def test_latched_alarm_whose_condition_returns_is_raised_again(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, SPO2, 85.0)
    read(engine, clock, SPO2, 97.0)
    out = read(engine, clock, SPO2, 86.0)
    assert actions(out) == [("spo2_very_low", "raised", AlarmState.ACTIVE)]
    assert read(engine, clock, SPO2, 95.0)[0].state == AlarmState.LATCHED


def test_acknowledged_high_alarm_resolves_when_its_condition_clears(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    read(engine, clock, SPO2, 85.0)
    assert actions(engine.acknowledge()) == [("spo2_very_low", "acknowledged", AlarmState.ACKNOWLEDGED)]
    (alarm,) = engine.active()
    assert (alarm.audio_on, alarm.condition_present) == (False, True)
    assert engine.acknowledge() == []  # already acknowledged
    assert actions(read(engine, clock, SPO2, 97.0)) == [
        ("spo2_very_low", "condition_cleared", AlarmState.RESOLVED)
    ]


def test_stale_stream_never_clears_or_latches(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.watch_stream(SPO2, "s1")
    read(engine, clock, SPO2, 85.0)
    clock.advance(30.0)
    out = engine.tick()
    assert [t.alarm_id for t in out] == ["no_data.spo2"]
    assert state_of(engine, "spo2_very_low") == AlarmState.ACTIVE
    assert engine.active()[0].condition_present


# -- audio pause, acknowledgement, escalation -----------------------------------------------


def test_audio_pause_expires_after_120_s_while_condition_persists(clock: FakeClock) -> None:
    engine = AlarmEngine(AlarmSettings.defaults().without_rule("spo2_low"), clock)
    read(engine, clock, SPO2, 85.0)
    assert actions(engine.pause_audio()) == [("spo2_very_low", "audio_paused", AlarmState.AUDIO_PAUSED)]
    assert engine.pause_audio() == []  # a second press does not extend or re-log
    assert engine.highest_audible() is None
    out = stream_of(engine, clock, SPO2, [85.0] * 119)
    assert out == []
    assert state_of(engine, "spo2_very_low") == AlarmState.AUDIO_PAUSED
    out = stream_of(engine, clock, SPO2, [85.0])
    assert actions(out) == [("spo2_very_low", "audio_resumed", AlarmState.ACTIVE)]
    audible = engine.highest_audible()
    assert audible is not None
    assert audible.alarm_id == "spo2_very_low"
    assert not audible.escalated
    out = stream_of(engine, clock, SPO2, [85.0] * 60)
    assert actions(out) == [("spo2_very_low", "escalated", AlarmState.ACTIVE)]


def test_paused_latched_alarm_stays_silent_until_acknowledged(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, SPO2, 85.0)
    engine.pause_audio("spo2_very_low")
    read(engine, clock, SPO2, 97.0)
    assert stream_of(engine, clock, SPO2, [97.0] * 200, dt=1.0) == []
    (alarm,) = engine.active()
    assert (alarm.state, alarm.audio_on) == (AlarmState.LATCHED, False)


def test_escalation_once_after_60_s_unacknowledged(engine: AlarmEngine, clock: FakeClock) -> None:
    out = stream_of(engine, clock, HR, [125.0] * 69)
    assert actions(out) == [("hr_high", "raised", AlarmState.ACTIVE)]
    out = stream_of(engine, clock, HR, [125.0] * 10)
    assert actions(out) == [("hr_high", "escalated", AlarmState.ACTIVE)]
    assert engine.active()[0].escalated
    assert engine.tick() == []
    out = engine.acknowledge("hr_high")
    assert actions(out) == [("hr_high", "acknowledged", AlarmState.ACKNOWLEDGED)]
    assert not engine.active()[0].escalated
    assert stream_of(engine, clock, HR, [125.0] * 100) == []


def test_low_alarms_never_escalate_and_are_not_audio_paused(engine: AlarmEngine, clock: FakeClock) -> None:
    status(engine, clock, battery_pct=10)
    assert engine.pause_audio() == []
    clock.advance(600.0)
    assert engine.tick() == []
    (alarm,) = engine.active()
    assert (alarm.priority, alarm.audio_on, alarm.escalated) == (L, True, False)
    assert actions(engine.acknowledge()) == [("battery_low.s1", "acknowledged", AlarmState.ACKNOWLEDGED)]


def test_acknowledge_unknown_alarm_is_ignored(engine: AlarmEngine) -> None:
    assert engine.acknowledge("nope") == []
    assert engine.pause_audio("nope") == []


def test_active_is_sorted_by_priority_then_age(engine: AlarmEngine, clock: FakeClock) -> None:
    status(engine, clock, battery_pct=5)  # low, oldest
    clock.advance(1.0)
    read(engine, clock, SBP, 165.0)  # medium
    clock.advance(1.0)
    read(engine, clock, SPO2, 80.0)  # high
    clock.advance(1.0)
    status(engine, clock, SensorState.LOST, sensor="s2")  # medium, newer
    assert [a.alarm_id for a in engine.active()] == [
        "spo2_very_low",
        "sbp_high",
        "signal_lost.s2",
        "battery_low.s1",
    ]
    engine.acknowledge("spo2_very_low")  # the bedside is quiet: the others are paused meanwhile
    assert [a.alarm_id for a in engine.active() if a.audio_on] == ["battery_low.s1"]  # low: chimed once
    clock.advance(engine.settings.audio_pause_s)
    engine.tick()
    audible = engine.highest_audible()
    assert audible is not None
    assert audible.alarm_id == "sbp_high"


# -- technical alarms -----------------------------------------------------------------------


def test_no_data_after_10_s_and_recovery(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.watch_stream(HR, "s1")
    engine.watch_stream(HR, "s1")  # idempotent
    stream_of(engine, clock, HR, [70.0] * 3)  # last reading at +2 s
    clock.advance(8.9)
    assert engine.tick() == []
    clock.advance(0.1)
    out = engine.tick()
    assert actions(out) == [("no_data.heart_rate", "raised", AlarmState.ACTIVE)]
    assert (out[0].priority, out[0].category, out[0].stream, out[0].limit) == (
        M,
        AlarmCategory.TECHNICAL,
        HR,
        10.0,
    )
    clock.advance(5.0)
    assert engine.tick() == []
    out = read(engine, clock, HR, 72.0)
    assert actions(out) == [("no_data.heart_rate", "condition_cleared", AlarmState.RESOLVED)]


def test_no_data_counts_from_the_watch_when_nothing_ever_arrives(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    engine.watch_stream(SPO2, "ox")
    clock.advance(10.0)
    assert [t.alarm_id for t in engine.tick()] == ["no_data.spo2"]


def test_sparse_streams_are_not_supervised(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.watch_stream(SBP, "cuff")
    clock.advance(1000.0)
    assert engine.tick() == []


def test_no_skin_contact_after_10_s(engine: AlarmEngine, clock: FakeClock) -> None:
    assert status(engine, clock, contact=False) == []
    clock.advance(5.0)
    assert status(engine, clock, contact=False) == []  # the timer is not restarted
    clock.advance(5.0)
    out = engine.tick()
    assert actions(out) == [("no_contact.s1", "raised", AlarmState.ACTIVE)]
    assert (out[0].priority, out[0].category) == (L, AlarmCategory.TECHNICAL)
    assert status(engine, clock, contact=None) == []  # not reported: no change
    out = status(engine, clock, contact=True)
    assert actions(out) == [("no_contact.s1", "condition_cleared", AlarmState.RESOLVED)]


def test_battery_low(engine: AlarmEngine, clock: FakeClock) -> None:
    assert status(engine, clock, battery_pct=16) == []
    out = status(engine, clock, battery_pct=15)
    assert actions(out) == [("battery_low.s1", "raised", AlarmState.ACTIVE)]
    assert (out[0].value, out[0].limit, out[0].priority) == (15.0, 15.0, L)
    assert read(engine, clock, Stream.BATTERY, 12.0) == []
    assert engine.active()[0].value == 12.0
    out = read(engine, clock, Stream.BATTERY, 80.0)
    assert actions(out) == [("battery_low.s1", "condition_cleared", AlarmState.RESOLVED)]


def test_signal_lost_on_lost_status(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.set_sensor_name("AA:BB", "Polar H10")
    engine.watch_stream(HR, "AA:BB")
    read(engine, clock, HR, 70.0, sensor="AA:BB")
    assert status(engine, clock, SensorState.RECONNECTING, sensor="AA:BB") == []
    out = status(engine, clock, SensorState.LOST, sensor="AA:BB", detail="no response")
    assert actions(out) == [("signal_lost.AA:BB", "raised", AlarmState.ACTIVE)]
    assert (out[0].label, out[0].priority, out[0].detail) == ("Signal lost: Polar H10", M, "")
    assert status(engine, clock, SensorState.LOST, sensor="AA:BB") == []
    assert status(engine, clock, SensorState.RECONNECTING, sensor="AA:BB") == []
    clock.advance(10.0)
    assert [t.alarm_id for t in engine.tick()] == ["no_data.heart_rate"]
    out = status(engine, clock, SensorState.CONNECTED, sensor="AA:BB")
    assert actions(out) == [("signal_lost.AA:BB", "condition_cleared", AlarmState.RESOLVED)]
    assert [a.alarm_id for a in engine.active()] == ["no_data.heart_rate"]


def test_disconnected_and_unwatch_resolve_the_sensors_technical_alarms(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    engine.watch_stream(HR, "s1")
    engine.watch_stream(HR, "s2")
    status(engine, clock, SensorState.LOST, battery_pct=5)
    clock.advance(10.0)
    engine.tick()
    assert {a.alarm_id for a in engine.active()} == {"signal_lost.s1", "battery_low.s1", "no_data.heart_rate"}
    out = status(engine, clock, SensorState.DISCONNECTED)
    assert sorted(actions(out)) == [
        ("battery_low.s1", "resolved", AlarmState.RESOLVED),
        ("signal_lost.s1", "resolved", AlarmState.RESOLVED),
    ]
    assert all(t.detail == "sensor removed" for t in out)
    out = engine.unwatch("s2")
    assert actions(out) == [("no_data.heart_rate", "resolved", AlarmState.RESOLVED)]
    clock.advance(100.0)
    assert engine.tick() == []
    assert engine.active() == []


# -- baseline ---------------------------------------------------------------------------------


def test_baseline_relative_rule_inactive_until_baseline_set(engine: AlarmEngine, clock: FakeClock) -> None:
    assert engine.baseline(HR) is None
    assert stream_of(engine, clock, HR, [105.0] * 70) == []
    engine.set_baseline(HR, 70)
    assert engine.baseline(HR) == 70.0
    assert stream_of(engine, clock, HR, [105.0] * 59) == []
    out = stream_of(engine, clock, HR, [105.0])
    assert actions(out) == [("hr_above_baseline", "raised", AlarmState.ACTIVE)]
    assert (out[0].limit, out[0].priority, out[0].detail) == (100.0, L, "baseline 70")
    engine.set_baseline(HR, 72.0)
    out = engine.tick()
    assert actions(out) == [("hr_above_baseline", "limit_changed", AlarmState.ACTIVE)]
    assert out[0].limit == 102.0
    assert actions(read(engine, clock, HR, 100.0)) == [
        ("hr_above_baseline", "condition_cleared", AlarmState.RESOLVED)
    ]


def test_baseline_must_be_finite(engine: AlarmEngine) -> None:
    with pytest.raises(ValueError, match="baseline for heart_rate: must be a finite number, got nan"):
        engine.set_baseline(HR, math.nan)
    with pytest.raises(ValueError, match="got True"):
        engine.set_baseline(HR, True)


# -- settings -------------------------------------------------------------------------------


def test_engine_rejects_invalid_settings(clock: FakeClock) -> None:
    bad = AlarmSettings((LimitRule("hr_high", "x", HR, "above", 500.0, M),))
    with pytest.raises(AlarmSettingsError, match=r"^hr_high\.limit"):
        AlarmEngine(bad, clock)
    engine = AlarmEngine(AlarmSettings.defaults(), clock)
    with pytest.raises(AlarmSettingsError):
        engine.update_settings(bad)
    assert engine.settings == AlarmSettings.defaults()


def test_update_settings_moves_limits_and_resolves_removed_rules(
    engine: AlarmEngine, clock: FakeClock
) -> None:
    stream_of(engine, clock, HR, [125.0] * 11)
    read(engine, clock, SBP, 185.0)
    assert {a.alarm_id for a in engine.active()} == {"hr_high", "sbp_high", "sbp_very_high"}
    s = engine.settings
    s = s.with_rule(dataclasses.replace(s.rule("hr_high"), limit=130.0)).without_rule("sbp_high")
    out = engine.update_settings(s)
    assert actions(out) == [
        ("hr_high", "limit_changed", AlarmState.ACTIVE),
        ("hr_high", "condition_cleared", AlarmState.RESOLVED),
        ("sbp_high", "resolved", AlarmState.RESOLVED),
    ]
    assert out[0].limit == 130.0
    assert engine.settings is s
    assert engine.update_settings(s) == []


def test_update_settings_starts_new_rules_on_the_live_value(engine: AlarmEngine, clock: FakeClock) -> None:
    stream_of(engine, clock, HR, [110.0] * 3)
    s = engine.settings.with_rule(dataclasses.replace(engine.settings.rule("hr_high"), limit=105.0))
    assert engine.update_settings(s) == []  # the 10 s delay starts now
    assert stream_of(engine, clock, HR, [110.0] * 9) == []
    assert actions(stream_of(engine, clock, HR, [110.0])) == [("hr_high", "raised", AlarmState.ACTIVE)]


def test_update_settings_changed_direction_or_priority(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, SPO2, 80.0)
    read(engine, clock, SPO2, 97.0)
    assert state_of(engine, "spo2_very_low") == AlarmState.LATCHED
    s = engine.settings
    out = engine.update_settings(s.with_rule(dataclasses.replace(s.rule("spo2_very_low"), priority=M)))
    assert actions(out) == [
        ("spo2_very_low", "limit_changed", AlarmState.LATCHED),
        ("spo2_very_low", "resolved", AlarmState.RESOLVED),
    ]
    read(engine, clock, SPO2, 80.0)
    engine.pause_audio()
    s = engine.settings
    out = engine.update_settings(s.with_rule(dataclasses.replace(s.rule("spo2_very_low"), priority=L)))
    assert actions(out) == [
        ("spo2_very_low", "limit_changed", AlarmState.AUDIO_PAUSED),
        ("spo2_very_low", "audio_resumed", AlarmState.ACTIVE),
    ]
    s = engine.settings
    changed = dataclasses.replace(s.rule("spo2_very_low"), stream=Stream.PULSE_RATE, limit=40.0)
    out = engine.update_settings(s.with_rule(changed))
    assert actions(out) == [("spo2_very_low", "resolved", AlarmState.RESOLVED)]
    assert out[0].detail == "rule changed"


def test_update_settings_technical_limits(engine: AlarmEngine, clock: FakeClock) -> None:
    engine.watch_stream(HR, "s1")
    status(engine, clock, battery_pct=20)
    clock.advance(25.0)
    assert [t.alarm_id for t in engine.tick()] == ["no_data.heart_rate"]
    s = dataclasses.replace(engine.settings, technical=TechnicalRules(no_data_s=20.0, battery_low_pct=25))
    out = engine.update_settings(s)
    assert actions(out) == [
        ("no_data.heart_rate", "limit_changed", AlarmState.ACTIVE),
        ("battery_low.s1", "raised", AlarmState.ACTIVE),
    ]
    assert out[0].limit == 20.0


# -- properties -------------------------------------------------------------------------------

_PRIORITIES = st.sampled_from(list(AlarmPriority))


@st.composite
def in_range_scenarios(draw: st.DrawFn) -> tuple[AlarmSettings, float | None, list[tuple[float, float]]]:
    """Random settings-conform limits on one stream and a series of values inside all of them."""
    stream = draw(st.sampled_from(sorted(LIMIT_RANGES)))
    lo, hi = LIMIT_RANGES[stream]
    span = hi - lo
    low = draw(st.floats(lo, hi - 1.0))
    high = draw(st.floats(low + 0.5, hi))
    delay, hyst = st.floats(0.0, 300.0), st.floats(0.0, span / 10)
    rules = [
        LimitRule("high", "High", stream, "above", high, draw(_PRIORITIES), draw(delay), draw(hyst)),
        LimitRule("low", "Low", stream, "below", low, draw(_PRIORITIES), draw(delay), draw(hyst)),
    ]
    lower, upper = low, high
    baseline = draw(st.none() | st.floats(lo, hi))
    if baseline is not None:
        up, down = draw(st.floats(1.0, span)), draw(st.floats(1.0, span))
        rules += [
            LimitRule(
                "rel_up", "Up", stream, "above", up, draw(_PRIORITIES), draw(delay), relative_to_baseline=True
            ),
            LimitRule(
                "rel_dn",
                "Dn",
                stream,
                "below",
                down,
                draw(_PRIORITIES),
                draw(delay),
                relative_to_baseline=True,
            ),
        ]
        lower, upper = max(lower, baseline - down), min(upper, baseline + up)
    assume(lower < upper)
    values = st.floats(lower, upper, exclude_max=True)
    series = draw(st.lists(st.tuples(values, st.floats(0.0, 30.0)), min_size=1, max_size=40))
    return AlarmSettings(tuple(rules)), baseline, series


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(in_range_scenarios())
def test_values_inside_limits_never_raise(
    scenario: tuple[AlarmSettings, float | None, list[tuple[float, float]]],
) -> None:
    alarm_settings, baseline, series = scenario
    clock = FakeClock()
    engine = AlarmEngine(alarm_settings, clock)
    stream = alarm_settings.rules[0].stream
    if baseline is not None:
        engine.set_baseline(stream, baseline)
    out: list[AlarmTransition] = []
    for value, dt in series:
        out += engine.on_reading(Reading(stream, value, clock.now(), "s1"))
        clock.advance(dt)
        out += engine.tick()
    assert out == []
    assert engine.active() == []


_IDS = [r.alarm_id for r in AlarmSettings.defaults().rules] + ["signal_lost.s1", "no_data.heart_rate", "x"]
_VARIANTS = [
    AlarmSettings.defaults(),
    dataclasses.replace(
        AlarmSettings.defaults().without_rule("spo2_low"),
        technical=TechnicalRules(no_data_s=5.0, battery_low_pct=30),
        audio_pause_s=30.0,
        escalate_after_s=20.0,
    ),
]
_OPS = st.one_of(
    st.tuples(st.just("reading"), st.sampled_from([HR, SPO2, SBP]), st.floats(30.0, 200.0)),
    st.tuples(st.just("flagged"), st.just(HR), st.floats(30.0, 200.0)),
    st.tuples(st.just("advance"), st.floats(0.0, 40.0)),
    st.tuples(st.just("ack"), st.none() | st.sampled_from(_IDS)),
    st.tuples(st.just("pause"), st.none() | st.sampled_from(_IDS)),
    st.tuples(
        st.just("status"),
        st.sampled_from(list(SensorState)),
        st.none() | st.booleans(),
        st.none() | st.integers(0, 100),
    ),
    st.tuples(st.just("settings"), st.integers(0, len(_VARIANTS) - 1)),
    st.tuples(st.just("baseline"), st.floats(50.0, 90.0)),
    st.tuples(st.just("watch"), st.sampled_from([HR, SPO2])),
)

# action -> states the alarm may be in before it (None: the alarm does not exist yet)
_FROM: dict[str, set[AlarmState | None]] = {
    "raised": {None, AlarmState.LATCHED},
    "acknowledged": {AlarmState.ACTIVE, AlarmState.AUDIO_PAUSED, AlarmState.LATCHED},
    "audio_paused": {AlarmState.ACTIVE, AlarmState.LATCHED},
    "audio_resumed": {AlarmState.AUDIO_PAUSED},
    "condition_cleared": {AlarmState.ACTIVE, AlarmState.AUDIO_PAUSED, AlarmState.ACKNOWLEDGED},
    "escalated": {AlarmState.ACTIVE, AlarmState.LATCHED},
    "resolved": {AlarmState.ACTIVE, AlarmState.AUDIO_PAUSED, AlarmState.ACKNOWLEDGED, AlarmState.LATCHED},
    "limit_changed": {
        AlarmState.ACTIVE,
        AlarmState.AUDIO_PAUSED,
        AlarmState.ACKNOWLEDGED,
        AlarmState.LATCHED,
    },
}


@settings(max_examples=200, deadline=None)
@given(st.lists(_OPS, max_size=60))
def test_every_state_change_is_logged_exactly_once(ops: list[tuple[object, ...]]) -> None:
    """Replaying the log reproduces the engine's alarms; no transition is repeated or impossible."""
    clock = FakeClock()
    engine = AlarmEngine(_VARIANTS[0], clock)
    model: dict[str, AlarmState] = {}
    escalated: set[str] = set()

    def check(out: list[AlarmTransition]) -> None:
        for t in out:
            before = model.get(t.alarm_id)
            assert before in _FROM[t.action], (t.alarm_id, before, t.action)
            assert t.at == clock.now()
            if t.action == "escalated":
                assert t.alarm_id not in escalated
                assert t.priority != AlarmPriority.LOW
                escalated.add(t.alarm_id)
            elif t.action in ("acknowledged", "audio_paused", "audio_resumed"):
                escalated.discard(t.alarm_id)
            if t.action == "limit_changed":
                assert t.state == before
            if t.state == AlarmState.RESOLVED:
                del model[t.alarm_id]
                escalated.discard(t.alarm_id)
            else:
                model[t.alarm_id] = t.state
        assert {a.alarm_id: a.state for a in engine.active()} == model
        assert {a.alarm_id for a in engine.active() if a.escalated} == escalated

    for op in ops:
        kind = op[0]
        if kind == "reading":
            check(read(engine, clock, op[1], op[2]))  # type: ignore[arg-type]
        elif kind == "flagged":
            check(read(engine, clock, op[1], op[2], flags=ReadingFlag.NO_CONTACT))  # type: ignore[arg-type]
        elif kind == "advance":
            clock.advance(op[1])  # type: ignore[arg-type]
            check(engine.tick())
            assert engine.tick() == []  # repeated ticks log nothing new
        elif kind == "ack":
            check(engine.acknowledge(op[1]))  # type: ignore[arg-type]
        elif kind == "pause":
            check(engine.pause_audio(op[1]))  # type: ignore[arg-type]
        elif kind == "status":
            check(status(engine, clock, op[1], contact=op[2], battery_pct=op[3]))  # type: ignore[arg-type]
        elif kind == "settings":
            check(engine.update_settings(_VARIANTS[op[1]]))  # type: ignore[call-overload]
        elif kind == "baseline":
            engine.set_baseline(HR, op[1])  # type: ignore[arg-type]
        else:
            engine.watch_stream(op[1], "s1")  # type: ignore[arg-type]
    check(engine.tick())


def test_update_settings_restarts_the_delay_of_a_changed_rule(engine: AlarmEngine, clock: FakeClock) -> None:
    stream_of(engine, clock, HR, [125.0] * 5)
    s = engine.settings
    assert engine.update_settings(s.with_rule(dataclasses.replace(s.rule("hr_high"), delay_s=20.0))) == []
    assert stream_of(engine, clock, HR, [125.0] * 19) == []
    assert actions(stream_of(engine, clock, HR, [125.0])) == [("hr_high", "raised", AlarmState.ACTIVE)]


def test_oldest_first_survives_a_wall_clock_correction(engine: AlarmEngine, clock: FakeClock) -> None:
    read(engine, clock, SBP, 165.0)
    clock.set_wall(clock.now() - timedelta(hours=1))  # e.g. an NTP correction
    status(engine, clock, SensorState.LOST)
    assert [a.alarm_id for a in engine.active()] == ["sbp_high", "signal_lost.s1"]
