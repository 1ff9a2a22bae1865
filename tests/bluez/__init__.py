"""An emulated BlueZ on a private D-Bus, for running the real, unmodified bleak without a radio.

* :mod:`bluez.bus` starts a private ``dbus-daemon`` of type ``system``.
* :mod:`bluez.fake_bluez` serves a fake ``org.bluez`` on it (adapter, devices, GATT).
* :mod:`bluez.fake_devices` builds the emulated sensors (HR strap, BP cuff, oximeter).
* :mod:`bluez.fixtures` has the pytest fixtures that wire them together.
"""
