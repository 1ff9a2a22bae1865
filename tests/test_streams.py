"""The streams table: units, continuity, possible ranges, unusable flags, checked readings."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapmonitor import streams
from kapmonitor.streams import (
    CONTINUOUS_STREAMS,
    STREAM_UNITS,
    STREAMS,
    SUPERVISED_STREAMS,
    checked,
    checked_flags,
    possible,
    spec,
    usable,
)
from kapmonitor.types import Reading, ReadingFlag, Stream

AT = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
IMPLAUSIBLE = ReadingFlag.IMPLAUSIBLE


def _r(stream: Stream, value: float, flags: ReadingFlag = ReadingFlag.NONE) -> Reading:
    return Reading(stream, value, AT, "s1", flags)


def test_one_row_per_stream_with_its_unit() -> None:
    assert set(STREAMS) == set(Stream)
    assert all(row.stream is s for s, row in STREAMS.items())
    assert dict(STREAM_UNITS) == {s: row.unit for s, row in STREAMS.items()}
    assert STREAM_UNITS[Stream.RR_INTERVAL] == "ms"
    assert STREAM_UNITS.get(Stream.BP_MEAN) == "mmHg"
    assert len(STREAM_UNITS) == len(Stream)


def test_continuous_and_supervised_streams() -> None:
    assert set(CONTINUOUS_STREAMS) == {Stream.HEART_RATE, Stream.RR_INTERVAL, Stream.SPO2, Stream.PULSE_RATE}
    assert set(SUPERVISED_STREAMS) == {Stream.HEART_RATE, Stream.SPO2}
    assert SUPERVISED_STREAMS <= CONTINUOUS_STREAMS
    assert not spec(Stream.BP_SYSTOLIC).continuous
    assert not spec(Stream.BATTERY).continuous


@pytest.mark.parametrize(
    ("stream", "low", "high"),
    [
        (Stream.HEART_RATE, 20, 300),
        (Stream.PULSE_RATE, 20, 300),
        (Stream.RR_INTERVAL, 200, 3000),
        (Stream.SPO2, 0, 100),
        (Stream.BP_SYSTOLIC, 30, 300),
        (Stream.BP_DIASTOLIC, 10, 250),
        (Stream.BP_MEAN, 20, 280),
        (Stream.BATTERY, 0, 100),
    ],
)
def test_possible_ranges_are_inclusive(stream: Stream, low: float, high: float) -> None:
    assert possible(stream, low) and possible(stream, high)
    assert not possible(stream, math.nextafter(low, -math.inf))
    assert not possible(stream, math.nextafter(high, math.inf))
    for nonsense in (math.nan, math.inf, -math.inf, -2e10, 1.2e11):
        assert not possible(stream, nonsense)


@pytest.mark.parametrize(
    ("stream", "value"),
    [(Stream.SPO2, -2e10), (Stream.HEART_RATE, 65071.0), (Stream.BP_SYSTOLIC, 1.2e11),
     (Stream.RR_INTERVAL, 63971.0), (Stream.HEART_RATE, 0.0), (Stream.SPO2, math.nan)],
)
def test_checked_flags_nonsense_and_keeps_the_raw_value(stream: Stream, value: float) -> None:
    raw = _r(stream, value, ReadingFlag.SENSOR_TIMESTAMP)
    out = checked(raw)
    assert out.flags == ReadingFlag.SENSOR_TIMESTAMP | IMPLAUSIBLE
    assert (out.stream, out.at, out.sensor_id) == (raw.stream, raw.at, raw.sensor_id)
    assert out.value == value or (math.isnan(out.value) and math.isnan(value))
    assert checked(out) is out  # idempotent
    assert not usable(out)


def test_checked_returns_a_possible_reading_unchanged() -> None:
    r = _r(Stream.HEART_RATE, 72.0, ReadingFlag.NO_CONTACT)
    assert checked(r) is r
    assert checked_flags(Stream.HEART_RATE, 72.0, 0) == ReadingFlag.NONE
    # a flag already set is a recorded fact and is never removed
    assert checked_flags(Stream.HEART_RATE, 72.0, IMPLAUSIBLE) == IMPLAUSIBLE


def test_usable_by_flags() -> None:
    for stream in Stream:
        assert usable(stream, ReadingFlag.NONE)
        assert usable(stream, ReadingFlag.MANUAL | ReadingFlag.SENSOR_TIMESTAMP)
        assert not usable(stream, IMPLAUSIBLE)
    for bad in (ReadingFlag.ARTIFACT, ReadingFlag.NO_CONTACT):
        assert not usable(Stream.HEART_RATE, bad)
        assert not usable(Stream.SPO2, int(bad))
        assert not usable(_r(Stream.BP_SYSTOLIC, 120.0, bad))
    assert usable(Stream.BATTERY, ReadingFlag.NO_CONTACT)  # a battery gauge has no skin contact
    assert usable(_r(Stream.SPO2, 97.0))
    assert not usable(_r(Stream.SPO2, 101.0))  # range-checked even when not flagged yet
    assert streams.UNUSABLE_FLAGS == ReadingFlag.ARTIFACT | ReadingFlag.NO_CONTACT | IMPLAUSIBLE
    with pytest.raises(TypeError):
        usable(Stream.HEART_RATE)


@given(st.sampled_from(list(Stream)), st.floats(allow_nan=True, allow_infinity=True),
       st.integers(0, 31))
def test_checked_never_alters_and_flags_exactly_the_impossible(
    stream: Stream, value: float, bits: int
) -> None:
    flags = ReadingFlag(bits)
    out = checked(_r(stream, value, flags))
    assert out.value == value or (math.isnan(value) and math.isnan(out.value))
    assert out.flags & ~IMPLAUSIBLE == flags & ~IMPLAUSIBLE
    assert bool(out.flags & IMPLAUSIBLE) == (bool(flags & IMPLAUSIBLE) or not possible(stream, value))
