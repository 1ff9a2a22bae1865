"""Field types shared by the GATT characteristic parsers.

Everything here is a pure function over ``bytes``: the error type, the
IEEE 11073-20601 16-bit SFLOAT, and a little-endian cursor that reads the
fixed-size field types the Bluetooth SIG characteristics are built from
(uint8, uint16, uint24, SFLOAT, Date Time). The cursor turns "the payload is
shorter than its layout promises" into a :class:`GattParseError` that names the
characteristic and the field.
"""

from __future__ import annotations

import math
from datetime import datetime

__all__ = [
    "SFLOAT_NAN",
    "SFLOAT_NEGATIVE_INFINITY",
    "SFLOAT_NRES",
    "SFLOAT_POSITIVE_INFINITY",
    "SFLOAT_RESERVED",
    "ByteReader",
    "GattParseError",
    "parse_sfloat",
    "parse_sfloat_bytes",
]


class GattParseError(ValueError):
    """A characteristic value does not match its Bluetooth SIG specification.

    The message names the characteristic and the field that was wrong, and
    what was expected, e.g. ``"Heart Rate Measurement: flags promise a uint16
    heart rate at bytes 1-2 but the payload has 2 bytes"``.
    """


SFLOAT_NAN = 0x07FF
"""SFLOAT special value: Not a Number."""
SFLOAT_NRES = 0x0800
"""SFLOAT special value: Not at this Resolution (the value cannot be represented)."""
SFLOAT_RESERVED = 0x0801
"""SFLOAT special value: reserved for future use."""
SFLOAT_POSITIVE_INFINITY = 0x07FE
"""SFLOAT special value: +INFINITY (above the representable range)."""
SFLOAT_NEGATIVE_INFINITY = 0x0802
"""SFLOAT special value: -INFINITY (below the representable range)."""

_SFLOAT_SPECIALS: dict[int, float] = {
    SFLOAT_NAN: math.nan,
    SFLOAT_NRES: math.nan,
    SFLOAT_RESERVED: math.nan,
    SFLOAT_POSITIVE_INFINITY: math.inf,
    SFLOAT_NEGATIVE_INFINITY: -math.inf,
}


def parse_sfloat(raw: int) -> float:
    """Decode an IEEE 11073-20601 16-bit SFLOAT given as an unsigned integer.

    Layout of the 16 bits (as read from the wire little-endian)::

        bits 15-12  exponent, 4-bit two's complement (-8..7)
        bits 11-0   mantissa, 12-bit two's complement (-2048..2047)
        value = mantissa * 10 ** exponent

    The special values are defined for exponent 0 only, so they are matched on
    the whole 16-bit value: ``0x07FF`` NaN, ``0x0800`` NRes (not at this
    resolution) and ``0x0801`` (reserved) all give ``math.nan``; ``0x07FE``
    gives ``math.inf`` and ``0x0802`` gives ``-math.inf``.

    The result is the float nearest to the exact decimal value (Python's
    ``int / int`` is correctly rounded), so ``0xF4D2`` (mantissa 1234,
    exponent -1) is exactly ``123.4`` and ``0x8078`` is ``120e-8``; a naive
    ``1234 * 10 ** -1`` would give ``123.4000000000001``-style noise.

    Args:
        raw: the 16-bit value, 0..0xFFFF.

    Raises:
        GattParseError: ``raw`` is outside 0..0xFFFF.
    """
    if not 0 <= raw <= 0xFFFF:
        raise GattParseError(f"SFLOAT: raw value {raw!r} is outside the 16-bit range 0..0xFFFF")
    special = _SFLOAT_SPECIALS.get(raw)
    if special is not None:
        return special
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    mantissa = raw & 0x0FFF
    if mantissa >= 0x800:
        mantissa -= 0x1000
    scale: int = 10 ** abs(exponent)
    if exponent >= 0:
        return float(mantissa * scale)
    return mantissa / scale


def parse_sfloat_bytes(data: bytes | bytearray, offset: int) -> float:
    """Decode the little-endian SFLOAT at ``data[offset:offset + 2]``.

    Raises:
        GattParseError: fewer than two bytes at ``offset`` (or ``offset`` < 0).
    """
    if offset < 0 or offset + 2 > len(data):
        raise GattParseError(
            f"SFLOAT: needs bytes {offset}-{offset + 1} but the payload has {len(data)} bytes"
        )
    return parse_sfloat(int.from_bytes(data[offset : offset + 2], "little"))


class ByteReader:
    """A little-endian cursor over one characteristic value.

    Each read names the field it wants, so a short payload produces a message
    such as ``"Blood Pressure Measurement: flags promise a pulse rate SFLOAT at
    bytes 8-9 but the payload has 8 bytes"``. ``promised=True`` (the field is
    there because a flag bit says so) words the message "flags promise";
    otherwise "the layout requires" (a mandatory field).
    """

    __slots__ = ("_characteristic", "_data", "_offset")

    def __init__(self, data: bytes | bytearray, characteristic: str) -> None:
        self._data = bytes(data)
        self._characteristic = characteristic
        self._offset = 0

    @property
    def offset(self) -> int:
        """Index of the next unread byte."""
        return self._offset

    @property
    def remaining(self) -> int:
        """Number of bytes not read yet."""
        return len(self._data) - self._offset

    def error(self, message: str) -> GattParseError:
        """A :class:`GattParseError` prefixed with the characteristic's name."""
        return GattParseError(f"{self._characteristic}: {message}")

    def take(self, size: int, field: str, *, promised: bool = False) -> bytes:
        """Consume ``size`` bytes for ``field`` or raise if the payload is too short."""
        start = self._offset
        end = start + size
        if end > len(self._data):
            why = "flags promise" if promised else "the layout requires"
            raise self.error(
                f"{why} {field} at bytes {start}-{end - 1} but the payload has {len(self._data)} bytes"
            )
        self._offset = end
        return self._data[start:end]

    def rest(self) -> bytes:
        """Consume and return every remaining byte (possibly none)."""
        out = self._data[self._offset :]
        self._offset = len(self._data)
        return out

    def uint8(self, field: str, *, promised: bool = False) -> int:
        return self.take(1, field, promised=promised)[0]

    def uint16(self, field: str, *, promised: bool = False) -> int:
        return int.from_bytes(self.take(2, field, promised=promised), "little")

    def uint24(self, field: str, *, promised: bool = False) -> int:
        return int.from_bytes(self.take(3, field, promised=promised), "little")

    def sfloat(self, field: str, *, promised: bool = False) -> float:
        return parse_sfloat(self.uint16(field, promised=promised))

    def date_time(self, field: str, *, promised: bool = False) -> datetime | None:
        """Read a 7-byte Bluetooth SIG Date Time (GATT characteristic 0x2A08 layout).

        Fields, in order::

            uint16 year     1582..9999, 0 = not known
            uint8  month    1..12,      0 = not known
            uint8  day      1..31,      0 = not known
            uint8  hours    0..23
            uint8  minutes  0..59
            uint8  seconds  0..59

        The value carries no time zone or DST offset, so the result is a
        **naive** datetime in the device's local time, zone unknown. It is
        ``None`` when the year, month or day is 0 (not known).

        Raises:
            GattParseError: fewer than 7 bytes, or a date/time that does not
                exist (month 13, 30 February, hour 24, year 1000...).
        """
        raw = self.take(7, f"a 7-byte {field}", promised=promised)
        year = int.from_bytes(raw[0:2], "little")
        month, day, hours, minutes, seconds = raw[2], raw[3], raw[4], raw[5], raw[6]
        if year == 0 or month == 0 or day == 0:
            return None
        shown = f"{year:04d}-{month:02d}-{day:02d} {hours:02d}:{minutes:02d}:{seconds:02d}"
        if not 1582 <= year <= 9999:
            raise self.error(f"{field} year {year} is outside 1582..9999 (0 = not known): {shown}")
        try:
            # Naive on purpose: the Date Time field has no zone (device local time).
            return datetime(year, month, day, hours, minutes, seconds)  # noqa: DTZ001
        except ValueError as exc:
            raise self.error(f"{field} {shown} is not a valid date and time ({exc})") from exc
