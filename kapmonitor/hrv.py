"""Heart-rate variability: RR artifact flags, time-domain and Poincaré summaries.

Raw RR intervals are never modified here: :func:`flag_rr_artifacts` returns a
boolean mask beside them, and :func:`clean_time_domain` / :func:`clean_poincare`
summarise only the intervals the mask leaves clean. All intervals are in milliseconds.
The rest of the HRV analysis lives beside this module: artifact correction after
Lipponen & Tarvainen 2019 (:mod:`kapmonitor.hrv_artifacts`), the Task Force frequency
domain (:mod:`kapmonitor.hrv_spectral`), and 5-minute windows and whole phases of a
recorded session (:mod:`kapmonitor.hrv_periods`); ``docs/hrv.md`` describes them all.

Time-domain measures (Task Force of the ESC and NASPE, 1996):

* ``mean_nn_ms`` -- mean interval; ``mean_hr_bpm`` = 60000 / ``mean_nn_ms``;
* ``sdnn_ms`` -- sample standard deviation of the intervals (``ddof=1``);
* ``rmssd_ms`` -- root mean square of successive differences;
* ``pnn50_pct`` -- percent of successive differences whose magnitude exceeds 50 ms
  (NN50 / number of differences; neurokit2 divides by the number of intervals instead,
  one more, so its pNN50 is ``n_diff / (n_diff + 1)`` times this).

Poincaré plot (Brennan, Palaniswami & Kamen 2001), over the pairs of successive
intervals ``(RR_i, RR_i+1)``:

* ``sd1_ms`` -- standard deviation (``ddof=1``) of ``(RR_i+1 - RR_i) / sqrt 2``, the spread
  across the line of identity (short-term, beat-to-beat variability; ~ RMSSD / sqrt 2);
* ``sd2_ms`` -- standard deviation (``ddof=1``) of ``(RR_i+1 + RR_i) / sqrt 2``, the spread
  along it (longer-term variability);
* ``sd1_sd2`` -- their ratio.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["HrvError", "HrvSummary", "PoincareSummary", "clean_poincare", "clean_time_domain",
           "flag_rr_artifacts", "poincare", "time_domain"]

logger = logging.getLogger(__name__)

NEIGHBOURS_EACH_SIDE = 5
"""In-range beats on each side of an interval that form its local reference (up to 10 in all)."""

MIN_NEIGHBOURS = 4
"""Fewer in-range intervals than ``MIN_NEIGHBOURS + 1`` and the series is judged by range alone.

With at least that many, every interval has at least ``MIN_NEIGHBOURS`` in-range neighbours
(as ``MIN_NEIGHBOURS <= NEIGHBOURS_EACH_SIDE``)."""


class HrvError(ValueError):
    """The intervals cannot give the asked-for measure; the message says why."""


@dataclass(frozen=True, slots=True)
class HrvSummary:
    """Time-domain HRV over ``n`` intervals (all times in ms, percent 0..100)."""

    n: int
    mean_nn_ms: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50_pct: float
    mean_hr_bpm: float


@dataclass(frozen=True, slots=True)
class PoincareSummary:
    """Poincaré SD1 and SD2 (ms) over ``pairs`` pairs of successive intervals."""

    pairs: int
    sd1_ms: float
    sd2_ms: float
    sd1_sd2: float


def _as_series(rr_ms: npt.ArrayLike, what: str = "RR intervals") -> npt.NDArray[np.float64]:
    try:
        values = np.asarray(rr_ms, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise HrvError(f"{what} must be numbers in milliseconds: {exc}") from exc
    if values.ndim != 1:
        raise HrvError(f"{what} must be a one-dimensional series, got shape {values.shape}")
    return values


def flag_rr_artifacts(
    rr_ms: npt.ArrayLike, *, low_ms: float = 300, high_ms: float = 2000, max_change: float = 0.2
) -> npt.NDArray[np.bool_]:
    """Flag RR intervals that are artifacts; the input is never modified.

    A simple rule that only flags. The session summary corrects artifacts instead, after
    Lipponen & Tarvainen 2019 (:func:`kapmonitor.hrv_artifacts.correct_rr`), which also tells
    missed, extra and ectopic beats apart.

    Method, in two steps:

    1. *Range*: an interval outside ``[low_ms, high_ms]`` (300-2000 ms is 30-200
       bpm) or not finite is an artifact.
    2. *Local median*: each in-range interval is compared with the median of
       its in-range neighbours -- up to :data:`NEIGHBOURS_EACH_SIDE` on each
       side, itself excluded. If it differs from that median by more than
       ``max_change`` times the median (default 20 %, the classical rule for
       ectopic and missed beats), it is an artifact. A series with fewer than
       five in-range intervals is judged by step 1 only, since a median of two
       or three beats is not robust (:data:`MIN_NEIGHBOURS`). The
       median tolerates fewer than half of the neighbours being artifacts
       themselves, so one ectopic beat does not flag its normal neighbours.

    Args:
        rr_ms: one-dimensional series of intervals in milliseconds.
        low_ms, high_ms: physiologic range, ``0 < low_ms < high_ms``.
        max_change: allowed relative deviation from the local median, ``> 0``.

    Returns:
        A new boolean array, True where the interval is an artifact.

    Raises:
        HrvError: the series is not one-dimensional numbers, or a parameter is out of range.
    """
    if not (math.isfinite(low_ms) and math.isfinite(high_ms) and 0 < low_ms < high_ms):
        raise HrvError(f"need 0 < low_ms < high_ms (finite), got low_ms={low_ms!r}, high_ms={high_ms!r}")
    if not (math.isfinite(max_change) and max_change > 0):
        raise HrvError(f"max_change must be a positive fraction such as 0.2, got {max_change!r}")
    values = _as_series(rr_ms)
    with np.errstate(invalid="ignore"):
        in_range = np.isfinite(values) & (values >= low_ms) & (values <= high_ms)
    flags = ~in_range
    good_index = np.flatnonzero(in_range)
    if good_index.size <= MIN_NEIGHBOURS:
        return flags
    good = values[good_index]
    k = NEIGHBOURS_EACH_SIDE
    padded = np.concatenate([np.full(k, np.nan), good, np.full(k, np.nan)])
    windows = sliding_window_view(padded, 2 * k + 1)
    neighbours = np.delete(windows, k, axis=1)  # a copy: the window without the beat itself
    median = np.nanmedian(neighbours, axis=1)  # NaN padding at the ends is ignored
    deviates = np.abs(good - median) > max_change * median
    flags[good_index[deviates]] = True
    logger.debug("flagged %d of %d RR intervals", int(flags.sum()), flags.size)
    return flags


def _check_intervals(values: npt.NDArray[np.float64], what: str) -> None:
    if values.size < 2:
        raise HrvError(f"HRV needs at least 2 {what}, got {values.size}")
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        raise HrvError(f"{what} must be finite and positive; interval {int(bad[0])} is {values[bad[0]]!r}"
                       " (flag artifacts and use clean_time_domain)")


def _summary(values: npt.NDArray[np.float64], diffs: npt.NDArray[np.float64]) -> HrvSummary:
    mean_nn = float(np.mean(values))
    return HrvSummary(
        n=int(values.size),
        mean_nn_ms=mean_nn,
        sdnn_ms=float(np.std(values, ddof=1)),
        rmssd_ms=float(np.sqrt(np.mean(diffs**2))),
        pnn50_pct=float(100.0 * np.count_nonzero(np.abs(diffs) > 50.0) / diffs.size),
        mean_hr_bpm=60000.0 / mean_nn,
    )


def time_domain(rr_ms: npt.ArrayLike) -> HrvSummary:
    """Time-domain HRV of consecutive RR intervals (see the module docstring for definitions).

    Raises:
        HrvError: fewer than 2 intervals, or an interval that is not finite and positive.
    """
    values = _as_series(rr_ms)
    _check_intervals(values, "RR intervals")
    return _summary(values, np.diff(values))


def _clean_pairs(rr_ms: npt.ArrayLike, flags: npt.ArrayLike
                 ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], float]:
    """(values, clean mask, mask of adjacent clean pairs, share flagged) after checking the inputs."""
    values = _as_series(rr_ms)
    mask = np.asarray(flags)
    if mask.shape != values.shape:
        raise HrvError(f"flags must have one entry per interval: {mask.shape} flags for {values.shape} "
                       "intervals")
    mask = mask.astype(np.bool_)
    clean = ~mask
    share = float(mask.mean()) if mask.size else 0.0
    _check_intervals(values[clean], "clean RR intervals")
    adjacent = clean[:-1] & clean[1:]
    if not adjacent.any():
        raise HrvError("no two adjacent clean RR intervals: successive differences cannot be formed")
    return values, clean, adjacent, share


def clean_time_domain(rr_ms: npt.ArrayLike, flags: npt.ArrayLike) -> tuple[HrvSummary, float]:
    """Time-domain HRV over the intervals not flagged, and the share flagged (0..1).

    Mean, SDNN and ``n`` use every clean interval. Successive differences
    (RMSSD, pNN50) are taken only between *adjacent* clean intervals: a
    difference across a removed artifact would join two beats that were not
    consecutive and overstate beat-to-beat variability, so such pairs are
    skipped rather than bridged. A flagged NaN placed between two stretches so
    keeps them from being differenced across a gap.

    Raises:
        HrvError: ``flags`` does not match ``rr_ms`` in length, fewer than 2
            clean intervals, no two adjacent clean intervals, or a clean interval
            that is not finite and positive.
    """
    values, clean, adjacent, share = _clean_pairs(rr_ms, flags)
    diffs = np.diff(values)[adjacent]
    return _summary(values[clean], diffs), share


def _poincare(first: npt.NDArray[np.float64], second: npt.NDArray[np.float64]) -> PoincareSummary:
    if first.size < 2:
        raise HrvError(f"the Poincaré plot needs at least 2 pairs of successive intervals, got {first.size}")
    sd1 = float(np.std((second - first) / math.sqrt(2.0), ddof=1))
    sd2 = float(np.std((second + first) / math.sqrt(2.0), ddof=1))
    return PoincareSummary(pairs=int(first.size), sd1_ms=sd1, sd2_ms=sd2,
                           sd1_sd2=sd1 / sd2 if sd2 > 0 else math.nan)


def poincare(rr_ms: npt.ArrayLike) -> PoincareSummary:
    """SD1, SD2 and SD1/SD2 of consecutive RR intervals (definitions in the module docstring).

    Raises:
        HrvError: fewer than 3 intervals (2 pairs), or an interval that is not finite and positive.
    """
    values = _as_series(rr_ms)
    _check_intervals(values, "RR intervals")
    return _poincare(values[:-1], values[1:])


def clean_poincare(rr_ms: npt.ArrayLike, flags: npt.ArrayLike) -> PoincareSummary:
    """Poincaré SD1/SD2 over the pairs of *adjacent* clean intervals (as :func:`clean_time_domain`).

    Raises:
        HrvError: as :func:`clean_time_domain`, or fewer than 2 adjacent clean pairs.
    """
    values, _, adjacent, _ = _clean_pairs(rr_ms, flags)
    return _poincare(values[:-1][adjacent], values[1:][adjacent])
