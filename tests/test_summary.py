"""Per-phase session summary (kapmonitor.summary) and the derived review series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapmonitor.alarm_settings import AlarmSettings, LimitRule
from kapmonitor.ports import StreamData
from kapmonitor.protocols import PRESETS, TreatmentProtocol
from kapmonitor.review_series import alarm_spans, bp_points, usable_mask
from kapmonitor.session import SessionState
from kapmonitor.summary import HOLD_CAP_S, SummaryError, summarize
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    Phase,
    ReadingFlag,
    SessionEvent,
    Stream,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PROTO = PRESETS["sublingual"]  # onset 10, effect 45, min observation 120
HR_RULES = tuple(r for r in AlarmSettings.defaults().rules if r.stream is Stream.HEART_RATE)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stream(kind: Stream, t_min: Sequence[float], values: Sequence[float],
           flags: Sequence[int] | None = None) -> StreamData:
    t = np.array([at(m).timestamp() for m in t_min], dtype=np.float64)
    f = np.zeros(len(t), dtype=np.int32) if flags is None else np.array(flags, dtype=np.int32)
    return StreamData(kind, t, np.array(values, dtype=np.float64), f)


def session_events(*, dose_min: float | None = 5, end_min: float | None = 140,
                   protocol: TreatmentProtocol = PROTO, checks_done: Sequence[tuple[str, float]] = (),
                   booster_min: float | None = None) -> list[SessionEvent]:
    """Events as the recorder would store them (commands interleaved with due events)."""
    state = SessionState(protocol)
    events = [state.start(at(0))]
    commands: list[tuple[float, str, object]] = [(m, "check", name) for name, m in checks_done]
    if dose_min is not None:
        commands.append((dose_min, "dose", None))
    if booster_min is not None:
        commands.append((booster_min, "booster", None))
    if end_min is not None:
        commands.append((end_min, "end", None))
    for minute, what, arg in sorted(commands, key=lambda c: c[0]):
        events += state.due_events(at(minute))
        if what == "dose":
            events.append(state.give_dose(at(minute), 100.0))
        elif what == "booster":
            events.append(state.give_booster(at(minute), 50.0))
        elif what == "check":
            events.append(state.complete_check(str(arg), at(minute)))
        else:
            events.append(state.end(at(minute), "fit to leave"))
        events += state.due_events(at(minute))
    return events


def hr_every_second(start_min: float, end_min: float, value: float | Sequence[float]) -> StreamData:
    n = round((end_min - start_min) * 60)
    t = [start_min + i / 60 for i in range(n)]
    values = [value] * n if isinstance(value, int | float) else list(value)
    return stream(Stream.HEART_RATE, t, values)


# ----------------------------------------------------------------------------- phases, HR
def test_phases_follow_the_protocol_and_stats_are_per_phase() -> None:
    hr = hr_every_second(0, 140, [70.0 if m < 5 * 60 else 90.0 for m in range(140 * 60)])
    report = summarize(PROTO, session_events(), {Stream.HEART_RATE: hr}, rules=HR_RULES)
    assert [p.phase for p in report.phases] == [Phase.PREPARATION, Phase.ONSET, Phase.EFFECT,
                                                Phase.INTEGRATION]
    prep, onset, effect, integ = report.phases
    assert (prep.start, prep.end) == (at(0), at(5))
    assert (onset.start, onset.end, effect.end, integ.end) == (at(5), at(15), at(60), at(140))
    assert prep.hr_n == 300 and prep.hr_mean == 70.0 and prep.hr_min == prep.hr_max == 70.0
    assert onset.hr_n == 600 and onset.hr_mean == 90.0
    assert report.hr_baseline == 70.0
    assert report.monitoring_s == 140 * 60
    assert report.phase(Phase.EFFECT) is effect and report.phase(Phase.ENDED) is None
    # 90 bpm is baseline (70) + 20: below the +30 rule; nothing beyond any limit
    assert all(v == 0.0 for p in report.phases for v in p.time_beyond_s.values())


def test_artifact_and_no_contact_readings_are_excluded() -> None:
    hr = stream(Stream.HEART_RATE, [6, 7, 8, 9], [80, 250, 20, 82],
                [0, ReadingFlag.ARTIFACT, ReadingFlag.NO_CONTACT, ReadingFlag.MANUAL])
    onset = summarize(PROTO, session_events(), {Stream.HEART_RATE: hr}).phases[1]
    assert (onset.hr_n, onset.hr_min, onset.hr_max, onset.hr_mean) == (2, 80.0, 82.0, 81.0)
    assert usable_mask(hr).tolist() == [True, False, False, True]


def test_time_beyond_integrates_capped_durations_and_ignores_gaps() -> None:
    # 60 s at 130 bpm (1 Hz), then a 10-minute gap, then one reading at 130 and 59 s at 80.
    t = [20 + i / 60 for i in range(60)] + [31 + i / 60 for i in range(60)]
    v = [130.0] * 60 + [130.0] + [80.0] * 59
    report = summarize(PROTO, session_events(), {Stream.HEART_RATE: stream(Stream.HEART_RATE, t, v)},
                       rules=HR_RULES)
    effect = report.phase(Phase.EFFECT)
    assert effect is not None
    # the last reading before the gap stands for HOLD_CAP_S only, not the 10-minute gap
    assert effect.time_beyond_s["hr_high"] == pytest.approx(59 + HOLD_CAP_S + 1)
    assert effect.time_beyond_s["hr_very_high"] == 0.0
    assert effect.time_beyond_s["hr_low"] == 0.0
    # no baseline (no readings before the dose): the relative rule counts nothing
    assert report.hr_baseline is None
    assert effect.time_beyond_s["hr_above_baseline"] == 0.0


def test_below_and_relative_rules_and_phase_end_cap() -> None:
    hr = stream(Stream.HEART_RATE, [1, 2, 14.99, 16], [60, 60, 40, 101])
    report = summarize(PROTO, session_events(), {Stream.HEART_RATE: hr}, rules=HR_RULES)
    onset = report.phase(Phase.ONSET)
    effect = report.phase(Phase.EFFECT)
    assert onset is not None and effect is not None
    # the reading 0.6 s before the end of onset counts only until the phase ends
    assert onset.time_beyond_s["hr_low"] == pytest.approx(0.6, abs=1e-3)
    assert effect.time_beyond_s["hr_above_baseline"] == HOLD_CAP_S  # 101 >= 60 + 30


def test_disabled_and_other_stream_rules_are_left_out() -> None:
    rules = (LimitRule("x", "X", Stream.HEART_RATE, "above", 100.0, AlarmPriority.LOW, enabled=False),
             LimitRule("s", "S", Stream.SPO2, "below", 92.0, AlarmPriority.HIGH))
    report = summarize(PROTO, session_events(), {}, rules=rules)
    assert report.rules == ()
    assert all(p.time_beyond_s == {} and p.hr_n == 0 and p.hr_mean is None for p in report.phases)


# ------------------------------------------------------------------------------------ HRV
def breathing_rr(n: int, seed: int, mean_ms: float = 800.0) -> np.ndarray:
    """RR intervals with respiratory sinus arrhythmia (0.25 Hz, +/-40 ms) and 5 ms of noise."""
    rng = np.random.default_rng(seed)
    beats = np.arange(n) * mean_ms / 1000.0
    return mean_ms + 40.0 * np.sin(2 * np.pi * 0.25 * beats) + rng.normal(0, 5, n)


def test_hrv_per_phase_on_corrected_intervals_with_flagged_share() -> None:
    # Since issue 14 the HRV is that of the corrected series (Lipponen & Tarvainen 2019): the
    # missed beat is split into two intervals, the stored artifact is excluded, both count as
    # not used as recorded.
    n = 600
    rr_values = breathing_rr(n, seed=3)
    rr_values[100] = 1600  # a missed beat: split in two by the correction
    t_min = 15 + np.cumsum(rr_values) / 60000.0
    flags = [0] * n
    flags[200] = int(ReadingFlag.ARTIFACT)  # flagged by the sensor pipeline: excluded
    rr = stream(Stream.RR_INTERVAL, t_min.tolist(), rr_values.tolist(), flags)
    report = summarize(PROTO, session_events(), {Stream.RR_INTERVAL: rr})
    effect = report.phase(Phase.EFFECT)
    assert effect is not None and effect.hrv is not None and effect.hrv_period is not None
    assert effect.rr_n == n
    assert effect.rr_flagged_share == pytest.approx(2 / n)
    whole = effect.hrv_period.whole
    assert (whole.corrected, whole.excluded) == (1, 1)
    assert effect.hrv.n == n  # one excluded, one split into two
    assert effect.hrv.mean_nn_ms == pytest.approx(np.delete(rr_values, [200]).sum() / n)
    assert effect.hrv is whole.time
    assert report.hrv_correction == "Lipponen & Tarvainen 2019 (alpha 5.2, window 91)"
    assert report.phase(Phase.ONSET).hrv is None  # type: ignore[union-attr]
    assert report.phase(Phase.ONSET).rr_flagged_share is None  # type: ignore[union-attr]
    assert report.phase(Phase.ONSET).hrv_period is None  # type: ignore[union-attr]


def test_hrv_does_not_difference_across_a_gap() -> None:
    # two runs of breathing rhythm at different rates, a 60 s gap between; the pair across the gap
    # (about 800 -> 600 ms) would add a 200 ms difference if it were bridged
    first = breathing_rr(200, seed=1)
    second = breathing_rr(200, seed=2, mean_ms=600.0)
    t1 = 20 + np.cumsum(first) / 60000.0
    t2 = t1[-1] + 1.0 + np.cumsum(second) / 60000.0
    rr = stream(Stream.RR_INTERVAL, [*t1.tolist(), *t2.tolist()], [*first, *second])
    effect = summarize(PROTO, session_events(), {Stream.RR_INTERVAL: rr}).phase(Phase.EFFECT)
    assert effect is not None and effect.hrv is not None
    assert effect.rr_flagged_share == 0.0  # nothing to correct: the step at the gap is not an artifact
    within = np.concatenate([np.diff(first), np.diff(second)])
    assert effect.hrv.rmssd_ms == pytest.approx(float(np.sqrt(np.mean(within**2))))
    assert effect.hrv.pnn50_pct == pytest.approx(100.0 * np.count_nonzero(np.abs(within) > 50) / within.size)


def test_phase_with_too_few_clean_intervals_has_no_hrv() -> None:
    rr = stream(Stream.RR_INTERVAL, [20, 20.1], [800, 805], [int(ReadingFlag.ARTIFACT), 0])
    effect = summarize(PROTO, session_events(), {Stream.RR_INTERVAL: rr}).phase(Phase.EFFECT)
    assert effect is not None
    assert effect.hrv is None and effect.rr_flagged_share == 0.5


# ------------------------------------------------------------------------- BP and checks
def bp(minutes: Sequence[float], sys_: Sequence[float], dia: Sequence[float],
       flags: int = int(ReadingFlag.MANUAL)) -> dict[Stream, StreamData]:
    return {Stream.BP_SYSTOLIC: stream(Stream.BP_SYSTOLIC, minutes, sys_, [flags] * len(minutes)),
            Stream.BP_DIASTOLIC: stream(Stream.BP_DIASTOLIC, minutes, dia, [flags] * len(minutes))}


def test_bp_change_from_baseline_at_each_check_and_discharge() -> None:
    streams = bp([2, 4, 45, 124], [130, 120, 150, 128], [85, 80, 95, 84])
    streams[Stream.SPO2] = stream(Stream.SPO2, [123.5, 124], [96, 98])
    streams[Stream.HEART_RATE] = stream(Stream.HEART_RATE, [1, 123.9], [70, 75])
    events = session_events(checks_done=[("vitals_pre_dose", 4), ("vitals_40_min", 47),
                                         ("vitals_discharge", 126)])
    report = summarize(PROTO, events, streams)
    assert report.bp_baseline is not None
    assert (report.bp_baseline.systolic, report.bp_baseline.diastolic) == (120, 80)  # the last before dose
    pre, forty, discharge = report.checks
    assert pre.bp is not None and pre.bp.delta_systolic == 0
    assert forty.bp is not None and (forty.bp.delta_systolic, forty.bp.delta_diastolic) == (30, 15)
    assert forty.moment == at(47) and forty.state == "done"
    assert discharge.heart_rate == 75.0 and discharge.spo2 == 97.0
    assert discharge.bp is not None and discharge.bp.manual
    assert [c.met for c in report.discharge] == [True, True]
    assert "+8/+4" in report.discharge[1].detail
    assert [p.delta_systolic for p in report.bp_points] == [10, 0, 30, 8]
    assert report.min_observation_met_at == at(125)
    assert report.discharge_checks_done_at == at(126)
    assert report.fit_to_leave_at == at(126)


def test_discharge_criteria_not_met_or_not_evaluable() -> None:
    streams = bp([4, 124], [120, 150], [80, 85])
    streams[Stream.SPO2] = stream(Stream.SPO2, [124], [90])
    report = summarize(PROTO, session_events(checks_done=[("vitals_discharge", 124.5)]), streams)
    assert [c.met for c in report.discharge] == [False, False]
    report = summarize(PROTO, session_events(), {})
    assert [c.met for c in report.discharge] == [None, None]
    assert report.discharge[1].detail == "no baseline"
    assert report.checks[1].bp is None and report.checks[1].moment == at(45)  # due, never done
    assert report.fit_to_leave_at is None  # discharge check not done


def test_unpaired_and_unusable_bp_halves_are_left_out() -> None:
    sys_ = stream(Stream.BP_SYSTOLIC, [10, 20, 30], [120, 130, 140], [0, int(ReadingFlag.ARTIFACT), 0])
    dia = stream(Stream.BP_DIASTOLIC, [10, 20, 31], [80, 85, 90])
    points = bp_points(sys_, dia)
    assert [(p.systolic, p.diastolic, p.delta_systolic, p.manual) for p in points] == [(120, 80, None, False)]


def test_session_ended_before_min_observation_and_protocol_without_discharge_check() -> None:
    report = summarize(PROTO, session_events(end_min=60), {})
    assert report.min_observation_at == at(125) and report.min_observation_met_at is None
    assert report.fit_to_leave_at is None
    bare = TreatmentProtocol("bare", PROTO.route, 10, 45, 120, checks=())
    report = summarize(bare, session_events(protocol=bare), {})
    assert report.discharge == () and report.checks == ()
    assert report.fit_to_leave_at == at(125)


def test_unfinished_session_needs_until_and_never_started_is_refused() -> None:
    events = session_events(end_min=None)
    with pytest.raises(SummaryError, match="until"):
        summarize(PROTO, events, {})
    report = summarize(PROTO, events, {}, until=at(30))
    assert report.ended_at is None and report.until == at(30)
    assert report.phases[-1].phase is Phase.EFFECT and report.phases[-1].end == at(30)
    with pytest.raises(SummaryError, match="session_started"):
        summarize(PROTO, [], {}, until=at(1))


def test_undosed_session_and_boosters() -> None:
    report = summarize(PROTO, session_events(dose_min=None, end_min=20), {})
    assert [p.phase for p in report.phases] == [Phase.PREPARATION]
    assert report.first_dose_at is None and report.hr_baseline is None
    report = summarize(PROTO, session_events(booster_min=30), {})
    assert report.boosters == (at(30),)


# -------------------------------------------------------------------------------- alarms
def transition(minute: float, alarm_id: str, action: str, value: float | None = None,
               priority: AlarmPriority = AlarmPriority.MEDIUM,
               limit: float | None = 120.0) -> AlarmTransition:
    return AlarmTransition(at(minute), alarm_id, alarm_id.upper(), priority, AlarmCategory.PHYSIOLOGICAL,
                           AlarmState.ACTIVE, action, Stream.HEART_RATE, value, limit)


def test_alarm_spans_and_counts_per_phase() -> None:
    log = [
        transition(20, "hr_high", "raised", 121),
        transition(21, "hr_high", "acknowledged", 125),
        transition(22, "hr_high", "condition_cleared", 110),
        transition(23, "hr_low", "raised", 44, limit=45),
        transition(24, "hr_low", "escalated", 40, limit=45),
        transition(25, "hr_low", "resolved", 50, limit=45),
        transition(26, "ghost", "acknowledged"),  # no open span: ignored
        transition(30, "hr_high", "raised", 122),
        transition(31, "hr_high", "raised", 123),  # raised again without a clear: the first closes
        transition(130, "spo2", "raised", 90, AlarmPriority.HIGH, 92),
    ]
    spans = alarm_spans(log, at(140))
    assert [(s.alarm_id, s.start, s.end, s.open_ended) for s in spans] == [
        ("hr_high", at(20), at(22), False), ("hr_low", at(23), at(25), False),
        ("hr_high", at(30), at(31), False), ("hr_high", at(31), at(140), True),
        ("spo2", at(130), at(140), True)]
    assert spans[0].peak_value == 125 and spans[0].actions == ((at(21), "acknowledged"),)
    assert spans[1].peak_value == 40  # a low alarm's worst value is its lowest
    report = summarize(PROTO, session_events(), {}, alarms=log)
    assert [p.alarms_raised for p in report.phases] == [0, 0, 4, 1]
    assert len(report.alarm_spans) == 5


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 30.0), st.floats(30.0, 200.0)), min_size=1, max_size=60))
def test_time_beyond_never_exceeds_the_phase_or_the_readings(steps: list[tuple[float, float]]) -> None:
    """Property: time beyond a limit is at most HOLD_CAP_S per usable reading and at most the phase."""
    t_s = np.cumsum([s for s, _ in steps])
    minutes = (20 + t_s / 60).tolist()
    values = [v for _, v in steps]
    hr = stream(Stream.HEART_RATE, minutes, values)
    report = summarize(PROTO, session_events(), {Stream.HEART_RATE: hr}, rules=HR_RULES)
    for phase in report.phases:
        for alarm_id, seconds in phase.time_beyond_s.items():
            assert 0.0 <= seconds <= min(phase.duration_s, HOLD_CAP_S * phase.hr_n) + 1e-9, alarm_id
        very_high, high = phase.time_beyond_s["hr_very_high"], phase.time_beyond_s["hr_high"]
        assert very_high <= high + 1e-9  # >= 140 implies >= 120


def test_a_check_done_past_its_grace_is_late_and_one_never_done_is_overdue_at_the_end() -> None:
    from ui.review_summary import check_table

    # dose at 5 min: the +40 min check falls due at 45 and is done 27 min later; the discharge check
    # falls due at 125 and is never done before the end at 140 (15 min overdue, beyond 10 min grace).
    events = session_events(checks_done=[("vitals_pre_dose", 4), ("vitals_40_min", 72)])
    report = summarize(PROTO, events, {})
    pre, forty, discharge = report.checks
    assert pre.late_by_s is None
    assert forty.late_by_s == pytest.approx(27 * 60)
    assert discharge.state == "due" and discharge.late_by_s == pytest.approx(15 * 60)
    _header, rows = check_table(report, at(5).timestamp())
    assert rows[1][-1] == "done 27 min late"
    assert rows[2][-1] == "NOT done (15 min overdue at the end)"
    on_time = summarize(PROTO, session_events(checks_done=[("vitals_40_min", 54)]), {})
    assert on_time.checks[1].late_by_s is None  # 9 min after due: within the 10 min grace


def test_check_grace_is_part_of_the_protocol_and_validated() -> None:
    from kapmonitor.protocols import CheckTiming, ProtocolError, ScheduledCheck

    check = ScheduledCheck("bp_40", "BP at +40", CheckTiming.AFTER_DOSE, at_min=40, grace_min=5)
    assert ScheduledCheck.from_dict(check.to_dict()) == check
    assert ScheduledCheck.from_dict({"name": "bp_40", "label": "BP", "timing": "after_dose",
                                     "at_min": 40}).grace_min == 10.0  # settings saved before grace existed
    with pytest.raises(ProtocolError, match="grace_min must be 0 to 120 minutes"):
        ScheduledCheck.from_dict({**check.to_dict(), "grace_min": -1})
    with pytest.raises(ProtocolError, match="grace_min must be a number"):
        ScheduledCheck.from_dict({**check.to_dict(), "grace_min": "soon"})


# ----------------------------------------------------------------------------- issue 12
def test_monitoring_after_dose_runs_from_the_first_dose_to_the_end() -> None:
    report = summarize(PROTO, session_events(dose_min=6, end_min=127, booster_min=60), {})
    assert report.monitoring_s == 127 * 60  # the whole session, from its start
    assert report.monitored_after_dose_s == 121 * 60  # what the monitoring form asks for
    assert summarize(PROTO, session_events(dose_min=None), {}).monitored_after_dose_s is None


def test_spo2_typed_after_the_discharge_bp_counts_for_the_discharge_check() -> None:
    """The check's SpO2 and the discharge criterion are one rule: the reading near the check."""
    streams = bp([4, 124], [120, 126], [80, 82])
    # the SpO2 was read from a hand-held oximeter and typed 1.5 min after the blood pressure
    streams[Stream.SPO2] = stream(Stream.SPO2, [3.5, 125.5], [98, 97], [int(ReadingFlag.MANUAL)] * 2)
    report = summarize(PROTO, session_events(checks_done=[("vitals_discharge", 125.6)]), streams)
    discharge = report.checks[-1]
    assert discharge.spo2 == 97.0 and discharge.spo2_at == at(125.5)
    spo2 = report.discharge[0]
    assert spo2.met is True and spo2.detail.startswith("97 %")
    assert report.phase(Phase.INTEGRATION).spo2_min == 97.0  # type: ignore[union-attr]


def test_spo2_far_from_the_discharge_check_is_not_evaluated_and_says_why() -> None:
    streams = bp([4, 124], [120, 126], [80, 82])
    streams[Stream.SPO2] = stream(Stream.SPO2, [3.5, 60], [98, 96])  # the oximeter went off at +60
    report = summarize(PROTO, session_events(checks_done=[("vitals_discharge", 124.5)]), streams)
    assert report.checks[-1].spo2 is None
    spo2 = report.discharge[0]
    assert spo2.met is None
    assert spo2.detail == "no SpO\u2082 reading within 15 min of the check (the last: 96 %, 64 min before)"
