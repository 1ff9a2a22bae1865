"""Discovering sensors: one shared bleak scan per runtime, classified by service and name.

**Why we scan without an OS-level UUID filter.** A ``BleakScanner(service_uuids=[...])`` makes
BlueZ apply ``SetDiscoveryFilter(UUIDs=...)``, which hides every device that does not put one of
those UUIDs in its advertisement. Several straps we support advertise only their name (some
Polar, Wahoo TICKR and Garmin HRM firmware), so the filter would hide them. We therefore scan
unfiltered and keep, in the detection callback, devices that advertise the Heart Rate (0x180D),
Blood Pressure (0x1810) or Pulse Oximeter (0x1822) service *or* whose name starts with a known
sensor prefix (:data:`KNOWN_NAME_PREFIXES`). Everything else is ignored.

**Why one shared scan.** BlueZ gives each D-Bus client one discovery session (a second
``StartDiscovery`` from the same connection fails with ``InProgress``) and bleak uses one
connection per event loop, so two ``BleakScanner`` s running at once on the runtime would
collide: e.g. the GUI's live scan while a sensor rescans to reconnect. :class:`ScanHub` runs one
``BleakScanner`` (as an async context manager) while anyone listens and fans advertisements out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from devices.errors import as_no_adapter
from devices.gatt import BLOOD_PRESSURE_SERVICE, HEART_RATE_SERVICE, PULSE_OXIMETER_SERVICE
from devices.runtime import BleRuntime
from kapmonitor.types import SensorKind

__all__ = [
    "KNOWN_NAME_PREFIXES",
    "SENSOR_SERVICES",
    "DiscoveredSensor",
    "LiveScanner",
    "ScanHub",
    "classify",
    "get_scan_hub",
    "scan",
    "scan_blocking",
]

log = logging.getLogger(__name__)

SENSOR_SERVICES: dict[str, SensorKind] = {
    HEART_RATE_SERVICE: SensorKind.HEART_RATE,
    BLOOD_PRESSURE_SERVICE: SensorKind.BLOOD_PRESSURE,
    PULSE_OXIMETER_SERVICE: SensorKind.PULSE_OXIMETER,
}
"""Service UUID in an advertisement -> what the sensor measures."""

KNOWN_NAME_PREFIXES: tuple[tuple[str, SensorKind], ...] = (
    ("Polar H", SensorKind.HEART_RATE),
    ("Polar OH1", SensorKind.HEART_RATE),
    ("Polar Verity", SensorKind.HEART_RATE),
    ("TICKR", SensorKind.HEART_RATE),
    ("Wahoo TICKR", SensorKind.HEART_RATE),
    ("HRM-Dual", SensorKind.HEART_RATE),
    ("HRM-Pro", SensorKind.HEART_RATE),
    ("HRM-Fit", SensorKind.HEART_RATE),
    ("A&D_UA-651", SensorKind.BLOOD_PRESSURE),
)
"""Advertised-name prefixes of sensors that may not advertise their service UUID."""

AdvertisementListener = Callable[[BLEDevice, AdvertisementData], None]


@dataclass(frozen=True)
class DiscoveredSensor:
    """A sensor seen advertising.

    Attributes:
        address: BLE address (macOS: a CoreBluetooth UUID); the sensor's id.
        name: advertised name ("" when it sent none).
        rssi: signal strength of the latest advertisement, dBm.
        kinds: what it measures, from its advertised services and name.
        service_uuids: advertised service UUIDs (lowercase 128-bit).
        device: bleak's handle from this scan, to connect without another scan (goes stale).
    """

    address: str
    name: str
    rssi: int
    kinds: tuple[SensorKind, ...]
    service_uuids: tuple[str, ...]
    device: BLEDevice | None = None


def classify(name: str | None, service_uuids: tuple[str, ...] | list[str]) -> tuple[SensorKind, ...]:
    """What a device measures, judged from its advertisement; ``()`` if it is not a sensor."""
    kinds: list[SensorKind] = []
    for uuid in service_uuids:
        kind = SENSOR_SERVICES.get(uuid.lower())
        if kind is not None and kind not in kinds:
            kinds.append(kind)
    if name:
        for prefix, kind in KNOWN_NAME_PREFIXES:
            if name.startswith(prefix) and kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def _sensor_from(device: BLEDevice, adv: AdvertisementData) -> DiscoveredSensor | None:
    name = adv.local_name or device.name or ""
    uuids = tuple(u.lower() for u in adv.service_uuids)
    kinds = classify(name, uuids)
    if not kinds:
        return None
    return DiscoveredSensor(device.address, name, adv.rssi, kinds, uuids, device)


class ScanHub:
    """One unfiltered bleak scan on the current loop, shared by every listener.

    Use :func:`get_scan_hub` on the runtime's loop; all methods must run on that loop.
    """

    def __init__(self) -> None:
        self._listeners: list[AdvertisementListener] = []
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def listening(self, listener: AdvertisementListener) -> AsyncIterator[None]:
        """Deliver every advertisement to ``listener`` while inside the block.

        Raises:
            NoAdapterError: no usable Bluetooth (see :func:`devices.errors.as_no_adapter`).
        """
        async with self._lock:
            self._listeners.append(listener)
            if self._stack is None:
                stack = contextlib.AsyncExitStack()
                try:
                    await stack.enter_async_context(BleakScanner(self._dispatch))
                except Exception as exc:
                    self._listeners.remove(listener)
                    no_adapter = as_no_adapter(exc)
                    if no_adapter is not None:
                        raise no_adapter from exc
                    raise
                self._stack = stack
        try:
            yield
        finally:
            async with self._lock:
                self._listeners.remove(listener)
                if not self._listeners and self._stack is not None:
                    stack, self._stack = self._stack, None
                    try:
                        await stack.aclose()
                    except Exception as exc:  # the adapter vanished mid-scan: nothing to stop
                        log.warning("stopping the scan failed: %r", exc)

    def _dispatch(self, device: BLEDevice, adv: AdvertisementData) -> None:
        for listener in list(self._listeners):
            try:
                listener(device, adv)
            except Exception:
                log.exception("scan listener failed")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ScanHub] = weakref.WeakKeyDictionary()


def get_scan_hub() -> ScanHub:
    """The scan hub of the running loop (one per runtime), created on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = ScanHub()
    return hub


async def scan(
    seconds: float, on_found: Callable[[DiscoveredSensor], None] | None = None
) -> list[DiscoveredSensor]:
    """Scan for ``seconds``; return the sensors seen, strongest signal first.

    ``on_found`` is called (on the loop) the first time each sensor is seen.

    Raises:
        ValueError: ``seconds`` not positive.
        NoAdapterError: no usable Bluetooth.
    """
    if not seconds > 0:
        raise ValueError(f"scan time must be positive seconds, got {seconds!r}")
    found: dict[str, DiscoveredSensor] = {}

    def listener(device: BLEDevice, adv: AdvertisementData) -> None:
        sensor = _sensor_from(device, adv)
        if sensor is None:
            return
        first = sensor.address not in found
        found[sensor.address] = sensor
        if first and on_found is not None:
            on_found(sensor)

    async with get_scan_hub().listening(listener):
        await asyncio.sleep(seconds)
    return sorted(found.values(), key=lambda s: -s.rssi)


def scan_blocking(runtime: BleRuntime, seconds: float) -> list[DiscoveredSensor]:
    """Scan on ``runtime`` and wait for the result (for the CLI; never from the GUI thread).

    Raises:
        NoAdapterError: no usable Bluetooth.
    """
    return runtime.submit(scan(seconds)).result(timeout=seconds + 15.0)


class LiveScanner:
    """A scan the GUI can leave running: the list of nearby sensors, with live RSSI and names.

    ``on_update`` is called on the BLE thread with the whole current list each time a sensor
    appears or its advertisement changes (name, RSSI, services); a GUI should post it to its own
    thread. The list is also available any time from :meth:`current`.
    """

    def __init__(self, runtime: BleRuntime) -> None:
        self._runtime = runtime
        self._sensors: dict[str, DiscoveredSensor] = {}
        self._lock = threading.Lock()
        self._stop_event: asyncio.Event | None = None
        self._task: concurrent.futures.Future[None] | None = None
        self._unregister: Callable[[], None] | None = None

    def start(
        self, on_update: Callable[[list[DiscoveredSensor]], None] | None = None
    ) -> concurrent.futures.Future[None]:
        """Start scanning; returns at once.

        Returns:
            A future that resolves when scanning has started, or fails with
            :class:`~devices.errors.NoAdapterError` if it cannot.
        """
        if self._task is not None and not self._task.done():
            raise RuntimeError("this live scan is already running")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._task = self._runtime.submit(self._run(on_update, started))
        self._unregister = self._runtime.register_connection("live scan", self._astop)
        return started

    async def _run(
        self,
        on_update: Callable[[list[DiscoveredSensor]], None] | None,
        started: concurrent.futures.Future[None],
    ) -> None:
        self._stop_event = asyncio.Event()

        def listener(device: BLEDevice, adv: AdvertisementData) -> None:
            sensor = _sensor_from(device, adv)
            if sensor is None:
                return
            with self._lock:
                old = self._sensors.get(sensor.address)
                self._sensors[sensor.address] = sensor
                changed = old is None or (old.rssi, old.name, old.kinds) != (
                    sensor.rssi,
                    sensor.name,
                    sensor.kinds,
                )
            if changed and on_update is not None:
                on_update(self.current())

        try:
            async with get_scan_hub().listening(listener):
                started.set_result(None)
                await self._stop_event.wait()
        except Exception as exc:
            if not started.done():
                started.set_exception(exc)
            else:
                log.warning("live scan ended: %r", exc)
        finally:
            if not started.done():
                started.cancel()

    async def _astop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scanning and wait until the scan has ended. The list stays readable."""
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        task = self._task
        if task is None or task.done() or not self._runtime.running:
            return
        self._runtime.submit(self._astop()).result(timeout)
        with contextlib.suppress(concurrent.futures.CancelledError):
            task.result(timeout)

    def current(self) -> list[DiscoveredSensor]:
        """The sensors seen so far, strongest signal first (thread-safe snapshot)."""
        with self._lock:
            return sorted(self._sensors.values(), key=lambda s: -s.rssi)
