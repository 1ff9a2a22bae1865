"""RR artifact detection and correction after Lipponen & Tarvainen (2019), in numpy.

Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series artefact
correction using novel beat classification. J Med Eng Technol 2019;43(3):173-181 -- the method
Kubios HRV calls "automatic correction". Raw intervals are never changed: :func:`correct_rr`
returns a copy of them, one label per raw interval, and the corrected (NN) series beside them
with, for each NN interval, the raw interval it comes from. Every result names the method and
its settings (:attr:`RrCorrection.method`).

Detection (one pass over a stretch of consecutive beats, intervals ``RR(j)`` in ms):

1. ``dRR(j) = RR(j) - RR(j-1)`` (0 for the first interval, which has no predecessor).
   ``Th1(j) = alpha * QD`` of ``|dRR|`` over the :data:`WINDOW_BEATS` = 91 beats centred on ``j``
   (fewer at the ends), ``QD = (Q3 - Q1) / 2`` with linearly interpolated quartiles, alpha
   :data:`ALPHA` = 5.2. ``S11(j) = dRR(j) / Th1(j)``: beyond +/-1 the change is abnormal.
2. ``S12(j) = max(S11(j-1), S11(j+1))`` when ``S11(j) > 0``, else the ``min`` (subspace 1);
   ``S22(j) = min(S11(j+1), S11(j+2))`` when ``S11(j) >= 0``, else the ``max`` (subspace 2). A
   neighbour beyond the stretch counts as 0 (no change).
3. ``medRR(j)``: median of the :data:`MEDIAN_BEATS` = 11 intervals centred on ``j``;
   ``mRR(j) = RR(j) - medRR(j)``, doubled when negative (short beats weigh twice);
   ``Th2 = alpha * QD`` of ``|mRR|`` over 91 beats; ``S21 = mRR / Th2``.
   Both thresholds are at least :data:`MIN_THRESHOLD_MS` (a perfectly regular stretch has a
   quartile deviation of 0, which would make any change an artifact).
4. Classification, for each interval with ``|S11| > 1`` (the others are normal):

   * **ectopic** when ``S11 > 1`` and ``S12 < -c1 S11 - c2``, or ``S11 < -1`` and
     ``S12 > -c1 S11 + c2`` (c1 = 0.13, c2 = 0.17): the negative-positive-negative (or
     positive-negative-positive) pattern of a premature beat and its compensatory pause;
   * otherwise it is *long* (``S11 > 1`` and ``S22 < -1``), *short* (``S11 < -1`` and
     ``S22 > 1``) or far from the median (``|S21| > 3``); the next interval is judged too when
     ``|S11(j+1)| < |S11(j+2)|``. A short interval is an **extra** beat when it and the next add
     up to the median (``|RR(j) + RR(j+1) - medRR(j)| < Th2(j)``); a long one is a **missed**
     beat when half of it is the median (``|RR(j) / 2 - medRR(j)| < Th2(j)``); anything else is
     **long/short**.

Correction (:data:`CORRECTION`): a missed beat is split into two equal intervals; an extra beat
is removed by merging the short interval with the next; ectopic and long/short intervals are
replaced by the not-a-knot cubic spline through the normal intervals (against beat time),
evaluated at the beat's time -- the nearest normal interval's value before the first or after
the last normal interval -- and kept within the range of the :data:`CLAMP_NEIGHBOURS` normal
intervals on each side (through an irregular stretch a spline can overshoot, even below zero).
One pass, as the paper; the iterated variant some tools offer
re-labels beats the first pass already corrected and is not used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from kapmonitor.hrv import HrvError
from kapmonitor.hrv_spline import cubic_spline

__all__ = [
    "ALPHA",
    "C1",
    "C2",
    "CLAMP_NEIGHBOURS",
    "CORRECTION",
    "MEDIAN_BEATS",
    "METHOD",
    "MIN_THRESHOLD_MS",
    "WINDOW_BEATS",
    "BeatClass",
    "RrCorrection",
    "classify_rr",
    "correct_rr",
    "method_name",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

ALPHA = 5.2
"""Threshold: this many quartile deviations (Lipponen & Tarvainen 2019)."""
WINDOW_BEATS = 91
"""Beats in the centred window the quartile deviations are taken over."""
MEDIAN_BEATS = 11
"""Beats in the centred running median ``medRR``."""
C1 = 0.13
"""Slope of the ectopic-beat boundary in subspace 1."""
C2 = 0.17
"""Offset of the ectopic-beat boundary in subspace 1."""
MIN_THRESHOLD_MS = 10.0
"""Floor of both thresholds in ms: a quartile deviation of 0 (a metronomic stretch) must not make
every change an artifact. Real recordings have thresholds of tens of ms; the floor rarely binds."""
CLAMP_NEIGHBOURS = 5
"""An interpolated interval stays within the range of this many normal intervals on each side."""
CORRECTION = ("missed beats split, extra beats merged, ectopic and long/short beats interpolated "
              "(cubic spline)")
"""How each class is corrected, in words."""


def method_name(alpha: float = ALPHA, window_beats: int = WINDOW_BEATS) -> str:
    """The correction as every output names it, e.g. ``Lipponen & Tarvainen 2019 (alpha 5.2, window 91)``."""
    return f"Lipponen & Tarvainen 2019 (alpha {alpha:g}, window {window_beats})"


METHOD = method_name()
"""The default correction's name."""


class BeatClass(IntEnum):
    """What an RR interval was judged to be (one label per raw interval)."""

    NORMAL = 0
    ECTOPIC = 1
    MISSED = 2
    EXTRA = 3
    """Either part of an interval split by a false beat: both are merged into one."""
    LONG_SHORT = 4
    EXCLUDED = 5
    """Not judged: flagged unusable when stored (set by :mod:`kapmonitor.hrv_periods`, never here)."""


@dataclass(frozen=True, slots=True)
class RrCorrection:
    """The raw intervals, their labels and the corrected series (all in ms).

    Attributes:
        raw_ms: a read-only copy of the input.
        labels: one :class:`BeatClass` value per raw interval (int8).
        nn_ms: the corrected series; its length differs from ``raw_ms`` by the missed beats
            (one more each) and the extra beats (one fewer each).
        origin: for each NN interval, the index of the raw interval it was made from (a split
            missed beat gives two NN intervals with the same origin; a merged extra beat takes the
            first of its two raw intervals).
        method: :func:`method_name` of the settings used.
    """

    raw_ms: FloatArray
    labels: npt.NDArray[np.int8]
    nn_ms: FloatArray
    origin: npt.NDArray[np.intp]
    method: str

    @property
    def corrected(self) -> int:
        """Raw intervals not used as recorded (every label but NORMAL)."""
        return int(np.count_nonzero(self.labels != BeatClass.NORMAL))

    @property
    def corrected_share(self) -> float:
        """Share (0..1) of raw intervals corrected; 0 for an empty series."""
        return self.corrected / self.labels.size if self.labels.size else 0.0

    def count(self, kind: BeatClass) -> int:
        """Raw intervals labelled ``kind`` (an extra beat counts its two parts)."""
        return int(np.count_nonzero(self.labels == kind))


def _series(rr_ms: npt.ArrayLike) -> FloatArray:
    try:
        values = np.array(rr_ms, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise HrvError(f"RR intervals must be numbers in milliseconds: {exc}") from exc
    if values.ndim != 1:
        raise HrvError(f"RR intervals must be a one-dimensional series, got shape {values.shape}")
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        raise HrvError(f"RR intervals must be finite and positive; interval {int(bad[0])} is "
                       f"{float(values[bad[0]])!r} (leave unusable intervals out and split the series "
                       "there)")
    return values


def _centred(values: FloatArray, width: int) -> FloatArray:
    """Rows of the ``width`` values centred on each element, NaN beyond the ends (n x width)."""
    half = width // 2
    padded = np.concatenate([np.full(half, np.nan), values, np.full(width - 1 - half, np.nan)])
    return sliding_window_view(padded, width)


def _rolling_quartile_deviation(values: FloatArray, width: int) -> FloatArray:
    """(Q3 - Q1) / 2 over the centred window (ends truncated), quartiles linearly interpolated."""
    rows = np.sort(_centred(values, width), axis=1)  # NaN (beyond the ends) sorts last
    last = np.count_nonzero(~np.isnan(rows), axis=1) - 1
    r = np.arange(values.size)

    def quantile(q: float) -> FloatArray:
        pos = q * last
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, last)
        frac = pos - lo
        return np.asarray(rows[r, lo] * (1.0 - frac) + rows[r, hi] * frac, dtype=np.float64)

    return (quantile(0.75) - quantile(0.25)) / 2.0


def _rolling_median(values: FloatArray, width: int) -> FloatArray:
    """Median over the centred window (ends truncated): ``np.nanmedian`` of :func:`_centred`'s rows,
    the same figures, without the masked arrays it uses for short rows (most of its time here)."""
    rows = np.sort(_centred(values, width), axis=1)  # NaN (beyond the ends) sorts last
    n = np.count_nonzero(~np.isnan(rows), axis=1)
    r = np.arange(values.size)
    return np.asarray((rows[r, (n - 1) // 2] + rows[r, n // 2]) / 2.0, dtype=np.float64)


def _neighbour(values: FloatArray, shift: int) -> FloatArray:
    """``values[j + shift]`` for every j, 0 beyond the ends."""
    out = np.zeros(values.size)
    if shift > 0:
        out[:-shift] = values[shift:]
    else:
        out[-shift:] = values[:shift]
    return out


@dataclass(frozen=True, slots=True)
class _Subspaces:
    s11: FloatArray
    s12: FloatArray
    s22: FloatArray
    s21: FloatArray
    med: FloatArray
    th2: FloatArray


def _subspaces(rr: FloatArray, alpha: float, window_beats: int) -> _Subspaces:
    drr = np.zeros(rr.size)
    drr[1:] = np.diff(rr)
    th1 = np.maximum(alpha * _rolling_quartile_deviation(np.abs(drr), window_beats), MIN_THRESHOLD_MS)
    s11 = drr / th1
    before, after, after2 = _neighbour(s11, -1), _neighbour(s11, 1), _neighbour(s11, 2)
    s12 = np.where(s11 > 0, np.maximum(before, after), np.minimum(before, after))
    s22 = np.where(s11 >= 0, np.minimum(after, after2), np.maximum(after, after2))
    med = _rolling_median(rr, MEDIAN_BEATS)
    mrr = rr - med
    mrr[mrr < 0] *= 2.0
    th2 = np.maximum(alpha * _rolling_quartile_deviation(np.abs(mrr), window_beats), MIN_THRESHOLD_MS)
    return _Subspaces(s11=s11, s12=s12, s22=s22, s21=mrr / th2, med=med, th2=th2)


def classify_rr(rr_ms: npt.ArrayLike, *, alpha: float = ALPHA,
                window_beats: int = WINDOW_BEATS) -> npt.NDArray[np.int8]:
    """Detection only: one :class:`BeatClass` label per interval (see the module docstring).

    Args:
        rr_ms: consecutive RR intervals (ms) of one stretch without gaps; finite and positive.
        alpha: threshold in quartile deviations (5.2 in the paper).
        window_beats: odd number of beats for the quartile deviations (91 in the paper).

    Raises:
        HrvError: not a one-dimensional series of finite positive intervals, or a setting out of range.
    """
    if not (alpha > 0 and window_beats >= 3 and window_beats % 2 == 1):
        raise HrvError(f"need alpha > 0 and an odd window of at least 3 beats, got alpha={alpha!r}, "
                       f"window_beats={window_beats!r}")
    rr = _series(rr_ms)
    labels = np.zeros(rr.size, dtype=np.int8)
    if rr.size < 3:
        return labels
    s = _subspaces(rr, alpha, window_beats)
    n = rr.size
    for j in np.flatnonzero(np.abs(s.s11) > 1):
        if labels[j]:
            continue  # already judged as the second part of an extra beat, or as the next beat
        x, y = s.s11[j], s.s12[j]
        if (x > 1 and y < -C1 * x - C2) or (x < -1 and y > -C1 * x + C2):
            labels[j] = BeatClass.ECTOPIC
            continue
        judged = [j]
        if j + 2 < n and abs(s.s11[j + 1]) < abs(s.s11[j + 2]):
            judged.append(j + 1)
        for k in judged:
            if labels[k]:
                continue
            long_ = s.s11[k] > 1 and s.s22[k] < -1
            short = s.s11[k] < -1 and s.s22[k] > 1
            if not (long_ or short or abs(s.s21[k]) > 3):
                continue
            if short and k + 1 < n and abs(rr[k] + rr[k + 1] - s.med[k]) < s.th2[k]:
                labels[k] = labels[k + 1] = BeatClass.EXTRA
            elif long_ and abs(rr[k] / 2.0 - s.med[k]) < s.th2[k]:
                labels[k] = BeatClass.MISSED
            else:
                labels[k] = BeatClass.LONG_SHORT
    return labels


def _within_neighbours(values: FloatArray, known: FloatArray, position: npt.NDArray[np.intp]) -> FloatArray:
    """``values`` clamped to the range of the normal intervals ``known`` around each ``position``
    (its index among the normal ones): :data:`CLAMP_NEIGHBOURS` before and after it."""
    k = CLAMP_NEIGHBOURS
    out = values.copy()
    for i, p in enumerate(position):
        near = known[max(0, p - k):p + k]
        out[i] = min(max(values[i], near.min()), near.max())
    return out


def _merge_starts(labels: npt.NDArray[np.int8]) -> npt.NDArray[np.bool_]:
    """True at the first interval of each extra-beat pair (pairs never overlap)."""
    starts = np.zeros(labels.size, dtype=np.bool_)
    j = 0
    extra = labels == BeatClass.EXTRA
    while j < labels.size:
        if extra[j]:
            starts[j] = True
            j += 2
        else:
            j += 1
    return starts


def correct_rr(rr_ms: npt.ArrayLike, *, alpha: float = ALPHA,
               window_beats: int = WINDOW_BEATS) -> RrCorrection:
    """Detect (:func:`classify_rr`) and correct artifacts; the input is never modified.

    Method: the module docstring; the correction of each class is :data:`CORRECTION`. The first
    interval of a series is never judged (it has no predecessor), so there is always a normal
    interval to interpolate from; a stretch that is nearly all artifacts (bigeminy: every other
    beat ectopic) is corrected from the few normal ones, and its :attr:`RrCorrection.corrected_share`
    says so.

    Raises:
        HrvError: bad input (see :func:`classify_rr`).
    """
    raw = _series(rr_ms)
    labels = classify_rr(raw, alpha=alpha, window_beats=window_beats)
    method = method_name(alpha, window_beats)
    normal = labels == BeatClass.NORMAL
    values = raw.copy()
    interpolate = (labels == BeatClass.ECTOPIC) | (labels == BeatClass.LONG_SHORT)
    if interpolate.any():
        beat_t = np.cumsum(raw) / 1000.0
        known_t, known = beat_t[normal], raw[normal]
        at = np.clip(beat_t[interpolate], known_t[0], known_t[-1])  # nearest normal value beyond them
        values[interpolate] = _within_neighbours(cubic_spline(known_t, known, at), known,
                                                 np.searchsorted(np.flatnonzero(normal),
                                                                 np.flatnonzero(interpolate)))
    starts = _merge_starts(labels)
    second = np.zeros(raw.size, dtype=np.bool_)
    second[1:] = starts[:-1]
    values[starts] += raw[np.flatnonzero(starts) + 1]
    missed = labels == BeatClass.MISSED
    values[missed] /= 2.0
    repeats = np.where(missed, 2, np.where(second, 0, 1))
    origin = np.repeat(np.arange(raw.size), repeats)
    raw.setflags(write=False)
    if labels.any():
        log.debug("%s: %d of %d RR intervals corrected", method, int(np.count_nonzero(labels)), raw.size)
    return RrCorrection(raw_ms=raw, labels=labels, nn_ms=values[origin], origin=origin, method=method)
