"""Byte fixtures for the GATT parsers (devices.gatt, devices.gatt_fields, devices.gatt_medical),
written from the Bluetooth SIG specification text.

Each fixture's comment names the specification fields its bytes encode.
Multi-byte fields are little-endian.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.gatt import (
    BATTERY_LEVEL,
    BATTERY_SERVICE,
    BLOOD_PRESSURE_MEASUREMENT,
    BLOOD_PRESSURE_SERVICE,
    BODY_SENSOR_LOCATION,
    DEVICE_INFORMATION_SERVICE,
    FIRMWARE_REVISION,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    PLX_CONTINUOUS,
    PLX_FEATURES,
    PLX_SPOT_CHECK,
    PULSE_OXIMETER_SERVICE,
    SERIAL_NUMBER,
    HeartRateMeasurement,
    parse_battery_level,
    parse_body_sensor_location,
    parse_heart_rate_measurement,
    parse_utf8_string,
    uuid16,
)
from devices.gatt_fields import GattParseError, parse_sfloat, parse_sfloat_bytes
from devices.gatt_medical import (
    BloodPressureMeasurement,
    PlxDeviceSensorStatus,
    PlxMeasurementStatus,
    PulseRateRange,
    parse_blood_pressure_measurement,
    parse_plx_continuous,
    parse_plx_spot_check,
)

# --------------------------------------------------------------------------- Heart Rate Measurement


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # Flags 0x00 (HR format uint8, contact 0b00 not supported) | Heart Rate Measurement Value uint8 = 72
        (b"\x00\x48", HeartRateMeasurement(bpm=72)),
        # Flags 0x01 (HR format uint16) | Heart Rate Measurement Value uint16 = 0x0148 = 328
        (b"\x01\x48\x01", HeartRateMeasurement(bpm=328)),
        # Flags 0x01 (uint16) | HR uint16 = 0x0048 = 72 (small value in wide format)
        (b"\x01\x48\x00", HeartRateMeasurement(bpm=72)),
        # Flags 0x02 (Sensor Contact Status bits 0b01: not supported) | HR uint8 = 72
        (b"\x02\x48", HeartRateMeasurement(bpm=72, sensor_contact=None)),
        # Flags 0x04 (Sensor Contact Status bits 0b10: supported, not detected) | HR uint8 = 0
        (b"\x04\x00", HeartRateMeasurement(bpm=0, sensor_contact=False)),
        # Flags 0x06 (Sensor Contact Status bits 0b11: supported and detected) | HR uint8 = 72
        (b"\x06\x48", HeartRateMeasurement(bpm=72, sensor_contact=True)),
        # Flags 0x08 (Energy Expended Status: present) | HR uint8 = 72 | Energy Expended uint16 = 10000 kJ
        (b"\x08\x48\x10\x27", HeartRateMeasurement(bpm=72, energy_expended_kj=10000)),
        # Flags 0x09 (uint16 HR, Energy Expended present) | HR uint16 = 300 | Energy Expended uint16 = 0xFFFF
        (b"\x09\x2c\x01\xff\xff", HeartRateMeasurement(bpm=300, energy_expended_kj=0xFFFF)),
        # Flags 0x10 (RR-Interval present) | HR uint8 = 72 | no RR-Interval values (allowed)
        (b"\x10\x48", HeartRateMeasurement(bpm=72)),
        # Flags 0x10 (RR-Interval present) | HR uint8 = 60 | RR-Interval uint16 = 1024 (1 s)
        (b"\x10\x3c\x00\x04", HeartRateMeasurement(bpm=60, rr_1024=(1024,))),
        # Flags 0x16 (contact detected, RR present) | HR uint8 = 72 | RR-Interval 896, 912, 850
        (
            b"\x16\x48\x80\x03\x90\x03\x52\x03",
            HeartRateMeasurement(bpm=72, sensor_contact=True, rr_1024=(896, 912, 850)),
        ),
        # Flags 0x10 (RR present) | HR uint8 = 72 | RR-Interval 1024 | dangling odd byte 0x07 (dropped)
        (b"\x10\x48\x00\x04\x07", HeartRateMeasurement(bpm=72, rr_1024=(1024,))),
        # Flags 0x10 (RR present) | HR uint8 = 72 | a lone odd byte, no whole RR-Interval
        (b"\x10\x48\x07", HeartRateMeasurement(bpm=72)),
        # Flags 0x18 (Energy Expended and RR present) | HR 72 | Energy Expended 5 kJ | RR-Interval 800
        (b"\x18\x48\x05\x00\x20\x03", HeartRateMeasurement(bpm=72, energy_expended_kj=5, rr_1024=(800,))),
        # Flags 0x1F (uint16 HR, contact detected, Energy Expended, RR) | HR uint16 = 72 |
        # Energy Expended uint16 = 258 | RR-Interval 0x0400, 0xFFFF
        (
            b"\x1f\x48\x00\x02\x01\x00\x04\xff\xff",
            HeartRateMeasurement(bpm=72, sensor_contact=True, energy_expended_kj=258, rr_1024=(1024, 65535)),
        ),
        # Flags 0xF6 (reserved bits 5-7 set, contact detected, RR present) | HR uint8 = 72 | RR 1024
        (b"\xf6\x48\x00\x04", HeartRateMeasurement(bpm=72, sensor_contact=True, rr_1024=(1024,))),
        # Flags 0xE0 (only reserved bits 5-7 set) | HR uint8 = 72
        (b"\xe0\x48", HeartRateMeasurement(bpm=72)),
        # Flags 0x00 (no RR) | HR uint8 = 72 | trailing byte not described by the flags (ignored)
        (b"\x00\x48\x99", HeartRateMeasurement(bpm=72)),
    ],
)
def test_heart_rate_measurement_fixtures(payload: bytes, expected: HeartRateMeasurement) -> None:
    assert parse_heart_rate_measurement(payload) == expected
    assert parse_heart_rate_measurement(bytearray(payload)) == expected


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        # empty: no Flags field at all
        (b"", "the flags byte"),
        # Flags 0x00 (uint8 HR) but no Heart Rate Measurement Value
        (b"\x00", "a uint8 heart rate"),
        # Flags 0x01 (uint16 HR) with only one HR byte
        (b"\x01\x48", "flags promise a uint16 heart rate at bytes 1-2 but the payload has 2 bytes"),
        # Flags 0x08 (Energy Expended present) | HR uint8 = 72 | one of the two Energy Expended bytes
        (b"\x08\x48\x10", "flags promise a uint16 energy expended"),
        # Flags 0x09 (uint16 HR, Energy Expended present) | HR uint16 | no Energy Expended
        (b"\x09\x48\x00", "flags promise a uint16 energy expended"),
        # Flags 0x18 (Energy Expended and RR present) | HR uint8 | Energy Expended missing entirely
        (b"\x18\x48", "flags promise a uint16 energy expended"),
    ],
)
def test_heart_rate_measurement_truncated(payload: bytes, field: str) -> None:
    with pytest.raises(GattParseError, match=rf"^Heart Rate Measurement: .*{field}"):
        parse_heart_rate_measurement(payload)


def test_rr_ms_is_exact_conversion_of_raw_units() -> None:
    m = HeartRateMeasurement(bpm=60, rr_1024=(1024, 1000, 1, 0))
    assert m.rr_ms == (1000.0, 976.5625, 0.9765625, 0.0)
    assert HeartRateMeasurement(bpm=60).rr_ms == ()


def _encode_hrm(m: HeartRateMeasurement, *, wide: bool, contact_bits: int, reserved: int) -> bytes:
    """Encoder written from the spec, for the round-trip property."""
    flags = (1 if wide else 0) | (contact_bits << 1) | (reserved << 5)
    body = m.bpm.to_bytes(2 if wide else 1, "little")
    if m.energy_expended_kj is not None:
        flags |= 0x08
        body += m.energy_expended_kj.to_bytes(2, "little")
    if m.rr_1024:
        flags |= 0x10
        body += b"".join(v.to_bytes(2, "little") for v in m.rr_1024)
    return bytes([flags]) + body


@given(
    wide=st.booleans(),
    bpm8=st.integers(0, 0xFF),
    bpm16=st.integers(0, 0xFFFF),
    contact_bits=st.integers(0, 3),
    energy=st.none() | st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=9).map(tuple),
    reserved=st.integers(0, 7),
)
def test_heart_rate_round_trip(
    wide: bool,
    bpm8: int,
    bpm16: int,
    contact_bits: int,
    energy: int | None,
    rr: tuple[int, ...],
    reserved: int,
) -> None:
    contact = None if contact_bits < 2 else contact_bits == 3
    m = HeartRateMeasurement(
        bpm=bpm16 if wide else bpm8, sensor_contact=contact, energy_expended_kj=energy, rr_1024=rr
    )
    payload = _encode_hrm(m, wide=wide, contact_bits=contact_bits, reserved=reserved)
    assert parse_heart_rate_measurement(payload) == m


# --------------------------------------------------------------------------- SFLOAT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x0000, 0.0),  # exponent 0, mantissa 0
        (0x0001, 1.0),  # exponent 0, mantissa 1
        (0x0048, 72.0),  # exponent 0, mantissa 72
        (0x07FD, 2045.0),  # exponent 0, largest mantissa that is not a special value
        (0x0FFF, -1.0),  # exponent 0, mantissa 0xFFF = -1 (two's complement)
        (0x0803, -2045.0),  # exponent 0, mantissa 0x803 = -2045, first non-special negative
        (0x1001, 10.0),  # exponent +1, mantissa 1
        (0x17FF, 20470.0),  # exponent +1, mantissa 0x7FF = 2047: NOT NaN (specials need exponent 0)
        (0x1800, -20480.0),  # exponent +1, mantissa 0x800 = -2048: NOT NRes
        (0x77FF, 2047e7),  # exponent +7 (largest), mantissa 2047
        (0x7001, 1e7),  # exponent +7, mantissa 1
        (0x8078, 120e-8),  # exponent 0x8 = -8 (two's complement), mantissa 120: 120 x 10^-8
        (0x8800, -2048e-8),  # exponent -8, mantissa -2048 (both negative, both extreme)
        (0xF4D2, 123.4),  # exponent 0xF = -1, mantissa 0x4D2 = 1234
        (0xF3E8, 100.0),  # exponent -1, mantissa 1000
        (0xF800, -204.8),  # exponent -1, mantissa 0x800 = -2048
        (0xFFFF, -0.1),  # exponent -1, mantissa -1
        (0xE3CF, 9.75),  # exponent 0xE = -2, mantissa 0x3CF = 975
        (0xD001, 0.001),  # exponent 0xD = -3, mantissa 1
        (0x2FFE, -200.0),  # exponent +2, mantissa 0xFFE = -2
    ],
)
def test_sfloat_values(raw: int, expected: float) -> None:
    assert parse_sfloat(raw) == expected


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (0x07FF, "nan"),  # NaN
        (0x0800, "nan"),  # NRes (not at this resolution)
        (0x0801, "nan"),  # reserved for future use
        (0x07FE, "+inf"),  # +INFINITY
        (0x0802, "-inf"),  # -INFINITY
    ],
)
def test_sfloat_special_values(raw: int, kind: str) -> None:
    value = parse_sfloat(raw)
    if kind == "nan":
        assert math.isnan(value)
    else:
        assert value == (math.inf if kind == "+inf" else -math.inf)


def test_sfloat_exponent_sign_is_twos_complement() -> None:
    # A decoder that reads the exponent nibble as unsigned gets 120e8 for 0x8078.
    assert parse_sfloat(0x8078) == pytest.approx(1.2e-6, rel=0)
    assert parse_sfloat(0x8078) != 120e8


_SPECIALS = {0x07FF, 0x0800, 0x0801, 0x07FE, 0x0802}


def test_sfloat_every_value_is_the_nearest_float_to_the_exact_decimal() -> None:
    for raw in range(0x10000):
        value = parse_sfloat(raw)
        if raw in _SPECIALS:
            assert not math.isfinite(value)
            continue
        # Independent decomposition: sign-extend each field via signed byte conversion.
        exponent = int.from_bytes(bytes([(raw >> 8) & 0xF0]), "big", signed=True) >> 4
        mantissa = int.from_bytes(((raw & 0x0FFF) << 4).to_bytes(2, "big"), "big", signed=True) >> 4
        assert value == float(Decimal(mantissa).scaleb(exponent)), hex(raw)


@pytest.mark.parametrize("raw", [-1, 0x10000, 1 << 40])
def test_sfloat_out_of_range(raw: int) -> None:
    with pytest.raises(GattParseError, match="SFLOAT"):
        parse_sfloat(raw)


def test_sfloat_bytes_little_endian() -> None:
    # byte 0 padding | SFLOAT 0xF4D2 little-endian (D2 F4) = 123.4
    assert parse_sfloat_bytes(b"\x00\xd2\xf4", 1) == 123.4
    assert parse_sfloat_bytes(b"\x78\x80", 0) == 120e-8
    for data, offset in [(b"\xd2", 0), (b"\x00\xd2\xf4", 2), (b"\xd2\xf4", -1)]:
        with pytest.raises(GattParseError, match="SFLOAT"):
            parse_sfloat_bytes(data, offset)


# --------------------------------------------------------------------------- Blood Pressure Measurement

# SFLOAT fixtures: systolic 120 (0x0078), diastolic 80 (0x0050), mean arterial pressure 93 (0x005D).
BP_MMHG = b"\x78\x00\x50\x00\x5d\x00"
# Date Time: year 2024 (0x07E8) | month 3 | day 15 | hours 14 | minutes 30 | seconds 5
TIME_STAMP = b"\xe8\x07\x03\x0f\x0e\x1e\x05"
TIME_STAMP_VALUE = datetime(2024, 3, 15, 14, 30, 5)
PULSE_72 = b"\x48\x00"  # Pulse Rate SFLOAT 72
USER_3 = b"\x03"  # User ID uint8 3
# Measurement Status uint16 0x002D: body movement (bit 0), irregular pulse (bit 2),
# pulse rate range 0b01 exceeds upper limit (bits 3-4), improper position (bit 5)
STATUS_2D = b"\x2d\x00"


@pytest.mark.parametrize("flags", range(0x20))
def test_blood_pressure_every_optional_field_combination(flags: int) -> None:
    # Flags | Systolic, Diastolic, MAP SFLOAT | [Time Stamp] | [Pulse Rate] | [User ID] | [Measurement Status]
    payload = bytes([flags]) + BP_MMHG
    payload += TIME_STAMP if flags & 0x02 else b""
    payload += PULSE_72 if flags & 0x04 else b""
    payload += USER_3 if flags & 0x08 else b""
    payload += STATUS_2D if flags & 0x10 else b""
    m = parse_blood_pressure_measurement(payload)
    assert (m.systolic, m.diastolic, m.mean_arterial_pressure) == (120.0, 80.0, 93.0)
    assert m.unit == ("kPa" if flags & 0x01 else "mmHg")
    assert m.timestamp == (TIME_STAMP_VALUE if flags & 0x02 else None)
    assert m.pulse_rate_bpm == (72.0 if flags & 0x04 else None)
    assert m.user_id == (3 if flags & 0x08 else None)
    assert m.measurement_status == (0x2D if flags & 0x10 else None)
    if flags & 0x1E:
        # Any optional field present: dropping the last byte leaves the flags' promise unkept.
        with pytest.raises(GattParseError, match=r"^Blood Pressure Measurement: flags promise"):
            parse_blood_pressure_measurement(payload[:-1])


def test_blood_pressure_kpa_and_conversion() -> None:
    # Flags 0x01 (unit kPa) | Systolic SFLOAT 0xF0A0 = 160e-1 = 16.0 | Diastolic 0xF06B = 10.7 |
    # MAP 0xF07C = 12.4
    m = parse_blood_pressure_measurement(b"\x01\xa0\xf0\x6b\xf0\x7c\xf0")
    assert (m.systolic, m.diastolic, m.mean_arterial_pressure, m.unit) == (16.0, 10.7, 12.4, "kPa")
    mmhg = m.to_mmhg()
    assert mmhg.unit == "mmHg"
    assert mmhg.systolic == pytest.approx(120.01, abs=0.01)
    assert mmhg.diastolic == pytest.approx(80.26, abs=0.01)
    assert mmhg.mean_arterial_pressure == pytest.approx(93.01, abs=0.01)
    plain = parse_blood_pressure_measurement(b"\x00" + BP_MMHG)
    assert plain.to_mmhg() is plain


def test_blood_pressure_status_decoding() -> None:
    # Flags 0x10 (Measurement Status present) | 120/80/93 mmHg | Measurement Status 0x002D
    status = parse_blood_pressure_measurement(b"\x10" + BP_MMHG + STATUS_2D).status
    assert status is not None
    assert status.body_movement
    assert status.irregular_pulse
    assert status.improper_position
    assert not status.cuff_too_loose
    assert status.pulse_rate_range is PulseRateRange.EXCEEDS_UPPER_LIMIT
    # Measurement Status 0x0012: cuff too loose (bit 1), pulse rate range 0b10 below lower limit
    status = parse_blood_pressure_measurement(b"\x10" + BP_MMHG + b"\x12\x00").status
    assert status is not None
    assert status.cuff_too_loose
    assert not status.body_movement
    assert status.pulse_rate_range is PulseRateRange.BELOW_LOWER_LIMIT
    assert parse_blood_pressure_measurement(b"\x00" + BP_MMHG).status is None


def test_blood_pressure_unknown_user_and_nan_map() -> None:
    # Flags 0x08 (User ID present) | Systolic 120 | Diastolic 80 | MAP SFLOAT 0x07FF NaN |
    # User ID 0xFF = unknown user
    m = parse_blood_pressure_measurement(b"\x08\x78\x00\x50\x00\xff\x07\xff")
    assert m.user_id == 255
    assert math.isnan(m.mean_arterial_pressure)


@pytest.mark.parametrize(
    "stamp",
    [
        b"\x00\x00\x03\x0f\x0e\x1e\x05",  # Date Time year 0 = not known
        b"\xe8\x07\x00\x0f\x0e\x1e\x05",  # Date Time month 0 = not known
        b"\xe8\x07\x03\x00\x0e\x1e\x05",  # Date Time day 0 = not known
    ],
)
def test_blood_pressure_unknown_time_stamp(stamp: bytes) -> None:
    # Flags 0x02 (Time Stamp present) | 120/80/93 mmHg | Time Stamp with an unknown part
    assert parse_blood_pressure_measurement(b"\x02" + BP_MMHG + stamp).timestamp is None


@pytest.mark.parametrize(
    "stamp",
    [
        b"\xe8\x07\x0d\x0f\x0e\x1e\x05",  # Date Time month 13
        b"\xe8\x07\x02\x1e\x0e\x1e\x05",  # Date Time 30 February 2024
        b"\xe8\x07\x03\x0f\x18\x1e\x05",  # Date Time hours 24
        b"\xe8\x07\x03\x0f\x0e\x3c\x05",  # Date Time minutes 60
        b"\xe8\x03\x03\x0f\x0e\x1e\x05",  # Date Time year 1000 (below 1582)
        b"\x10\x27\x03\x0f\x0e\x1e\x05",  # Date Time year 10000 (above 9999)
    ],
)
def test_blood_pressure_invalid_time_stamp(stamp: bytes) -> None:
    with pytest.raises(GattParseError, match=r"^Blood Pressure Measurement: time stamp"):
        parse_blood_pressure_measurement(b"\x02" + BP_MMHG + stamp)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"", "the flags byte"),  # empty
        (b"\x00\x78", "a systolic SFLOAT"),  # Flags | half a Systolic
        (b"\x00\x78\x00\x50\x00", "a mean arterial pressure SFLOAT"),  # Flags | Systolic | Diastolic only
        (b"\x02" + BP_MMHG + b"\xe8\x07\x03", "time stamp"),  # Flags 0x02 | 3 of 7 Time Stamp bytes
    ],
)
def test_blood_pressure_truncated(payload: bytes, field: str) -> None:
    with pytest.raises(GattParseError, match=field):
        parse_blood_pressure_measurement(payload)


def test_blood_pressure_reserved_flag_bits_and_trailing_bytes_ignored() -> None:
    # Flags 0xE0 (reserved bits 5-7) | 120/80/93 mmHg | two bytes beyond the described fields
    m = parse_blood_pressure_measurement(b"\xe0" + BP_MMHG + b"\x01\x02")
    assert m == BloodPressureMeasurement(
        systolic=120.0, diastolic=80.0, mean_arterial_pressure=93.0, unit="mmHg"
    )


# --------------------------------------------------------------------------- PLX

SPO2_98_PR_65 = b"\x62\x00\x41\x00"  # SpO2 SFLOAT 98 | PR SFLOAT 65
SPO2PR_FAST = b"\x61\x00\x46\x00"  # SpO2PR-Fast: SpO2 97 | PR 70
SPO2PR_SLOW = b"\x60\x00\x42\x00"  # SpO2PR-Slow: SpO2 96 | PR 66
PLX_STATUS = b"\x80\x40"  # Measurement Status uint16 0x4080: validated data, questionable measurement
DEVICE_STATUS = b"\x20\x08\x00"  # Device and Sensor Status uint24 0x000820: low perfusion, unconnected
PAI = b"\x19\xf0"  # Pulse Amplitude Index SFLOAT 0xF019 = 2.5 %


@pytest.mark.parametrize("flags", range(0x20))
def test_plx_continuous_every_optional_field_combination(flags: int) -> None:
    # Flags | SpO2PR-Normal | [SpO2PR-Fast] | [SpO2PR-Slow] | [Measurement Status] |
    # [Device and Sensor Status] | [Pulse Amplitude Index]
    payload = bytes([flags]) + SPO2_98_PR_65
    payload += SPO2PR_FAST if flags & 0x01 else b""
    payload += SPO2PR_SLOW if flags & 0x02 else b""
    payload += PLX_STATUS if flags & 0x04 else b""
    payload += DEVICE_STATUS if flags & 0x08 else b""
    payload += PAI if flags & 0x10 else b""
    m = parse_plx_continuous(payload)
    assert (m.spo2_pct, m.pulse_rate_bpm, m.spot_check) == (98.0, 65.0, False)
    assert (m.spo2_fast_pct, m.pulse_rate_fast_bpm) == ((97.0, 70.0) if flags & 0x01 else (None, None))
    assert (m.spo2_slow_pct, m.pulse_rate_slow_bpm) == ((96.0, 66.0) if flags & 0x02 else (None, None))
    assert m.measurement_status == (0x4080 if flags & 0x04 else None)
    assert m.device_sensor_status == (0x000820 if flags & 0x08 else None)
    assert m.pulse_amplitude_index == (2.5 if flags & 0x10 else None)
    assert m.timestamp is None
    assert not m.device_clock_not_set
    if flags:
        with pytest.raises(GattParseError, match=r"^PLX Continuous Measurement: flags promise"):
            parse_plx_continuous(payload[:-1])


def test_plx_continuous_status_flags_and_reserved_bits() -> None:
    # Flags 0xEC (reserved bits 5-7, Measurement Status, Device and Sensor Status) | 98 % / 65 bpm |
    # Measurement Status 0x4080 | Device and Sensor Status 0x000820
    m = parse_plx_continuous(b"\xec" + SPO2_98_PR_65 + PLX_STATUS + DEVICE_STATUS)
    assert m.measurement_status_flags == (
        PlxMeasurementStatus.VALIDATED_DATA | PlxMeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED
    )
    assert m.device_sensor_status_flags == (
        PlxDeviceSensorStatus.LOW_PERFUSION_DETECTED | PlxDeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER
    )
    assert m.spo2_fast_pct is None
    assert m.pulse_amplitude_index is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"", "the flags byte"),  # empty
        (b"\x00\x62\x00", "an SpO2PR-Normal pulse rate SFLOAT"),  # Flags | SpO2 only
        (b"\x01" + SPO2_98_PR_65 + b"\x61\x00", "SpO2PR-Fast pulse rate"),  # half an SpO2PR-Fast
        (b"\x08" + SPO2_98_PR_65 + b"\x20\x08", "a uint24 device and sensor status"),  # 2 of 3 bytes
    ],
)
def test_plx_continuous_truncated(payload: bytes, field: str) -> None:
    with pytest.raises(GattParseError, match=rf"^PLX Continuous Measurement: .*{field}"):
        parse_plx_continuous(payload)


@pytest.mark.parametrize("flags", range(0x20))
def test_plx_spot_check_every_optional_field_combination(flags: int) -> None:
    # Flags | SpO2PR-Spot-Check | [Timestamp] | [Measurement Status] | [Device and Sensor Status] |
    # [Pulse Amplitude Index]; bit 4 = device clock not set (no field)
    payload = bytes([flags]) + SPO2_98_PR_65
    payload += TIME_STAMP if flags & 0x01 else b""
    payload += PLX_STATUS if flags & 0x02 else b""
    payload += DEVICE_STATUS if flags & 0x04 else b""
    payload += PAI if flags & 0x08 else b""
    m = parse_plx_spot_check(payload)
    assert (m.spo2_pct, m.pulse_rate_bpm, m.spot_check) == (98.0, 65.0, True)
    assert m.timestamp == (TIME_STAMP_VALUE if flags & 0x01 else None)
    assert m.measurement_status == (0x4080 if flags & 0x02 else None)
    assert m.device_sensor_status == (0x000820 if flags & 0x04 else None)
    assert m.pulse_amplitude_index == (2.5 if flags & 0x08 else None)
    assert m.device_clock_not_set == bool(flags & 0x10)
    assert m.spo2_fast_pct is None
    assert m.spo2_slow_pct is None
    if flags & 0x0F:
        with pytest.raises(GattParseError, match=r"^PLX Spot-check Measurement: flags promise"):
            parse_plx_spot_check(payload[:-1])


def test_plx_special_values() -> None:
    # Flags 0x00 | SpO2 SFLOAT 0x07FF NaN | PR SFLOAT 0x0800 NRes
    m = parse_plx_spot_check(b"\x00\xff\x07\x00\x08")
    assert math.isnan(m.spo2_pct)
    assert math.isnan(m.pulse_rate_bpm)
    # Flags 0x00 | SpO2 SFLOAT 0x07FE +INFINITY | PR 0x0802 -INFINITY
    m = parse_plx_continuous(b"\x00\xfe\x07\x02\x08")
    assert m.spo2_pct == math.inf
    assert m.pulse_rate_bpm == -math.inf


def test_plx_spot_check_invalid_time_stamp() -> None:
    # Flags 0x01 (Timestamp present) | 98 % / 65 bpm | Timestamp with month 13
    with pytest.raises(GattParseError, match=r"^PLX Spot-check Measurement: time stamp"):
        parse_plx_spot_check(b"\x01" + SPO2_98_PR_65 + b"\xe8\x07\x0d\x0f\x0e\x1e\x05")


# --------------------------------------------------------------------------- Battery, location, strings


@pytest.mark.parametrize(("payload", "level"), [(b"\x00", 0), (b"\x32", 50), (b"\x64", 100)])
def test_battery_level(payload: bytes, level: int) -> None:
    # Battery Level uint8 percent
    assert parse_battery_level(payload) == level


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\x65", "101 % is above"),  # Battery Level 101: above the 0..100 range
        (b"\xff", "255 % is above"),  # Battery Level 255
        (b"", "exactly 1 byte"),  # empty
        (b"\x32\x00", "exactly 1 byte"),  # two bytes
    ],
)
def test_battery_level_invalid(payload: bytes, match: str) -> None:
    with pytest.raises(GattParseError, match=rf"^Battery Level: .*{match}"):
        parse_battery_level(payload)


@pytest.mark.parametrize(
    ("value", "name"),
    [(0, "other"), (1, "chest"), (2, "wrist"), (3, "finger"), (4, "hand"), (5, "ear lobe"), (6, "foot")],
)
def test_body_sensor_location(value: int, name: str) -> None:
    # Body Sensor Location uint8 enumeration
    assert parse_body_sensor_location(bytes([value])) == name


def test_body_sensor_location_reserved_and_malformed() -> None:
    assert parse_body_sensor_location(b"\x07") == "unknown (7)"  # reserved for future use
    assert parse_body_sensor_location(b"\xff") == "unknown (255)"
    for payload in (b"", b"\x01\x00"):
        with pytest.raises(GattParseError, match=r"^Body Sensor Location: expected exactly 1 byte"):
            parse_body_sensor_location(payload)


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"Polar Electro Oy", "Polar Electro Oy"),  # Manufacturer Name String
        (b"H10\x00\x00\x00", "H10"),  # Model Number String padded with NULs
        (b"A\x00B", "A\x00B"),  # an inner NUL is content, not padding
        ("Müller".encode(), "Müller"),  # multi-byte UTF-8
        (b"FW \xff1.0", "FW \ufffd1.0"),  # invalid UTF-8 replaced, not raised
        (b"", ""),
    ],
)
def test_utf8_string(payload: bytes, text: str) -> None:
    assert parse_utf8_string(payload) == text


# --------------------------------------------------------------------------- UUIDs


def test_uuid_constants() -> None:
    base = "-0000-1000-8000-00805f9b34fb"
    expected = {
        HEART_RATE_SERVICE: "180d",
        HEART_RATE_MEASUREMENT: "2a37",
        BODY_SENSOR_LOCATION: "2a38",
        BATTERY_SERVICE: "180f",
        BATTERY_LEVEL: "2a19",
        DEVICE_INFORMATION_SERVICE: "180a",
        MANUFACTURER_NAME: "2a29",
        MODEL_NUMBER: "2a24",
        SERIAL_NUMBER: "2a25",
        FIRMWARE_REVISION: "2a26",
        BLOOD_PRESSURE_SERVICE: "1810",
        BLOOD_PRESSURE_MEASUREMENT: "2a35",
        PULSE_OXIMETER_SERVICE: "1822",
        PLX_SPOT_CHECK: "2a5e",
        PLX_CONTINUOUS: "2a5f",
        PLX_FEATURES: "2a60",
    }
    assert len(expected) == 16
    for full, short in expected.items():
        assert full == f"0000{short}{base}"


def test_uuid16() -> None:
    assert uuid16(0x180D) == "0000180d-0000-1000-8000-00805f9b34fb"
    assert uuid16(0) == "00000000-0000-1000-8000-00805f9b34fb"
    assert uuid16(0xFFFF) == "0000ffff-0000-1000-8000-00805f9b34fb"
    for bad in (-1, 0x10000):
        with pytest.raises(ValueError, match="16-bit UUID"):
            uuid16(bad)


# --------------------------------------------------------------------------- robustness

PARSERS: list[Callable[[bytes], Any]] = [
    parse_heart_rate_measurement,
    parse_blood_pressure_measurement,
    parse_plx_continuous,
    parse_plx_spot_check,
    parse_battery_level,
    parse_body_sensor_location,
    parse_utf8_string,
]


@given(data=st.binary(max_size=40))
def test_random_bytes_raise_only_gatt_parse_error(data: bytes) -> None:
    for parser in PARSERS:
        with contextlib.suppress(GattParseError):  # anything else propagates and fails the test
            parser(data)
        with contextlib.suppress(GattParseError):
            parser(bytearray(data))  # what bleak actually delivers


@given(data=st.binary(max_size=40), offset=st.integers(-3, 42))
def test_random_sfloat_bytes_raise_only_gatt_parse_error(data: bytes, offset: int) -> None:
    try:
        parse_sfloat_bytes(data, offset)
    except GattParseError:
        assert offset < 0 or offset + 2 > len(data)


def test_every_prefix_of_a_full_packet_parses_or_raises_gatt_parse_error() -> None:
    full = {
        parse_heart_rate_measurement: b"\x1f\x48\x00\x02\x01\x00\x04\xff\xff",
        parse_blood_pressure_measurement: b"\x1f" + BP_MMHG + TIME_STAMP + PULSE_72 + USER_3 + STATUS_2D,
        parse_plx_continuous: (
            b"\x1f" + SPO2_98_PR_65 + SPO2PR_FAST + SPO2PR_SLOW + PLX_STATUS + DEVICE_STATUS + PAI
        ),
        parse_plx_spot_check: b"\x1f" + SPO2_98_PR_65 + TIME_STAMP + PLX_STATUS + DEVICE_STATUS + PAI,
    }
    for parser, payload in full.items():
        parser(payload)
        for cut in range(len(payload)):
            prefix = payload[:cut]
            if parser is parse_heart_rate_measurement and cut >= 5:
                parser(prefix)  # RR bytes may be cut anywhere: whole values kept
                continue
            with pytest.raises(GattParseError):
                parser(prefix)
