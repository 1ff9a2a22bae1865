"""End to end through the real, unmodified bleak, our BLE runtime and an emulated BlueZ.

Each test gets a private dbus-daemon, a fake ``org.bluez`` on it and a fresh
:class:`devices.runtime.BleRuntime` (see ``tests/bluez/fixtures.py``).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import random
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bluez.bus import PrivateBus
from bluez.fake_bluez import FakeBlueZ
from bluez.fake_devices import (
    blood_pressure_cuff,
    full_uuid,
    heart_rate_strap,
    pulse_oximeter,
    unrelated_device,
)
from bluez.recording import RecordingSink, wait_until

from db.store import SqlStore
from devices import gatt, gatt_medical
from devices.ble_sensor import BleSensor
from devices.gatt import HEART_RATE_SERVICE
from devices.readings import blood_pressure_readings, heart_rate_readings, plx_readings
from devices.runtime import THREAD_NAME, BleRuntime
from devices.scan_cli import run_scan
from devices.scanner import DiscoveredSensor, LiveScanner, scan_blocking
from kapmonitor import streams
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import AlarmCategory, Reading, ReadingFlag, SensorKind, SensorState, Stream

pytestmark = pytest.mark.bluez
# private_bus, fake_bluez, ble_runtime (not in tests/conftest.py: only these tests need them)
pytest_plugins = ["bluez.fixtures"]

HRM = full_uuid(0x2A37)
BPM = full_uuid(0x2A35)
PLX_CONT = full_uuid(0x2A5F)
PLX_SPOT = full_uuid(0x2A5E)


def _hr_uint8(bpm: int, *rr: int, contact: bool = True) -> bytes:
    flags = (0x06 if contact else 0x04) | (0x10 if rr else 0)
    return bytes([flags, bpm]) + struct.pack(f"<{len(rr)}H", *rr)


def _hr_uint16(bpm: int, *rr: int, energy: int | None = None) -> bytes:
    flags = 0x01 | 0x06 | (0x08 if energy is not None else 0) | (0x10 if rr else 0)
    body = struct.pack("<H", bpm) + (struct.pack("<H", energy) if energy is not None else b"")
    return bytes([flags]) + body + struct.pack(f"<{len(rr)}H", *rr)


def _connect(runtime: BleRuntime, address: str, **kw: float) -> tuple[BleSensor, RecordingSink, FakeClock]:
    clock = FakeClock()
    sink = RecordingSink()
    sensor = BleSensor(runtime, address, clock, **kw)  # type: ignore[arg-type]
    sensor.start(sink)
    sink.wait_state(SensorState.CONNECTED)
    return sensor, sink, clock


# --------------------------------------------------------------------------- discovery
def test_scan_finds_the_three_sensor_kinds_and_ignores_other_devices(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    quiet_strap = fake_bluez.add(
        heart_rate_strap("A0:9E:1A:00:00:09", "Polar H9 1234", advertise_service=False)
    )
    cuff = fake_bluez.add(blood_pressure_cuff())
    oxi = fake_bluez.add(pulse_oximeter())
    speaker = fake_bluez.add(unrelated_device())

    found = {s.address: s for s in scan_blocking(ble_runtime, 0.3)}

    assert set(found) == {strap.address, quiet_strap.address, cuff.address, oxi.address}
    assert speaker.address not in found
    assert found[strap.address].kinds == (SensorKind.HEART_RATE,)
    assert found[quiet_strap.address].kinds == (SensorKind.HEART_RATE,)  # by name, no UUID
    assert found[cuff.address].kinds == (SensorKind.BLOOD_PRESSURE,)
    assert found[oxi.address].kinds == (SensorKind.PULSE_OXIMETER,)
    assert found[strap.address].name == "Polar H10 0000001"
    assert HEART_RATE_SERVICE in found[strap.address].service_uuids
    assert -70 < found[strap.address].rssi < -50
    assert isinstance(found[strap.address].device, BLEDevice)


def test_an_os_level_uuid_filter_would_hide_name_only_straps(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    """Why the scanner does not pass service_uuids to BlueZ (see devices/scanner.py)."""
    fake_bluez.add(heart_rate_strap())
    quiet = fake_bluez.add(heart_rate_strap("A0:9E:1A:00:00:09", "TICKR 5A1B", advertise_service=False))

    async def filtered_scan() -> set[str]:
        seen: set[str] = set()

        def cb(device: BLEDevice, adv: AdvertisementData) -> None:
            seen.add(device.address)

        async with BleakScanner(cb, service_uuids=[HEART_RATE_SERVICE]):
            await asyncio.sleep(0.3)
        return seen

    seen = ble_runtime.submit(filtered_scan()).result(5)
    assert "A0:9E:1A:00:00:01" in seen
    assert quiet.address not in seen
    assert quiet.address in {s.address for s in scan_blocking(ble_runtime, 0.3)}


def test_live_scanner_reports_sensors_and_live_rssi(fake_bluez: FakeBlueZ, ble_runtime: BleRuntime) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    fake_bluez.add(unrelated_device())
    updates: list[list[DiscoveredSensor]] = []
    live = LiveScanner(ble_runtime)
    live.start(updates.append).result(5)
    wait_until(lambda: len({u[0].rssi for u in updates if u}) >= 2, what="two RSSI values")
    live.stop()
    assert [s.address for s in live.current()] == [strap.address]
    assert all(len(u) == 1 for u in updates)  # the speaker never showed up
    n = len(updates)
    assert not fake_bluez.is_connected(strap.address)
    # after stop, no more updates and BlueZ is no longer discovering
    threading.Event().wait(0.2)
    assert len(updates) == n
    assert fake_bluez.method_calls.count(("StopDiscovery", "/org/bluez/hci0")) == 1


# --------------------------------------------------------------------------- heart rate
def test_strap_reads_info_battery_location_and_streams_hr_and_rr(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    sensor, sink, clock = _connect(ble_runtime, strap.address)

    (info,) = sink.infos
    assert (info.manufacturer, info.model, info.serial, info.firmware) == (
        "Polar Electro Oy",
        "H10",
        "C4A1B2",
        "5.0.0",
    )
    assert info.body_location is not None
    assert "chest" in info.body_location.lower()
    assert info.kinds == (SensorKind.HEART_RATE,)
    assert info.name == "Polar H10 0000001"
    connected = [s for s in sink.statuses if s.state is SensorState.CONNECTED]
    assert connected[0].battery_pct == 87
    assert sink.values(Stream.BATTERY) == [87.0]

    assert fake_bluez.notify(strap.address, HRM, _hr_uint8(72, 1024, 512))
    assert fake_bluez.notify(strap.address, HRM, _hr_uint16(301, 204, energy=15))
    assert sink.wait_values(Stream.HEART_RATE, 2) == [72.0, 301.0]
    wait_until(lambda: len(sink.values(Stream.RR_INTERVAL)) == 3)
    assert sink.values(Stream.RR_INTERVAL) == [1000.0, 500.0, 204 * 1000 / 1024]
    assert all(r.at == clock.now() and r.sensor_id == strap.address for r in sink.readings)
    assert sink.threads == {THREAD_NAME}
    assert sink.statuses[-1].contact is True

    # contact lost: a status with contact=False, and readings flagged NO_CONTACT
    fake_bluez.notify(strap.address, HRM, _hr_uint8(0, contact=False))
    wait_until(lambda: sink.statuses[-1].contact is False, what="contact=False status")
    assert sink.readings[-1].flags & ReadingFlag.NO_CONTACT
    assert sensor.request_blood_pressure() is False
    sensor.stop()
    assert sink.statuses[-1].state is SensorState.DISCONNECTED
    assert not fake_bluez.is_connected(strap.address)


def test_malformed_packet_is_counted_and_not_fatal(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    sensor, sink, _ = _connect(ble_runtime, strap.address)
    fake_bluez.notify(strap.address, HRM, b"\x01\x48")  # promises uint16 bpm, carries 1 byte
    fake_bluez.notify(strap.address, HRM, b"")
    fake_bluez.notify(strap.address, HRM, _hr_uint8(64))
    assert sink.wait_values(Stream.HEART_RATE, 1) == [64.0]
    assert sensor.malformed_count == 2
    assert "01 48" in caplog.text
    assert sink.states()[-1] is SensorState.CONNECTED
    sensor.stop()


def test_battery_hidden_by_bluez_battery_plugin_is_not_fatal(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    strap = fake_bluez.add(heart_rate_strap(battery_via_plugin=True, battery_pct=55))
    sensor, sink, _ = _connect(ble_runtime, strap.address)
    # the level comes from org.bluez.Battery1 instead of the hidden 0x2A19
    assert sink.statuses[-1].battery_pct == 55
    assert sink.values(Stream.BATTERY) == [55.0]
    fake_bluez.notify(strap.address, HRM, _hr_uint8(80))
    assert sink.wait_values(Stream.HEART_RATE, 1) == [80.0]
    sensor.stop()


# --------------------------------------------------------------------------- cuff and oximeter
def test_cuff_indications_arrive_as_blood_pressure_readings(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    cuff = fake_bluez.add(blood_pressure_cuff())
    sensor, sink, _ = _connect(ble_runtime, cuff.address)
    assert sink.infos[0].kinds == (SensorKind.BLOOD_PRESSURE,)
    # flags: mmHg + pulse rate; systolic 121, diastolic 79, MAP 93, pulse 66 (SFLOAT, exponent 0)
    assert fake_bluez.notify(cuff.address, BPM, bytes.fromhex("04 7900 4f00 5d00 4200"))
    assert sink.wait_values(Stream.BP_SYSTOLIC, 1) == [121.0]
    assert sink.values(Stream.BP_DIASTOLIC) == [79.0]
    assert sink.values(Stream.BP_MEAN) == [93.0]
    assert sink.values(Stream.PULSE_RATE) == [66.0]
    assert sensor.request_blood_pressure() is False
    sensor.stop()


def test_oximeter_continuous_and_spot_check(fake_bluez: FakeBlueZ, ble_runtime: BleRuntime) -> None:
    oxi = fake_bluez.add(pulse_oximeter())
    sensor, sink, _ = _connect(ble_runtime, oxi.address)
    assert fake_bluez.subscribers(oxi.address, PLX_CONT) == 1
    assert fake_bluez.subscribers(oxi.address, PLX_SPOT) == 1
    fake_bluez.notify(oxi.address, PLX_CONT, bytes.fromhex("00 6100 4000"))  # SpO2 97 %, PR 64
    fake_bluez.notify(oxi.address, PLX_SPOT, bytes.fromhex("00 6000 4100"))  # SpO2 96 %, PR 65
    assert sink.wait_values(Stream.SPO2, 2) == [97.0, 96.0]
    assert sink.values(Stream.PULSE_RATE) == [64.0, 65.0]
    sensor.stop()


def test_a_fresh_device_from_a_scan_connects_without_scanning_again(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    (found,) = scan_blocking(ble_runtime, 0.2)
    starts = fake_bluez.method_calls.count(("StartDiscovery", "/org/bluez/hci0"))
    sensor = BleSensor(ble_runtime, found.address, FakeClock(), device=found.device)
    sink = RecordingSink()
    sensor.start(sink)
    sink.wait_state(SensorState.CONNECTED)
    assert fake_bluez.method_calls.count(("StartDiscovery", "/org/bluez/hci0")) == starts
    assert fake_bluez.is_connected(strap.address)
    sensor.stop()


def test_stop_from_inside_the_sink_ends_delivery_at_once(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    sensor, sink, _ = _connect(ble_runtime, strap.address)
    original = sink.readings_received

    def stop_on_first(readings: Sequence[Reading]) -> None:
        original(readings)
        sensor.stop()  # on the BLE thread: must neither deadlock nor deliver more

    sink.readings_received = stop_on_first  # type: ignore[method-assign]
    fake_bluez.notify(strap.address, HRM, _hr_uint8(70, 1024, 1024))
    fake_bluez.notify(strap.address, HRM, _hr_uint8(90, 1024))
    wait_until(lambda: not fake_bluez.is_connected(strap.address), what="link released")
    assert sink.values(Stream.HEART_RATE) == [70.0]  # nothing after the stop
    assert sink.values(Stream.RR_INTERVAL) == [1000.0, 1000.0]  # the packet arrives as one unit
    assert sink.statuses[-1].state is SensorState.DISCONNECTED
    sensor.stop()  # again, from the test thread: harmless


# --------------------------------------------------------------------------- link loss
def test_sensor_side_drop_reconnects_and_resumes(fake_bluez: FakeBlueZ, ble_runtime: BleRuntime) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    sensor, sink, _ = _connect(ble_runtime, strap.address, lost_after_s=5.0)
    fake_bluez.notify(strap.address, HRM, _hr_uint8(70))
    sink.wait_values(Stream.HEART_RATE, 1)

    # BlueZ forgets the device too, so the cached BLEDevice is stale: a rescan is required.
    fake_bluez.drop(strap.address, away_s=0.3, forget=True)
    dropped_at = time.monotonic()
    sink.wait_state(SensorState.RECONNECTING)
    sink.wait_state(SensorState.CONNECTED, timeout=5.0, count=2)
    # back 0.3 s after the drop; the first retry comes within 1 s, so well under 2 s in all
    assert time.monotonic() - dropped_at < 2.0
    assert sink.states() == [
        SensorState.CONNECTING,
        SensorState.CONNECTED,
        SensorState.RECONNECTING,
        SensorState.CONNECTED,
    ]
    assert sensor.connections == 2
    # exactly one live subscription: the dead client's one did not come back
    assert fake_bluez.subscribers(strap.address, HRM) == 1
    fake_bluez.notify(strap.address, HRM, _hr_uint8(71))
    assert sink.wait_values(Stream.HEART_RATE, 2) == [70.0, 71.0]
    sensor.stop()


def test_sensor_away_too_long_is_reported_lost_and_still_recovers(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime
) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    sensor, sink, _ = _connect(
        ble_runtime,
        strap.address,
        reconnect_initial_s=0.2,
        reconnect_max_s=0.5,
        lost_after_s=1.0,
        scan_timeout_s=0.5,
    )
    fake_bluez.drop(strap.address, away_s=None)
    sink.wait_state(SensorState.LOST, timeout=3.0)
    assert sink.states()[-2:] == [SensorState.RECONNECTING, SensorState.LOST]
    fake_bluez.set_advertising(strap.address, True)
    sink.wait_state(SensorState.CONNECTED, timeout=5.0, count=2)
    # the dead client's notify session did not survive into the new connection
    assert fake_bluez.subscribers(strap.address, HRM) == 1
    fake_bluez.notify(strap.address, HRM, _hr_uint8(90))
    assert sink.wait_values(Stream.HEART_RATE, 1) == [90.0]
    sensor.stop()


def test_two_sensors_on_one_runtime(fake_bluez: FakeBlueZ, ble_runtime: BleRuntime) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    oxi = fake_bluez.add(pulse_oximeter())
    clock = FakeClock()
    sink = RecordingSink()
    sensors = [BleSensor(ble_runtime, a, clock) for a in (strap.address, oxi.address)]
    for s in sensors:
        s.start(sink)
    wait_until(lambda: all(sink.states(s.sensor_id)[-1:] == [SensorState.CONNECTED] for s in sensors))
    fake_bluez.notify(strap.address, HRM, _hr_uint8(61))
    fake_bluez.notify(oxi.address, PLX_CONT, bytes.fromhex("00 6200 3d00"))
    sink.wait_values(Stream.SPO2, 1)
    sink.wait_values(Stream.HEART_RATE, 1)
    assert sink.values(Stream.HEART_RATE, strap.address) == [61.0]
    assert sink.values(Stream.PULSE_RATE, oxi.address) == [61.0]
    assert sink.values(Stream.SPO2, oxi.address) == [98.0]
    for s in sensors:
        s.stop()


# --------------------------------------------------------------------------- fuzz into a recorder
_CALM = {
    Stream.HEART_RATE: (50.0, 110.0),
    Stream.PULSE_RATE: (50.0, 110.0),
    Stream.SPO2: (93.0, 100.0),
    Stream.BP_SYSTOLIC: (90.0, 150.0),
    Stream.BP_DIASTOLIC: (50.0, 95.0),
}
"""Plausible values that raise no default alarm. A random packet that decodes to a *plausible*
value outside these (SpO2 85 %, HR 150) would rightly alarm, so the generator draws again."""

_AT = FakeClock().now()
_DECODE = {
    HRM: lambda b: heart_rate_readings(gatt.parse_heart_rate_measurement(b), _AT, "x"),
    PLX_CONT: lambda b: plx_readings(gatt_medical.parse_plx_continuous(b), _AT, "x"),
    PLX_SPOT: lambda b: plx_readings(gatt_medical.parse_plx_spot_check(b), _AT, "x"),
    BPM: lambda b: blood_pressure_readings(gatt_medical.parse_blood_pressure_measurement(b), _AT, "x"),
}


def _sfloat(rng: random.Random) -> bytes:
    """Any 16-bit SFLOAT: mostly far outside every range, sometimes a special (NaN, NRes, INF)."""
    return struct.pack("<H", rng.choice([rng.getrandbits(16), 0x07FF, 0x0800, 0x07FE, 0x0802,
                                         0x7830, 0x7640, 0x0065, 0x0000]))


def _fuzz_packet(rng: random.Random, uuid: str) -> bytes:
    """Random bytes behind a valid-ish flags byte, crafted out-of-range values, or pure garbage."""
    kind = rng.random()
    if kind < 0.15:
        return rng.randbytes(rng.randrange(0, 16))
    if uuid == HRM:
        if kind < 0.3:  # a calm, well-formed packet now and then
            rr = [rng.randrange(720, 1020) for _ in range(rng.randrange(3))]
            return _hr_uint8(rng.randrange(60, 90), *rr)
        flags = rng.getrandbits(8)
        if flags & 0x01:  # uint16: anything above 300, or below 20
            body = struct.pack("<H", rng.choice([rng.randrange(301, 65536), 65071, rng.randrange(20)]))
        else:  # uint8 cannot exceed 255, so only the low side is impossible
            body = bytes([rng.randrange(20)])
        if flags & 0x08:
            body += rng.randbytes(2)
        rr = [rng.choice([rng.getrandbits(16), 65506, 0, 1, rng.randrange(720, 1020)]) for _ in range(5)]
        return bytes([flags]) + body + struct.pack("<5H", *rr)[: rng.randrange(11)]
    flags = rng.getrandbits(5)  # the defined flag bits only, so optional fields are exercised
    if uuid == BPM:
        return bytes([flags]) + _sfloat(rng) + _sfloat(rng) + _sfloat(rng) + rng.randbytes(rng.randrange(14))
    return bytes([flags]) + _sfloat(rng) + _sfloat(rng) + rng.randbytes(rng.randrange(16))


def _decoded(uuid: str, packet: bytes) -> list[Reading] | None:
    try:
        return _DECODE[uuid](packet)
    except ValueError:
        return None  # malformed: the sensor drops and counts it


def _alarming(readings: list[Reading]) -> bool:
    for r in readings:
        calm = _CALM.get(r.stream)
        if calm is not None and streams.usable(r) and not calm[0] <= r.value <= calm[1]:
            return True
    return False


def test_fuzz_packets_never_store_implausible_unflagged(
    fake_bluez: FakeBlueZ, ble_runtime: BleRuntime, tmp_path: Path
) -> None:
    """2000 random and crafted packets from a strap, an oximeter and a cuff, through real bleak and
    our BLE sensor into a real recorder and SQLite: every stored value is possible or flagged
    IMPLAUSIBLE, and the alarm log holds no clinical alarm."""
    rng = random.Random(0xCAFE)
    strap = fake_bluez.add(heart_rate_strap())
    oxi = fake_bluez.add(pulse_oximeter())
    cuff = fake_bluez.add(blood_pressure_cuff())
    chars = [(strap.address, HRM), (oxi.address, PLX_CONT), (oxi.address, PLX_SPOT), (cuff.address, BPM)]
    clock = FakeClock()
    store = SqlStore.open(tmp_path / "fuzz.db", clock=clock, flush_interval_s=0.05)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    try:
        sid = rec.start_session(SessionSpec("K-FUZZ", PRESETS["sublingual"], 150.0))
        for address in (strap.address, oxi.address, cuff.address):
            rec.attach_sensor(BleSensor(ble_runtime, address, clock))
        wait_until(lambda: all(fake_bluez.subscribers(a, u) == 1 for a, u in chars), 10.0, "subscriptions")

        expected = 0
        implausible_sent = 0
        for i in range(2000):
            address, uuid = chars[i % len(chars)] if i % 2 else chars[0]
            while True:
                packet = _fuzz_packet(rng, uuid)
                readings = _decoded(uuid, packet)
                if readings is None or not _alarming(readings):
                    break
            expected += len(readings or [])
            implausible_sent += sum(1 for r in readings or [] if not streams.possible(r.stream, r.value))
            assert fake_bluez.notify(address, uuid, packet)
            clock.advance(0.25)
            if i % 8 == 0:
                rec.tick()
        assert implausible_sent > 500, implausible_sent

        def stored() -> int:
            store.flush()
            return sum(len(store.load_stream(sid, s)) for s in Stream if s is not Stream.BATTERY)

        wait_until(lambda: stored() >= expected, 20.0, f"{expected} stored readings")
        rec.tick()
        rec.close()
        assert stored() == expected
        unflagged = []
        for stream in Stream:
            data = store.load_stream(sid, stream)
            for value, flags in zip(data.value.tolist(), data.flags.tolist(), strict=True):
                if not streams.possible(stream, value) and not flags & ReadingFlag.IMPLAUSIBLE:
                    unflagged.append((stream, value, flags))
        assert unflagged == []
        clinical = [(t.alarm_id, t.action, t.value) for t in store.alarms(sid)
                    if t.category is AlarmCategory.PHYSIOLOGICAL]
        assert clinical == []
        technical = {t.alarm_id for t in store.alarms(sid) if t.action == "raised"}
        assert f"implausible.{strap.address}" in technical
    finally:
        rec.close()
        store.close()


# --------------------------------------------------------------------------- shutdown
def test_runtime_stop_disconnects_everything_and_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bluez.bus import dbus_daemon_path

    if dbus_daemon_path() is None:
        pytest.skip("dbus-daemon is not installed (apt-get install dbus-daemon)")
    bus = PrivateBus()
    bus.start()
    pid = bus.pid
    assert pid is not None
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    fake = FakeBlueZ(bus.address)
    fake.start()
    try:
        strap = fake.add(heart_rate_strap())
        fake.add(pulse_oximeter())
        runtime = BleRuntime()
        runtime.start()
        sensor, sink, _ = _connect(runtime, strap.address)
        live = LiveScanner(runtime)
        live.start().result(5)
        loop = runtime.loop
        with caplog.at_level(logging.DEBUG, logger="devices"):
            runtime.stop()  # without stopping the sensor or the scan first
        assert not [
            r for r in caplog.records if r.name.startswith("devices") and r.levelno >= logging.WARNING
        ]
        assert not fake.is_connected(strap.address)
        assert sink.statuses[-1].state is SensorState.DISCONNECTED
        assert THREAD_NAME not in {t.name for t in threading.enumerate()}
        assert loop.is_closed()
        assert not [t for t in asyncio.all_tasks(loop) if not t.done()]
        n = len(sink.readings)
        assert not fake.notify(strap.address, HRM, _hr_uint8(99))
        assert len(sink.readings) == n
        sensor.stop()  # harmless after the runtime stopped
        live.stop()
    finally:
        fake.stop()
        bus.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# --------------------------------------------------------------------------- CLI
def test_scan_cli_lists_sensors_and_json(fake_bluez: FakeBlueZ) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    fake_bluez.add(unrelated_device())
    out = io.StringIO()
    assert run_scan(0.3, False, out) == 0
    assert "Polar H10 0000001" in out.getvalue()
    assert strap.address in out.getvalue()
    assert "Kitchen Speaker" not in out.getvalue()
    out = io.StringIO()
    assert run_scan(0.3, True, out) == 0
    (entry,) = json.loads(out.getvalue())
    assert entry["address"] == strap.address
    assert entry["kinds"] == ["heart_rate"]


@pytest.mark.parametrize("where", ["no socket", "no bluez on the bus"])
def test_scan_cli_without_bluetooth_prints_one_line(
    where: str,
    tmp_path: os.PathLike[str],
    private_bus: PrivateBus,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"unix:path={tmp_path}/missing" if where == "no socket" else private_bus.address
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    assert run_scan(0.2, False, io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "kapmonitor: no Bluetooth adapter found (BlueZ is not reachable on the system D-Bus): "
    )
    assert "Traceback" not in err
