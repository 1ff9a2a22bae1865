"""Sensors: GATT parsers, the bleak runtime and the simulated sensor.

Importing ``devices`` starts nothing and does not import bleak; import each name from the
module that defines it, so the simulated sensor and the parsers work without touching Bluetooth.

Main BLE entry points:

* :class:`devices.runtime.BleRuntime` -- the one asyncio thread that hosts bleak;
* :class:`devices.ble_sensor.BleSensor` -- a standard HR / BP / PLX sensor (a ``Sensor``);
* :class:`devices.scanner.LiveScanner`, :func:`devices.scanner.scan_blocking` -- discovery;
* :class:`devices.errors.DeviceError`, :class:`devices.errors.NoAdapterError`;
* :func:`devices.factory.make_sensor` -- a sensor from its spec (``simulated[:seed]``, ``ble:ADDR``).
"""

DISTRIBUTION = "kapmonitor"
"""Whose package this is: ``ui.main`` refuses to run when ``devices`` is another distribution's (a
package of the same generic name installed beside kapmonitor)."""
