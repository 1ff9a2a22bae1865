"""Method-call handlers of the fake BlueZ (see :mod:`bluez.fake_bluez` for the model).

:func:`dispatch` runs on the fake's event-loop thread, inside dbus-fast's message handler, and
returns the reply (or ``True`` when the reply is sent later). Errors use BlueZ's error names so
bleak's ``assert_reply`` maps them as it would on a real system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbus_fast import Message, Variant

if TYPE_CHECKING:
    from .fake_bluez import FakeBlueZ, _Device

__all__ = [
    "ADAPTER",
    "ADAPTER_PATH",
    "BATTERY",
    "CHAR",
    "DESC",
    "DEVICE",
    "OM",
    "PROPS",
    "SERVICE",
    "dispatch",
]

ADAPTER_PATH = "/org/bluez/hci0"
OM = "org.freedesktop.DBus.ObjectManager"
PROPS = "org.freedesktop.DBus.Properties"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
BATTERY = "org.bluez.Battery1"
SERVICE = "org.bluez.GattService1"
CHAR = "org.bluez.GattCharacteristic1"
DESC = "org.bluez.GattDescriptor1"

_INTROSPECT = """<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd"><node></node>"""


def _error(msg: Message, name: str, text: str) -> Message:
    return Message.new_error(msg, name, text)


def dispatch(fake: FakeBlueZ, msg: Message) -> Message | bool:
    """Answer one method call addressed to org.bluez."""
    iface, member, path = msg.interface, msg.member, msg.path or "/"
    if iface == "org.freedesktop.DBus.Introspectable":
        return Message.new_method_return(msg, "s", [_INTROSPECT])
    if iface == OM and member == "GetManagedObjects" and path == "/":
        return Message.new_method_return(msg, "a{oa{sa{sv}}}", [fake._objects])
    if iface == PROPS:
        return _properties(fake, msg)
    if iface == ADAPTER and path == ADAPTER_PATH:
        return _adapter(fake, msg)
    if iface == DEVICE:
        dev = _device_at(fake, path)
        if dev is None:
            return _error(msg, "org.freedesktop.DBus.Error.UnknownObject", f"no device at {path}")
        return _device(fake, dev, msg)
    if iface in (CHAR, DESC):
        return _gatt(fake, msg)
    return _error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"{iface}.{member} not implemented")


def _device_at(fake: FakeBlueZ, path: str) -> _Device | None:
    for dev in fake._devices.values():
        if dev.path == path and dev.exported:
            return dev
    return None


def _properties(fake: FakeBlueZ, msg: Message) -> Message:
    obj = fake._objects.get(msg.path or "")
    if obj is None:
        return _error(msg, "org.freedesktop.DBus.Error.UnknownObject", f"no object {msg.path}")
    iface_name = msg.body[0]
    props = obj.get(iface_name)
    if props is None:
        return _error(msg, "org.freedesktop.DBus.Error.InvalidArgs", f"no interface {iface_name}")
    if msg.member == "GetAll":
        return Message.new_method_return(msg, "a{sv}", [props])
    if msg.member == "Get":
        name = msg.body[1]
        if name not in props:
            return _error(msg, "org.freedesktop.DBus.Error.InvalidArgs", f"no property {name}")
        return Message.new_method_return(msg, "v", [props[name]])
    if msg.member == "Set":
        fake._set(msg.path or "", iface_name, {msg.body[1]: msg.body[2]})
        return Message.new_method_return(msg)
    return _error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"Properties.{msg.member}")


def _adapter(fake: FakeBlueZ, msg: Message) -> Message:
    sender = msg.sender or ""
    member = msg.member
    if member == "SetDiscoveryFilter":
        filters: dict[str, Variant] = msg.body[0]
        uuids = filters.get("UUIDs")
        fake._filters[sender] = list(uuids.value) if uuids is not None else []
        return Message.new_method_return(msg)
    if member == "GetDiscoveryFilters":
        return Message.new_method_return(
            msg,
            "as",
            [["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]],
        )
    if member == "StartDiscovery":
        if sender in fake._discovering:
            return _error(msg, "org.bluez.Error.InProgress", "Operation already in progress")
        first = not fake._discovering
        fake._discovering.add(sender)
        if first:
            fake._set(ADAPTER_PATH, ADAPTER, {"Discovering": Variant("b", True)})
        if fake._adv_task is None:
            fake._adv_task = fake._loop.create_task(fake._advertise())
        return Message.new_method_return(msg)
    if member == "StopDiscovery":
        if sender not in fake._discovering:
            return _error(msg, "org.bluez.Error.Failed", "No discovery started")
        fake._stop_discovery(sender)
        return Message.new_method_return(msg)
    if member == "RemoveDevice":
        dev = _device_at(fake, msg.body[0])
        if dev is None:
            return _error(msg, "org.bluez.Error.DoesNotExist", "Does Not Exist")
        fake._disconnect(dev)
        dev.exported = False
        dev.subscribers.clear()
        fake._unexport(dev.path)
        return Message.new_method_return(msg)
    return _error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"Adapter1.{member}")


def _device(fake: FakeBlueZ, dev: _Device, msg: Message) -> Message | bool:
    if msg.member == "Connect":
        if dev.connected:
            return Message.new_method_return(msg)
        if not dev.advertising:
            # An absent LE peripheral: BlueZ gives up after its connect timeout.
            reply = _error(msg, "org.bluez.Error.Failed", "Software caused connection abort")
            fake._loop.call_later(0.2, fake._send, reply)
            return True
        fake._connect(dev)
        return Message.new_method_return(msg)
    if msg.member == "Disconnect":
        fake._disconnect(dev)
        return Message.new_method_return(msg)
    if msg.member in ("Pair", "CancelPairing"):
        return _error(msg, "org.bluez.Error.NotSupported", "pairing is not emulated")
    return _error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"Device1.{msg.member}")


def _gatt(fake: FakeBlueZ, msg: Message) -> Message:
    path = msg.path or ""
    obj = fake._objects.get(path)
    if obj is None:
        return _error(msg, "org.freedesktop.DBus.Error.UnknownObject", f"no object {path}")
    if msg.interface == DESC:
        if msg.member == "ReadValue":
            return Message.new_method_return(msg, "ay", [obj[DESC]["Value"].value])
        if msg.member == "WriteValue":
            return Message.new_method_return(msg)
        return _error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"GattDescriptor1.{msg.member}")
    dev = next(d for d in fake._devices.values() if path in d.chars)
    char = dev.chars[path]
    sender = msg.sender or ""
    if msg.member == "ReadValue":
        if "read" not in char.flags:
            return _error(msg, "org.bluez.Error.NotPermitted", "Read not permitted")
        # BlueZ stores the read value in the Value property: a read echoes into notify callbacks.
        fake._set(path, CHAR, {"Value": Variant("ay", char.value)})
        return Message.new_method_return(msg, "ay", [char.value])
    if msg.member == "WriteValue":
        if "write" not in char.flags and "write-without-response" not in char.flags:
            return _error(msg, "org.bluez.Error.NotPermitted", "Write not permitted")
        char.value = bytes(msg.body[0])
        return Message.new_method_return(msg)
    if msg.member == "StartNotify":
        if not char.subscribable:
            return _error(msg, "org.bluez.Error.NotSupported", "Operation is not supported")
        senders = dev.subscribers.setdefault(path, set())
        first = not senders
        senders.add(sender)
        if first:
            fake._set(path, CHAR, {"Notifying": Variant("b", True)})
        return Message.new_method_return(msg)
    if msg.member == "StopNotify":
        senders = dev.subscribers.get(path, set())
        if sender not in senders:
            return _error(msg, "org.bluez.Error.Failed", "No notify session started")
        senders.discard(sender)
        if not senders:
            fake._set(path, CHAR, {"Notifying": Variant("b", False)})
        return Message.new_method_return(msg)
    return _error(msg, "org.freedesktop.DBus.Error.UnknownMethod", f"GattCharacteristic1.{msg.member}")
