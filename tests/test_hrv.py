"""HRV: hand-computed fixtures, artifact flags, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapmonitor.hrv import HrvError, clean_time_domain, flag_rr_artifacts, time_domain

rr_values = st.floats(min_value=300.0, max_value=2000.0, allow_nan=False, allow_infinity=False)
rr_series = st.lists(rr_values, min_size=2, max_size=60)


def test_time_domain_hand_computed() -> None:
    # RR = [800, 810, 790, 850]
    # mean = 3250 / 4 = 812.5 ms; HR = 60000 / 812.5 = 73.8461... bpm
    # deviations -12.5, -2.5, -22.5, 37.5 -> squares 156.25 + 6.25 + 506.25 + 1406.25 = 2075
    # SDNN = sqrt(2075 / 3) = sqrt(691.666...) = 26.29955...
    # successive diffs 10, -20, 60 -> squares 100 + 400 + 3600 = 4100
    # RMSSD = sqrt(4100 / 3) = sqrt(1366.666...) = 36.96845...
    # pNN50: only |60| > 50 -> 1 of 3 = 33.333...%
    s = time_domain([800, 810, 790, 850])
    assert s.n == 4
    assert s.mean_nn_ms == pytest.approx(812.5)
    assert s.sdnn_ms == pytest.approx(math.sqrt(2075 / 3))
    assert s.sdnn_ms == pytest.approx(26.29955, abs=1e-5)
    assert s.rmssd_ms == pytest.approx(math.sqrt(4100 / 3))
    assert s.rmssd_ms == pytest.approx(36.96846, abs=1e-5)
    assert s.pnn50_pct == pytest.approx(100 / 3)
    assert s.mean_hr_bpm == pytest.approx(60000 / 812.5)


def test_time_domain_two_intervals_and_exact_50_ms_not_counted() -> None:
    # RR = [1000, 1050]: mean 1025, SDNN = sqrt((25^2 + 25^2) / 1) = 35.3553...,
    # one diff of exactly 50 -> RMSSD 50, and |50| is not > 50 -> pNN50 = 0
    s = time_domain(np.array([1000.0, 1050.0]))
    assert (s.n, s.mean_nn_ms, s.pnn50_pct) == (2, 1025.0, 0.0)
    assert s.sdnn_ms == pytest.approx(math.sqrt(1250))
    assert s.rmssd_ms == pytest.approx(50.0)
    assert s.mean_hr_bpm == pytest.approx(60000 / 1025)


@pytest.mark.parametrize("bad", [[], [800], [[800, 810]], [800, float("nan")], [800, 0], [800, -5],
                                 [800, float("inf")], ["a", "b"]])
def test_time_domain_rejects_bad_input(bad: object) -> None:
    with pytest.raises(HrvError):
        time_domain(bad)  # type: ignore[arg-type]


def test_time_domain_error_messages_are_clear() -> None:
    with pytest.raises(HrvError, match="at least 2"):
        time_domain([800])
    with pytest.raises(HrvError, match="interval 1"):
        time_domain([800, float("nan"), 810])


def test_flags_range_and_ectopic() -> None:
    # a premature beat (400) with its compensatory pause (1200), a missed beat (1600),
    # out-of-range values (250, 2500) and a NaN; the steady 800s around them stay clean
    rr = [800.0] * 8 + [400, 1200] + [800] * 8 + [1600] + [800] * 6 + [250, 2500, float("nan")] + [800] * 4
    flags = flag_rr_artifacts(rr)
    assert flags.dtype == np.bool_
    assert list(np.flatnonzero(flags)) == [8, 9, 18, 25, 26, 27]


def test_flags_threshold_is_relative_to_local_median() -> None:
    base = [1000.0] * 6
    # 1190 is 19 % above the local median of 1000 -> clean; 1210 is 21 % -> artifact
    assert not flag_rr_artifacts([*base, 1190, *base]).any()
    assert list(np.flatnonzero(flag_rr_artifacts([*base, 1210, *base]))) == [6]
    # a wider tolerance accepts it
    assert not flag_rr_artifacts([*base, 1210, *base], max_change=0.25).any()


def test_flags_follow_a_slow_trend() -> None:
    # heart rate drifting from 60 to 100 bpm over 200 beats: no beat is an artifact
    rr = np.linspace(1000, 600, 200)
    assert not flag_rr_artifacts(rr).any()


def test_short_series_uses_range_only() -> None:
    # four in-range beats are too few for a robust median: only the range check applies
    assert not flag_rr_artifacts([800, 1600, 800, 800]).any()
    assert list(np.flatnonzero(flag_rr_artifacts([800, 1600, 800, 800, 800]))) == [1]
    assert list(flag_rr_artifacts([100, 800])) == [True, False]
    assert flag_rr_artifacts([]).shape == (0,)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"low_ms": 0}, "low_ms"), ({"low_ms": 2000, "high_ms": 300}, "low_ms"),
    ({"high_ms": float("inf")}, "high_ms"), ({"max_change": 0}, "max_change"),
    ({"max_change": float("nan")}, "max_change"),
])
def test_flag_parameters_are_validated(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(HrvError, match=match):
        flag_rr_artifacts([800, 800], **kwargs)


def test_flags_reject_two_dimensional_input() -> None:
    with pytest.raises(HrvError, match="one-dimensional"):
        flag_rr_artifacts(np.ones((3, 3)) * 800)


def test_clean_time_domain_skips_differences_across_artifacts() -> None:
    # RR = [800, 810, 3000, 790, 850] with the 3000 flagged.
    # clean intervals 800, 810, 790, 850 -> mean 812.5, SDNN sqrt(2075/3) as in the fixture above.
    # adjacent clean pairs: (800, 810) and (790, 850) -> diffs 10, 60 (810 -> 790 is NOT used,
    # it bridges the artifact) -> RMSSD = sqrt((100 + 3600) / 2) = sqrt(1850) = 43.0116...,
    # pNN50 = 1 of 2 = 50 %. Share flagged = 1 / 5 = 0.2.
    rr = [800, 810, 3000, 790, 850]
    flags = flag_rr_artifacts(rr)
    assert list(flags) == [False, False, True, False, False]
    summary, share = clean_time_domain(rr, flags)
    assert share == pytest.approx(0.2)
    assert summary.n == 4
    assert summary.mean_nn_ms == pytest.approx(812.5)
    assert summary.sdnn_ms == pytest.approx(math.sqrt(2075 / 3))
    assert summary.rmssd_ms == pytest.approx(math.sqrt(1850))
    assert summary.pnn50_pct == pytest.approx(50.0)


def test_clean_time_domain_errors() -> None:
    with pytest.raises(HrvError, match="one entry per interval"):
        clean_time_domain([800, 810, 820], [False, False])
    with pytest.raises(HrvError, match="at least 2 clean"):
        clean_time_domain([800, 810, 820], [True, True, False])
    with pytest.raises(HrvError, match="adjacent"):
        clean_time_domain([800, 3000, 820], [False, True, False])
    with pytest.raises(HrvError, match="finite and positive"):
        clean_time_domain([800, float("nan"), 820], [False, False, False])
    with pytest.raises(HrvError, match="at least 2"):
        clean_time_domain([], [])


@given(value=rr_values, n=st.integers(min_value=2, max_value=50))
def test_constant_series_has_no_variability(value: float, n: int) -> None:
    s = time_domain([value] * n)
    assert s.sdnn_ms == pytest.approx(0.0, abs=1e-9)
    assert s.rmssd_ms == 0.0
    assert s.pnn50_pct == 0.0
    assert s.mean_hr_bpm == pytest.approx(60000 / value)


@given(rr=rr_series, shift=st.floats(min_value=-250.0, max_value=1000.0))
def test_shift_leaves_variability_unchanged(rr: list[float], shift: float) -> None:
    # adding a constant to every interval changes no difference and no deviation from the mean
    a = time_domain(rr)
    b = time_domain([x + shift + 300 for x in rr])
    assert b.sdnn_ms == pytest.approx(a.sdnn_ms, rel=1e-6, abs=1e-6)
    assert b.rmssd_ms == pytest.approx(a.rmssd_ms, rel=1e-6, abs=1e-6)
    diffs = np.abs(np.diff(rr))
    if not np.any(np.abs(diffs - 50.0) < 1e-6):  # away from the threshold rounding cannot flip a count
        assert b.pnn50_pct == a.pnn50_pct


@given(rr=rr_series, k=st.floats(min_value=1.0, max_value=4.0))
def test_scaling(rr: list[float], k: float) -> None:
    # SDNN and RMSSD scale with the intervals; pNN50 can only grow when differences grow
    a = time_domain(rr)
    b = time_domain([x * k for x in rr])
    assert b.sdnn_ms == pytest.approx(a.sdnn_ms * k, rel=1e-6, abs=1e-6)
    assert b.rmssd_ms == pytest.approx(a.rmssd_ms * k, rel=1e-6, abs=1e-6)
    assert b.pnn50_pct >= a.pnn50_pct
    assert b.mean_hr_bpm == pytest.approx(a.mean_hr_bpm / k)


@given(rr=rr_series)
def test_summary_bounds(rr: list[float]) -> None:
    s = time_domain(rr)
    assert s.n == len(rr)
    assert 0.0 <= s.pnn50_pct <= 100.0
    assert s.sdnn_ms >= 0
    assert s.rmssd_ms >= 0
    assert min(rr) - 1e-9 <= s.mean_nn_ms <= max(rr) + 1e-9


@given(rr=st.lists(st.one_of(rr_values, st.floats(allow_nan=True, allow_infinity=True)), max_size=80))
@settings(max_examples=60)
def test_flags_never_change_the_input(rr: list[float]) -> None:
    array = np.array(rr, dtype=np.float64)
    before = array.copy()
    flags = flag_rr_artifacts(array)
    np.testing.assert_array_equal(array, before)  # NaN-aware equality
    assert flags.shape == array.shape
    assert not np.shares_memory(flags, array)
    # anything outside the range (or not finite) is always flagged
    with np.errstate(invalid="ignore"):
        outside = ~np.isfinite(array) | (array < 300) | (array > 2000)
    assert np.all(flags[outside])


@given(rr=rr_series)
def test_clean_with_no_flags_equals_plain(rr: list[float]) -> None:
    summary, share = clean_time_domain(rr, np.zeros(len(rr), dtype=bool))
    assert share == 0.0
    plain = time_domain(rr)
    assert summary.n == plain.n
    for field in ("mean_nn_ms", "sdnn_ms", "rmssd_ms", "pnn50_pct", "mean_hr_bpm"):
        assert getattr(summary, field) == pytest.approx(getattr(plain, field))


@given(rr=st.lists(rr_values, min_size=5, max_size=60), ectopic=st.integers(min_value=0))
def test_isolated_ectopic_is_flagged_in_steady_rhythm(rr: list[float], ectopic: int) -> None:
    # a steady rhythm (every interval the same) with one beat 40 % short: exactly that beat is flagged
    steady = [rr[0]] * len(rr)
    i = ectopic % len(steady)
    steady[i] = steady[i] * 0.6
    flags = flag_rr_artifacts(steady, low_ms=100)
    assert list(np.flatnonzero(flags)) == [i]
