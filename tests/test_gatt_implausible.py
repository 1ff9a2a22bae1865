"""Packets that decode but carry nonsense: the readings keep the raw value and carry IMPLAUSIBLE.

Byte fixtures are written from the Bluetooth SIG field layouts (see tests/test_gatt.py); SFLOAT is
a 4-bit signed exponent (high nibble) over a 12-bit signed mantissa, little-endian.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.gatt import parse_heart_rate_measurement
from devices.gatt_fields import GattParseError
from devices.gatt_medical import parse_blood_pressure_measurement, parse_plx_continuous, parse_plx_spot_check
from devices.readings import blood_pressure_readings, heart_rate_readings, plx_readings
from kapmonitor.streams import possible
from kapmonitor.types import Reading, ReadingFlag, Stream

AT = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
SID = "A0:9E:1A:00:00:01"
IMPLAUSIBLE = ReadingFlag.IMPLAUSIBLE


def _by_stream(readings: list[Reading]) -> dict[Stream, Reading]:
    return {r.stream: r for r in readings}


def test_heart_rate_65071_bpm_and_rr_63971_ms_are_flagged_and_kept() -> None:
    # flags 0x17: uint16 HR, contact supported + detected, RR present | HR 0xFE2F = 65071 |
    # RR 0xFFE2 = 65506/1024 s = 63970.7 ms | RR 0x0370 = 880/1024 s = 859.4 ms (plausible)
    out = heart_rate_readings(parse_heart_rate_measurement(bytes.fromhex("17 2ffe e2ff 7003")), AT, SID)
    assert [(r.stream, r.value, r.flags) for r in out] == [
        (Stream.HEART_RATE, 65071.0, IMPLAUSIBLE),
        (Stream.RR_INTERVAL, 65506 * 1000 / 1024, IMPLAUSIBLE),
        (Stream.RR_INTERVAL, 880 * 1000 / 1024, ReadingFlag.NONE),
    ]


@pytest.mark.parametrize(("bpm", "flagged"), [(19, True), (20, False), (300, False), (301, True)])
def test_heart_rate_range_edges(bpm: int, flagged: bool) -> None:
    # flags 0x01: uint16 HR, no contact detection | HR
    packet = bytes([0x01]) + bpm.to_bytes(2, "little")
    (hr,) = heart_rate_readings(parse_heart_rate_measurement(packet), AT, SID)
    assert hr.value == bpm
    assert bool(hr.flags & IMPLAUSIBLE) is flagged


def test_spo2_minus_2e10_percent_is_flagged_and_kept() -> None:
    # flags 0x00 | SpO2 SFLOAT 0x7830: exponent 7, mantissa 0x830 = -2000 -> -2e10 % |
    # pulse rate SFLOAT 0x0040 = 64 bpm
    readings = plx_readings(parse_plx_continuous(bytes.fromhex("00 3078 4000")), AT, SID)
    out = _by_stream(readings)
    assert out[Stream.SPO2].value == -2e10
    assert out[Stream.SPO2].flags == IMPLAUSIBLE
    assert (out[Stream.PULSE_RATE].value, out[Stream.PULSE_RATE].flags) == (64.0, ReadingFlag.NONE)


def test_spot_check_spo2_above_100_and_pulse_rate_1e9_are_flagged() -> None:
    # flags 0x00 | SpO2 SFLOAT 0x0065 = 101 % | pulse rate SFLOAT 0x6064: exponent 6, mantissa 100 = 1e8
    out = _by_stream(plx_readings(parse_plx_spot_check(bytes.fromhex("00 6500 6460")), AT, SID))
    assert (out[Stream.SPO2].value, out[Stream.SPO2].flags) == (101.0, IMPLAUSIBLE)
    assert out[Stream.PULSE_RATE].value == pytest.approx(1e8)
    assert out[Stream.PULSE_RATE].flags == IMPLAUSIBLE


def test_blood_pressure_1_2e11_mmhg_is_flagged_and_kept() -> None:
    # flags 0x01: kPa | systolic SFLOAT 0x7640: exponent 7, mantissa 1600 -> 1.6e10 kPa (1.2e11 mmHg)
    # | diastolic SFLOAT 0xF06B = 10.7 kPa (80.3 mmHg) | MAP SFLOAT 0xF07C = 12.4 kPa (93.0 mmHg)
    out = _by_stream(blood_pressure_readings(parse_blood_pressure_measurement(
        bytes.fromhex("01 4076 6bf0 7cf0")), AT, SID))
    sys_ = out[Stream.BP_SYSTOLIC]
    assert sys_.value == pytest.approx(1.2e11, rel=1e-3)
    assert sys_.flags == IMPLAUSIBLE
    assert out[Stream.BP_DIASTOLIC].flags == ReadingFlag.NONE
    assert out[Stream.BP_MEAN].flags == ReadingFlag.NONE


def test_blood_pressure_artifact_and_implausible_flags_combine() -> None:
    # flags 0x10: mmHg, measurement status present | systolic 0x0000 = 0 | diastolic 0x0050 = 80 |
    # MAP 0x07FF = NaN (skipped) | status 0x0001 = body movement
    out = blood_pressure_readings(parse_blood_pressure_measurement(
        bytes.fromhex("10 0000 5000 ff07 0100")), AT, SID)
    assert [(r.stream, r.value, r.flags) for r in out] == [
        (Stream.BP_SYSTOLIC, 0.0, ReadingFlag.ARTIFACT | IMPLAUSIBLE),
        (Stream.BP_DIASTOLIC, 80.0, ReadingFlag.ARTIFACT),
    ]


@pytest.mark.parametrize("special", ["ff07", "0008", "0108", "fe07", "0208"])
def test_sfloat_specials_are_still_skipped(special: str) -> None:
    # NaN, NRes, reserved, +INFINITY, -INFINITY as SpO2 and as pulse rate: no reading, no crash
    assert plx_readings(parse_plx_continuous(bytes.fromhex(f"00 {special} {special}")), AT, SID) == []


_PARSERS: list[tuple[Callable[[bytes], object], Callable[[object], list[Reading]]]] = [
    (parse_heart_rate_measurement, lambda m: heart_rate_readings(m, AT, SID)),  # type: ignore[arg-type]
    (parse_blood_pressure_measurement, lambda m: blood_pressure_readings(m, AT, SID)),  # type: ignore[arg-type]
    (parse_plx_continuous, lambda m: plx_readings(m, AT, SID)),  # type: ignore[arg-type]
    (parse_plx_spot_check, lambda m: plx_readings(m, AT, SID)),  # type: ignore[arg-type]
]


@given(st.sampled_from(range(len(_PARSERS))), st.binary(max_size=24))
def test_random_packets_never_yield_an_unflagged_impossible_value(which: int, data: bytes) -> None:
    parse, to_readings = _PARSERS[which]
    try:
        measurement = parse(data)
    except GattParseError:
        return
    for r in to_readings(measurement):
        assert math.isfinite(r.value)
        assert possible(r.stream, r.value) or r.flags & IMPLAUSIBLE, r
