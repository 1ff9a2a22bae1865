"""Emulated BLE peripherals served by :class:`bluez.fake_bluez.FakeBlueZ`.

A :class:`FakePeripheral` is plain data: what it advertises (name, service UUIDs, RSSI) and its
GATT table (services, characteristics with flags and values). The fake BlueZ turns it into
``org.bluez.Device1`` / ``GattService1`` / ``GattCharacteristic1`` / ``GattDescriptor1`` objects.
The factories build the three standard sensors the app supports.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dbus_fast import Variant

__all__ = [
    "CCCD",
    "FakeCharacteristic",
    "FakePeripheral",
    "FakeService",
    "blood_pressure_cuff",
    "full_uuid",
    "gatt_objects",
    "heart_rate_strap",
    "pulse_oximeter",
    "unrelated_device",
]


def full_uuid(short: int) -> str:
    """The 128-bit Bluetooth SIG UUID string for a 16-bit UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


CCCD = full_uuid(0x2902)


@dataclass
class FakeCharacteristic:
    """One characteristic; ``flags`` as BlueZ spells them ("read", "notify", "indicate", "write")."""

    uuid: str
    flags: tuple[str, ...]
    value: bytes = b""

    @property
    def subscribable(self) -> bool:
        return "notify" in self.flags or "indicate" in self.flags


@dataclass
class FakeService:
    uuid: str
    characteristics: list[FakeCharacteristic] = field(default_factory=list)


@dataclass
class FakePeripheral:
    """An emulated peripheral.

    Attributes:
        address: public address ``AA:BB:CC:DD:EE:FF``.
        name: advertised local name.
        advertised_uuids: service UUIDs in the advertisement (what a discovery filter sees).
        services: the GATT table exported once connected.
        battery_via_plugin: emulate BlueZ's battery plugin: the Battery service 0x180F is hidden
            from GATT and exposed as ``org.bluez.Battery1.Percentage`` on the device object.
        battery_pct: value for the battery plugin.
    """

    address: str
    name: str
    advertised_uuids: list[str]
    services: list[FakeService]
    rssi: int = -60
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    battery_via_plugin: bool = False
    battery_pct: int = 80

    def characteristic(self, uuid: str) -> FakeCharacteristic:
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == uuid:
                    return char
        raise KeyError(f"{self.name} has no characteristic {uuid}")

    def gatt_services(self) -> list[FakeService]:
        """Services as exported over D-Bus (without 0x180F when the battery plugin hides it)."""
        if self.battery_via_plugin:
            return [s for s in self.services if s.uuid != full_uuid(0x180F)]
        return list(self.services)


GattObject = tuple[str, str, dict[str, Variant], FakeCharacteristic | None]


def gatt_objects(peripheral: FakePeripheral, device_path: str) -> list[GattObject]:
    """The GATT objects BlueZ exports for a connected peripheral, parents first.

    Each is (object path, interface, properties, the characteristic or None). Paths and handles
    follow BlueZ: ``serviceNNNN/charNNNN/descNNNN`` with hex attribute handles from 0x000c, a
    characteristic taking two handles (declaration, value) and a CCCD descriptor after each
    characteristic that can notify or indicate.
    """
    out: list[GattObject] = []
    handle = 0x000C
    for service in peripheral.gatt_services():
        spath = f"{device_path}/service{handle:04x}"
        out.append(
            (
                spath,
                "org.bluez.GattService1",
                {
                    "UUID": Variant("s", service.uuid),
                    "Device": Variant("o", device_path),
                    "Primary": Variant("b", True),
                    "Includes": Variant("ao", []),
                    "Handle": Variant("q", handle),
                },
                None,
            )
        )
        handle += 1
        for char in service.characteristics:
            cpath = f"{spath}/char{handle:04x}"
            out.append(
                (
                    cpath,
                    "org.bluez.GattCharacteristic1",
                    {
                        "UUID": Variant("s", char.uuid),
                        "Service": Variant("o", spath),
                        "Value": Variant("ay", b""),
                        "Notifying": Variant("b", False),
                        "Flags": Variant("as", list(char.flags)),
                        "MTU": Variant("q", 247),
                        "Handle": Variant("q", handle + 1),
                    },
                    char,
                )
            )
            handle += 2
            if char.subscribable:
                out.append(
                    (
                        f"{cpath}/desc{handle:04x}",
                        "org.bluez.GattDescriptor1",
                        {
                            "UUID": Variant("s", CCCD),
                            "Characteristic": Variant("o", cpath),
                            "Value": Variant("ay", b""),
                            "Flags": Variant("as", ["read", "write"]),
                            "Handle": Variant("q", handle),
                        },
                        None,
                    )
                )
                handle += 1
    return out


def _device_information(manufacturer: str, model: str, serial: str, firmware: str) -> FakeService:
    return FakeService(
        full_uuid(0x180A),
        [
            FakeCharacteristic(full_uuid(0x2A29), ("read",), manufacturer.encode()),
            FakeCharacteristic(full_uuid(0x2A24), ("read",), model.encode()),
            FakeCharacteristic(full_uuid(0x2A25), ("read",), serial.encode()),
            FakeCharacteristic(full_uuid(0x2A26), ("read",), firmware.encode()),
        ],
    )


def _battery(pct: int) -> FakeService:
    return FakeService(
        full_uuid(0x180F), [FakeCharacteristic(full_uuid(0x2A19), ("read", "notify"), bytes([pct]))]
    )


def heart_rate_strap(
    address: str = "A0:9E:1A:00:00:01",
    name: str = "Polar H10 0000001",
    *,
    advertise_service: bool = True,
    battery_pct: int = 87,
    body_location: int = 1,
    battery_via_plugin: bool = False,
) -> FakePeripheral:
    """A chest strap: Heart Rate (0x2A37 notify, 0x2A38 read), Battery, Device Information.

    ``advertise_service=False`` emulates straps that advertise only their name.
    """
    return FakePeripheral(
        address=address,
        name=name,
        advertised_uuids=[full_uuid(0x180D)] if advertise_service else [],
        services=[
            FakeService(
                full_uuid(0x180D),
                [
                    FakeCharacteristic(full_uuid(0x2A37), ("notify",)),
                    FakeCharacteristic(full_uuid(0x2A38), ("read",), bytes([body_location])),
                ],
            ),
            _battery(battery_pct),
            _device_information("Polar Electro Oy", "H10", "C4A1B2", "5.0.0"),
        ],
        manufacturer_data={0x006B: b"\x00\x01"},
        battery_via_plugin=battery_via_plugin,
        battery_pct=battery_pct,
    )


def blood_pressure_cuff(address: str = "5C:31:3E:00:00:02", name: str = "A&D_UA-651") -> FakePeripheral:
    """A cuff: Blood Pressure 0x1810 with 0x2A35 (indicate), Battery, Device Information."""
    return FakePeripheral(
        address=address,
        name=name,
        advertised_uuids=[full_uuid(0x1810)],
        services=[
            FakeService(full_uuid(0x1810), [FakeCharacteristic(full_uuid(0x2A35), ("indicate",))]),
            _battery(64),
            _device_information("A&D Medical", "UA-651BLE", "5230101", "1.2"),
        ],
    )


def pulse_oximeter(address: str = "00:1C:05:00:00:03", name: str = "Nonin3150") -> FakePeripheral:
    """An oximeter: PLX 0x1822 with 0x2A5F (notify), 0x2A5E (indicate), 0x2A60 features (read)."""
    features = struct.pack("<H", 0x0000)
    return FakePeripheral(
        address=address,
        name=name,
        advertised_uuids=[full_uuid(0x1822)],
        services=[
            FakeService(
                full_uuid(0x1822),
                [
                    FakeCharacteristic(full_uuid(0x2A5E), ("indicate",)),
                    FakeCharacteristic(full_uuid(0x2A5F), ("notify",)),
                    FakeCharacteristic(full_uuid(0x2A60), ("read",), features),
                ],
            ),
            _device_information("Nonin Medical", "3150", "NN-17", "2.1"),
        ],
    )


def unrelated_device(address: str = "11:22:33:44:55:66", name: str = "Kitchen Speaker") -> FakePeripheral:
    """Something else nearby: an audio sink with no health service."""
    return FakePeripheral(address=address, name=name, advertised_uuids=[full_uuid(0x110B)], services=[])
