"""Sensors: GATT parsers, the bleak runtime and the simulated sensor.

Importing ``devices`` starts nothing and does not import bleak: the BLE names below load on first
use, so the simulated sensor and the parsers work without touching Bluetooth.

Main BLE entry points:

* :class:`~devices.runtime.BleRuntime` -- the one asyncio thread that hosts bleak;
* :class:`~devices.ble_sensor.BleSensor` -- a standard HR / BP / PLX sensor (a ``Sensor``);
* :class:`~devices.scanner.LiveScanner`, :func:`~devices.scanner.scan_blocking` -- discovery;
* :class:`~devices.errors.DeviceError`, :class:`~devices.errors.NoAdapterError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devices.ble_sensor import BleSensor
    from devices.errors import DeviceError, NoAdapterError, SensorNotFoundError
    from devices.runtime import BleRuntime
    from devices.scanner import DiscoveredSensor, LiveScanner, scan_blocking

__all__ = [
    "BleRuntime",
    "BleSensor",
    "DeviceError",
    "DiscoveredSensor",
    "LiveScanner",
    "NoAdapterError",
    "SensorNotFoundError",
    "scan_blocking",
]

_LAZY = {
    "BleRuntime": "devices.runtime",
    "BleSensor": "devices.ble_sensor",
    "DeviceError": "devices.errors",
    "NoAdapterError": "devices.errors",
    "SensorNotFoundError": "devices.errors",
    "DiscoveredSensor": "devices.scanner",
    "LiveScanner": "devices.scanner",
    "scan_blocking": "devices.scanner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devices' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
