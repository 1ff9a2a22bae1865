"""One row per stream: its unit, whether it arrives continuously, its physically possible range,
and which flags make a value unusable for clinical purposes.

Every layer that asks "what is this stream?" reads :data:`STREAMS`: the parsers and the recorder
flag values outside the possible range (:func:`checked`), the alarm engine and the views leave
unusable values out (:func:`usable`), the settings and exports take units from it.

The possible ranges are what a living patient (or a working battery gauge) can produce, not
clinical limits; they are wide on purpose so that only nonsense (a corrupted packet, a sentinel
such as heart rate 0 while the strap has no contact) falls outside. Bounds are inclusive:

* heart rate and pulse rate 20-300 bpm;
* RR interval 200-3000 ms: the same 20-300 bpm as one beat (60 000 / 300 = 200 ms,
  60 000 / 20 = 3000 ms). A longer pause between two beats is a missed beat or a dropped
  packet, which the RR artifact correction (:mod:`kapmonitor.hrv_artifacts`) deals with on the stored data;
* SpO2 0-100 %; battery 0-100 %;
* blood pressure: systolic 30-300, diastolic 10-250, mean arterial 20-280 mmHg.

A value outside the range, or not finite, is *flagged* ``IMPLAUSIBLE``, never changed or dropped:
raw data is stored as it came. Stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from kapmonitor.types import Reading, ReadingFlag, Stream

__all__ = [
    "CONTINUOUS_STREAMS",
    "STREAMS",
    "STREAM_UNITS",
    "SUPERVISED_STREAMS",
    "UNUSABLE_FLAGS",
    "StreamSpec",
    "checked",
    "checked_flags",
    "possible",
    "spec",
    "unusable_flags",
    "usable",
]

_CLINICAL_UNUSABLE: Final = ReadingFlag.ARTIFACT | ReadingFlag.NO_CONTACT | ReadingFlag.IMPLAUSIBLE


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What is fixed about one stream.

    Attributes:
        stream: the stream this row describes.
        unit: the unit every value of the stream is in.
        continuous: True when the sensor sends it every second or so (silence means trouble);
            False for sparse streams (one blood pressure per cuff measurement, a battery level now
            and then).
        low: lowest physically possible value (inclusive).
        high: highest physically possible value (inclusive).
        unusable: flags any one of which makes a value unfit for alarms, live display and summaries.
    """

    stream: Stream
    unit: str
    continuous: bool
    low: float
    high: float
    unusable: ReadingFlag = _CLINICAL_UNUSABLE

    def possible(self, value: float) -> bool:
        """True if ``value`` is a finite number within ``low..high``."""
        return math.isfinite(value) and self.low <= value <= self.high


def _table(*rows: StreamSpec) -> Mapping[Stream, StreamSpec]:
    table = {row.stream: row for row in rows}
    missing = set(Stream) - set(table)
    if missing or len(table) != len(rows):
        raise RuntimeError(f"the streams table must have exactly one row per Stream (missing {missing})")
    return table


STREAMS: Final[Mapping[Stream, StreamSpec]] = _table(
    StreamSpec(Stream.HEART_RATE, "bpm", True, 20.0, 300.0),
    StreamSpec(Stream.RR_INTERVAL, "ms", True, 200.0, 3000.0),
    StreamSpec(Stream.SPO2, "%", True, 0.0, 100.0),
    StreamSpec(Stream.PULSE_RATE, "bpm", True, 20.0, 300.0),
    StreamSpec(Stream.BP_SYSTOLIC, "mmHg", False, 30.0, 300.0),
    StreamSpec(Stream.BP_DIASTOLIC, "mmHg", False, 10.0, 250.0),
    StreamSpec(Stream.BP_MEAN, "mmHg", False, 20.0, 280.0),
    # A battery gauge has no skin contact to lose and no artifacts; only nonsense makes it unusable.
    StreamSpec(Stream.BATTERY, "%", False, 0.0, 100.0, unusable=ReadingFlag.IMPLAUSIBLE),
)
"""The streams table: one :class:`StreamSpec` per :class:`~kapmonitor.types.Stream`."""

STREAM_UNITS: Final[Mapping[Stream, str]] = {s: row.unit for s, row in STREAMS.items()}
"""The unit of each stream (also importable from :mod:`kapmonitor.types`)."""

CONTINUOUS_STREAMS: Final = frozenset(s for s, row in STREAMS.items() if row.continuous)
"""Streams that arrive continuously, so that silence can be supervised ("no data")."""

SUPERVISED_STREAMS: Final = frozenset({Stream.HEART_RATE, Stream.SPO2})
"""The continuous streams the recorder supervises for "no data" (RR and pulse rate arrive with
heart rate and SpO2 from the same packets, so one alarm per sensor kind is enough)."""

UNUSABLE_FLAGS: Final = _CLINICAL_UNUSABLE
"""Every flag that makes a value of some stream unusable (the union over the table)."""


def spec(stream: Stream) -> StreamSpec:
    """The table row of ``stream``."""
    return STREAMS[stream]


def possible(stream: Stream, value: float) -> bool:
    """True if ``value`` is finite and within the physically possible range of ``stream``."""
    return STREAMS[stream].possible(value)


def checked_flags(stream: Stream, value: float, flags: ReadingFlag | int) -> ReadingFlag:
    """``flags`` plus ``IMPLAUSIBLE`` when ``value`` is not possible for ``stream``.

    For callers that hold a value and its flags rather than a :class:`Reading` (the UI's signal
    arguments). A flag already set is kept even if the value is possible: flags are facts recorded
    with the value and are never removed.
    """
    out = ReadingFlag(flags)
    if not possible(stream, value):
        out |= ReadingFlag.IMPLAUSIBLE
    return out


def checked(reading: Reading) -> Reading:
    """``reading`` with ``IMPLAUSIBLE`` set if its value is out of range or not finite.

    The value, time, sensor and other flags are never altered. Returns ``reading`` itself when
    nothing changes (so calling it twice, or on an already checked reading, is cheap).
    """
    flags = checked_flags(reading.stream, reading.value, reading.flags)
    if flags == reading.flags:
        return reading
    return Reading(reading.stream, reading.value, reading.at, reading.sensor_id, flags)


def unusable_flags(stream: Stream) -> ReadingFlag:
    """The flags that make a value of ``stream`` unusable for clinical purposes."""
    return STREAMS[stream].unusable


def usable(stream_or_reading: Stream | Reading, flags: ReadingFlag | int | None = None) -> bool:
    """True if a value may raise or clear alarms, be shown live and enter summaries.

    Pass a :class:`Reading` (its flags are used, and its value is range-checked as by
    :func:`checked`), or a stream and the value's ``flags`` (flags only: pass flags from
    :func:`checked_flags` when the value has not been checked yet).

    Raises:
        TypeError: a stream without ``flags``.
    """
    if isinstance(stream_or_reading, Reading):
        reading = checked(stream_or_reading)
        return not reading.flags & unusable_flags(reading.stream)
    if flags is None:
        raise TypeError("usable(stream, flags): flags are required with a stream")
    return not ReadingFlag(flags) & unusable_flags(stream_or_reading)
