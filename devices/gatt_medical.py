"""Parsers for the Blood Pressure and Pulse Oximeter measurement characteristics.

Pure functions over ``bytes``, in the contract of :mod:`devices.gatt` (a frozen value or
:class:`~devices.gatt_fields.GattParseError`, nothing else). Layouts follow the Bluetooth SIG Blood Pressure
Service 1.1 (characteristic 0x2A35) and Pulse Oximeter Service 1.0.1
(characteristics 0x2A5E and 0x2A5F) specifications, cross-checked against the
flag definitions of two independent stack implementations (Qualcomm Bluetopia
``PLXSTypes.h`` and Stanford Spezi ``PLXContinuousMeasurement.swift`` /
``PLXSpotCheckMeasurement.swift``), which agree with the bit numbers and field
order documented below.

Bytes after the last field a packet's flags describe are ignored, so a later
revision of a specification that appends fields does not break parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum, IntFlag

from devices.gatt_fields import ByteReader

__all__ = [
    "KPA_TO_MMHG",
    "UNKNOWN_USER_ID",
    "BloodPressureMeasurement",
    "BloodPressureStatus",
    "PlxDeviceSensorStatus",
    "PlxMeasurement",
    "PlxMeasurementStatus",
    "PulseRateRange",
    "decode_blood_pressure_status",
    "parse_blood_pressure_measurement",
    "parse_plx_continuous",
    "parse_plx_spot_check",
]

KPA_TO_MMHG = 760 / 101.325
"""mmHg per kPa by definition (1 mmHg = 101325/760 Pa), ~7.500617."""

UNKNOWN_USER_ID = 0xFF
"""Blood Pressure Measurement user ID meaning "unknown user" (kept as 255, not mapped to None)."""

_BPM = "Blood Pressure Measurement"
_PLX_SPOT = "PLX Spot-check Measurement"
_PLX_CONT = "PLX Continuous Measurement"


class PulseRateRange(IntEnum):
    """Blood Pressure measurement status bits 3-4: pulse rate range detection."""

    WITHIN_RANGE = 0
    EXCEEDS_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2
    RESERVED = 3


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    """Decoded Blood Pressure measurement status (uint16; bits 6-15 reserved, ignored).

    Attributes:
        body_movement: bit 0, body movement detected during the measurement.
        cuff_too_loose: bit 1, cuff fit detection: cuff too loose.
        irregular_pulse: bit 2, irregular pulse detected.
        pulse_rate_range: bits 3-4, see :class:`PulseRateRange`.
        improper_position: bit 5, improper measurement position detected.
    """

    body_movement: bool
    cuff_too_loose: bool
    irregular_pulse: bool
    pulse_rate_range: PulseRateRange
    improper_position: bool


def decode_blood_pressure_status(raw: int) -> BloodPressureStatus:
    """Decode the raw Blood Pressure measurement status bits (reserved bits ignored)."""
    return BloodPressureStatus(
        body_movement=bool(raw & 0x01),
        cuff_too_loose=bool(raw & 0x02),
        irregular_pulse=bool(raw & 0x04),
        pulse_rate_range=PulseRateRange((raw >> 3) & 0b11),
        improper_position=bool(raw & 0x20),
    )


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One Blood Pressure Measurement (0x2A35) as sent by the cuff.

    Attributes:
        systolic, diastolic, mean_arterial_pressure: in ``unit``; NaN or
            ±inf for the SFLOAT special values (cuffs often send NaN for MAP).
        unit: ``"mmHg"`` or ``"kPa"``.
        timestamp: the cuff's own time stamp: a **naive** datetime in the
            device's local time, zone unknown; None when absent or not known
            (year, month or day 0). A cuff may replay stored measurements
            with old time stamps.
        pulse_rate_bpm: None when absent.
        user_id: None when absent; 255 (:data:`UNKNOWN_USER_ID`) when the cuff
            says "unknown user" (kept raw).
        measurement_status: raw uint16 status bits, None when absent; see
            :attr:`status`.
    """

    systolic: float
    diastolic: float
    mean_arterial_pressure: float
    unit: str
    timestamp: datetime | None = None
    pulse_rate_bpm: float | None = None
    user_id: int | None = None
    measurement_status: int | None = None

    @property
    def status(self) -> BloodPressureStatus | None:
        """The decoded :attr:`measurement_status`, or None when absent."""
        if self.measurement_status is None:
            return None
        return decode_blood_pressure_status(self.measurement_status)

    def to_mmhg(self) -> BloodPressureMeasurement:
        """This measurement with the three pressures in mmHg (self if already mmHg)."""
        if self.unit == "mmHg":
            return self
        return replace(
            self,
            systolic=self.systolic * KPA_TO_MMHG,
            diastolic=self.diastolic * KPA_TO_MMHG,
            mean_arterial_pressure=self.mean_arterial_pressure * KPA_TO_MMHG,
            unit="mmHg",
        )


def parse_blood_pressure_measurement(data: bytes | bytearray) -> BloodPressureMeasurement:
    """Parse a Blood Pressure Measurement (0x2A35, indicated).

    Layout (little-endian)::

        byte 0   flags
                   bit 0  unit: 0 = mmHg, 1 = kPa
                   bit 1  time stamp present
                   bit 2  pulse rate present
                   bit 3  user ID present
                   bit 4  measurement status present
                   bits 5-7 reserved (ignored)
        SFLOAT   systolic                      (always)
        SFLOAT   diastolic                     (always)
        SFLOAT   mean arterial pressure        (always)
        7 bytes  time stamp, Date Time         (bit 1)
        SFLOAT   pulse rate, beats per minute  (bit 2)
        uint8    user ID, 0xFF = unknown user  (bit 3)
        uint16   measurement status            (bit 4; see BloodPressureStatus)

    Raises:
        GattParseError: empty payload, a payload shorter than the flags
            promise, or a time stamp that is not a real date and time.
    """
    r = ByteReader(data, _BPM)
    flags = r.uint8("the flags byte")
    systolic = r.sfloat("a systolic SFLOAT")
    diastolic = r.sfloat("a diastolic SFLOAT")
    mean = r.sfloat("a mean arterial pressure SFLOAT")
    timestamp = r.date_time("time stamp", promised=True) if flags & 0x02 else None
    pulse = r.sfloat("a pulse rate SFLOAT", promised=True) if flags & 0x04 else None
    user_id = r.uint8("a uint8 user ID", promised=True) if flags & 0x08 else None
    status = r.uint16("a uint16 measurement status", promised=True) if flags & 0x10 else None
    return BloodPressureMeasurement(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean,
        unit="kPa" if flags & 0x01 else "mmHg",
        timestamp=timestamp,
        pulse_rate_bpm=pulse,
        user_id=user_id,
        measurement_status=status,
    )


class PlxMeasurementStatus(IntFlag):
    """PLX measurement status bits (uint16; bits 0-4 reserved)."""

    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_MEASUREMENT_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT_DETECTED = 1 << 14
    INVALID_MEASUREMENT_DETECTED = 1 << 15


class PlxDeviceSensorStatus(IntFlag):
    """PLX device and sensor status bits (uint24; bits 16-23 reserved)."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION_DETECTED = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY_DETECTED = 1 << 2
    INADEQUATE_SIGNAL_DETECTED = 1 << 3
    POOR_SIGNAL_DETECTED = 1 << 4
    LOW_PERFUSION_DETECTED = 1 << 5
    ERRATIC_SIGNAL_DETECTED = 1 << 6
    NONPULSATILE_SIGNAL_DETECTED = 1 << 7
    QUESTIONABLE_PULSE_DETECTED = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE_DETECTED = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR_CONNECTED = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


@dataclass(frozen=True, slots=True)
class PlxMeasurement:
    """One PLX Spot-check (0x2A5E) or Continuous (0x2A5F) measurement.

    Attributes:
        spo2_pct: SpO2 in percent (NaN/±inf for SFLOAT special values).
        pulse_rate_bpm: pulse rate in beats per minute (NaN/±inf likewise).
        spot_check: True for a Spot-check measurement, False for Continuous.
        spo2_fast_pct, pulse_rate_fast_bpm: Continuous only, SpO2PR-Fast.
        spo2_slow_pct, pulse_rate_slow_bpm: Continuous only, SpO2PR-Slow.
        measurement_status: raw uint16 (see :class:`PlxMeasurementStatus`).
        device_sensor_status: raw uint24 (see :class:`PlxDeviceSensorStatus`).
        pulse_amplitude_index: perfusion, in percent.
        timestamp: Spot-check only: naive device local time, zone unknown;
            None when absent or not known.
        device_clock_not_set: Spot-check only (flag bit 4): the device's clock
            was never set, so ``timestamp`` is not a wall time.
    """

    spo2_pct: float
    pulse_rate_bpm: float
    spot_check: bool = False
    spo2_fast_pct: float | None = None
    pulse_rate_fast_bpm: float | None = None
    spo2_slow_pct: float | None = None
    pulse_rate_slow_bpm: float | None = None
    measurement_status: int | None = None
    device_sensor_status: int | None = None
    pulse_amplitude_index: float | None = None
    timestamp: datetime | None = None
    device_clock_not_set: bool = False

    @property
    def measurement_status_flags(self) -> PlxMeasurementStatus | None:
        """:attr:`measurement_status` as flags (unknown bits kept), or None."""
        return None if self.measurement_status is None else PlxMeasurementStatus(self.measurement_status)

    @property
    def device_sensor_status_flags(self) -> PlxDeviceSensorStatus | None:
        """:attr:`device_sensor_status` as flags (unknown bits kept), or None."""
        if self.device_sensor_status is None:
            return None
        return PlxDeviceSensorStatus(self.device_sensor_status)


def parse_plx_spot_check(data: bytes | bytearray) -> PlxMeasurement:
    """Parse a PLX Spot-check Measurement (0x2A5E, indicated).

    Layout (little-endian)::

        byte 0   flags
                   bit 0  time stamp present
                   bit 1  measurement status present
                   bit 2  device and sensor status present
                   bit 3  pulse amplitude index present
                   bit 4  device clock is not set
                   bits 5-7 reserved (ignored)
        SFLOAT   SpO2PR-Spot-Check: SpO2, percent         (always)
        SFLOAT   SpO2PR-Spot-Check: pulse rate, bpm       (always)
        7 bytes  time stamp, Date Time                    (bit 0)
        uint16   measurement status                       (bit 1)
        uint24   device and sensor status                 (bit 2)
        SFLOAT   pulse amplitude index, percent           (bit 3)

    Raises:
        GattParseError: empty payload, a payload shorter than the flags
            promise, or a time stamp that is not a real date and time.
    """
    r = ByteReader(data, _PLX_SPOT)
    flags = r.uint8("the flags byte")
    spo2 = r.sfloat("an SpO2 SFLOAT")
    pulse = r.sfloat("a pulse rate SFLOAT")
    timestamp = r.date_time("time stamp", promised=True) if flags & 0x01 else None
    status = r.uint16("a uint16 measurement status", promised=True) if flags & 0x02 else None
    device = r.uint24("a uint24 device and sensor status", promised=True) if flags & 0x04 else None
    pai = r.sfloat("a pulse amplitude index SFLOAT", promised=True) if flags & 0x08 else None
    return PlxMeasurement(
        spo2_pct=spo2,
        pulse_rate_bpm=pulse,
        spot_check=True,
        measurement_status=status,
        device_sensor_status=device,
        pulse_amplitude_index=pai,
        timestamp=timestamp,
        device_clock_not_set=bool(flags & 0x10),
    )


def parse_plx_continuous(data: bytes | bytearray) -> PlxMeasurement:
    """Parse a PLX Continuous Measurement (0x2A5F, notified).

    Layout (little-endian)::

        byte 0   flags
                   bit 0  SpO2PR-Fast present
                   bit 1  SpO2PR-Slow present
                   bit 2  measurement status present
                   bit 3  device and sensor status present
                   bit 4  pulse amplitude index present
                   bits 5-7 reserved (ignored)
        SFLOAT   SpO2PR-Normal: SpO2, percent             (always)
        SFLOAT   SpO2PR-Normal: pulse rate, bpm           (always)
        SFLOAT   SpO2PR-Fast: SpO2, SFLOAT pulse rate     (bit 0, 4 bytes)
        SFLOAT   SpO2PR-Slow: SpO2, SFLOAT pulse rate     (bit 1, 4 bytes)
        uint16   measurement status                       (bit 2)
        uint24   device and sensor status                 (bit 3)
        SFLOAT   pulse amplitude index, percent           (bit 4)

    Raises:
        GattParseError: empty payload or a payload shorter than the flags promise.
    """
    r = ByteReader(data, _PLX_CONT)
    flags = r.uint8("the flags byte")
    spo2 = r.sfloat("an SpO2PR-Normal SpO2 SFLOAT")
    pulse = r.sfloat("an SpO2PR-Normal pulse rate SFLOAT")
    fast: tuple[float | None, float | None] = (None, None)
    slow: tuple[float | None, float | None] = (None, None)
    if flags & 0x01:
        fast = (
            r.sfloat("an SpO2PR-Fast SpO2 SFLOAT", promised=True),
            r.sfloat("an SpO2PR-Fast pulse rate SFLOAT", promised=True),
        )
    if flags & 0x02:
        slow = (
            r.sfloat("an SpO2PR-Slow SpO2 SFLOAT", promised=True),
            r.sfloat("an SpO2PR-Slow pulse rate SFLOAT", promised=True),
        )
    status = r.uint16("a uint16 measurement status", promised=True) if flags & 0x04 else None
    device = r.uint24("a uint24 device and sensor status", promised=True) if flags & 0x08 else None
    pai = r.sfloat("a pulse amplitude index SFLOAT", promised=True) if flags & 0x10 else None
    return PlxMeasurement(
        spo2_pct=spo2,
        pulse_rate_bpm=pulse,
        spot_check=False,
        spo2_fast_pct=fast[0],
        pulse_rate_fast_bpm=fast[1],
        spo2_slow_pct=slow[0],
        pulse_rate_slow_bpm=slow[1],
        measurement_status=status,
        device_sensor_status=device,
        pulse_amplitude_index=pai,
    )

