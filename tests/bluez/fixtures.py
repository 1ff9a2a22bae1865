"""pytest fixtures: a private bus, the fake BlueZ on it, and a fresh BLE runtime per test.

Load them in a test module with ``pytest_plugins = ["bluez.fixtures"]``; they are not in
``tests/conftest.py`` on purpose, so only the BlueZ tests pay for them.

State isolation: bleak keeps its BlueZ manager (one system-bus connection and every cached
object) per event loop, and :class:`devices.runtime.BleRuntime` closes it on stop, so a fresh
runtime per test is a fresh bleak. ``DBUS_SYSTEM_BUS_ADDRESS`` is set with ``monkeypatch`` before
the runtime exists, i.e. before bleak's first D-Bus connection in the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.runtime import BleRuntime

from .bus import PrivateBus, dbus_daemon_path
from .fake_bluez import FakeBlueZ

__all__ = ["ble_runtime", "fake_bluez", "private_bus"]


@pytest.fixture
def private_bus() -> Iterator[PrivateBus]:
    """A private system-type dbus-daemon; skips the test if dbus-daemon is not installed."""
    if dbus_daemon_path() is None:
        pytest.skip("dbus-daemon is not installed (apt-get install dbus-daemon); BlueZ emulation needs it")
    bus = PrivateBus()
    bus.start()
    try:
        yield bus
    finally:
        bus.stop()


@pytest.fixture
def fake_bluez(private_bus: PrivateBus, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBlueZ]:
    """The fake org.bluez, with DBUS_SYSTEM_BUS_ADDRESS pointing at its bus."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus.address)
    fake = FakeBlueZ(private_bus.address)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def ble_runtime(fake_bluez: FakeBlueZ) -> Iterator[BleRuntime]:
    """A started runtime talking to the fake BlueZ; stopped (and checked stopped) after the test."""
    runtime = BleRuntime()
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()
