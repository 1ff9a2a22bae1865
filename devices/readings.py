"""Turn parsed GATT measurements into core :class:`~kapmonitor.types.Reading` values.

Pure functions: the caller passes the packet's arrival time (from the injected
clock, UTC aware) and the sensor's id. Values are passed through unaltered
except for unit conversion into the stream's unit (RR 1/1024 s -> ms, exact;
kPa -> mmHg). Conditions the sensor itself reports about a value are kept
beside it as :class:`~kapmonitor.types.ReadingFlag`, never by changing the value.

Time of RR readings: all readings of one packet, RR intervals included, carry
the packet's arrival time. RR intervals are not spread backwards over the
packet by their cumulative duration: that would invent beat times the sensor
never sent. Their order in the returned list is the sensor's order (oldest
first), so an analysis can still reconstruct beat times from the sums.

Non-finite values (the SFLOAT NaN, NRes, reserved and ±INFINITY specials) are
skipped: they say "no usable value", and a Reading always carries a number.

Plausibility: every reading returned has passed :func:`kapmonitor.streams.checked`, so a decoded
value outside its stream's physically possible range (a corrupted packet: SpO2 -2e10 %, heart
rate 65 071 bpm) carries ``ReadingFlag.IMPLAUSIBLE`` beside its unaltered raw value.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

from devices.gatt import HeartRateMeasurement
from devices.gatt_medical import (
    BloodPressureMeasurement,
    PlxDeviceSensorStatus,
    PlxMeasurement,
    PlxMeasurementStatus,
)
from kapmonitor import streams
from kapmonitor.types import Reading, ReadingFlag, Stream

__all__ = [
    "battery_reading",
    "blood_pressure_readings",
    "heart_rate_readings",
    "plx_readings",
]

_BP_ARTIFACT_STATUS = 0x01 | 0x02 | 0x20
"""Blood pressure status bits that make the value questionable: body movement, cuff too loose,
improper measurement position. (Irregular pulse and pulse-rate range are findings, not artifacts.)"""

_PLX_ARTIFACT_STATUS = (
    PlxMeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED | PlxMeasurementStatus.INVALID_MEASUREMENT_DETECTED
)
_PLX_NO_CONTACT_STATUS = (
    PlxDeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER | PlxDeviceSensorStatus.SENSOR_DISCONNECTED
)


def _check_at(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"arrival time must be a timezone-aware UTC datetime, got naive {at!r}")


def _reading(stream: Stream, value: float, at: datetime, sensor_id: str, flags: ReadingFlag) -> Reading:
    """A reading of the packet, flagged ``IMPLAUSIBLE`` when outside its stream's possible range."""
    return streams.checked(Reading(stream, value, at, sensor_id, flags))


def _sensor_time(
    stamp: datetime | None, device_tz: tzinfo | None, at: datetime
) -> tuple[datetime, ReadingFlag]:
    """The reading time: the device's own stamp in UTC when usable, else the arrival time."""
    if stamp is None or device_tz is None:
        return at, ReadingFlag.NONE
    return stamp.replace(tzinfo=device_tz).astimezone(UTC), ReadingFlag.SENSOR_TIMESTAMP


def heart_rate_readings(m: HeartRateMeasurement, at: datetime, sensor_id: str) -> list[Reading]:
    """One HEART_RATE reading (bpm) and one RR_INTERVAL reading (ms) per RR value.

    All readings share ``at`` (see the module docstring); RR readings follow
    the heart rate reading in the sensor's order. When the sensor reports
    contact detection supported but no contact (``sensor_contact is False``)
    every reading of the packet carries ``ReadingFlag.NO_CONTACT``.

    Raises:
        ValueError: ``at`` is naive.
    """
    _check_at(at)
    flags = ReadingFlag.NO_CONTACT if m.sensor_contact is False else ReadingFlag.NONE
    out = [_reading(Stream.HEART_RATE, float(m.bpm), at, sensor_id, flags)]
    out.extend(_reading(Stream.RR_INTERVAL, rr, at, sensor_id, flags) for rr in m.rr_ms)
    return out


def blood_pressure_readings(
    m: BloodPressureMeasurement,
    at: datetime,
    sensor_id: str,
    *,
    device_tz: tzinfo | None = None,
) -> list[Reading]:
    """BP_SYSTOLIC, BP_DIASTOLIC, BP_MEAN (mmHg, converted from kPa) and PULSE_RATE (bpm).

    Non-finite values are skipped (cuffs often send NaN for the mean). When
    the cuff reports body movement, a loose cuff or an improper position,
    every reading carries ``ReadingFlag.ARTIFACT``.

    Time: by default every reading is stamped ``at`` (arrival), because the
    cuff's time stamp has no zone. Pass ``device_tz`` (the zone the cuff's
    clock is set to) to stamp the readings with the cuff's own time stamp,
    converted to UTC and flagged ``SENSOR_TIMESTAMP``, when it sent one; useful
    because cuffs replay stored measurements on connect.

    Raises:
        ValueError: ``at`` is naive.
    """
    _check_at(at)
    when, flags = _sensor_time(m.timestamp, device_tz, at)
    if m.measurement_status is not None and m.measurement_status & _BP_ARTIFACT_STATUS:
        flags |= ReadingFlag.ARTIFACT
    mmhg = m.to_mmhg()
    values: list[tuple[Stream, float | None]] = [
        (Stream.BP_SYSTOLIC, mmhg.systolic),
        (Stream.BP_DIASTOLIC, mmhg.diastolic),
        (Stream.BP_MEAN, mmhg.mean_arterial_pressure),
        (Stream.PULSE_RATE, m.pulse_rate_bpm),
    ]
    return [
        _reading(stream, value, when, sensor_id, flags)
        for stream, value in values
        if value is not None and math.isfinite(value)
    ]


def plx_readings(
    m: PlxMeasurement,
    at: datetime,
    sensor_id: str,
    *,
    device_tz: tzinfo | None = None,
) -> list[Reading]:
    """SPO2 (%) and PULSE_RATE (bpm) from the normal / spot-check values.

    The fast and slow SpO2PR values and the pulse amplitude index are not
    turned into readings (no core stream for them). Non-finite values are
    skipped. Flags, from what the oximeter reports:

    - ``ARTIFACT`` when the measurement status says "questionable" or
      "invalid measurement detected";
    - ``NO_CONTACT`` when the device and sensor status says "sensor
      unconnected to user" or "sensor disconnected".

    Time: ``at`` (arrival) unless ``device_tz`` is given and a spot-check
    carries a time stamp from a clock that was set; then that stamp in UTC,
    flagged ``SENSOR_TIMESTAMP``.

    Raises:
        ValueError: ``at`` is naive.
    """
    _check_at(at)
    stamp = None if m.device_clock_not_set else m.timestamp
    when, flags = _sensor_time(stamp, device_tz, at)
    if m.measurement_status is not None and m.measurement_status & _PLX_ARTIFACT_STATUS:
        flags |= ReadingFlag.ARTIFACT
    if m.device_sensor_status is not None and m.device_sensor_status & _PLX_NO_CONTACT_STATUS:
        flags |= ReadingFlag.NO_CONTACT
    values = [(Stream.SPO2, m.spo2_pct), (Stream.PULSE_RATE, m.pulse_rate_bpm)]
    return [
        _reading(stream, value, when, sensor_id, flags) for stream, value in values if math.isfinite(value)
    ]


def battery_reading(pct: int, at: datetime, sensor_id: str) -> Reading:
    """A BATTERY reading (%) from :func:`devices.gatt.parse_battery_level`'s result.

    Raises:
        ValueError: ``pct`` outside 0..100, or ``at`` naive.
    """
    _check_at(at)
    if not 0 <= pct <= 100:
        raise ValueError(f"battery level must be 0..100 %, got {pct!r}")
    return _reading(Stream.BATTERY, float(pct), at, sensor_id, ReadingFlag.NONE)
