"""Packet-to-sink latency of the BLE path: emulated BlueZ -> D-Bus -> real bleak -> BleRuntime -> sink.

Run: ``.venv/bin/python benchmarks/ble_latency.py [--packets 1500] [--interval-ms 4]``
(needs ``dbus-daemon``).

A private dbus-daemon and the fake BlueZ from ``tests/bluez`` serve a heart-rate strap; a
:class:`devices.ble_sensor.BleSensor` on a :class:`devices.runtime.BleRuntime` subscribes to it.
Each Heart Rate Measurement carries a sequence number in its RR field; the fake stamps
``time.perf_counter_ns()`` right before it sends the ``PropertiesChanged`` signal, the sink stamps
arrival of the RR reading. In the same run a bare dbus-fast client (its own thread and loop)
subscribed to the same signals stamps raw D-Bus delivery, so the cost of bleak + parsing + the
runtime shows as the ratio between the two. Goal: p99 under 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bluez.bus import PrivateBus
from bluez.fake_bluez import FakeBlueZ
from bluez.fake_devices import full_uuid, heart_rate_strap
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from devices.ble_sensor import BleSensor
from devices.runtime import BleRuntime
from kapmonitor.clock import SystemClock
from kapmonitor.types import Reading, SensorInfo, SensorState, SensorStatus, Stream

HRM = full_uuid(0x2A37)


def packet(seq: int) -> bytes:
    """HRM: uint8 bpm 60, contact detected, one RR value = seq (1/1024 s units)."""
    return bytes([0x16, 60]) + struct.pack("<H", seq)


def seq_of(value: bytes) -> int | None:
    if len(value) >= 4 and value[0] & 0x10:
        return int(struct.unpack_from("<H", value, 2)[0])
    return None


class LatencySink:
    def __init__(self) -> None:
        self.arrived: dict[int, int] = {}
        self.connected = threading.Event()

    def readings_received(self, readings: Sequence[Reading]) -> None:
        now = time.perf_counter_ns()
        for reading in readings:
            if reading.stream is Stream.RR_INTERVAL:
                self.arrived[round(reading.value * 1024 / 1000)] = now

    def status_changed(self, status: SensorStatus) -> None:
        if status.state is SensorState.CONNECTED:
            self.connected.set()

    def info_received(self, info: SensorInfo) -> None:
        pass


class RawClient:
    """A bare dbus-fast client subscribed to the characteristic value PropertiesChanged signals."""

    def __init__(self, address: str) -> None:
        self.arrived: dict[int, int] = {}
        self._address = address
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="raw-dbus", daemon=True)
        self._bus: MessageBus | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._connect(), self._loop).result(5)

    async def _connect(self) -> None:
        bus = await MessageBus(bus_address=self._address).connect()
        self._bus = bus

        def handler(msg: Message) -> None:
            if msg.message_type is MessageType.SIGNAL and msg.member == "PropertiesChanged":
                now = time.perf_counter_ns()
                changed = msg.body[1]
                if "Value" in changed:
                    seq = seq_of(bytes(changed["Value"].value))
                    if seq is not None:
                        self.arrived[seq] = now

        bus.add_message_handler(handler)
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[
                    "type='signal',interface='org.freedesktop.DBus.Properties',path_namespace='/org/bluez'"
                ],
            )
        )

    def stop(self) -> None:
        async def close() -> None:
            if self._bus is not None:
                self._bus.disconnect()
                await self._bus.wait_for_disconnect()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def percentiles_ms(sent: dict[int, int], arrived: dict[int, int]) -> tuple[int, float, float, float]:
    lat = sorted((arrived[s] - sent[s]) / 1e6 for s in sent if s in arrived)
    if not lat:
        return 0, float("nan"), float("nan"), float("nan")
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return len(lat), statistics.median(lat), p99, lat[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1500)
    parser.add_argument("--interval-ms", type=float, default=4.0)
    args = parser.parse_args()

    sent: dict[int, int] = {}
    with PrivateBus() as bus:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
        fake = FakeBlueZ(bus.address)
        fake.start()
        strap = fake.add(heart_rate_strap())
        raw = RawClient(bus.address)
        raw.start()

        def hook(uuid: str, value: bytes) -> None:
            seq = seq_of(value)
            if uuid == HRM and seq is not None:
                sent[seq] = time.perf_counter_ns()

        fake.sent_hook = hook
        sink = LatencySink()
        try:
            with BleRuntime() as runtime:
                t0 = time.perf_counter()
                sensor = BleSensor(runtime, strap.address, SystemClock())
                sensor.start(sink)
                if not sink.connected.wait(10):
                    print("sensor did not connect", file=sys.stderr)
                    return 1
                connect_s = time.perf_counter() - t0
                for seq in range(1, args.packets + 1):
                    fake.notify(strap.address, HRM, packet(seq))
                    time.sleep(args.interval_ms / 1000)
                time.sleep(0.2)
                sensor.stop()
        finally:
            raw.stop()
            fake.stop()

    n_s, p50_s, p99_s, max_s = percentiles_ms(sent, sink.arrived)
    n_r, p50_r, p99_r, max_r = percentiles_ms(sent, raw.arrived)
    print(
        f"packets sent {len(sent)}, interval {args.interval_ms:g} ms, "
        f"connect+subscribe {connect_s * 1000:.0f} ms"
    )
    print(f"{'path':<42}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    print(f"{'fake -> bleak -> runtime -> sink':<42}{n_s:>6}{p50_s:>9.3f}{p99_s:>9.3f}{max_s:>9.3f}")
    print(f"{'fake -> bare dbus-fast client':<42}{n_r:>6}{p50_r:>9.3f}{p99_r:>9.3f}{max_r:>9.3f}")
    print(f"ratio sink/raw: p50 {p50_s / p50_r:.2f}x, p99 {p99_s / p99_r:.2f}x")
    goal = p99_s < 5.0 and n_s == len(sent)
    print(f"goal p99 < 5 ms, no packet lost: {'met' if goal else 'NOT met'}")
    return 0 if goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
