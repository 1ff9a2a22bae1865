"""What a BLE sensor connection does once the link is up: read who it is, then subscribe.

These helpers run on the BLE runtime's loop with a connected ``BleakClient``. Every read is
optional: a device that lacks a characteristic, or refuses a read, just leaves that field empty,
and nothing here raises for it (a missing Device Information service must not cost the vitals).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from devices import gatt
from devices.bluez_battery import read_bluez_battery
from devices.scanner import SENSOR_SERVICES
from kapmonitor.types import SensorInfo

__all__ = ["NotifyHandler", "read_battery_level", "read_sensor_info", "subscribe"]

log = logging.getLogger(__name__)

NotifyHandler = Callable[[BleakGATTCharacteristic, bytearray], None]

_INFO_CHARS = {
    "manufacturer": gatt.MANUFACTURER_NAME,
    "model": gatt.MODEL_NUMBER,
    "serial": gatt.SERIAL_NUMBER,
    "firmware": gatt.FIRMWARE_REVISION,
}


async def read_optional(client: BleakClient, uuid: str) -> bytes | None:
    """The value of characteristic ``uuid``; None if absent, not readable, or the read failed."""
    char = client.services.get_characteristic(uuid)
    if char is None or "read" not in char.properties:
        return None
    try:
        return bytes(await client.read_gatt_char(char))
    except BleakError as exc:
        log.info("%s: reading %s failed: %r", client.address, uuid, exc)
        return None


async def read_sensor_info(client: BleakClient, sensor_id: str, name: str) -> SensorInfo:
    """Device Information strings, Body Sensor Location and the kinds, from the GATT table."""
    info: dict[str, str | None] = {}
    for field, uuid in _INFO_CHARS.items():
        raw = await read_optional(client, uuid)
        info[field] = None
        if raw is not None:
            try:
                info[field] = gatt.parse_utf8_string(raw)
            except ValueError as exc:
                log.info("%s: unreadable string in %s: %s", sensor_id, uuid, exc)
    location: str | None = None
    raw = await read_optional(client, gatt.BODY_SENSOR_LOCATION)
    if raw is not None:
        with contextlib.suppress(ValueError):
            location = gatt.parse_body_sensor_location(raw)
    services = client.services
    kinds = tuple(kind for uuid, kind in SENSOR_SERVICES.items() if services.get_service(uuid) is not None)
    return SensorInfo(
        sensor_id=sensor_id,
        name=name,
        kinds=kinds,
        manufacturer=info["manufacturer"],
        model=info["model"],
        serial=info["serial"],
        firmware=info["firmware"],
        body_location=location,
    )


async def read_battery_level(client: BleakClient, device: BLEDevice) -> bytes | None:
    """The raw Battery Level (0x2A19) value, or from ``org.bluez.Battery1`` when BlueZ hid it."""
    raw = await read_optional(client, gatt.BATTERY_LEVEL)
    if raw is not None or client.services.get_characteristic(gatt.BATTERY_LEVEL) is not None:
        return raw
    pct = await read_bluez_battery(device)
    return bytes([pct]) if pct is not None else None


async def subscribe(client: BleakClient, handlers: Mapping[str, NotifyHandler]) -> list[str]:
    """Start notifications/indications on every characteristic in ``handlers`` the device offers.

    Returns:
        The UUIDs subscribed to. A refused subscription is logged and skipped.
    """
    done: list[str] = []
    for uuid, handler in handlers.items():
        char = client.services.get_characteristic(uuid)
        if char is None or not {"notify", "indicate"} & set(char.properties):
            continue
        try:
            await client.start_notify(char, handler)
        except BleakError as exc:
            log.warning("%s: cannot subscribe to %s: %r", client.address, uuid, exc)
            continue
        done.append(uuid)
    return done
