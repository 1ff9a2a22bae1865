"""Artifact detection and correction after Lipponen & Tarvainen 2019 (kapmonitor.hrv_artifacts).

Acceptance of issue 14: on a clean series with simulated missed, extra and ectopic beats at a
seeded list of known positions, at least 99 % are detected, and RMSSD and SDNN after correction
are within 2 % of the clean series'.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapmonitor.hrv import HrvError, time_domain
from kapmonitor.hrv_artifacts import METHOD, BeatClass, classify_rr, correct_rr


def clean_series(seed: int, n: int = 5000) -> np.ndarray:
    """A resting rhythm without artifacts: 850 ms, respiratory sinus arrhythmia (0.25 Hz, +/-35 ms),
    a 0.09 Hz baroreflex wave (+/-25 ms), a slow random drift and 8 ms of beat-to-beat noise."""
    rng = np.random.default_rng(seed)
    rr = np.empty(n)
    t = drift = 0.0
    for k in range(n):
        drift = 0.995 * drift + rng.normal(0, 3)
        rr[k] = (850 + 35 * np.sin(2 * np.pi * 0.25 * t) + 25 * np.sin(2 * np.pi * 0.09 * t + 1)
                 + drift + rng.normal(0, 8))
        t += rr[k] / 1000
    return rr


def corrupt(rng: np.random.Generator, rr: np.ndarray, each: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Insert ``each`` missed, extra and ectopic beats at seeded positions at least 12 beats apart.

    missed: two intervals become their sum (the beat between them was not detected);
    extra: one interval is split at 25-75 % of it (a false beat);
    ectopic: a premature beat 20-40 % early with its full compensatory pause (short, then long).
    Returns the corrupted series and (index in it, kind) of each artifact.
    """
    slots = np.sort(rng.choice(np.arange(10, rr.size // 12 - 2), size=3 * each, replace=False) * 12)
    kinds = rng.permutation(["missed"] * each + ["extra"] * each + ["ectopic"] * each)
    out: list[float] = []
    truth: list[tuple[int, str]] = []
    i = 0
    for s, kind in zip(slots, kinds, strict=True):
        out.extend(rr[i:s])
        truth.append((len(out), str(kind)))
        if kind == "missed":
            out.append(rr[s] + rr[s + 1])
            i = s + 2
        elif kind == "extra":
            u = rng.uniform(0.25, 0.75)
            out.extend([rr[s] * u, rr[s] * (1 - u)])
            i = s + 1
        else:
            early = rng.uniform(0.2, 0.4) * rr[s]
            out.extend([rr[s] - early, rr[s + 1] + early])
            i = s + 2
    out.extend(rr[i:])
    return np.array(out), truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simulated_artifacts_are_detected_and_corrected(seed: int) -> None:
    clean = clean_series(seed)
    assert np.count_nonzero(classify_rr(clean)) <= 5  # the clean series is (nearly) clean by this method
    bad, truth = corrupt(np.random.default_rng(100 + seed), clean, each=34)
    labels = classify_rr(bad)
    detected = [j for j, kind in truth if labels[j] or (kind == "ectopic" and labels[j + 1])]
    assert len(detected) / len(truth) >= 0.99
    # and each is put in its class: a missed beat as missed, both parts of an extra beat as extra,
    # the compensatory pause after a premature beat as ectopic (the premature interval itself as
    # short, i.e. long/short, or as ectopic too, depending on its neighbours)
    for j, kind in truth:
        if kind == "missed":
            assert labels[j] == BeatClass.MISSED
        elif kind == "extra":
            assert labels[j] == labels[j + 1] == BeatClass.EXTRA
        else:
            assert labels[j + 1] == BeatClass.ECTOPIC
            assert labels[j] in (BeatClass.ECTOPIC, BeatClass.LONG_SHORT)
    fixed = correct_rr(bad)
    before, after = time_domain(clean), time_domain(fixed.nn_ms)
    assert after.rmssd_ms == pytest.approx(before.rmssd_ms, rel=0.02)
    assert after.sdnn_ms == pytest.approx(before.sdnn_ms, rel=0.02)
    # uncorrected, the artifacts would wreck both (the point of correcting)
    raw = time_domain(bad)
    assert raw.rmssd_ms > 2 * before.rmssd_ms
    # missed beats add an interval, extra beats remove one: back to the clean length
    assert fixed.nn_ms.size == clean.size
    assert fixed.method == METHOD


def test_each_correction_by_hand() -> None:
    # steady 800 ms with small breathing variation; one artifact of each kind, far apart
    base = 800 + 20 * np.sin(np.arange(400) * 2 * np.pi / 5)
    rr = base.copy()
    rr[100] = 1600.0  # missed: two beats in one interval
    rr = np.insert(np.delete(rr, 200), 200, [300.0, 500.0])  # extra: 800 split into 300 + 500
    rr[300], rr[301] = 560.0, 1040.0  # a premature beat and its compensatory pause
    fixed = correct_rr(rr)
    assert [BeatClass(x).name for x in fixed.labels[[100, 200, 201, 300, 301]]] == \
        ["MISSED", "EXTRA", "EXTRA", "LONG_SHORT", "ECTOPIC"]
    assert fixed.corrected == 5 and fixed.corrected_share == pytest.approx(5 / rr.size)
    assert fixed.count(BeatClass.EXTRA) == 2 and fixed.count(BeatClass.MISSED) == 1
    nn, origin = fixed.nn_ms, fixed.origin
    # the missed beat is split in two equal halves, both from raw interval 100
    split = np.flatnonzero(origin == 100)
    assert split.size == 2 and list(nn[split]) == [800.0, 800.0]
    # the extra beat is merged: one NN interval of 300 + 500 from raw interval 200, none from 201
    merged = np.flatnonzero(origin == 200)
    assert list(nn[merged]) == [800.0] and not np.any(origin == 201)
    # the ectopic pair is interpolated from the rhythm around it (820 and 781 ms there)
    for k in (300, 301):
        assert nn[origin == k][0] == pytest.approx(rr[k - 5], abs=15)
    # normal intervals are passed through unchanged
    normal = fixed.labels[origin] == BeatClass.NORMAL
    np.testing.assert_array_equal(nn[normal], rr[origin[normal]])
    np.testing.assert_array_equal(fixed.raw_ms, rr)


def test_an_interpolated_beat_stays_within_its_neighbours() -> None:
    # found by the property test below: the spline through 250, 425, 250, 253 dips below zero at
    # the fourth beat; the value is kept within the range of the normal intervals around it
    fixed = correct_rr([250.0, 425.0, 250.0, 516.0, 253.0])
    assert fixed.labels[3] == BeatClass.ECTOPIC
    assert 250.0 <= fixed.nn_ms[3] <= 425.0


def test_raw_intervals_are_kept_and_read_only() -> None:
    rr = clean_series(5, 300)
    rr[150] = rr[150] * 2
    before = rr.copy()
    fixed = correct_rr(rr)
    np.testing.assert_array_equal(rr, before)
    assert not np.shares_memory(fixed.raw_ms, rr)
    with pytest.raises(ValueError, match="read-only"):
        fixed.raw_ms[0] = 1.0


def test_bigeminy_is_all_artifacts_but_the_first_and_last() -> None:
    # every other beat premature, each followed by its pause: every beat between the ends is judged
    # an artifact; the first interval (no predecessor) and the last (no successor) cannot be, and the
    # correction interpolates everything from those two -- so such a stretch never counts as a
    # 5-minute window (kapmonitor.hrv_periods.MAX_CORRECTED_SHARE), and says why
    rr = np.tile([600.0, 1000.0], 100)
    labels = classify_rr(rr)
    assert labels[0] == labels[-1] == BeatClass.NORMAL
    assert np.all(labels[1:-1] != BeatClass.NORMAL)
    assert correct_rr(rr).corrected_share == pytest.approx(198 / 200)


def test_a_metronomic_stretch_uses_the_threshold_floor() -> None:
    # a perfectly regular rhythm has a quartile deviation of 0; the 10 ms floor keeps a 1-ms change
    # normal and still finds a missed beat
    rr = np.full(200, 1000.0)
    rr[50] = 1001.0
    rr[120] = 2000.0
    labels = classify_rr(rr)
    assert list(np.flatnonzero(labels)) == [120] and labels[120] == BeatClass.MISSED


@pytest.mark.parametrize(("rr", "match"), [
    ([800, float("nan"), 810], "interval 1 is nan"), ([800, 0, 810], "finite and positive"),
    ([[800, 810]], "one-dimensional"), (["a", "b"], "numbers in milliseconds"),
])
def test_bad_input_is_refused_clearly(rr: object, match: str) -> None:
    with pytest.raises(HrvError, match=match):
        correct_rr(rr)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "match"), [({"alpha": 0}, "alpha"), ({"window_beats": 90}, "odd window")])
def test_settings_are_validated(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(HrvError, match=match):
        classify_rr([800.0] * 10, **kwargs)  # type: ignore[arg-type]


def test_other_settings_are_named_in_the_method() -> None:
    assert correct_rr([800.0] * 10, alpha=4.0, window_beats=51).method == \
        "Lipponen & Tarvainen 2019 (alpha 4, window 51)"


def test_too_short_series_are_taken_as_recorded() -> None:
    # fewer than 3 intervals have no neighbours to judge by: labelled normal, passed through
    for rr in ([], [800.0], [800.0, 1600.0]):
        fixed = correct_rr(rr)
        np.testing.assert_array_equal(fixed.nn_ms, rr)
        assert fixed.corrected == 0 and fixed.corrected_share == 0.0


rr_lists = st.lists(st.floats(min_value=250.0, max_value=2500.0, allow_nan=False), min_size=3, max_size=150)


@given(rr=rr_lists)
@settings(max_examples=80, deadline=None)
def test_correction_properties(rr: list[float]) -> None:
    array = np.array(rr)
    before = array.copy()
    fixed = correct_rr(array)  # any series of plausible intervals is corrected, never refused
    assert fixed.labels[0] == BeatClass.NORMAL  # the first interval is never judged
    np.testing.assert_array_equal(array, before)  # the input is never changed
    assert fixed.labels.shape == array.shape  # one label per raw interval
    assert fixed.nn_ms.size == fixed.origin.size
    assert np.all(np.diff(fixed.origin) >= 0)  # NN intervals keep the raw order
    missed = int(np.count_nonzero(fixed.labels == BeatClass.MISSED))
    extra = fixed.count(BeatClass.EXTRA)
    assert extra % 2 == 0
    assert fixed.nn_ms.size == array.size + missed - extra // 2
    assert np.all(fixed.nn_ms > 0)
    # splitting and merging keep time: only interpolated beats change the total
    moved = (fixed.labels == BeatClass.ECTOPIC) | (fixed.labels == BeatClass.LONG_SHORT)
    if not moved.any():
        assert fixed.nn_ms.sum() == pytest.approx(array.sum())
