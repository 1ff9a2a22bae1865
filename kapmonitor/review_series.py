"""Series the review derives from stored readings and the alarm log: usable readings,
blood-pressure pairs and alarm spans. Pure functions (numpy only), shared by the
summary (:mod:`kapmonitor.summary`), the baseline and the review's plots and report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from kapmonitor import streams
from kapmonitor.clock import ensure_utc
from kapmonitor.ports import StreamData
from kapmonitor.types import AlarmCategory, AlarmPriority, AlarmTransition, ReadingFlag

__all__ = ["UNUSABLE_FLAGS", "AlarmSpan", "BpPoint", "alarm_spans", "bp_points", "usable_mask", "with_delta"]

UNUSABLE_FLAGS = int(streams.UNUSABLE_FLAGS)
"""Readings with any of these flags are kept but left out of statistics (the streams table's
unusable flags, :mod:`kapmonitor.streams`; per stream see :func:`usable_mask`)."""


@dataclass(frozen=True, slots=True)
class BpPoint:
    """One blood pressure measurement and its change from the pre-dose baseline (mmHg)."""

    at: datetime
    systolic: float
    diastolic: float
    delta_systolic: float | None
    delta_diastolic: float | None
    manual: bool


@dataclass(frozen=True, slots=True)
class AlarmSpan:
    """An alarm condition from ``raised`` until its condition cleared or it was resolved.

    ``end`` is the summary's ``until`` when the log shows no end (still active when the
    record stops). ``actions`` lists what the therapist did (acknowledged, audio paused).
    """

    alarm_id: str
    label: str
    priority: AlarmPriority
    category: AlarmCategory
    start: datetime
    end: datetime
    peak_value: float | None
    limit: float | None
    actions: tuple[tuple[datetime, str], ...]
    open_ended: bool


def usable_mask(data: StreamData) -> npt.NDArray[np.bool_]:
    """True for readings usable by the streams table (:func:`kapmonitor.streams.usable`).

    Not usable: flagged with one of the stream's unusable flags (``ARTIFACT``, ``NO_CONTACT``,
    ``IMPLAUSIBLE``), or a value outside the stream's possible range even if stored unflagged.
    """
    row = streams.spec(data.stream)
    values = np.asarray(data.value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        possible = np.isfinite(values) & (values >= row.low) & (values <= row.high)
    ok = (data.flags.astype(np.int64) & int(row.unusable)) == 0
    return np.asarray(ok & possible, dtype=np.bool_)


def bp_points(systolic: StreamData, diastolic: StreamData,
              baseline: BpPoint | None = None) -> list[BpPoint]:
    """Pair systolic and diastolic readings taken at the same moment (to the millisecond).

    Unusable readings and unpaired halves are left out. Deltas are against ``baseline``.
    """
    dia = {round(float(t) * 1000): (float(v), int(f))
           for t, v, f, ok in zip(diastolic.t, diastolic.value, diastolic.flags, usable_mask(diastolic),
                                  strict=True)
           if ok}
    points: list[BpPoint] = []
    for t, v, f, ok in zip(systolic.t, systolic.value, systolic.flags, usable_mask(systolic), strict=True):
        if not ok:
            continue
        match = dia.get(round(float(t) * 1000))
        if match is None:
            continue
        at = datetime.fromtimestamp(float(t), tz=UTC)
        manual = bool(int(f) & ReadingFlag.MANUAL)
        points.append(with_delta(BpPoint(at, float(v), match[0], None, None, manual), baseline))
    return points


def with_delta(point: BpPoint, baseline: BpPoint | None) -> BpPoint:
    """``point`` with its change from ``baseline`` (unchanged when there is no baseline)."""
    if baseline is None:
        return point
    return BpPoint(point.at, point.systolic, point.diastolic, point.systolic - baseline.systolic,
                   point.diastolic - baseline.diastolic, point.manual)


@dataclass(slots=True)
class _OpenSpan:
    first: AlarmTransition
    start: datetime
    peak: float | None
    actions: list[tuple[datetime, str]]

    def closed(self, at: datetime, open_ended: bool) -> AlarmSpan:
        t = self.first
        return AlarmSpan(t.alarm_id, t.label, t.priority, t.category, self.start, max(at, self.start),
                         self.peak, t.limit, tuple(self.actions), open_ended)


def alarm_spans(transitions: Sequence[AlarmTransition], until: datetime) -> list[AlarmSpan]:
    """Alarm conditions as spans, in order of raising (see :class:`AlarmSpan`).

    A ``raised`` opens a span for its ``alarm_id``; ``condition_cleared`` or ``resolved``
    closes it; other actions (acknowledged, audio paused, escalated...) are noted on it.
    Transitions of an alarm with no open span are ignored (e.g. the acknowledgement of a
    latched alarm after its condition cleared).
    """
    until = ensure_utc(until)
    open_spans: dict[str, _OpenSpan] = {}
    done: list[AlarmSpan] = []
    for t in transitions:
        at = ensure_utc(t.at)
        if t.action == "raised":
            if t.alarm_id in open_spans:
                done.append(open_spans.pop(t.alarm_id).closed(at, False))
            open_spans[t.alarm_id] = _OpenSpan(t, at, t.value, [])
            continue
        span = open_spans.get(t.alarm_id)
        if span is None:
            continue
        if t.value is not None and (span.peak is None or _further(t, t.value, span.peak)):
            span.peak = t.value
        if t.action in ("condition_cleared", "resolved"):
            done.append(open_spans.pop(t.alarm_id).closed(at, False))
        else:
            span.actions.append((at, t.action))
    done.extend(span.closed(until, True) for span in open_spans.values())
    done.sort(key=lambda s: s.start)
    return done


def _further(t: AlarmTransition, value: float, peak: float) -> bool:
    """True if ``value`` lies further out of range than ``peak`` (below-limit alarms go down)."""
    if t.limit is not None and peak < t.limit:
        return value < peak
    return value > peak
