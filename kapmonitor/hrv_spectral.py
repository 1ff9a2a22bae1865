"""Frequency-domain HRV to the Task Force of the ESC and NASPE (1996), in numpy.

Steps and settings (each a module constant, all stated in :data:`METHOD`):

1. **Tachogram.** Each NN interval (ms) is placed at the time of the beat that ends it
   (cumulative sum of the intervals, in seconds, from the first beat of the stretch).
2. **Resampling** at :data:`RESAMPLE_HZ` = 4 Hz with the not-a-knot cubic spline through
   those points (:func:`kapmonitor.hrv_spline.cubic_spline`), on the grid ``t0, t0 + 0.25 s,
   ...`` up to the last beat (no sample after it).
3. **Detrending**: the least-squares straight line of the resampled stretch is subtracted
   (removes the mean and a linear drift; the Task Force asks for a stationary stretch).
4. **Welch PSD**: segments of :data:`SEGMENT_S` = 100 s (400 samples) overlapping by 50 %
   (200 samples; a 5-minute window holds 5), each multiplied by a periodic Hamming window
   (``0.54 - 0.46 cos(2 pi n / N)``, the window ``scipy.signal.welch`` uses for ``"hamming"``),
   zero-padded to twice the segment (NFFT = 800, bins 0.005 Hz apart, so every band edge is a
   bin), one-sided, scaled as a density in ms²/Hz
   (``2 |X|^2 / (fs sum w^2)``; DC and Nyquist not doubled), averaged over the segments (mean).
   A stretch with a gap is several runs: each run is resampled and detrended on its own and
   every whole segment of every run enters the same average, so no segment spans a gap.
   Leftover samples after the last whole segment of a run are not used (as in ``scipy``).
5. **Bands**: VLF 0-0.04 Hz, LF 0.04-0.15 Hz, HF 0.15-0.40 Hz. Power is the integral of the
   PSD taken as piecewise linear between bins (trapezoidal rule) from edge to edge (the PSD is
   interpolated linearly at an edge that is not a bin), so VLF + LF + HF is exactly the power
   from 0 to 0.4 Hz. (neurokit2 sums the trapezoids of the bins ``lo <= f < hi`` only, stopping
   one bin, 0.005 Hz, short of the upper edge: its LF and HF are a few percent lower.)
6. **Normalised units**: ``LF nu = 100 LF / (total - VLF)`` and ``HF nu = 100 HF / (total -
   VLF)``, the Task Force's definition with total = power 0-0.4 Hz; because the three bands tile
   0-0.4 Hz exactly, ``total - VLF = LF + HF``, so it is also ``LF / (LF + HF)``.

Minimum: :data:`MIN_SPECTRUM_S` = 120 s (the Task Force's two minutes for LF) in runs that each
hold at least one whole segment (100 s without a gap). VLF from
stretches of 5 minutes or less is not reliable (Task Force: avoid interpreting it); it is
returned for completeness and not shown in the review or report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kapmonitor.hrv import HrvError
from kapmonitor.hrv_spline import cubic_spline

__all__ = [
    "BANDS_HZ",
    "METHOD",
    "MIN_SPECTRUM_S",
    "NFFT",
    "RESAMPLE_HZ",
    "SEGMENT_S",
    "SpectralHrv",
    "band_power",
    "frequency_domain",
    "hamming_periodic",
    "resample_tachogram",
    "welch_psd",
]

FloatArray = npt.NDArray[np.float64]

RESAMPLE_HZ = 4.0
"""Resampling rate of the tachogram (Task Force / Kubios: 4 Hz)."""
SEGMENT_S = 100.0
"""Welch segment length in seconds (400 samples at 4 Hz)."""
MIN_SPECTRUM_S = 120.0
"""The spectrum needs this many seconds of beats in runs of at least one segment each."""
SEGMENT_SAMPLES = round(SEGMENT_S * RESAMPLE_HZ)
OVERLAP_SAMPLES = SEGMENT_SAMPLES // 2
NFFT = 2 * SEGMENT_SAMPLES
"""FFT length: each segment zero-padded to twice its length (bins 0.005 Hz apart)."""
BANDS_HZ = {"vlf": (0.0, 0.04), "lf": (0.04, 0.15), "hf": (0.15, 0.40)}
"""Task Force bands, lower edge inclusive, upper exclusive (each integral runs edge to edge)."""
METHOD = ("Task Force 1996: 4 Hz cubic spline, linear detrend, Welch 100 s Hamming segments "
          "50 % overlap, NFFT 800; VLF 0-0.04, LF 0.04-0.15, HF 0.15-0.40 Hz")
"""The frequency-domain method in one line, as every output states it."""


@dataclass(frozen=True, slots=True)
class SpectralHrv:
    """Frequency-domain HRV of one stretch (powers in ms², frequencies in Hz).

    Attributes:
        vlf_ms2, lf_ms2, hf_ms2: absolute band powers; total_ms2 = their sum (0-0.4 Hz).
        lf_nu, hf_nu: normalised units, 0..100 (see the module docstring, step 6).
        lf_hf: LF / HF (inf when HF is 0).
        lf_peak_hz, hf_peak_hz: frequency of the largest PSD bin inside LF and HF.
        segments: Welch segments averaged.
        seconds: duration of the runs the segments were taken from.
        method: :data:`METHOD`.
    """

    vlf_ms2: float
    lf_ms2: float
    hf_ms2: float
    total_ms2: float
    lf_nu: float
    hf_nu: float
    lf_hf: float
    lf_peak_hz: float
    hf_peak_hz: float
    segments: int
    seconds: float
    method: str = METHOD


def hamming_periodic(n: int) -> FloatArray:
    """The periodic (DFT-even) Hamming window of ``n`` points: ``0.54 - 0.46 cos(2 pi k / n)``."""
    k = np.arange(n, dtype=np.float64)
    return np.asarray(0.54 - 0.46 * np.cos(2.0 * math.pi * k / n), dtype=np.float64)


def resample_tachogram(nn_ms: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Steps 1-3: the NN series as a detrended 4 Hz signal; returns (times s, values ms).

    Times are from the first beat of the stretch (the end of the first interval is at
    ``nn_ms[0] / 1000``). Needs at least 2 intervals.

    Raises:
        HrvError: fewer than 2 intervals, or an interval that is not finite and positive.
    """
    nn = np.asarray(nn_ms, dtype=np.float64)
    if nn.ndim != 1 or nn.size < 2:
        raise HrvError(f"the tachogram needs at least 2 NN intervals, got {nn.size}")
    if not np.all(np.isfinite(nn) & (nn > 0)):
        raise HrvError("NN intervals must be finite and positive to resample them")
    beat_t = np.cumsum(nn) / 1000.0
    count = math.floor((beat_t[-1] - beat_t[0]) * RESAMPLE_HZ + 1e-9) + 1
    grid = beat_t[0] + np.arange(count, dtype=np.float64) / RESAMPLE_HZ
    values = cubic_spline(beat_t, nn, grid)
    if values.size >= 2:
        slope, intercept = np.polyfit(grid - grid[0], values, 1)
        values = values - (slope * (grid - grid[0]) + intercept)
    else:
        values = values - values.mean()
    return grid, values


def welch_psd(runs: Sequence[FloatArray]) -> tuple[FloatArray, FloatArray, int, float]:
    """Step 4: Welch PSD (ms²/Hz) averaged over every whole segment of every run.

    Args:
        runs: detrended 4 Hz signals (ms), one per stretch without a gap.

    Returns:
        (frequencies Hz, PSD ms²/Hz, number of segments averaged, seconds of the runs used).

    Raises:
        HrvError: the runs that hold a whole segment of :data:`SEGMENT_S` seconds last less than
            :data:`MIN_SPECTRUM_S` together.
    """
    window = hamming_periodic(SEGMENT_SAMPLES)
    scale = 1.0 / (RESAMPLE_HZ * float(np.sum(window**2)))
    step = SEGMENT_SAMPLES - OVERLAP_SAMPLES
    total = np.zeros(NFFT // 2 + 1)
    segments = 0
    seconds = 0.0
    for signal in runs:
        if signal.size < SEGMENT_SAMPLES:
            continue
        seconds += signal.size / RESAMPLE_HZ
        starts = np.arange(0, signal.size - SEGMENT_SAMPLES + 1, step)
        frames = signal[starts[:, None] + np.arange(SEGMENT_SAMPLES)] * window
        spectrum = np.abs(np.fft.rfft(frames, n=NFFT, axis=1)) ** 2
        total += spectrum.sum(axis=0)
        segments += starts.size
    if segments == 0 or seconds < MIN_SPECTRUM_S - 1.0 / RESAMPLE_HZ:
        longest = max((s.size for s in runs), default=0) / RESAMPLE_HZ
        raise HrvError(f"the spectrum needs {MIN_SPECTRUM_S:g} s of beats in stretches of at least "
                       f"{SEGMENT_S:g} s without a gap; here {seconds:.0f} s qualify (longest stretch "
                       f"{longest:.0f} s)")
    psd = total / segments * scale
    psd[1:-1] *= 2.0  # one-sided: fold the negative frequencies (not DC, not Nyquist: NFFT is even)
    freqs = np.asarray(np.fft.rfftfreq(NFFT, d=1.0 / RESAMPLE_HZ), dtype=np.float64)
    return freqs, psd, segments, seconds


def band_power(freqs: FloatArray, psd: FloatArray, lo: float, hi: float) -> float:
    """Step 5: integral of the PSD from ``lo`` to ``hi`` Hz, trapezoidal, edges interpolated."""
    inside = (freqs > lo) & (freqs < hi)
    x = np.concatenate([[lo], freqs[inside], [hi]])
    y = np.interp(x, freqs, psd)
    return float(np.trapezoid(y, x))


def _peak(freqs: FloatArray, psd: FloatArray, lo: float, hi: float) -> float:
    inside = np.flatnonzero((freqs >= lo) & (freqs < hi))
    return float(freqs[inside[np.argmax(psd[inside])]]) if inside.size else math.nan


def frequency_domain(runs_nn_ms: Sequence[npt.ArrayLike]) -> SpectralHrv:
    """Frequency-domain HRV of NN intervals (ms), steps 1-6 of the module docstring.

    Args:
        runs_nn_ms: one or more NN series, each a stretch of consecutive beats (no gap inside);
            pass one series for a continuous recording. Use corrected NN intervals (see
            :mod:`kapmonitor.hrv_artifacts`): an uncorrected missed beat puts a step into the
            tachogram and spreads power over every band.

    Raises:
        HrvError: too little data (see :func:`welch_psd`), or a series holds a value that is
            not a finite positive interval.
    """
    series = [np.asarray(nn, dtype=np.float64) for nn in runs_nn_ms]
    # a run of fewer than 2 beats has no tachogram; one shorter than a segment adds nothing
    signals = [resample_tachogram(nn)[1] for nn in series if nn.size >= 2]
    freqs, psd, segments, seconds = welch_psd(signals)
    vlf, lf, hf = (band_power(freqs, psd, *BANDS_HZ[b]) for b in ("vlf", "lf", "hf"))
    both = lf + hf
    return SpectralHrv(
        vlf_ms2=vlf, lf_ms2=lf, hf_ms2=hf, total_ms2=vlf + both,
        lf_nu=100.0 * lf / both if both > 0 else math.nan,
        hf_nu=100.0 * hf / both if both > 0 else math.nan,
        lf_hf=lf / hf if hf > 0 else math.inf,
        lf_peak_hz=_peak(freqs, psd, *BANDS_HZ["lf"]), hf_peak_hz=_peak(freqs, psd, *BANDS_HZ["hf"]),
        segments=segments, seconds=seconds,
    )
