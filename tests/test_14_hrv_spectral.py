"""The Task Force frequency domain (kapmonitor.hrv_spectral) and its cubic spline (kapmonitor.hrv_spline)."""

from __future__ import annotations

import math
from collections.abc import Callable

import neurokit2 as nk
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapmonitor.hrv import HrvError
from kapmonitor.hrv_spectral import (
    BANDS_HZ,
    METHOD,
    band_power,
    frequency_domain,
    hamming_periodic,
    resample_tachogram,
    welch_psd,
)
from kapmonitor.hrv_spline import cubic_spline


def beats(seconds: float, tachogram: Callable[[float], float]) -> np.ndarray:
    """RR intervals (ms) whose value at each beat's time t (s) is ``tachogram(t)``, for ``seconds``."""
    rr: list[float] = []
    t = 0.0
    while t < seconds:
        rr.append(tachogram(t))
        t += rr[-1] / 1000.0
    return np.array(rr)


def beats_with_wave(seconds: float, freq_hz: float, amplitude_ms: float,
                    mean_ms: float = 800.0) -> np.ndarray:
    """RR intervals whose tachogram is ``mean + amplitude sin(2 pi f t)``."""
    return beats(seconds, lambda t: mean_ms + amplitude_ms * math.sin(2 * math.pi * freq_hz * t))


# ------------------------------------------------------------------------------ the spline
def test_spline_reproduces_a_cubic_exactly_on_uneven_knots() -> None:
    # not-a-knot end conditions make the spline exact for any cubic polynomial
    x = np.array([0.0, 0.7, 1.1, 2.6, 3.0, 4.4, 5.0])
    cubic = np.poly1d([0.5, -2.0, 1.0, 3.0])
    x_new = np.linspace(0, 5, 101)
    np.testing.assert_allclose(cubic_spline(x, cubic(x), x_new), cubic(x_new), rtol=1e-10, atol=1e-10)


@given(n=st.integers(min_value=4, max_value=60), seed=st.integers(min_value=0, max_value=10_000))
@settings(max_examples=40, deadline=None)
def test_spline_equals_scipy_cubic_via_neurokit2(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(0.3, 1.5, n))
    y = rng.normal(800, 60, n)
    x_new = np.linspace(x[0], x[-1], 3 * n)
    reference = nk.signal_interpolate(x, y, x_new=x_new, method="cubic")
    np.testing.assert_allclose(cubic_spline(x, y, x_new), reference, rtol=1e-9, atol=1e-9)


def test_spline_with_few_knots_and_bad_knots() -> None:
    assert list(cubic_spline([1.0], [5.0], [0.0, 2.0])) == [5.0, 5.0]
    np.testing.assert_allclose(cubic_spline([0.0, 2.0], [0.0, 4.0], [1.0]), [2.0])  # a line
    np.testing.assert_allclose(cubic_spline([0.0, 1.0, 2.0], [0.0, 1.0, 4.0], [1.5]), [2.25])  # x^2
    with pytest.raises(ValueError, match="strictly increasing"):
        cubic_spline([0.0, 1.0, 1.0], [1.0, 2.0, 3.0], [0.5])
    with pytest.raises(ValueError, match="matching"):
        cubic_spline([0.0, 1.0], [1.0], [0.5])


# ------------------------------------------------------------------------------ the steps
def test_hamming_window_is_the_periodic_one() -> None:
    # periodic (DFT-even) Hamming of n points = the first n of the symmetric one of n + 1
    np.testing.assert_allclose(hamming_periodic(400), np.hamming(401)[:-1], atol=1e-15)


def test_tachogram_is_resampled_at_4_hz_and_detrended() -> None:
    rr = beats(240, lambda t: 700 + 0.5 * t)  # a steady slowing, linear in time: a pure trend
    grid, values = resample_tachogram(rr)
    assert grid[0] == pytest.approx(rr[0] / 1000)
    np.testing.assert_allclose(np.diff(grid), 0.25)
    assert grid[-1] <= np.sum(rr) / 1000 + 1e-9 < grid[-1] + 0.25
    # the straight line is removed; under 1 ms is left (each interval is the tachogram's value at
    # its start, placed at its end, so the points are not exactly on the line)
    assert np.max(np.abs(values)) < 1.0
    slope, _ = np.polyfit(grid, values, 1)
    assert abs(slope) < 1e-9 and abs(np.mean(values)) < 1e-9


def test_a_sine_at_the_breathing_rate_is_hf_with_its_power() -> None:
    # 0.25 Hz (15 breaths/min) of +/-30 ms for 5 minutes: HF power = 30^2 / 2 = 450 ms^2
    spectrum = frequency_domain([beats_with_wave(300, 0.25, 30)])
    assert spectrum.hf_ms2 == pytest.approx(450, rel=0.03)
    assert spectrum.lf_ms2 < 0.01 * spectrum.hf_ms2 and spectrum.vlf_ms2 < 0.01 * spectrum.hf_ms2
    assert spectrum.hf_peak_hz == pytest.approx(0.25, abs=0.005)
    assert spectrum.hf_nu > 99 and spectrum.lf_hf < 0.01
    assert spectrum.segments == 5  # 300 s in 100-s segments overlapping by half
    assert spectrum.method == METHOD


def test_a_sine_at_the_baroreflex_rate_is_lf() -> None:
    # 0.1 Hz (the 10-s Mayer wave) of +/-20 ms: LF power 200 ms^2; nu and LF/HF follow
    spectrum = frequency_domain([beats_with_wave(300, 0.1, 20)])
    assert spectrum.lf_ms2 == pytest.approx(200, rel=0.03)
    assert spectrum.lf_peak_hz == pytest.approx(0.1, abs=0.005)
    assert spectrum.lf_nu > 99 and spectrum.lf_hf > 100
    assert spectrum.lf_nu + spectrum.hf_nu == pytest.approx(100)


def test_bands_tile_0_to_0_4_hz() -> None:
    rng = np.random.default_rng(4)
    rr = 850 + rng.normal(0, 30, 400)
    s = frequency_domain([rr])
    freqs, psd, _, _ = welch_psd([resample_tachogram(rr)[1]])
    assert s.vlf_ms2 + s.lf_ms2 + s.hf_ms2 == pytest.approx(s.total_ms2)
    assert band_power(freqs, psd, 0.0, 0.4) == pytest.approx(s.total_ms2)
    # Task Force nu: LF / (total - VLF)
    assert s.lf_nu == pytest.approx(100 * s.lf_ms2 / (s.total_ms2 - s.vlf_ms2))
    assert BANDS_HZ == {"vlf": (0.0, 0.04), "lf": (0.04, 0.15), "hf": (0.15, 0.40)}


def test_band_power_interpolates_an_edge_between_bins() -> None:
    freqs = np.array([0.0, 0.1, 0.2])
    psd = np.array([0.0, 10.0, 10.0])
    # from 0.05 (PSD 5) to 0.15 (PSD 10): trapezoids 0.05 * 7.5 + 0.05 * 10 = 0.875
    assert band_power(freqs, psd, 0.05, 0.15) == pytest.approx(0.875)


# ------------------------------------------------------------------------------ length and gaps
def test_too_short_a_stretch_is_a_clear_error() -> None:
    with pytest.raises(HrvError, match=r"needs 120 s of beats in stretches of at least 100 s"):
        frequency_domain([beats_with_wave(110, 0.25, 30)])
    with pytest.raises(HrvError, match="at least 2 NN intervals"):
        resample_tachogram([800.0])
    with pytest.raises(HrvError, match="finite and positive"):
        frequency_domain([[800.0, -5.0, 800.0] * 100])


def test_runs_shorter_than_a_segment_are_left_out_and_longer_ones_pooled() -> None:
    one = beats_with_wave(150, 0.25, 30)  # 149 s from its first beat to its last: one segment
    # two runs of 70 s hold no segment: nothing to analyse even though they total 140 s
    with pytest.raises(HrvError, match="here 0 s qualify"):
        frequency_domain([one[:88], one[:88]])
    # two runs of 150 s pool their segments; a short third run adds nothing
    pooled = frequency_domain([one, one, one[:50]])
    alone = frequency_domain([one, one])
    assert pooled.segments == alone.segments == 2
    assert pooled.hf_ms2 == pytest.approx(alone.hf_ms2)
    assert pooled.seconds == pytest.approx(alone.seconds)
    # no segment spans the junction: the two runs at different rates give no spurious power
    slow = beats_with_wave(180, 0.25, 30, mean_ms=1000)
    joined = frequency_domain([np.concatenate([one, slow])])
    apart = frequency_domain([one, slow])
    assert apart.vlf_ms2 < 0.1 * joined.vlf_ms2
