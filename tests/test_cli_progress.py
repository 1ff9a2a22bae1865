"""The record command's progress line says the heart rate only while it is current."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kapmonitor.types import Reading, ReadingFlag, Stream
from ui.cli.record import _heart_rate_text

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def _hr(value: float, flags: ReadingFlag = ReadingFlag.NONE) -> Reading:
    return Reading(Stream.HEART_RATE, value, T0, "F0:13:C3:5A:22:9B", flags)


def test_a_fresh_heart_rate_is_shown() -> None:
    assert _heart_rate_text(_hr(72.4), T0 + timedelta(seconds=1), 10.0) == "HR 72 bpm"


def test_after_the_sensor_went_away_the_line_says_how_long_there_was_no_data() -> None:
    assert _heart_rate_text(_hr(72.0), T0 + timedelta(seconds=9.5), 10.0) == "HR 72 bpm"
    assert _heart_rate_text(_hr(72.0), T0 + timedelta(seconds=12), 10.0) == "HR -- (no data for 12 s)"


def test_no_reading_or_an_unusable_one_is_not_a_heart_rate() -> None:
    assert _heart_rate_text(None, T0, 10.0) == "HR --"
    assert _heart_rate_text(_hr(0.0, ReadingFlag.NO_CONTACT), T0, 10.0) == "HR --"
    assert _heart_rate_text(_hr(65071.0), T0, 10.0) == "HR --"
