"""The exceptions the BLE runtime raises, and the mapping from bleak's / D-Bus's errors.

One base, :class:`DeviceError`, so a caller can catch everything the device layer raises on
purpose. :func:`as_no_adapter` recognises the many shapes "there is no usable Bluetooth" takes on
Linux: bleak's ``BleakBluetoothNotAvailableError`` (no adapter, none powered, no central role,
access denied), a ``BleakDBusError`` when ``org.bluez`` is not on the system bus (bluetoothd not
running) or the bus refuses us, and an ``OSError`` (``FileNotFoundError``,
``ConnectionRefusedError``, ``PermissionError``) when the system bus socket itself is missing.
"""

from __future__ import annotations

from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError
from dbus_fast import AuthError

__all__ = ["DeviceError", "NoAdapterError", "SensorNotFoundError", "as_no_adapter"]

# D-Bus errors meaning "BlueZ is not reachable", as opposed to an error from a device.
_NO_BLUEZ_DBUS_ERRORS = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.NoServer",
        "org.freedesktop.DBus.Error.AccessDenied",
        "org.freedesktop.DBus.Error.Disconnected",
    }
)


class DeviceError(RuntimeError):
    """Base of every error the device layer raises on purpose."""


class NoAdapterError(DeviceError):
    """No usable Bluetooth: no adapter, adapter off, BlueZ not running, or no system D-Bus."""


class SensorNotFoundError(DeviceError):
    """The sensor did not advertise within the scan time (out of range, off, or flat battery)."""


def as_no_adapter(exc: BaseException) -> NoAdapterError | None:
    """A :class:`NoAdapterError` describing ``exc`` if it means "no usable Bluetooth", else None.

    The message says what is missing and carries bleak's / D-Bus's own words as the detail.
    """
    if isinstance(exc, NoAdapterError):
        return exc
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return NoAdapterError(f"{exc.args[0]} ({exc.reason.name.lower()})")
    if isinstance(exc, BleakDBusError) and exc.dbus_error in _NO_BLUEZ_DBUS_ERRORS:
        return NoAdapterError(f"{exc.dbus_error}: {exc.dbus_error_details or ''}".rstrip(": "))
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError, PermissionError)):
        return NoAdapterError(f"system D-Bus socket unusable: {exc.strerror or exc}")
    if isinstance(exc, AuthError):
        return NoAdapterError(f"system D-Bus refused authentication: {exc}")
    return None
