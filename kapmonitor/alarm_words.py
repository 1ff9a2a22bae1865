"""Alarm values in the therapist's words, each in its own unit (no Qt; the banner and list use it).

A physiological alarm reads ``195 mmHg when raised · limit 180 mmHg``: the value that raised it,
never a later one passed off as "when raised". Technical alarms say what their number is:

* no data -- ``for 71 s · alarm after 10 s`` (seconds without data, counted on from the raise);
* no skin contact -- ``for 25 s · alarm after 10 s``;
* battery low -- ``battery 12% · low at 15%``;
* implausible values -- ``3 implausible values within 10 s``;
* signal lost -- no number (the label says it all).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol

from kapmonitor.streams import STREAM_UNITS
from kapmonitor.technical_checks import IMPLAUSIBLE_BURST_WINDOW_S
from kapmonitor.types import AlarmCategory, Stream

__all__ = [
    "STREAM_NAMES",
    "DescribedAlarm",
    "describe_alarm",
    "format_number",
    "stream_name",
    "value_with_unit",
]

STREAM_NAMES: Final[dict[Stream, str]] = {
    Stream.HEART_RATE: "heart rate",
    Stream.RR_INTERVAL: "RR interval",
    Stream.SPO2: "SpO2",
    Stream.PULSE_RATE: "pulse rate",
    Stream.BP_SYSTOLIC: "systolic BP",
    Stream.BP_DIASTOLIC: "diastolic BP",
    Stream.BP_MEAN: "mean BP",
    Stream.BATTERY: "battery",
}
"""What each stream is called in a sentence ("No SpO2 data")."""

_COUNTING_S: Final = frozenset({"no_data", "no_contact"})
"""Technical kinds whose value is seconds of the condition so far."""


class DescribedAlarm(Protocol):
    """What :func:`describe_alarm` reads (``ActiveAlarm`` fits)."""

    @property
    def alarm_id(self) -> str: ...
    @property
    def category(self) -> AlarmCategory: ...
    @property
    def stream(self) -> Stream | None: ...
    @property
    def value(self) -> float | None: ...
    @property
    def raised_value(self) -> float | None: ...
    @property
    def limit(self) -> float | None: ...
    @property
    def since(self) -> datetime: ...


def stream_name(stream: Stream) -> str:
    return STREAM_NAMES.get(stream, str(stream).replace("_", " "))


def format_number(x: float) -> str:
    """Whole numbers from 10 up, one decimal below (``152``, ``7.5``)."""
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"


def _with_unit(x: float, unit: str) -> str:
    sep = "" if unit == "%" else " "
    return f"{format_number(x)}{sep}{unit}".strip()


def _kind(alarm_id: str) -> str:
    return alarm_id.split(".", 1)[0] if "." in alarm_id else ""


def value_with_unit(
    alarm_id: str, category: AlarmCategory, stream: Stream | None, value: float | None
) -> str:
    """One alarm-log value in its own unit: ``195 mmHg``, ``18 s`` (no data), ``12%`` (battery),
    ``3 values`` (implausible); empty when there is none."""
    if value is None:
        return ""
    kind = _kind(alarm_id) if category is AlarmCategory.TECHNICAL else ""
    if kind in _COUNTING_S:
        return f"{value:.0f} s"
    if kind == "battery_low":
        return _with_unit(value, "%")
    if kind == "implausible":
        return f"{value:.0f} values"
    if kind == "check_overdue":
        return f"{value / 60:.0f} min"
    if kind:
        return ""
    return _with_unit(value, STREAM_UNITS.get(stream, "") if stream is not None else "")


def describe_alarm(alarm: DescribedAlarm, now: datetime) -> str:
    """The value part of an alarm's detail line (empty when there is no number to give).

    ``now`` (wall time) lets "no data for N s" count on while the banner shows it.
    """
    raised = alarm.raised_value if alarm.raised_value is not None else alarm.value
    kind = _kind(alarm.alarm_id) if alarm.category is AlarmCategory.TECHNICAL else ""
    if kind in _COUNTING_S:
        parts = []
        if raised is not None:
            so_far = raised + max(0.0, (now - alarm.since).total_seconds())
            parts.append(f"for {so_far:.0f} s")
        if alarm.limit is not None:
            parts.append(f"alarm after {alarm.limit:g} s")
        return " · ".join(parts)
    if kind == "battery_low":
        parts = [f"battery {_with_unit(alarm.value, '%')}"] if alarm.value is not None else []
        if alarm.limit is not None:
            parts.append(f"low at {_with_unit(alarm.limit, '%')}")
        return " · ".join(parts)
    if kind == "check_overdue":
        if alarm.value is None:
            return ""
        late_min = alarm.value / 60.0  # the engine keeps it current at every tick
        grace = f" · grace {alarm.limit / 60:.0f} min" if alarm.limit is not None else ""
        return f"overdue {late_min:.0f} min{grace}"
    if kind == "implausible":
        count = alarm.value if alarm.value is not None else raised
        if count is None:
            return ""
        return f"{count:.0f} implausible values within {IMPLAUSIBLE_BURST_WINDOW_S:g} s"
    if kind:
        return ""
    unit = STREAM_UNITS.get(alarm.stream, "") if alarm.stream is not None else ""
    parts = []
    if raised is not None:
        parts.append(f"{_with_unit(raised, unit)} when raised")
    if alarm.limit is not None:
        parts.append(f"limit {_with_unit(alarm.limit, unit)}")
    return " · ".join(parts)
