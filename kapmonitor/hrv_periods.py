"""HRV of a recorded session: the stored RR stream corrected once, then measured per period.

A session's RR stream (:class:`~kapmonitor.ports.StreamData`: ``t`` the time each interval was
received, epoch seconds; ``value`` the interval in ms; several intervals of one packet share a
time) is prepared once by :func:`correct_stream`:

* **Runs.** The stream is cut into runs of consecutive beats: at every gap longer than
  ``gap_s`` between stored times (the summary's ``RR_GAP_S``, 5 s) and at every interval
  stored as unusable (flagged artifact, no contact or implausible, or out of range); those are
  **excluded**, never corrected, because nobody knows how many beats they stand for.
* **Correction.** Each run is corrected on its own by Lipponen & Tarvainen 2019
  (:func:`kapmonitor.hrv_artifacts.correct_rr`): the raw intervals are kept, every one gets a
  label, and the NN series is built beside them.

:func:`period_hrv` then measures a period (a phase) two ways:

* **Whole period**: every NN interval whose stored time lies in ``[start, end)``;
* **5-minute windows** (Task Force short-term recordings): consecutive windows of
  :data:`WINDOW_S` from the period's start; a last window shorter than 5 minutes is not made.
  A window *counts* (enters the medians the review and report show) when its NN intervals cover
  at least :data:`MIN_WINDOW_COVERAGE` of it and at most :data:`MAX_CORRECTED_SHARE` of its raw
  intervals were corrected or excluded; its figures are computed either way.

In both, the time domain and the Poincaré plot use all NN intervals with successive differences
only inside a run (:func:`kapmonitor.hrv.clean_time_domain`), and the spectrum averages the
Welch segments of the runs long enough for one (:func:`kapmonitor.hrv_spectral.frequency_domain`).
A measure that cannot be computed is None, with the reason in :attr:`HrvMeasures.problems`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kapmonitor.hrv import HrvError, HrvSummary, PoincareSummary, clean_poincare, clean_time_domain
from kapmonitor.hrv_artifacts import METHOD, BeatClass, correct_rr
from kapmonitor.hrv_spectral import METHOD as SPECTRAL_METHOD
from kapmonitor.hrv_spectral import SpectralHrv, frequency_domain

__all__ = [
    "GAP_S",
    "MAX_CORRECTED_SHARE",
    "MIN_WINDOW_COVERAGE",
    "WINDOW_S",
    "CorrectedStream",
    "HrvMeasures",
    "PeriodHrv",
    "correct_stream",
    "period_hrv",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

WINDOW_S = 300.0
"""Length of the short-term windows (Task Force: 5 minutes)."""
GAP_S = 5.0
"""Stored RR times further apart than this are not successive beats (the summary's RR_GAP_S)."""
MIN_WINDOW_COVERAGE = 0.8
"""A window counts when its NN intervals add up to at least this share of its length (4 of 5 min)."""
MAX_CORRECTED_SHARE = 0.2
"""A window counts when at most this share of its raw intervals was corrected or excluded."""


@dataclass(frozen=True, slots=True)
class CorrectedStream:
    """A session's RR stream, labelled and corrected (times epoch s, intervals ms).

    Attributes:
        t, raw_ms: the stored intervals, unchanged.
        labels: one :class:`~kapmonitor.hrv_artifacts.BeatClass` per stored interval
            (``EXCLUDED`` where it was stored as unusable).
        nn_ms: the corrected NN series; nn_t: the stored time of the raw interval each comes
            from; nn_run: the run each belongs to (runs are cut at gaps and excluded intervals).
        method: the correction used (:data:`kapmonitor.hrv_artifacts.METHOD`).
    """

    t: FloatArray
    raw_ms: FloatArray
    labels: npt.NDArray[np.int8]
    nn_ms: FloatArray
    nn_t: FloatArray
    nn_run: npt.NDArray[np.intp]
    method: str = METHOD


@dataclass(frozen=True, slots=True)
class HrvMeasures:
    """HRV of one stretch of a session (a 5-minute window or a whole period).

    Attributes:
        start, end: the stretch, epoch seconds, ``[start, end)``.
        rr_n: stored RR intervals in it; corrected / excluded: how many of them the correction
            changed / were left out as stored unusable.
        nn_n: NN intervals measured; nn_s: their sum in seconds (how much of the stretch they cover).
        time, poincare, spectral: the measures, None when they cannot be computed (see problems).
        counts: for a window, whether it enters the medians (see the module docstring).
        problems: why a measure is missing or the window does not count, in words.
    """

    start: float
    end: float
    rr_n: int
    corrected: int
    excluded: int
    nn_n: int
    nn_s: float
    time: HrvSummary | None
    poincare: PoincareSummary | None
    spectral: SpectralHrv | None
    counts: bool
    problems: tuple[str, ...]

    @property
    def corrected_share(self) -> float | None:
        """Share (0..1) of the stored intervals the correction changed; None without intervals."""
        return self.corrected / self.rr_n if self.rr_n else None

    @property
    def excluded_share(self) -> float | None:
        """Share (0..1) of the stored intervals left out as unusable; None without intervals."""
        return self.excluded / self.rr_n if self.rr_n else None


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else None


@dataclass(frozen=True, slots=True)
class PeriodHrv:
    """HRV of a period: the whole of it and its 5-minute windows, with the methods used.

    The ``median_*`` properties are medians over the windows that count (None when none does);
    :attr:`windows_counted` says over how many.
    """

    whole: HrvMeasures
    windows: tuple[HrvMeasures, ...]
    method: str = METHOD
    spectral_method: str = SPECTRAL_METHOD

    @property
    def windows_counted(self) -> int:
        return sum(1 for w in self.windows if w.counts)

    def window_median(self, value: Callable[[HrvMeasures], float | None]) -> float | None:
        """Median of ``value`` over the windows that count, leaving out windows where it is None."""
        found = [v for w in self.windows if w.counts and (v := value(w)) is not None]
        return _median(found)

    @property
    def median_rmssd_ms(self) -> float | None:
        return self.window_median(lambda w: w.time.rmssd_ms if w.time else None)

    @property
    def median_sdnn_ms(self) -> float | None:
        return self.window_median(lambda w: w.time.sdnn_ms if w.time else None)

    @property
    def median_lf_ms2(self) -> float | None:
        return self.window_median(lambda w: w.spectral.lf_ms2 if w.spectral else None)

    @property
    def median_hf_ms2(self) -> float | None:
        return self.window_median(lambda w: w.spectral.hf_ms2 if w.spectral else None)

    @property
    def median_lf_hf(self) -> float | None:
        return self.window_median(lambda w: w.spectral.lf_hf if w.spectral else None)

    @property
    def median_lf_nu(self) -> float | None:
        return self.window_median(lambda w: w.spectral.lf_nu if w.spectral else None)


def _runs(t: FloatArray, excluded: npt.NDArray[np.bool_], gap_s: float) -> list[npt.NDArray[np.intp]]:
    """Indices of each run of usable intervals: a new run after a gap longer than ``gap_s`` or an
    excluded interval (which belongs to no run)."""
    new = np.zeros(t.size, dtype=np.bool_)
    new[1:] = (np.diff(t) > gap_s) | excluded[:-1]
    run_id = np.cumsum(new)
    keep = np.flatnonzero(~excluded)
    return np.split(keep, np.flatnonzero(np.diff(run_id[keep]) != 0) + 1) if keep.size else []


def correct_stream(t: npt.ArrayLike, rr_ms: npt.ArrayLike, unusable: npt.ArrayLike, *,
                   gap_s: float = GAP_S) -> CorrectedStream:
    """Cut the stored RR stream into runs and correct each (see the module docstring).

    Args:
        t: stored time of each interval, epoch seconds, non-decreasing.
        rr_ms: the stored intervals in ms.
        unusable: True where the interval was stored as unusable (it is excluded).
        gap_s: stored times further apart than this start a new run.

    Raises:
        HrvError: the arrays differ in length or are not one-dimensional.
    """
    times = np.asarray(t, dtype=np.float64)
    raw = np.asarray(rr_ms, dtype=np.float64)
    bad = np.asarray(unusable, dtype=np.bool_)
    if not (times.ndim == raw.ndim == bad.ndim == 1 and times.size == raw.size == bad.size):
        raise HrvError(f"times, intervals and flags must be one-dimensional and match: {times.shape}, "
                       f"{raw.shape}, {bad.shape}")
    excluded = bad | ~np.isfinite(raw) | (raw <= 0)
    labels = np.full(raw.size, BeatClass.EXCLUDED, dtype=np.int8)
    nn: list[FloatArray] = []
    nn_t: list[FloatArray] = []
    nn_run: list[npt.NDArray[np.intp]] = []
    for number, idx in enumerate(_runs(times, excluded, gap_s)):
        fixed = correct_rr(raw[idx])
        labels[idx] = fixed.labels
        nn.append(fixed.nn_ms)
        nn_t.append(times[idx][fixed.origin])
        nn_run.append(np.full(fixed.nn_ms.size, number, dtype=np.intp))

    def joined(parts: list[npt.NDArray[np.float64]]) -> FloatArray:
        return np.concatenate(parts) if parts else np.zeros(0)

    runs = np.concatenate(nn_run) if nn_run else np.zeros(0, dtype=np.intp)
    return CorrectedStream(t=times, raw_ms=raw, labels=labels, nn_ms=joined(nn), nn_t=joined(nn_t),
                           nn_run=runs)


def _measure(stream: CorrectedStream, start: float, end: float, *, window: bool) -> HrvMeasures:
    """The measures of ``[start, end)``; ``window`` applies the counting rule of 5-minute windows."""
    a, b = np.searchsorted(stream.t, [start, end], side="left")
    labels = stream.labels[a:b]
    excluded = int(np.count_nonzero(labels == BeatClass.EXCLUDED))
    corrected = int(np.count_nonzero(labels != BeatClass.NORMAL)) - excluded
    c, d = np.searchsorted(stream.nn_t, [start, end], side="left")
    nn, run = stream.nn_ms[c:d], stream.nn_run[c:d]
    breaks = np.flatnonzero(np.diff(run) != 0) + 1
    problems: list[str] = []
    time = poincare = spectral = None
    # a flagged NaN between runs keeps the successive differences inside each run
    series = np.insert(nn, breaks, math.nan)
    flags = np.isnan(series)
    try:
        time, _ = clean_time_domain(series, flags)
        poincare = clean_poincare(series, flags)
    except HrvError as exc:
        problems.append(str(exc))
    try:
        spectral = frequency_domain(np.split(nn, breaks))
    except HrvError as exc:
        problems.append(str(exc))
    rr_n = int(b - a)
    nn_s = float(nn.sum()) / 1000.0
    counts = False
    if window:
        counts = time is not None
        if nn_s < MIN_WINDOW_COVERAGE * (end - start):
            counts = False
            problems.append(f"NN intervals cover {nn_s:.0f} s of the {end - start:.0f} s window "
                            f"(less than {MIN_WINDOW_COVERAGE:.0%})")
        if rr_n and (corrected + excluded) / rr_n > MAX_CORRECTED_SHARE:
            counts = False
            problems.append(f"{(corrected + excluded) / rr_n:.0%} of the RR intervals corrected or excluded "
                            f"(more than {MAX_CORRECTED_SHARE:.0%})")
    return HrvMeasures(start=start, end=end, rr_n=rr_n, corrected=corrected, excluded=excluded,
                       nn_n=int(nn.size), nn_s=nn_s, time=time, poincare=poincare, spectral=spectral,
                       counts=counts, problems=tuple(problems))


def period_hrv(stream: CorrectedStream, start: float, end: float, *,
               window_s: float = WINDOW_S) -> PeriodHrv:
    """HRV of ``[start, end)`` (epoch s): the whole period and its consecutive windows.

    Windows start at ``start`` and follow each other every ``window_s`` seconds; only whole
    windows are made (a 12-minute phase has two). See the module docstring for what counts.

    Raises:
        HrvError: ``end`` before ``start`` or a window length that is not positive.
    """
    if not (end >= start and window_s > 0):
        raise HrvError(f"need start <= end and window_s > 0, got {start!r}, {end!r}, {window_s!r}")
    count = math.floor((end - start) / window_s + 1e-9)
    windows = tuple(_measure(stream, start + k * window_s, start + (k + 1) * window_s, window=True)
                    for k in range(count))
    return PeriodHrv(whole=_measure(stream, start, end, window=False), windows=windows,
                     method=stream.method)
