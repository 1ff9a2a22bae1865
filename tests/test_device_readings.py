"""devices.readings: parsed GATT measurements -> core Readings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from devices.gatt import HeartRateMeasurement, parse_heart_rate_measurement
from devices.gatt_medical import (
    BloodPressureMeasurement,
    PlxDeviceSensorStatus,
    PlxMeasurement,
    PlxMeasurementStatus,
    parse_blood_pressure_measurement,
    parse_plx_continuous,
)
from devices.readings import battery_reading, blood_pressure_readings, heart_rate_readings, plx_readings
from kapmonitor.types import Reading, ReadingFlag, Stream

AT = datetime(2026, 1, 2, 10, 0, 0, tzinfo=UTC)
SID = "AA:BB:CC:DD:EE:FF"


def _streams(readings: list[Reading]) -> list[tuple[Stream, float]]:
    return [(r.stream, r.value) for r in readings]


# --------------------------------------------------------------------------- heart rate


def test_heart_rate_with_rr_values_in_order_at_arrival_time() -> None:
    m = HeartRateMeasurement(bpm=72, sensor_contact=True, rr_1024=(896, 1024, 1))
    out = heart_rate_readings(m, AT, SID)
    assert _streams(out) == [
        (Stream.HEART_RATE, 72.0),
        (Stream.RR_INTERVAL, 875.0),
        (Stream.RR_INTERVAL, 1000.0),
        (Stream.RR_INTERVAL, 0.9765625),
    ]
    assert all(r.at == AT for r in out)
    assert all(r.sensor_id == SID for r in out)
    assert [r.flags for r in out] == [ReadingFlag.NONE] * 3 + [ReadingFlag.IMPLAUSIBLE]  # 1/1024 s


def test_heart_rate_without_rr() -> None:
    out = heart_rate_readings(HeartRateMeasurement(bpm=55), AT, SID)
    assert out == [Reading(Stream.HEART_RATE, 55.0, AT, SID)]


@pytest.mark.parametrize(
    ("contact", "flags"),
    [(None, ReadingFlag.NONE), (True, ReadingFlag.NONE), (False, ReadingFlag.NO_CONTACT)],
)
def test_heart_rate_contact_flag(contact: bool | None, flags: ReadingFlag) -> None:
    m = HeartRateMeasurement(bpm=0, sensor_contact=contact, rr_1024=(1024,))
    out = heart_rate_readings(m, AT, SID)
    # heart rate 0 is outside the possible 20-300 bpm: flagged, raw value kept
    assert [r.flags for r in out] == [flags | ReadingFlag.IMPLAUSIBLE, flags]
    assert out[0].value == 0.0  # raw value kept even without contact


def test_heart_rate_from_bytes() -> None:
    # Flags 0x14 (contact supported, not detected; RR present) | HR uint8 72 | RR-Interval 1024
    out = heart_rate_readings(parse_heart_rate_measurement(b"\x14\x48\x00\x04"), AT, SID)
    assert _streams(out) == [(Stream.HEART_RATE, 72.0), (Stream.RR_INTERVAL, 1000.0)]
    assert all(r.flags & ReadingFlag.NO_CONTACT for r in out)


def test_naive_arrival_time_rejected() -> None:
    naive = datetime(2026, 1, 2, 10, 0, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        heart_rate_readings(HeartRateMeasurement(bpm=60), naive, SID)
    with pytest.raises(ValueError, match="timezone-aware"):
        battery_reading(50, naive, SID)


# --------------------------------------------------------------------------- blood pressure


def test_blood_pressure_mmhg_with_pulse() -> None:
    m = BloodPressureMeasurement(120.0, 80.0, 93.0, "mmHg", pulse_rate_bpm=64.0)
    out = blood_pressure_readings(m, AT, SID)
    assert _streams(out) == [
        (Stream.BP_SYSTOLIC, 120.0),
        (Stream.BP_DIASTOLIC, 80.0),
        (Stream.BP_MEAN, 93.0),
        (Stream.PULSE_RATE, 64.0),
    ]
    assert all(r.at == AT and r.flags == ReadingFlag.NONE for r in out)


def test_blood_pressure_kpa_converted_to_mmhg() -> None:
    # Flags 0x01 (kPa) | Systolic 16.0 kPa | Diastolic 10.7 kPa | MAP 12.4 kPa
    m = parse_blood_pressure_measurement(b"\x01\xa0\xf0\x6b\xf0\x7c\xf0")
    out = blood_pressure_readings(m, AT, SID)
    assert [r.stream for r in out] == [Stream.BP_SYSTOLIC, Stream.BP_DIASTOLIC, Stream.BP_MEAN]
    assert [r.value for r in out] == pytest.approx([120.0099, 80.2566, 93.0076], abs=1e-3)


def test_blood_pressure_non_finite_values_skipped() -> None:
    m = BloodPressureMeasurement(120.0, math.inf, math.nan, "mmHg", pulse_rate_bpm=math.nan)
    assert _streams(blood_pressure_readings(m, AT, SID)) == [(Stream.BP_SYSTOLIC, 120.0)]


@pytest.mark.parametrize(
    ("status", "artifact"),
    [
        (0x0001, True),  # body movement detected
        (0x0002, True),  # cuff too loose
        (0x0020, True),  # improper measurement position
        (0x0004, False),  # irregular pulse: a finding, not an artifact
        (0x0008, False),  # pulse rate exceeds upper limit
        (0x0000, False),
    ],
)
def test_blood_pressure_artifact_flag_from_status(status: int, artifact: bool) -> None:
    m = BloodPressureMeasurement(120.0, 80.0, 93.0, "mmHg", measurement_status=status)
    out = blood_pressure_readings(m, AT, SID)
    assert all(bool(r.flags & ReadingFlag.ARTIFACT) is artifact for r in out)
    assert len(out) == 3


def test_blood_pressure_sensor_time_stamp_only_with_device_zone() -> None:
    stamp = datetime(2026, 1, 2, 9, 30, 0)  # cuff local time, naive
    m = BloodPressureMeasurement(120.0, 80.0, 93.0, "mmHg", timestamp=stamp)
    default = blood_pressure_readings(m, AT, SID)
    assert all(r.at == AT and not r.flags & ReadingFlag.SENSOR_TIMESTAMP for r in default)
    plus_one = timezone(timedelta(hours=1))
    zoned = blood_pressure_readings(m, AT, SID, device_tz=plus_one)
    assert all(r.at == datetime(2026, 1, 2, 8, 30, 0, tzinfo=UTC) for r in zoned)
    assert all(r.at.utcoffset() == timedelta(0) for r in zoned)
    assert all(r.flags & ReadingFlag.SENSOR_TIMESTAMP for r in zoned)
    no_stamp = BloodPressureMeasurement(120.0, 80.0, 93.0, "mmHg")
    assert all(r.at == AT for r in blood_pressure_readings(no_stamp, AT, SID, device_tz=plus_one))


# --------------------------------------------------------------------------- pulse oximetry


def test_plx_spo2_and_pulse_rate() -> None:
    # Flags 0x01 (SpO2PR-Fast present) | SpO2 98 | PR 65 | Fast SpO2 97 | Fast PR 70 (not a reading)
    m = parse_plx_continuous(b"\x01\x62\x00\x41\x00\x61\x00\x46\x00")
    out = plx_readings(m, AT, SID)
    assert _streams(out) == [(Stream.SPO2, 98.0), (Stream.PULSE_RATE, 65.0)]
    assert all(r.at == AT and r.flags == ReadingFlag.NONE for r in out)


def test_plx_nan_skipped() -> None:
    assert _streams(plx_readings(PlxMeasurement(math.nan, 70.0), AT, SID)) == [(Stream.PULSE_RATE, 70.0)]
    assert plx_readings(PlxMeasurement(math.nan, math.nan), AT, SID) == []


@pytest.mark.parametrize(
    ("status", "device", "flags"),
    [
        (PlxMeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED, None, ReadingFlag.ARTIFACT),
        (PlxMeasurementStatus.INVALID_MEASUREMENT_DETECTED, None, ReadingFlag.ARTIFACT),
        (PlxMeasurementStatus.VALIDATED_DATA, None, ReadingFlag.NONE),
        (None, PlxDeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER, ReadingFlag.NO_CONTACT),
        (None, PlxDeviceSensorStatus.SENSOR_DISCONNECTED, ReadingFlag.NO_CONTACT),
        (None, PlxDeviceSensorStatus.LOW_PERFUSION_DETECTED, ReadingFlag.NONE),
        (
            PlxMeasurementStatus.INVALID_MEASUREMENT_DETECTED,
            PlxDeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER,
            ReadingFlag.ARTIFACT | ReadingFlag.NO_CONTACT,
        ),
    ],
)
def test_plx_flags_from_status(status: int | None, device: int | None, flags: ReadingFlag) -> None:
    m = PlxMeasurement(97.0, 60.0, measurement_status=status, device_sensor_status=device)
    assert [r.flags for r in plx_readings(m, AT, SID)] == [flags, flags]


def test_plx_spot_check_time_stamp() -> None:
    stamp = datetime(2026, 1, 2, 11, 0, 0)
    m = PlxMeasurement(97.0, 60.0, spot_check=True, timestamp=stamp)
    assert all(r.at == AT for r in plx_readings(m, AT, SID))
    zoned = plx_readings(m, AT, SID, device_tz=UTC)
    assert all(r.at == stamp.replace(tzinfo=UTC) for r in zoned)
    assert all(r.flags == ReadingFlag.SENSOR_TIMESTAMP for r in zoned)
    unset = PlxMeasurement(97.0, 60.0, spot_check=True, timestamp=stamp, device_clock_not_set=True)
    unset_out = plx_readings(unset, AT, SID, device_tz=UTC)
    assert all(r.at == AT and r.flags == ReadingFlag.NONE for r in unset_out)


# --------------------------------------------------------------------------- battery


@pytest.mark.parametrize("pct", [0, 57, 100])
def test_battery_reading(pct: int) -> None:
    assert battery_reading(pct, AT, SID) == Reading(Stream.BATTERY, float(pct), AT, SID)


@pytest.mark.parametrize("pct", [-1, 101])
def test_battery_reading_out_of_range(pct: int) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        battery_reading(pct, AT, SID)
