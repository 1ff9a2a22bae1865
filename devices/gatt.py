"""Bluetooth SIG GATT characteristics we read: the UUIDs, and the Heart Rate, Battery and Device
Information parsers (pure functions over ``bytes``).

The field types and the error (SFLOAT, the byte cursor, :class:`~devices.gatt_fields.GattParseError`)
are in :mod:`devices.gatt_fields`; the Blood Pressure and Pulse Oximeter parsers in
:mod:`devices.gatt_medical`. Import each name from the module that defines it. Every parser takes
the characteristic value exactly as bleak delivers it (``bytes`` or ``bytearray``) and either
returns a frozen value or raises :class:`~devices.gatt_fields.GattParseError` naming the field that
was wrong; it never raises anything else for any input.

Layouts follow the Bluetooth SIG specifications (Heart Rate Service 1.0,
Battery Service 1.0, Device Information Service 1.1, GATT Specification
Supplement for the field types). Each parser documents its packet field by
field.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from devices.gatt_fields import ByteReader, GattParseError

__all__ = [
    "BATTERY_LEVEL",
    "BATTERY_SERVICE",
    "BLOOD_PRESSURE_MEASUREMENT",
    "BLOOD_PRESSURE_SERVICE",
    "BODY_SENSOR_LOCATION",
    "BODY_SENSOR_LOCATIONS",
    "DEVICE_INFORMATION_SERVICE",
    "FIRMWARE_REVISION",
    "HEART_RATE_MEASUREMENT",
    "HEART_RATE_SERVICE",
    "MANUFACTURER_NAME",
    "MODEL_NUMBER",
    "PLX_CONTINUOUS",
    "PLX_FEATURES",
    "PLX_SPOT_CHECK",
    "PULSE_OXIMETER_SERVICE",
    "SERIAL_NUMBER",
    "HeartRateMeasurement",
    "parse_battery_level",
    "parse_body_sensor_location",
    "parse_heart_rate_measurement",
    "parse_utf8_string",
    "uuid16",
]

log = logging.getLogger(__name__)

_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def uuid16(n: int) -> str:
    """The full lowercase 128-bit UUID for a Bluetooth SIG 16-bit UUID.

    ``uuid16(0x180D) == "0000180d-0000-1000-8000-00805f9b34fb"`` (the form
    bleak reports and accepts).

    Raises:
        ValueError: ``n`` is outside 0..0xFFFF.
    """
    if not 0 <= n <= 0xFFFF:
        raise ValueError(f"a 16-bit UUID must be in 0..0xFFFF, got {n!r}")
    return f"0000{n:04x}{_BASE_UUID_SUFFIX}"


HEART_RATE_SERVICE = uuid16(0x180D)
HEART_RATE_MEASUREMENT = uuid16(0x2A37)
BODY_SENSOR_LOCATION = uuid16(0x2A38)
BATTERY_SERVICE = uuid16(0x180F)
BATTERY_LEVEL = uuid16(0x2A19)
DEVICE_INFORMATION_SERVICE = uuid16(0x180A)
MANUFACTURER_NAME = uuid16(0x2A29)
MODEL_NUMBER = uuid16(0x2A24)
SERIAL_NUMBER = uuid16(0x2A25)
FIRMWARE_REVISION = uuid16(0x2A26)
BLOOD_PRESSURE_SERVICE = uuid16(0x1810)
BLOOD_PRESSURE_MEASUREMENT = uuid16(0x2A35)
PULSE_OXIMETER_SERVICE = uuid16(0x1822)
PLX_SPOT_CHECK = uuid16(0x2A5E)
PLX_CONTINUOUS = uuid16(0x2A5F)
PLX_FEATURES = uuid16(0x2A60)

_HRM = "Heart Rate Measurement"


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One Heart Rate Measurement notification, values as sent.

    Attributes:
        bpm: heart rate in beats per minute (0 is passed through as sent;
            some sensors send it while they have no contact).
        sensor_contact: None when the sensor does not support contact
            detection; False when it does and reports no contact; True when
            it reports contact.
        energy_expended_kj: cumulative energy in kilojoules, None when absent.
        rr_1024: RR intervals in the sensor's raw units of 1/1024 s, oldest
            first; empty when the packet carries none.
    """

    bpm: int
    sensor_contact: bool | None = None
    energy_expended_kj: int | None = None
    rr_1024: tuple[int, ...] = ()

    @property
    def rr_ms(self) -> tuple[float, ...]:
        """RR intervals in milliseconds (``value * 1000 / 1024``, exact in binary floating point)."""
        return tuple(v * 1000 / 1024 for v in self.rr_1024)


def parse_heart_rate_measurement(data: bytes | bytearray) -> HeartRateMeasurement:
    """Parse a Heart Rate Measurement (0x2A37, notified ~1/s).

    Layout (little-endian)::

        byte 0   flags
                   bit 0     heart rate value format: 0 = uint8, 1 = uint16
                   bits 1-2  sensor contact status:
                               0b00, 0b01  contact detection not supported
                               0b10        supported, contact not detected
                               0b11        supported, contact detected
                   bit 3     energy expended present
                   bit 4     RR intervals present
                   bits 5-7  reserved (ignored)
        uint8 or uint16   heart rate, bpm                     (always)
        uint16            energy expended, kJ                 (bit 3)
        uint16 * n        RR intervals, 1/1024 s, oldest first (bit 4; all remaining bytes)

    Several RR values per packet are normal above 60 bpm, and a packet with
    bit 4 set may carry none. An odd trailing byte after the RR values is a
    truncated last value: it is dropped and the whole values before it are
    kept. Without bit 4, bytes after the last field are ignored.

    Raises:
        GattParseError: empty payload, or shorter than its flags promise for
            the heart rate or energy expended field.
    """
    r = ByteReader(data, _HRM)
    flags = r.uint8("the flags byte")
    bpm = r.uint16("a uint16 heart rate", promised=True) if flags & 0x01 else r.uint8("a uint8 heart rate")
    contact_bits = (flags >> 1) & 0b11
    sensor_contact = None if contact_bits < 0b10 else contact_bits == 0b11
    energy = r.uint16("a uint16 energy expended", promised=True) if flags & 0x08 else None
    rr: tuple[int, ...] = ()
    if flags & 0x10:
        rr_bytes = r.rest()
        count = len(rr_bytes) // 2
        if len(rr_bytes) % 2:
            log.debug("%s: dropped a dangling odd byte after %d RR values", _HRM, count)
        rr = struct.unpack_from(f"<{count}H", rr_bytes)
    return HeartRateMeasurement(bpm=bpm, sensor_contact=sensor_contact, energy_expended_kj=energy, rr_1024=rr)


def parse_battery_level(data: bytes | bytearray) -> int:
    """Parse a Battery Level (0x2A19): exactly one uint8, percent 0..100.

    Raises:
        GattParseError: not exactly one byte, or a value above 100.
    """
    if len(data) != 1:
        raise GattParseError(f"Battery Level: expected exactly 1 byte (uint8 percent), got {len(data)}")
    level = data[0]
    if level > 100:
        raise GattParseError(f"Battery Level: {level} % is above the allowed 0..100")
    return level


BODY_SENSOR_LOCATIONS: dict[int, str] = {
    0: "other",
    1: "chest",
    2: "wrist",
    3: "finger",
    4: "hand",
    5: "ear lobe",
    6: "foot",
}
"""Body Sensor Location (0x2A38) values defined by the Heart Rate Service."""


def parse_body_sensor_location(data: bytes | bytearray) -> str:
    """Parse a Body Sensor Location (0x2A38): exactly one uint8.

    Returns the name from :data:`BODY_SENSOR_LOCATIONS` (``"chest"``...). A
    value the specification reserves (7..255) returns ``"unknown (N)"`` rather
    than raising: the location is informational, and a sensor that reports a
    newer value must still connect.

    Raises:
        GattParseError: not exactly one byte.
    """
    if len(data) != 1:
        raise GattParseError(f"Body Sensor Location: expected exactly 1 byte (uint8), got {len(data)}")
    return BODY_SENSOR_LOCATIONS.get(data[0], f"unknown ({data[0]})")


def parse_utf8_string(data: bytes | bytearray) -> str:
    """Parse a Device Information string (Manufacturer, Model, Serial, Firmware...).

    The value is UTF-8 with no length prefix. Trailing NUL bytes (C firmware
    often sends its whole fixed-size buffer) are stripped. Invalid UTF-8 is
    decoded with U+FFFD replacement characters instead of raising: these
    strings are for display only, and a badly encoded model name must not
    stop a sensor from connecting. Never raises.
    """
    return bytes(data).rstrip(b"\x00").decode("utf-8", errors="replace")
