"""Per-phase summary of a recorded session: what the review window and the PDF report show.

Pure functions over the stored arrays (:class:`~kapmonitor.ports.StreamData`), the
session's events, its protocol, its alarm rules and its alarm log. Nothing here
reads a clock or a database, so the same inputs always give the same summary.

Choices (documented because a clinician reads the result):

* **Usable readings.** Heart-rate statistics, time beyond limits, the baseline and
  the vitals at checks use every reading the streams table calls usable
  (:func:`~kapmonitor.review_series.usable_mask`): *not* flagged ``ARTIFACT``,
  ``NO_CONTACT`` or ``IMPLAUSIBLE``, and within the stream's possible range.
  Hand-entered (``MANUAL``) readings count like streamed ones.
* **Baseline** (:mod:`kapmonitor.recording.baseline`, the rule the recorder
  freezes for the alarms): the heart rate is the median of the usable readings
  before the first dose, the blood pressure the last pair before it.
* **Time beyond a limit** integrates sample durations: each usable reading stands
  for the time until the next usable reading, capped at :data:`HOLD_CAP_S` and at
  the end of its phase, so a signal gap never counts as time above (or below) a
  limit. An ``above`` rule counts ``value >= limit``, a ``below`` rule
  ``value < limit`` (the alarm engine's convention); a rule relative to the
  baseline uses baseline +/- limit and counts nothing without a baseline. Alarm
  delays are ignored: this is the time the value was out of range, not the time
  an alarm sounded.
* **HRV** (:mod:`kapmonitor.hrv_periods`, methods in ``docs/hrv.md``). The RR stream
  is corrected once over the whole session (the thresholds need neighbours across phase
  edges) by Lipponen & Tarvainen 2019, in runs cut at every gap longer than
  :data:`RR_GAP_S` and at every interval stored as unusable (flagged or out of range),
  which is excluded, not corrected. Each phase then gets the time domain, Poincaré SD1/SD2
  and the Task Force spectrum over the whole phase and over consecutive 5-minute windows;
  successive differences and spectral segments never span a gap or an excluded interval.
  :attr:`PhaseSummary.hrv` is the whole phase's time domain on the corrected series
  (before issue 14 it was computed on the intervals a local-median rule left, with
  nothing corrected); a phase with too few NN intervals has none. The HRV is most of the
  summary's cost (seconds for a long session), so it can be left out and added later:
  ``summarize(..., hrv=False)`` gives a report whose :attr:`SessionReport.hrv_pending` is True
  and whose phases carry no HRV, and :meth:`SessionReport.with_hrv` computes it, giving the same
  report ``summarize`` gives with it (the review window paints first and fills its HRV rows after).
* **Vitals at a check** follow one rule for every vital: a measurement counts for
  the check when it was taken within :data:`CHECK_WINDOW_S` of it. Blood pressure:
  the systolic/diastolic pair measured nearest the moment the check was done (or
  fell due, if never done); its change is against the last pair before the first
  dose (the baseline). Heart rate and SpO2: the median of the usable readings in
  the :data:`VITALS_WINDOW_S` up to the usable reading nearest the *vitals moment*
  (that blood pressure's time, else the check's moment), when that reading is
  within the window (:func:`reading_near`). A streamed signal so gives the minute
  before the blood pressure; a value typed from a hand-held oximeter a minute after
  the cuff reading still counts. (Before issue 12 the SpO2 had to lie in the minute
  *before* the blood pressure, so a typed SpO2 showed as the phase's lowest in the
  per-phase table yet "not evaluated" at discharge.)
* **Fit to leave** is the later of the end of the minimum observation and the time
  the last before-discharge check was done. The discharge criteria (SpO2 > 92 %,
  BP within +/-20 mmHg of baseline) are evaluated on the vitals of the discharge
  check, the same figures its row in the checks table shows; being alert and
  oriented is the clinician's judgement and is not computed.
* **Monitoring time**: :attr:`SessionReport.monitoring_s` runs from the session
  start, :attr:`SessionReport.monitored_after_dose_s` from the first dose (the
  monitoring form's "total minutes from the first administration to the end of
  monitoring"), both to the end of the record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from kapmonitor.alarm_settings import LimitRule
from kapmonitor.clock import ensure_utc
from kapmonitor.hrv import HrvSummary
from kapmonitor.hrv_artifacts import METHOD as HRV_CORRECTION
from kapmonitor.hrv_periods import CorrectedStream, PeriodHrv, correct_stream, period_hrv
from kapmonitor.ports import StreamData
from kapmonitor.protocols import CheckTiming, TreatmentProtocol
from kapmonitor.recording.baseline import bp_baseline, hr_baseline
from kapmonitor.review_series import (
    AlarmSpan,
    BpPoint,
    alarm_spans,
    bp_points,
    usable_mask,
    with_delta,
)
from kapmonitor.session import SessionState
from kapmonitor.session_model import CheckStatus
from kapmonitor.types import (
    AlarmTransition,
    EventKind,
    Phase,
    SessionEvent,
    Stream,
)

__all__ = [
    "CHECK_WINDOW_S",
    "DISCHARGE_BP_TOLERANCE_MMHG",
    "DISCHARGE_SPO2_MIN_PCT",
    "HOLD_CAP_S",
    "RR_GAP_S",
    "VITALS_WINDOW_S",
    "CheckVitals",
    "DischargeCriterion",
    "PhaseSummary",
    "SessionReport",
    "SummaryError",
    "reading_near",
    "summarize",
]

log = logging.getLogger(__name__)

HOLD_CAP_S = 5.0
"""The longest time one reading may stand for when integrating time beyond a limit."""
RR_GAP_S = 5.0
"""RR intervals arriving further apart than this are not successive beats."""
CHECK_WINDOW_S = 15 * 60.0
"""How far from a check a measurement (blood pressure, heart rate, SpO2) may be to count for it."""
VITALS_WINDOW_S = 60.0
"""Heart rate and SpO2 at a check: the median over this many seconds up to the reading nearest it."""
DISCHARGE_SPO2_MIN_PCT = 92.0
DISCHARGE_BP_TOLERANCE_MMHG = 20.0

_EMPTY = np.zeros(0, dtype=np.float64)


class SummaryError(ValueError):
    """The inputs cannot be summarised (e.g. the session was never started); the message says why."""


@dataclass(frozen=True, slots=True)
class PhaseSummary:
    """One phase of the session.

    Attributes:
        start, end: the phase's bounds (UTC); ``end`` is the session end (or ``until``) for the last.
        hr_n: usable heart-rate readings in the phase; the three statistics are None when 0.
        time_beyond_s: seconds beyond each heart-rate limit rule, by ``alarm_id`` (see module doc).
        hrv: time-domain HRV of the whole phase's corrected NN intervals, None if too few
            (the same as ``hrv_period.whole.time``).
        rr_n: RR intervals recorded in the phase.
        rr_flagged_share: share (0..1) of them not used as recorded -- corrected by the artifact
            correction or excluded as stored unusable; None when ``rr_n`` is 0 (or the HRV is
            not computed yet, :attr:`SessionReport.hrv_pending`).
        hrv_period: the phase's full HRV (whole phase and 5-minute windows, frequency domain,
            Poincaré, the correction used and the share corrected); None without RR intervals.
        spo2_min: lowest usable SpO2, None without readings.
        alarms_raised: alarm conditions raised in the phase.
    """

    phase: Phase
    start: datetime
    end: datetime
    hr_n: int
    hr_min: float | None
    hr_mean: float | None
    hr_max: float | None
    time_beyond_s: Mapping[str, float]
    hrv: HrvSummary | None
    rr_n: int
    rr_flagged_share: float | None
    spo2_min: float | None
    alarms_raised: int
    hrv_period: PeriodHrv | None = None

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class CheckVitals:
    """A scheduled check and the vitals measured at it.

    Attributes:
        moment: when it was done, else when it fell due (None: never due, e.g. no dose).
        bp: the pair nearest ``moment`` (see module doc), None if none was close enough.
        heart_rate / spo2: medians over the minute up to the reading nearest ``bp`` (or ``moment``
            without one), None without a reading within :data:`CHECK_WINDOW_S`.
        heart_rate_at / spo2_at: when that nearest reading was taken.
        last_spo2 / last_spo2_at: the last usable SpO2 up to the vitals moment, however old (it
            says why ``spo2`` is None: the oximeter stopped long before).
        late_by_s: seconds past due when it was done late (or was still overdue at the end of the
            record), beyond the check's grace; None when on time or not applicable.
    """

    name: str
    label: str
    timing: CheckTiming
    state: str
    due_at: datetime | None
    done_at: datetime | None
    moment: datetime | None
    bp: BpPoint | None
    heart_rate: float | None
    spo2: float | None
    note: str
    late_by_s: float | None = None
    heart_rate_at: datetime | None = None
    spo2_at: datetime | None = None
    last_spo2: float | None = None
    last_spo2_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DischargeCriterion:
    """One discharge criterion: ``met`` is None when it could not be evaluated (no measurement)."""

    label: str
    met: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class SessionReport:
    """Everything the review window's summary table and the PDF report show.

    Attributes:
        until: the end of the record summarised (the session end, or ``until`` if unfinished).
        monitoring_s: seconds from the session start to ``until``.
        monitored_after_dose_s: seconds from the first dose to ``until`` (None without a dose):
            the monitoring form's total minutes from the first administration.
        hr_baseline: median usable heart rate before the first dose.
        bp_baseline: the last blood pressure before the first dose.
        min_observation_at: first dose + the protocol's minimum observation.
        min_observation_met_at: that moment if the record reached it, else None.
        discharge_checks_done_at: when the last before-discharge check was done (None: not all done).
        fit_to_leave_at: the later of the two above, when both exist.
        hrv_correction: the RR artifact correction every phase's HRV was computed with.
        hrv_pending: True when the per-phase HRV is not computed yet (``summarize(..., hrv=False)``):
            every phase's ``hrv``, ``hrv_period`` and ``rr_flagged_share`` are None for that reason,
            not for want of RR intervals; :meth:`with_hrv` computes them.
    """

    phases: tuple[PhaseSummary, ...]
    checks: tuple[CheckVitals, ...]
    bp_points: tuple[BpPoint, ...]
    alarm_spans: tuple[AlarmSpan, ...]
    discharge: tuple[DischargeCriterion, ...]
    started_at: datetime
    first_dose_at: datetime | None
    boosters: tuple[datetime, ...]
    ended_at: datetime | None
    until: datetime
    monitoring_s: float
    monitored_after_dose_s: float | None
    hr_baseline: float | None
    bp_baseline: BpPoint | None
    min_observation_at: datetime | None
    min_observation_met_at: datetime | None
    discharge_checks_done_at: datetime | None
    fit_to_leave_at: datetime | None
    rules: tuple[LimitRule, ...]
    hrv_correction: str = HRV_CORRECTION
    hrv_pending: bool = False

    def phase(self, phase: Phase) -> PhaseSummary | None:
        """The summary of ``phase``, None if the session never entered it."""
        return next((p for p in self.phases if p.phase is phase), None)

    def with_hrv(self, streams: Mapping[Stream, StreamData]) -> SessionReport:
        """This report with the per-phase HRV computed (itself when it has it already).

        ``streams`` are those the report was summarised from (only the RR intervals are read);
        the result is what ``summarize`` with ``hrv=True`` gives for the same inputs.
        """
        if not self.hrv_pending:
            return self
        rr = streams.get(Stream.RR_INTERVAL) or _empty(Stream.RR_INTERVAL)
        fixed = _rr_corrected(rr)
        return replace(self, phases=tuple(_with_phase_hrv(p, fixed) for p in self.phases), hrv_pending=False)


# ------------------------------------------------------------------------------ helpers
def _epoch(moment: datetime) -> float:
    return ensure_utc(moment).timestamp()


def _empty(stream: Stream) -> StreamData:
    return StreamData(stream, _EMPTY, _EMPTY, np.zeros(0, dtype=np.int32))


def _hold_durations(t: npt.NDArray[np.float64], end: float) -> npt.NDArray[np.float64]:
    """Seconds each sample stands for: until the next one (or ``end``), capped at :data:`HOLD_CAP_S`."""
    if t.size == 0:
        return _EMPTY
    following = np.append(t[1:], end)
    return np.asarray(np.clip(np.minimum(following, end) - t, 0.0, HOLD_CAP_S), dtype=np.float64)


def _time_beyond(rule: LimitRule, baseline: float | None, values: npt.NDArray[np.float64],
                 durations: npt.NDArray[np.float64]) -> float:
    threshold = rule.threshold(baseline)
    if threshold is None or values.size == 0:
        return 0.0
    beyond = values >= threshold if rule.direction == "above" else values < threshold
    return float(durations[beyond].sum())


def _median(values: npt.NDArray[np.float64]) -> float | None:
    return float(np.median(values)) if values.size else None


# ------------------------------------------------------------------------------ summary
def summarize(
    protocol: TreatmentProtocol,
    events: Sequence[SessionEvent],
    streams: Mapping[Stream, StreamData],
    *,
    rules: Sequence[LimitRule] = (),
    alarms: Sequence[AlarmTransition] = (),
    until: datetime | None = None,
    hrv: bool = True,
) -> SessionReport:
    """Summarise a session phase by phase (see the module docstring for every rule).

    Args:
        protocol: the protocol the session was started with (its stored snapshot).
        events: the session's stored events, in stored order (replayed for phases and checks).
        streams: loaded streams; missing ones count as empty. Heart rate, RR intervals,
            SpO2 and blood pressure (systolic, diastolic) are used.
        rules: the session's alarm rules; enabled heart-rate rules get a time-beyond figure.
        alarms: the session's alarm log (for spans and counts per phase).
        until: where the record stops for a session that has not ended (required then).
        hrv: compute the per-phase HRV; without it the report is :attr:`SessionReport.hrv_pending`
            (:meth:`SessionReport.with_hrv` adds it later).

    Raises:
        SummaryError: the session was never started, or it is unfinished and ``until`` is missing.
        kapmonitor.session_model.SessionError: the events do not replay (a damaged record).
    """
    state = SessionState.replay(protocol, events)
    if state.started_at is None:
        raise SummaryError("the session has no session_started event; there is nothing to summarise")
    if state.ended_at is not None:
        end = state.ended_at
    elif until is not None:
        end = max(ensure_utc(until), state.started_at)
    else:
        raise SummaryError("the session has not ended: pass `until` (e.g. its last activity)")
    snap = state.snapshot(end)

    def get(stream: Stream) -> StreamData:
        return streams.get(stream) or _empty(stream)

    hr, rr, spo2 = get(Stream.HEART_RATE), get(Stream.RR_INTERVAL), get(Stream.SPO2)
    hr_ok, spo2_ok = usable_mask(hr), usable_mask(spo2)
    hr_t, hr_v = hr.t[hr_ok], hr.value[hr_ok]
    spo2_t, spo2_v = spo2.t[spo2_ok], spo2.value[spo2_ok]
    dose = state.first_dose_at
    hr_base = hr_baseline(hr, dose)

    all_bp = bp_points(get(Stream.BP_SYSTOLIC), get(Stream.BP_DIASTOLIC))
    bp_base = bp_baseline(all_bp, dose)
    points = tuple(with_delta(p, bp_base) for p in all_bp)

    hr_rules = tuple(r for r in rules if r.enabled and r.stream is Stream.HEART_RATE)
    spans = alarm_spans(alarms, end)
    phases = []
    for phase, start, stop in snap.phase_bounds:
        if phase is Phase.ENDED:
            continue
        phases.append(_phase_summary(phase, start, stop if stop is not None else end, hr_t, hr_v,
                                     hr_rules, hr_base, rr.t, spo2_t, spo2_v, alarms))

    checks = tuple(_check_vitals(c, points, hr_t, hr_v, spo2_t, spo2_v, end) for c in snap.checks)
    min_obs_at = snap.min_observation_at
    met_at = min_obs_at if min_obs_at is not None and end >= min_obs_at else None
    discharge = [c for c in snap.checks if c.timing is CheckTiming.BEFORE_DISCHARGE]
    discharge_done = (max((c.done_at for c in discharge if c.done_at is not None), default=None)
                      if discharge and all(c.state == "done" for c in discharge) else None)
    fit = max(met_at, discharge_done) if met_at is not None and discharge_done is not None else None
    if met_at is not None and not discharge:
        fit = met_at
    report = SessionReport(
        phases=tuple(phases), checks=checks, bp_points=points, alarm_spans=tuple(spans),
        discharge=_discharge_criteria(checks, bp_base),
        started_at=state.started_at, first_dose_at=dose,
        boosters=tuple(e.at for e in state.events if e.kind is EventKind.BOOSTER_GIVEN),
        ended_at=state.ended_at, until=end,
        monitoring_s=(end - state.started_at).total_seconds(),
        monitored_after_dose_s=(end - dose).total_seconds() if dose is not None else None,
        hr_baseline=hr_base,
        bp_baseline=bp_base, min_observation_at=min_obs_at, min_observation_met_at=met_at,
        discharge_checks_done_at=discharge_done, fit_to_leave_at=fit, rules=hr_rules, hrv_pending=True,
    )
    return report.with_hrv(streams) if hrv else report


def _rr_corrected(rr: StreamData) -> CorrectedStream:
    """The session's RR stream corrected once; intervals the streams table calls unusable are excluded."""
    return correct_stream(rr.t, rr.value, ~usable_mask(rr), gap_s=RR_GAP_S)


def _phase_summary(phase: Phase, start: datetime, end: datetime,
                   hr_t: npt.NDArray[np.float64], hr_v: npt.NDArray[np.float64],
                   rules: Sequence[LimitRule], baseline: float | None,
                   rr_t: npt.NDArray[np.float64],
                   spo2_t: npt.NDArray[np.float64], spo2_v: npt.NDArray[np.float64],
                   alarms: Sequence[AlarmTransition]) -> PhaseSummary:
    lo, hi = _epoch(start), _epoch(end)
    i, j = np.searchsorted(hr_t, [lo, hi], side="left")
    t, v = hr_t[i:j], hr_v[i:j]
    durations = _hold_durations(t, hi)
    beyond = {r.alarm_id: _time_beyond(r, baseline, v, durations) for r in rules}
    a, b = np.searchsorted(rr_t, [lo, hi], side="left")  # as hrv_periods counts a period's intervals
    c, d = np.searchsorted(spo2_t, [lo, hi], side="left")
    raised = sum(1 for x in alarms if x.action == "raised" and start <= ensure_utc(x.at) < end)
    return PhaseSummary(
        phase=phase, start=start, end=end, hr_n=int(v.size),
        hr_min=float(v.min()) if v.size else None, hr_mean=float(v.mean()) if v.size else None,
        hr_max=float(v.max()) if v.size else None, time_beyond_s=beyond, hrv=None,
        rr_n=int(b - a), rr_flagged_share=None,
        spo2_min=float(spo2_v[c:d].min()) if d > c else None, alarms_raised=raised,
    )


def _with_phase_hrv(summary: PhaseSummary, rr: CorrectedStream) -> PhaseSummary:
    """``summary`` with its HRV measured on the session's corrected RR stream."""
    period = period_hrv(rr, _epoch(summary.start), _epoch(summary.end))
    whole = period.whole
    share = (whole.corrected + whole.excluded) / whole.rr_n if whole.rr_n else None
    return replace(summary, hrv=whole.time, rr_n=whole.rr_n, rr_flagged_share=share,
                   hrv_period=period if whole.rr_n else None)


def reading_near(t: npt.NDArray[np.float64], v: npt.NDArray[np.float64], moment: datetime,
                 window_s: float = CHECK_WINDOW_S) -> tuple[float, datetime] | None:
    """A streamed or typed vital at ``moment``: (median, time of the reading it is taken at), or None.

    ``t``/``v`` are the usable readings (epoch seconds, sorted). The reading nearest ``moment``
    counts if it lies within ``window_s`` of it; the value is the median of the readings in the
    :data:`VITALS_WINDOW_S` up to and including that reading, so a streamed signal is smoothed
    over its last minute and a single typed value is itself. The one rule for heart rate and
    SpO2 at a check (see the module docstring); the discharge record can apply it too.
    """
    if t.size == 0:
        return None
    at = _epoch(moment)
    i = int(np.searchsorted(t, at, side="left"))
    candidates = [k for k in (i - 1, i) if 0 <= k < t.size]
    k = min(candidates, key=lambda c: (abs(float(t[c]) - at), -c))
    if abs(float(t[k]) - at) > window_s:
        return None
    lo = int(np.searchsorted(t, float(t[k]) - VITALS_WINDOW_S, side="left"))
    value = _median(v[lo:k + 1])
    assert value is not None
    return value, datetime.fromtimestamp(float(t[k]), tz=UTC)


def _check_vitals(check: CheckStatus, points: Sequence[BpPoint],
                  hr_t: npt.NDArray[np.float64], hr_v: npt.NDArray[np.float64],
                  spo2_t: npt.NDArray[np.float64], spo2_v: npt.NDArray[np.float64],
                  end: datetime) -> CheckVitals:
    moment = check.done_at if check.done_at is not None else check.due_at
    bp = hr = spo2 = last_spo2 = None
    if moment is not None:
        near = [p for p in points if abs((p.at - moment).total_seconds()) <= CHECK_WINDOW_S]
        bp = min(near, key=lambda p: abs((p.at - moment).total_seconds())) if near else None
        # Heart rate and SpO2 taken with the blood pressure, else with the check itself.
        vitals_at = bp.at if bp is not None else moment
        hr, spo2 = reading_near(hr_t, hr_v, vitals_at), reading_near(spo2_t, spo2_v, vitals_at)
        j = int(np.searchsorted(spo2_t, _epoch(vitals_at), side="right"))
        if j:
            last_spo2 = (float(spo2_v[j - 1]), datetime.fromtimestamp(float(spo2_t[j - 1]), tz=UTC))
    return CheckVitals(name=check.name, label=check.label, timing=check.timing, state=check.state,
                       due_at=check.due_at, done_at=check.done_at, moment=moment, bp=bp,
                       heart_rate=hr[0] if hr else None, spo2=spo2[0] if spo2 else None,
                       note=check.note or check.reason, late_by_s=check.late_by_s(end),
                       heart_rate_at=hr[1] if hr else None, spo2_at=spo2[1] if spo2 else None,
                       last_spo2=last_spo2[0] if last_spo2 else None,
                       last_spo2_at=last_spo2[1] if last_spo2 else None)


def _discharge_criteria(checks: Sequence[CheckVitals],
                        baseline: BpPoint | None) -> tuple[DischargeCriterion, ...]:
    at = next((c for c in reversed(checks) if c.timing is CheckTiming.BEFORE_DISCHARGE), None)
    if at is None:
        return ()
    spo2_label = f"SpO\u2082 > {DISCHARGE_SPO2_MIN_PCT:g} %"
    if at.spo2 is None:
        detail = f"no SpO\u2082 reading within {CHECK_WINDOW_S / 60:g} min of the check"
        vitals_at = at.bp.at if at.bp is not None else at.moment
        if at.last_spo2 is not None and at.last_spo2_at is not None and vitals_at is not None:
            ago_min = int((vitals_at - at.last_spo2_at).total_seconds() // 60)
            detail += f" (the last: {at.last_spo2:.0f} %, {ago_min} min before)"
        spo2 = DischargeCriterion(spo2_label, None, detail)
    else:
        spo2 = DischargeCriterion(spo2_label, at.spo2 > DISCHARGE_SPO2_MIN_PCT, f"{at.spo2:.0f} %")
    tol = DISCHARGE_BP_TOLERANCE_MMHG
    label = f"BP within \u00b1{tol:g} mmHg of baseline"
    if at.bp is None or baseline is None or at.bp.delta_systolic is None or at.bp.delta_diastolic is None:
        bp = DischargeCriterion(label, None, "no baseline" if baseline is None else "no BP at the check")
    else:
        ok = abs(at.bp.delta_systolic) <= tol and abs(at.bp.delta_diastolic) <= tol
        bp = DischargeCriterion(label, ok, f"{at.bp.systolic:.0f}/{at.bp.diastolic:.0f} "
                                           f"({at.bp.delta_systolic:+.0f}/{at.bp.delta_diastolic:+.0f})")
    return (spo2, bp)


