"""A standard BLE sensor (heart rate, blood pressure, pulse oximeter) behind the core's Sensor protocol.

All bleak work runs on the :class:`~devices.runtime.BleRuntime` thread; :meth:`BleSensor.start`
only submits the connection task. The task, for as long as the sensor runs:

1. finds the sensor by scanning (the shared scan, :mod:`devices.scanner`) unless a fresh
   ``BLEDevice`` was given for the first attempt; it always connects with the ``BLEDevice``,
   never an address string (which would make bleak scan on its own and collide with our scan);
2. connects, reads Device Information, Body Sensor Location and Battery Level (each optional;
   BlueZ's battery plugin hides the Battery service, so then the level is read from
   ``org.bluez.Battery1`` instead; see :mod:`devices.ble_setup`), reports
   :class:`~kapmonitor.types.SensorInfo`, subscribes to every measurement the device offers
   (HR 0x2A37 notify, BP 0x2A35 indicate, PLX 0x2A5F notify / 0x2A5E indicate, battery notify)
   and reports CONNECTED;
3. waits until the link drops (bleak's ``disconnected_callback`` sets an event) or stop;
4. on a drop: reports RECONNECTING, **always** ``await client.disconnect()`` on the dead client
   (on BlueZ its notification subscription otherwise survives into the next connection), then
   rescans (the old BLEDevice may be stale) and reconnects, backing off exponentially from
   ``reconnect_initial_s`` up to ``reconnect_max_s`` between attempts, forever;
5. reports LOST once the sensor has been away ``lost_after_s`` (while it keeps trying; also
   when the first connection has not succeeded within ``lost_after_s``), and DISCONNECTED when
   stopped.

Each packet is stamped with ``clock.now()`` first, then parsed (:mod:`devices.gatt`,
:mod:`devices.gatt_medical`), converted (:mod:`devices.readings`) and delivered to the sink. A
malformed packet is counted (:attr:`BleSensor.malformed_count`) and logged with its bytes; it never
breaks the link.

Blood pressure: standard cuffs (Blood Pressure service 0x1810) have no control point to start a
measurement; the patient or therapist presses the cuff's button and the result is indicated.
So :meth:`BleSensor.request_blood_pressure` returns False.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from devices import gatt, gatt_medical
from devices.ble_setup import read_battery_level, read_sensor_info, subscribe
from devices.errors import SensorNotFoundError, as_no_adapter
from devices.readings import battery_reading, blood_pressure_readings, heart_rate_readings, plx_readings
from devices.runtime import BleRuntime
from devices.scanner import get_scan_hub
from kapmonitor.clock import Clock
from kapmonitor.sensor import SensorSink
from kapmonitor.types import Reading, SensorInfo, SensorState, SensorStatus

__all__ = ["BleSensor"]

log = logging.getLogger(__name__)


class BleSensor:
    """One BLE sensor on a shared :class:`BleRuntime`; several may run on one runtime.

    Args:
        runtime: the started runtime whose thread runs bleak.
        address: the sensor's BLE address (its ``sensor_id``).
        clock: stamps every reading and status.
        name: display name ("" = the advertised name).
        device: a ``BLEDevice`` from a recent scan, used for the first connection only.
        reconnect_initial_s: wait before the first retry (and after each failed attempt, doubling).
        reconnect_max_s: longest wait between attempts.
        lost_after_s: report LOST when the sensor has not (re)connected this long.
        scan_timeout_s: how long one attempt scans for the sensor before backing off.
        connect_timeout_s: bleak's connect timeout for one attempt.
    """

    def __init__(
        self,
        runtime: BleRuntime,
        address: str,
        clock: Clock,
        *,
        name: str = "",
        device: BLEDevice | None = None,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 4.0,
        lost_after_s: float = 10.0,
        scan_timeout_s: float = 5.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if not 0 < reconnect_initial_s <= reconnect_max_s:
            raise ValueError(
                "need 0 < reconnect_initial_s <= reconnect_max_s, "
                f"got {reconnect_initial_s}, {reconnect_max_s}"
            )
        if not lost_after_s > 0:
            raise ValueError(f"lost_after_s must be positive seconds, got {lost_after_s!r}")
        self._runtime = runtime
        self._address = address.upper()
        self._clock = clock
        self._name = name
        self._fresh_device = device
        self._initial_s = reconnect_initial_s
        self._max_s = reconnect_max_s
        self._lost_after_s = lost_after_s
        self._scan_timeout_s = scan_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._sink: SensorSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_event: asyncio.Event | None = None
        self._delivering = False
        self._lost_timer: asyncio.TimerHandle | None = None
        self._unregister: Callable[[], None] | None = None
        self._teardown_task: asyncio.Task[None] | None = None
        self._malformed = 0
        self._battery: int | None = None
        self._contact: bool | None = None
        self._state: SensorState | None = None
        self.connections = 0
        """How many times a link was established (1 + reconnections)."""

    # ------------------------------------------------------------------ Sensor protocol
    @property
    def sensor_id(self) -> str:
        return self._address

    @property
    def malformed_count(self) -> int:
        """Packets that did not parse (logged at WARNING with their bytes, then dropped)."""
        return self._malformed

    @property
    def state(self) -> SensorState | None:
        """The last state reported to the sink (None before start)."""
        return self._state

    def start(self, sink: SensorSink) -> None:
        """Begin connecting in the background; returns at once.

        Raises:
            RuntimeError: already started, or the runtime is not running.
        """
        if self._sink is not None:
            raise RuntimeError(f"sensor {self._address} was already started")
        self._sink = sink
        self._delivering = True
        self._runtime.submit(self._begin()).result(timeout=5.0)
        self._unregister = self._runtime.register_connection(f"sensor {self._address}", self._astop)

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect and stop reconnecting; when this returns nothing more reaches the sink.

        May also be called from the sink (on the BLE thread): then DISCONNECTED is delivered and
        delivery ends at once, and the link is released in the background.
        """
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        if self._sink is None or not self._runtime.running:
            return
        if self._runtime.on_runtime_thread():
            self._end_delivery()
            self._teardown_task = self._runtime.loop.create_task(self._teardown())
            return
        self._runtime.submit(self._astop()).result(timeout)

    def request_blood_pressure(self) -> bool:
        """False: standard BLE cuffs measure when their own button is pressed (no remote start)."""
        return False

    # ------------------------------------------------------------------ task (BLE thread)
    async def _begin(self) -> None:
        self._stop_event = asyncio.Event()
        self._status(SensorState.CONNECTING)
        self._arm_lost_timer("not found")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ble-sensor-{self._address}")

    async def _astop(self) -> None:
        await self._teardown()
        self._end_delivery()

    def _end_delivery(self) -> None:
        if self._delivering:
            self._status(SensorState.DISCONNECTED)
            self._delivering = False

    async def _teardown(self) -> None:
        if self._stop_event is None:
            return
        self._stop_event.set()
        self._disarm_lost_timer()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=8.0)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        assert self._stop_event is not None
        delay = self._initial_s
        while not self._stop_event.is_set():
            try:
                device, self._fresh_device = self._fresh_device, None
                if device is None:
                    device = await self._find()
                if device is None:
                    break
                if await self._session(device):
                    delay = self._initial_s  # it was connected: the next retry comes quickly
                    if self._stop_event.is_set():
                        break
                    self._status(SensorState.RECONNECTING, "link dropped")
                    self._arm_lost_timer("link dropped")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                no_adapter = as_no_adapter(exc)
                log.info("%s: connection attempt failed: %r", self._address, no_adapter or exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), timeout=delay)
            delay = min(delay * 2, self._max_s)

    async def _find(self) -> BLEDevice | None:
        """Scan until the sensor advertises; None if stopped meanwhile."""
        found: asyncio.Future[BLEDevice] = asyncio.get_running_loop().create_future()

        def listener(device: BLEDevice, adv: AdvertisementData) -> None:
            if device.address.upper() == self._address and not found.done():
                found.set_result(device)

        assert self._stop_event is not None
        stop_wait = asyncio.ensure_future(self._stop_event.wait())
        try:
            async with get_scan_hub().listening(listener):
                waits: set[asyncio.Future[object]] = {found, stop_wait}  # type: ignore[arg-type]
                await asyncio.wait(waits, timeout=self._scan_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
        if found.done():
            return found.result()
        found.cancel()
        if self._stop_event.is_set():
            return None
        raise SensorNotFoundError(f"{self._address} did not advertise within {self._scan_timeout_s} s")

    async def _session(self, device: BLEDevice) -> bool:
        """One connection; returns True if it got connected (and then dropped or was stopped)."""
        assert self._stop_event is not None
        dropped = asyncio.Event()
        client = BleakClient(device, lambda _c: dropped.set(), timeout=self._connect_timeout_s)
        try:
            await client.connect()
            self.connections += 1
            if not self._name:
                self._name = device.name or ""
            await self._read_and_subscribe(client, device)
            if dropped.is_set():
                return True
            self._disarm_lost_timer()
            self._status(SensorState.CONNECTED)
            stop_wait = asyncio.ensure_future(self._stop_event.wait())
            drop_wait = asyncio.ensure_future(dropped.wait())
            try:
                await asyncio.wait({stop_wait, drop_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop_wait.cancel()
                drop_wait.cancel()
            return True
        finally:
            # Always, even after a drop: a dead BlueZ client keeps its notify subscription.
            try:
                await asyncio.wait_for(client.disconnect(), timeout=5.0)
            except Exception as exc:
                log.debug("%s: disconnect after session: %r", self._address, exc)

    async def _read_and_subscribe(self, client: BleakClient, device: BLEDevice) -> None:
        raw_battery = await read_battery_level(client, device)
        if raw_battery is not None:
            self._on_battery(None, bytearray(raw_battery))
        self._deliver_info(await read_sensor_info(client, self._address, self._name))
        await subscribe(
            client,
            {
                gatt.HEART_RATE_MEASUREMENT: self._on_heart_rate,
                gatt.BLOOD_PRESSURE_MEASUREMENT: self._on_blood_pressure,
                gatt.PLX_CONTINUOUS: self._on_plx_continuous,
                gatt.PLX_SPOT_CHECK: self._on_plx_spot_check,
                gatt.BATTERY_LEVEL: self._on_battery,
            },
        )

    # ------------------------------------------------------------------ notifications (BLE thread)
    def _on_heart_rate(self, _char: BleakGATTCharacteristic | None, data: bytearray) -> None:
        at = self._clock.now()
        try:
            m = gatt.parse_heart_rate_measurement(bytes(data))
            readings = heart_rate_readings(m, at, self._address)
        except ValueError as exc:
            self._malformed_packet(gatt.HEART_RATE_MEASUREMENT, data, exc)
            return
        self._deliver(readings)
        if m.sensor_contact != self._contact:
            self._contact = m.sensor_contact
            if self._state is SensorState.CONNECTED:
                self._status(SensorState.CONNECTED, "skin contact changed")

    def _on_blood_pressure(self, _char: BleakGATTCharacteristic | None, data: bytearray) -> None:
        at = self._clock.now()
        try:
            readings = blood_pressure_readings(
                gatt_medical.parse_blood_pressure_measurement(bytes(data)), at, self._address
            )
        except ValueError as exc:
            self._malformed_packet(gatt.BLOOD_PRESSURE_MEASUREMENT, data, exc)
            return
        self._deliver(readings)

    def _on_plx_continuous(self, _char: BleakGATTCharacteristic | None, data: bytearray) -> None:
        at = self._clock.now()
        try:
            readings = plx_readings(gatt_medical.parse_plx_continuous(bytes(data)), at, self._address)
        except ValueError as exc:
            self._malformed_packet(gatt.PLX_CONTINUOUS, data, exc)
            return
        self._deliver(readings)

    def _on_plx_spot_check(self, _char: BleakGATTCharacteristic | None, data: bytearray) -> None:
        at = self._clock.now()
        try:
            readings = plx_readings(gatt_medical.parse_plx_spot_check(bytes(data)), at, self._address)
        except ValueError as exc:
            self._malformed_packet(gatt.PLX_SPOT_CHECK, data, exc)
            return
        self._deliver(readings)

    def _on_battery(self, _char: BleakGATTCharacteristic | None, data: bytearray) -> None:
        at = self._clock.now()
        try:
            pct = gatt.parse_battery_level(bytes(data))
            reading = battery_reading(pct, at, self._address)
        except ValueError as exc:
            self._malformed_packet(gatt.BATTERY_LEVEL, data, exc)
            return
        self._deliver([reading])
        if pct != self._battery:
            self._battery = pct
            if self._state is SensorState.CONNECTED:
                self._status(SensorState.CONNECTED, "battery changed")

    def _malformed_packet(self, uuid: str, data: bytearray, exc: ValueError) -> None:
        self._malformed += 1
        log.warning(
            "%s: malformed packet on %s dropped: %s (bytes %s)", self._address, uuid, exc, data.hex(" ")
        )

    # ------------------------------------------------------------------ to the sink (BLE thread)
    def _deliver(self, readings: list[Reading]) -> None:
        sink = self._sink
        if sink is None:
            return
        if not readings or not self._delivering:
            return
        try:
            sink.readings_received(readings)  # the packet as one unit
        except Exception:
            log.exception("%s: sink failed on a packet", self._address)

    def _deliver_info(self, info: SensorInfo) -> None:
        if self._delivering and self._sink is not None:
            try:
                self._sink.info_received(info)
            except Exception:
                log.exception("%s: sink failed on sensor info", self._address)

    def _status(self, state: SensorState, detail: str = "") -> None:
        self._state = state
        if not self._delivering or self._sink is None:
            return
        status = SensorStatus(
            self._address, state, self._clock.now(), detail, battery_pct=self._battery, contact=self._contact
        )
        try:
            self._sink.status_changed(status)
        except Exception:
            log.exception("%s: sink failed on a status", self._address)

    def _arm_lost_timer(self, why: str) -> None:
        self._disarm_lost_timer()

        def lost() -> None:
            self._lost_timer = None
            if self._delivering and self._state in (SensorState.CONNECTING, SensorState.RECONNECTING):
                self._status(SensorState.LOST, f"{why}; away {self._lost_after_s:g} s, still trying")

        self._lost_timer = asyncio.get_running_loop().call_later(self._lost_after_s, lost)

    def _disarm_lost_timer(self) -> None:
        if self._lost_timer is not None:
            self._lost_timer.cancel()
            self._lost_timer = None
