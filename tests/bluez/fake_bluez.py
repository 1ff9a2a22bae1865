"""A fake ``org.bluez`` service on a private bus, written with dbus-fast's low-level message handler.

It serves what bleak 3.1's BlueZ backend actually calls (read from
``bleak/backends/bluezdbus/{manager,client,scanner}.py``):

* ``org.freedesktop.DBus.ObjectManager.GetManagedObjects`` at ``/`` and the ``InterfacesAdded`` /
  ``InterfacesRemoved`` / ``PropertiesChanged`` signals bleak's manager subscribes to;
* ``org.bluez.Adapter1`` at ``/org/bluez/hci0`` (``Roles`` must contain ``central`` and
  ``Powered`` must be true, or bleak reports no adapter): ``SetDiscoveryFilter``,
  ``StartDiscovery``, ``StopDiscovery``, ``RemoveDevice``, ``GetDiscoveryFilters``;
* ``org.bluez.Device1`` objects that appear while someone discovers (``InterfacesAdded``) and
  whose ``RSSI`` then changes (``PropertiesChanged``), with ``Connect`` / ``Disconnect``;
* on ``Connect``: the GATT objects (``GattService1`` / ``GattCharacteristic1`` /
  ``GattDescriptor1`` under ``dev_XX/serviceNNNN/charNNNN/descNNNN``), then ``Connected`` and
  ``ServicesResolved``; ``ReadValue``, ``WriteValue``, ``StartNotify``, ``StopNotify``.
  A notification or indication is a ``PropertiesChanged`` of ``Value`` on the characteristic.

bleak 3.1 subscribes with ``StartNotify`` unless ``bluez={"use_start_notify": False}`` is given
*and* the characteristic has a ``NotifyAcquired`` property; this fake exports no
``NotifyAcquired``, so ``AcquireNotify`` is never used and not implemented.

Like BlueZ, a ``SetDiscoveryFilter`` with ``UUIDs`` hides devices that do not advertise one of
them, a read updates ``Value`` (and so echoes into a notify callback), subscriptions and
discovery sessions die with the client's bus connection, and the battery plugin can hide the
Battery service behind ``org.bluez.Battery1``.

The fake runs its own bus connection on its own thread and asyncio loop; the driver methods
(:meth:`FakeBlueZ.notify`, :meth:`FakeBlueZ.drop`, ...) are thread-safe and synchronous.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from .fake_devices import FakeCharacteristic, FakePeripheral, gatt_objects
from .fake_methods import (
    ADAPTER,
    ADAPTER_PATH,
    BATTERY,
    CHAR,
    DEVICE,
    OM,
    PROPS,
    dispatch,
)

__all__ = ["ADAPTER_PATH", "FakeBlueZ"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

Props = dict[str, Variant]


@dataclass
class _Device:
    peripheral: FakePeripheral
    path: str
    advertising: bool = True
    exported: bool = False
    connected: bool = False
    adv_count: int = 0
    char_paths: dict[str, str] = field(default_factory=dict)  # uuid -> path
    chars: dict[str, FakeCharacteristic] = field(default_factory=dict)  # path -> char
    gatt_paths: list[str] = field(default_factory=list)  # in export order
    subscribers: dict[str, set[str]] = field(default_factory=dict)  # char path -> senders
    return_timer: asyncio.TimerHandle | None = None


class FakeBlueZ:
    """The fake BlueZ daemon. Start it, :meth:`add` peripherals, drive them from the test thread.

    Args:
        bus_address: address of the private bus (see :class:`bluez.bus.PrivateBus`).
        advertise_interval_s: how often an advertising device is "seen" again while discovering.
    """

    def __init__(self, bus_address: str, *, advertise_interval_s: float = 0.05) -> None:
        self._address = bus_address
        self._interval = advertise_interval_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-bluez", daemon=True)
        self._bus: MessageBus | None = None
        self._objects: dict[str, dict[str, Props]] = {}
        self._devices: dict[str, _Device] = {}  # by address
        self._discovering: set[str] = set()  # senders with an active discovery session
        self._filters: dict[str, list[str]] = {}  # sender -> UUID filter
        self._adv_task: asyncio.Task[None] | None = None
        self.method_calls: list[tuple[str, str]] = []
        """(member, path) of every method call received, for assertions."""
        self.sent_hook: Callable[[str, bytes], None] | None = None
        """Called on the fake's thread right before a notification is sent: (char uuid, value)."""

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Connect to the bus, own ``org.bluez`` and export the adapter."""
        self._thread.start()
        self._run(self._astart(), timeout=5.0)

    def stop(self) -> None:
        """Disconnect from the bus and stop the fake's thread."""
        if not self._thread.is_alive():
            return
        try:
            self._run(self._astop(), timeout=5.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)
            self._loop.close()

    async def _astart(self) -> None:
        bus = MessageBus(bus_address=self._address)
        await bus.connect()
        self._bus = bus
        bus.add_message_handler(self._handle)
        await bus.request_name("org.bluez")
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"],
            )
        )
        self._export(
            ADAPTER_PATH,
            {
                ADAPTER: {
                    "Address": Variant("s", "00:1A:7D:DA:71:13"),
                    "AddressType": Variant("s", "public"),
                    "Name": Variant("s", "kapmonitor-test"),
                    "Alias": Variant("s", "kapmonitor-test"),
                    "Class": Variant("u", 0),
                    "Powered": Variant("b", True),
                    "PowerState": Variant("s", "on"),
                    "Discoverable": Variant("b", False),
                    "Pairable": Variant("b", True),
                    "Discovering": Variant("b", False),
                    "UUIDs": Variant("as", []),
                    "Roles": Variant("as", ["central", "peripheral"]),
                    "Modalias": Variant("s", "usb:v1D6Bp0246d0542"),
                }
            },
        )

    async def _astop(self) -> None:
        if self._adv_task is not None:
            self._adv_task.cancel()
        for dev in self._devices.values():
            if dev.return_timer is not None:
                dev.return_timer.cancel()
        if self._bus is not None:
            self._bus.disconnect()
            await self._bus.wait_for_disconnect()
            self._bus = None

    def __enter__(self) -> FakeBlueZ:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- driver API (any thread)
    def add(self, peripheral: FakePeripheral) -> FakePeripheral:
        """Put a peripheral in range; it advertises from now on."""

        def add() -> None:
            path = f"{ADAPTER_PATH}/dev_{peripheral.address.upper().replace(':', '_')}"
            self._devices[peripheral.address.upper()] = _Device(peripheral, path)

        self._call(add)
        return peripheral

    def notify(self, address: str, char_uuid: str, value: bytes) -> bool:
        """Send a notification/indication; False if the link is down or nobody subscribed."""
        return self._call(lambda: self._emit_value(self._dev(address), char_uuid, bytes(value)))

    def drop(self, address: str, away_s: float | None = None, *, forget: bool = False) -> None:
        """Sensor-side link loss: ServicesResolved false, Connected false, GATT objects removed.

        The device stops advertising; after ``away_s`` seconds (never if None) it advertises
        again. ``forget=True`` also removes its Device1 object, as BlueZ does with a temporary
        device that stopped advertising (a cached BLEDevice then no longer connects).
        """
        self._call(lambda: self._drop(self._dev(address), away_s, forget))

    def set_advertising(self, address: str, advertising: bool) -> None:
        self._call(lambda: setattr(self._dev(address), "advertising", advertising))

    def is_connected(self, address: str) -> bool:
        return self._call(lambda: self._dev(address).connected)

    def subscribers(self, address: str, char_uuid: str) -> int:
        """How many bus clients currently have notifications on ``char_uuid`` enabled."""

        def count() -> int:
            dev = self._dev(address)
            path = dev.char_paths.get(char_uuid)
            return len(dev.subscribers.get(path, ())) if path else 0

        return self._call(count)

    # ----------------------------------------------------------------- plumbing
    def _run(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call(self, fn: Callable[[], _T]) -> _T:
        fut: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout=5.0)

    def _dev(self, address: str) -> _Device:
        return self._devices[address.upper()]

    def _send(self, msg: Message) -> None:
        assert self._bus is not None
        self._bus.send(msg)

    def _export(self, path: str, interfaces: dict[str, Props]) -> None:
        self._objects.setdefault(path, {}).update(interfaces)
        self._send(Message.new_signal("/", OM, "InterfacesAdded", "oa{sa{sv}}", [path, interfaces]))

    def _unexport(self, path: str, interfaces: list[str] | None = None) -> None:
        obj = self._objects.get(path)
        if obj is None:
            return
        names = list(obj) if interfaces is None else [i for i in interfaces if i in obj]
        for name in names:
            del obj[name]
        if not obj:
            del self._objects[path]
        self._send(Message.new_signal("/", OM, "InterfacesRemoved", "oas", [path, names]))

    def _set(self, path: str, interface: str, changes: Props) -> None:
        self._objects[path][interface].update(changes)
        self._send(Message.new_signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [interface, changes, []]))

    # ----------------------------------------------------------------- discovery
    def _visible(self, dev: _Device) -> bool:
        if not dev.advertising or dev.connected or not self._discovering:
            return False
        advertised = {u.lower() for u in dev.peripheral.advertised_uuids}
        for sender in self._discovering:
            wanted = {u.lower() for u in self._filters.get(sender, [])}
            if not wanted or wanted & advertised:
                return True
        return False

    async def _advertise(self) -> None:
        while self._discovering:
            for dev in list(self._devices.values()):
                if self._visible(dev):
                    self._advertised(dev)
            await asyncio.sleep(self._interval)
        self._adv_task = None

    def _advertised(self, dev: _Device) -> None:
        p = dev.peripheral
        dev.adv_count += 1
        rssi = Variant("n", p.rssi - (dev.adv_count % 3))
        if not dev.exported:
            dev.exported = True
            props: Props = {
                "Address": Variant("s", p.address.upper()),
                "AddressType": Variant("s", "public"),
                "Name": Variant("s", p.name),
                "Alias": Variant("s", p.name),
                "Adapter": Variant("o", ADAPTER_PATH),
                "Paired": Variant("b", False),
                "Bonded": Variant("b", False),
                "Trusted": Variant("b", False),
                "Blocked": Variant("b", False),
                "LegacyPairing": Variant("b", False),
                "Connected": Variant("b", False),
                "ServicesResolved": Variant("b", False),
                "UUIDs": Variant("as", list(p.advertised_uuids)),
                "RSSI": rssi,
                "ManufacturerData": Variant(
                    "a{qv}", {k: Variant("ay", v) for k, v in p.manufacturer_data.items()}
                ),
                "ServiceData": Variant("a{sv}", {}),
            }
            self._export(dev.path, {DEVICE: props})
        else:
            self._set(dev.path, DEVICE, {"RSSI": rssi})

    def _stop_discovery(self, sender: str) -> None:
        self._discovering.discard(sender)
        self._filters.pop(sender, None)
        if not self._discovering and self._objects.get(ADAPTER_PATH, {}).get(ADAPTER):
            self._set(ADAPTER_PATH, ADAPTER, {"Discovering": Variant("b", False)})

    # ----------------------------------------------------------------- connection
    def _connect(self, dev: _Device) -> None:
        dev.connected = True
        for path, interface, props, char in gatt_objects(dev.peripheral, dev.path):
            if char is not None:
                props["Notifying"] = Variant("b", bool(dev.subscribers.get(path)))
                dev.char_paths[char.uuid] = path
                dev.chars[path] = char
            self._export(path, {interface: props})
        if dev.peripheral.battery_via_plugin:
            self._export(
                dev.path,
                {
                    BATTERY: {
                        "Percentage": Variant("y", dev.peripheral.battery_pct),
                        "Source": Variant("s", "GATT Battery Service"),
                    }
                },
            )
        self._set(dev.path, DEVICE, {"Connected": Variant("b", True)})
        # BlueZ resolves services a moment after the link is up.
        self._loop.call_later(0.005, self._services_resolved, dev)

    def _services_resolved(self, dev: _Device) -> None:
        if dev.connected:
            self._set(dev.path, DEVICE, {"ServicesResolved": Variant("b", True)})

    def _disconnect(self, dev: _Device) -> None:
        if not dev.connected:
            return
        dev.connected = False
        self._set(dev.path, DEVICE, {"ServicesResolved": Variant("b", False)})
        self._set(dev.path, DEVICE, {"Connected": Variant("b", False)})
        for path in reversed(self._gatt_paths(dev)):
            self._unexport(path)
        if BATTERY in self._objects.get(dev.path, {}):
            self._unexport(dev.path, [BATTERY])
        dev.char_paths.clear()
        dev.chars.clear()
        # Like BlueZ, a client's notify session outlives the link: it ends only with StopNotify
        # or when the client leaves the bus, and is switched back on at the next connection.

    def _gatt_paths(self, dev: _Device) -> list[str]:
        prefix = f"{dev.path}/"
        return sorted(p for p in self._objects if p.startswith(prefix))

    def _drop(self, dev: _Device, away_s: float | None, forget: bool) -> None:
        self._disconnect(dev)
        dev.advertising = False
        if forget and dev.exported:
            dev.exported = False
            dev.subscribers.clear()  # a removed device takes its GATT client's sessions with it
            self._unexport(dev.path)
        if dev.return_timer is not None:
            dev.return_timer.cancel()
            dev.return_timer = None
        if away_s is not None:
            dev.return_timer = self._loop.call_later(away_s, setattr, dev, "advertising", True)

    def _emit_value(self, dev: _Device, char_uuid: str, value: bytes) -> bool:
        path = dev.char_paths.get(char_uuid)
        if path is None or not dev.subscribers.get(path):
            return False
        if self.sent_hook is not None:
            self.sent_hook(char_uuid, value)
        self._set(path, CHAR, {"Value": Variant("ay", value)})
        return True

    # ----------------------------------------------------------------- method calls
    def _handle(self, msg: Message) -> Message | bool | None:
        if msg.message_type == MessageType.SIGNAL:
            if msg.member == "NameOwnerChanged" and msg.body[0].startswith(":") and not msg.body[2]:
                self._client_gone(msg.body[0])
            return None
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        self.method_calls.append((msg.member or "", msg.path or ""))
        try:
            return dispatch(self, msg)
        except KeyError as exc:
            return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownObject", f"no object {exc}")

    def _client_gone(self, sender: str) -> None:
        if sender in self._discovering:
            self._stop_discovery(sender)
        for dev in self._devices.values():
            for path, senders in dev.subscribers.items():
                if sender in senders:
                    senders.discard(sender)
                    if not senders and path in self._objects:
                        self._set(path, CHAR, {"Notifying": Variant("b", False)})
