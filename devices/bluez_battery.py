"""Battery level from BlueZ's battery plugin (Linux only).

BlueZ's ``battery`` plugin (on by default) claims the standard Battery service 0x180F of a
connected device and hides it from GATT clients; the level is published instead as
``org.bluez.Battery1.Percentage`` on the device object. bleak does not expose that interface, so
:func:`read_bluez_battery` asks BlueZ directly over the system bus, on a short-lived connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from bleak.backends.device import BLEDevice
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

__all__ = ["read_bluez_battery"]

log = logging.getLogger(__name__)


async def read_bluez_battery(device: BLEDevice, timeout_s: float = 2.0) -> int | None:
    """The ``org.bluez.Battery1.Percentage`` of ``device``, or None when there is none.

    Never raises: on other platforms, without the plugin or on any D-Bus error it returns None.
    """
    details = device.details
    path = details.get("path") if sys.platform == "linux" and isinstance(details, dict) else None
    if not isinstance(path, str):
        return None
    from bleak.backends.bluezdbus.utils import get_dbus_authenticator  # Linux-only module

    bus = MessageBus(bus_type=BusType.SYSTEM, auth=get_dbus_authenticator())
    try:
        await asyncio.wait_for(bus.connect(), timeout_s)
        reply = await asyncio.wait_for(
            bus.call(
                Message(
                    destination="org.bluez",
                    path=path,
                    interface="org.freedesktop.DBus.Properties",
                    member="Get",
                    signature="ss",
                    body=["org.bluez.Battery1", "Percentage"],
                )
            ),
            timeout_s,
        )
    except Exception as exc:
        log.debug("%s: no org.bluez.Battery1: %r", device.address, exc)
        return None
    finally:
        bus.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bus.wait_for_disconnect(), timeout_s)  # type: ignore[no-untyped-call]
    if reply is None or reply.message_type is MessageType.ERROR:
        return None
    value = reply.body[0].value
    return int(value) if isinstance(value, int) and 0 <= value <= 100 else None
