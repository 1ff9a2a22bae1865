"""Byte encoders for the simulated sensor: the packets a real sensor would send.

The simulated sensor does not build :class:`~kapmonitor.types.Reading` values
itself. It encodes what it measured into the exact characteristic values a
Bluetooth SIG sensor notifies, then runs them through the same parsers
(:mod:`devices.gatt`, :mod:`devices.gatt_medical`) and converters (:mod:`devices.readings`) as a real
sensor, so demo mode and the tests exercise the real decoding path.

Each encoder is the inverse of one parser; layouts are documented there.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from devices.gatt_fields import SFLOAT_NAN

__all__ = [
    "CONTACT_DETECTED",
    "CONTACT_NOT_DETECTED",
    "CONTACT_UNSUPPORTED",
    "battery_level_packet",
    "blood_pressure_packet",
    "encode_sfloat",
    "heart_rate_packet",
    "plx_continuous_packet",
]

CONTACT_UNSUPPORTED = 0b00
CONTACT_NOT_DETECTED = 0b10
CONTACT_DETECTED = 0b11

_PLX_SENSOR_UNCONNECTED_TO_USER = 1 << 11
"""PLX device and sensor status bit 11 (see :class:`devices.gatt_medical.PlxDeviceSensorStatus`)."""


def encode_sfloat(value: float, decimals: int = 0) -> int:
    """Encode ``value`` as a 16-bit SFLOAT with ``decimals`` digits after the point.

    NaN encodes as the NaN special (0x07FF).

    Raises:
        ValueError: ``decimals`` outside 0..8, or the scaled value does not fit
            the 12-bit mantissa (-2048..2047, less the specials' range).
    """
    if not 0 <= decimals <= 8:
        raise ValueError(f"SFLOAT decimals must be 0..8, got {decimals!r}")
    if math.isnan(value):
        return SFLOAT_NAN
    mantissa = round(value * 10.0**decimals)
    if not -2046 <= mantissa <= 2045:
        raise ValueError(f"{value!r} with {decimals} decimals does not fit an SFLOAT mantissa")
    return ((-decimals & 0xF) << 12) | (mantissa & 0x0FFF)


def heart_rate_packet(bpm: int, contact: int, rr_1024: Sequence[int] = ()) -> bytes:
    """A Heart Rate Measurement (0x2A37) value: uint8 (or uint16) bpm, contact bits, RR values.

    The RR-present flag is always set, as chest straps do, so a packet may
    carry zero RR values.

    Raises:
        ValueError: ``bpm`` outside 0..65535, ``contact`` not a 2-bit value, or
            an RR value outside uint16.
    """
    if not 0 <= bpm <= 0xFFFF:
        raise ValueError(f"heart rate {bpm!r} does not fit a uint16")
    if not 0 <= contact <= 0b11:
        raise ValueError(f"sensor contact bits must be 0..3, got {contact!r}")
    if any(not 0 <= rr <= 0xFFFF for rr in rr_1024):
        raise ValueError(f"RR intervals must fit uint16 (1/1024 s), got {list(rr_1024)!r}")
    wide = bpm > 0xFF
    flags = (0x01 if wide else 0x00) | (contact << 1) | 0x10
    head = struct.pack("<BH" if wide else "<BB", flags, bpm)
    return head + struct.pack(f"<{len(rr_1024)}H", *rr_1024)


def blood_pressure_packet(systolic: int, diastolic: int, mean: int) -> bytes:
    """A Blood Pressure Measurement (0x2A35) value in mmHg, no optional fields."""
    return struct.pack(
        "<BHHH", 0x00, encode_sfloat(systolic), encode_sfloat(diastolic), encode_sfloat(mean)
    )


def plx_continuous_packet(spo2_pct: float, pulse_bpm: float, *, on_finger: bool = True) -> bytes:
    """A PLX Continuous Measurement (0x2A5F) value with the device and sensor status field.

    With ``on_finger=False`` the values are NaN and the status says "sensor
    unconnected to user", as an oximeter reports a probe that came off.
    """
    if not on_finger:
        return struct.pack("<BHH", 0x08, SFLOAT_NAN, SFLOAT_NAN) + _PLX_SENSOR_UNCONNECTED_TO_USER.to_bytes(
            3, "little"
        )
    return struct.pack("<BHH", 0x08, encode_sfloat(spo2_pct), encode_sfloat(pulse_bpm)) + bytes(3)


def battery_level_packet(pct: int) -> bytes:
    """A Battery Level (0x2A19) value: one uint8 percent.

    Raises:
        ValueError: ``pct`` outside 0..100.
    """
    if not 0 <= pct <= 100:
        raise ValueError(f"battery level must be 0..100 %, got {pct!r}")
    return bytes([pct])
