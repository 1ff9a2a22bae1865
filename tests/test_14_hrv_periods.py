"""A stored RR stream corrected once and measured per period (kapmonitor.hrv_periods)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kapmonitor.hrv import HrvError, clean_poincare, clean_time_domain
from kapmonitor.hrv_artifacts import METHOD, BeatClass, correct_rr
from kapmonitor.hrv_periods import (
    MAX_CORRECTED_SHARE,
    WINDOW_S,
    CorrectedStream,
    correct_stream,
    period_hrv,
)
from kapmonitor.hrv_spectral import frequency_domain

T0 = 1_767_600_000.0  # an epoch second; the period starts here


def breathing(seconds: float, seed: int, mean_ms: float = 850.0) -> np.ndarray:
    """RR intervals (ms) with 0.25 Hz sinus arrhythmia, a 0.1 Hz wave and 6 ms of noise."""
    rng = np.random.default_rng(seed)
    rr: list[float] = []
    t = 0.0
    while t < seconds:
        rr.append(mean_ms + 35 * math.sin(2 * math.pi * 0.25 * t) + 20 * math.sin(2 * math.pi * 0.1 * t)
                  + rng.normal(0, 6))
        t += rr[-1] / 1000
    return np.array(rr)


def stored_times(rr: np.ndarray, start: float) -> np.ndarray:
    """The times the intervals are stored at: a heart-rate strap sends its beats once a second, so
    every interval gets the time of the packet after its beat (several share one time)."""
    return start + np.ceil(np.cumsum(rr) / 1000.0)


def test_runs_are_cut_at_gaps_and_unusable_intervals() -> None:
    first, second = breathing(200, 1), breathing(200, 2)
    t = np.concatenate([stored_times(first, T0), stored_times(second, T0 + 260)])  # a 60-s gap
    rr = np.concatenate([first, second])
    unusable = np.zeros(rr.size, dtype=bool)
    unusable[[50, 51, 300]] = True  # two together in the first run, one in the second
    before = rr.copy()
    stream = correct_stream(t, rr, unusable, gap_s=5.0)
    np.testing.assert_array_equal(rr, before)
    assert list(np.flatnonzero(stream.labels == BeatClass.EXCLUDED)) == [50, 51, 300]
    # runs: [0, 50), [52, gap), [gap, 300), (300, end]
    assert len(np.unique(stream.nn_run)) == 4
    assert stream.method == METHOD
    # nothing to correct in this rhythm: the NN series is the usable raw intervals, at their times
    assert np.count_nonzero((stream.labels != BeatClass.NORMAL) & ~unusable) == 0
    np.testing.assert_array_equal(stream.nn_ms, rr[~unusable])
    np.testing.assert_array_equal(stream.nn_t, t[~unusable])


def test_each_run_is_corrected_on_its_own() -> None:
    rr = breathing(300, 3)
    rr[100] = rr[100] + rr[101]  # a missed beat
    rr = np.delete(rr, 101)
    t = stored_times(rr, T0)
    stream = correct_stream(t, rr, np.zeros(rr.size, dtype=bool))
    assert stream.labels[100] == BeatClass.MISSED
    np.testing.assert_array_equal(stream.nn_ms, correct_rr(rr).nn_ms)
    assert np.count_nonzero(stream.nn_t == t[100]) >= 2  # both halves keep the stored time of the raw one


def test_period_has_whole_and_consecutive_five_minute_windows() -> None:
    rr = breathing(17 * 60 - 5, 4)  # every stored time before the period's end
    t = stored_times(rr, T0)
    stream = correct_stream(t, rr, np.zeros(rr.size, dtype=bool))
    hrv = period_hrv(stream, T0, T0 + 17 * 60)
    assert [(w.start - T0, w.end - T0) for w in hrv.windows] == [(0, 300), (300, 600), (600, 900)]
    assert all(w.counts and w.problems == () for w in hrv.windows)
    assert hrv.windows_counted == 3 and WINDOW_S == 300
    assert hrv.whole.rr_n == rr.size and hrv.whole.nn_n == rr.size
    # the whole period is the plain computation on all its intervals
    assert hrv.whole.time is not None and hrv.whole.spectral is not None and hrv.whole.poincare is not None
    assert hrv.whole.time.rmssd_ms == pytest.approx(float(np.sqrt(np.mean(np.diff(rr) ** 2))))
    assert hrv.whole.spectral.lf_ms2 == pytest.approx(frequency_domain([rr]).lf_ms2)
    # each window holds the intervals stored in it; the medians are over the windows
    inside = [rr[(t >= w.start) & (t < w.end)] for w in hrv.windows]
    assert [w.rr_n for w in hrv.windows] == [x.size for x in inside]
    rmssd = [float(np.sqrt(np.mean(np.diff(x) ** 2))) for x in inside]
    assert hrv.median_rmssd_ms == pytest.approx(float(np.median(rmssd)))
    lf_hf = [frequency_domain([x]).lf_hf for x in inside]
    assert hrv.median_lf_hf == pytest.approx(float(np.median(lf_hf)))
    assert hrv.median_lf_nu is not None and 0 < hrv.median_lf_nu < 100
    assert hrv.median_sdnn_ms is not None and hrv.median_lf_ms2 is not None and hrv.median_hf_ms2 is not None


def test_a_window_with_a_gap_does_not_count_but_the_phase_spans_it() -> None:
    first, second = breathing(400, 5), breathing(500, 6)
    t = np.concatenate([stored_times(first, T0), stored_times(second, T0 + 500)])  # 100 s lost at 400-500 s
    rr = np.concatenate([first, second])
    stream = correct_stream(t, rr, np.zeros(rr.size, dtype=bool))
    hrv = period_hrv(stream, T0, T0 + 1005)  # the last interval is stored at 1001 s
    assert [w.counts for w in hrv.windows] == [True, False, True]
    gap_window = hrv.windows[1]
    assert gap_window.time is not None  # computed, but left out of the medians, and says why
    assert "NN intervals cover 200 s of the 300 s window (less than 80%)" in gap_window.problems
    # its 200 s are two runs of about 100 s: too little for the spectrum, which says so too
    assert gap_window.spectral is None and gap_window.problems[0].startswith("the spectrum needs 120 s")
    # the whole phase: successive differences and spectral segments stay inside each run
    series = np.concatenate([first, [math.nan], second])
    expected, _ = clean_time_domain(series, np.isnan(series))
    assert hrv.whole.time == expected
    assert hrv.whole.poincare == clean_poincare(series, np.isnan(series))
    assert hrv.whole.spectral == frequency_domain([first, second])


def test_a_window_mostly_corrected_does_not_count() -> None:
    good = breathing(300, 7)
    bigeminy = np.tile([550.0, 1150.0], 180)  # 5 minutes of every other beat premature
    rr = np.concatenate([good, bigeminy, good])
    t = stored_times(rr, T0)
    hrv = period_hrv(correct_stream(t, rr, np.zeros(rr.size, dtype=bool)), T0, T0 + 900)
    assert [w.counts for w in hrv.windows] == [True, False, True]
    bad = hrv.windows[1]
    assert bad.corrected_share is not None and bad.corrected_share > MAX_CORRECTED_SHARE
    assert any("corrected or excluded (more than 20%)" in p for p in bad.problems)
    assert hrv.whole.corrected == np.count_nonzero(correct_rr(rr).labels)


def test_a_window_of_unusable_intervals_has_no_hrv_and_says_why() -> None:
    rr = breathing(595, 8)
    t = stored_times(rr, T0)
    unusable = t >= T0 + 300  # the strap lost contact for the second window: every interval flagged
    hrv = period_hrv(correct_stream(t, rr, unusable), T0, T0 + 600)
    lost = hrv.windows[1]
    assert (lost.rr_n, lost.excluded, lost.nn_n, lost.excluded_share) == (np.count_nonzero(unusable),
                                                                          np.count_nonzero(unusable), 0, 1.0)
    assert lost.time is None and lost.spectral is None and lost.poincare is None and not lost.counts
    assert "HRV needs at least 2 clean RR intervals, got 0" in lost.problems
    assert any(p.startswith("the spectrum needs 120 s") for p in lost.problems)
    assert hrv.windows[0].counts and hrv.windows_counted == 1


def test_an_empty_or_short_period() -> None:
    empty = correct_stream([], [], [])
    assert isinstance(empty, CorrectedStream)
    hrv = period_hrv(empty, T0, T0 + 240)
    assert hrv.windows == () and hrv.whole.rr_n == 0 and hrv.whole.corrected_share is None
    assert hrv.median_rmssd_ms is None and hrv.windows_counted == 0
    with pytest.raises(HrvError, match="start <= end"):
        period_hrv(empty, T0, T0 - 1)


def test_mismatched_arrays_are_refused() -> None:
    with pytest.raises(HrvError, match="must be one-dimensional and match"):
        correct_stream([T0, T0 + 1], [800.0], [False, False])
