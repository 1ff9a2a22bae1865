"""BleRuntime, error mapping and advertisement classification, without any D-Bus."""

from __future__ import annotations

import asyncio
import threading

import pytest
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakDBusError

from devices.errors import NoAdapterError, as_no_adapter
from devices.gatt import BLOOD_PRESSURE_SERVICE, HEART_RATE_SERVICE, PULSE_OXIMETER_SERVICE
from devices.runtime import THREAD_NAME, BleRuntime
from devices.scanner import classify
from kapmonitor.types import SensorKind


def _ble_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_runtime_runs_coroutines_on_its_named_thread_and_stops_cleanly() -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    with BleRuntime() as runtime:
        assert runtime.running
        assert runtime.submit(where()).result(2) == THREAD_NAME
        seen = threading.Event()
        runtime.call_soon(seen.set)
        assert seen.wait(2)
        loop = runtime.loop
    assert not runtime.running
    assert loop.is_closed()
    assert not _ble_threads()


def test_stop_runs_registered_closers_then_cancels_leftover_tasks() -> None:
    order: list[str] = []
    runtime = BleRuntime()
    runtime.start()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            order.append("task cancelled")

    async def closer() -> None:
        order.append("closer ran")

    removed: list[str] = []

    async def unregistered() -> None:
        removed.append("should not run")

    runtime.submit(forever())
    runtime.register_connection("a", closer)
    runtime.register_connection("b", unregistered)()  # unregister at once
    runtime.stop()
    assert order == ["closer ran", "task cancelled"]
    assert removed == []
    runtime.stop()  # idempotent


def test_submit_after_stop_raises_and_does_not_leak_the_coroutine() -> None:
    runtime = BleRuntime()
    runtime.start()
    runtime.stop()

    async def nothing() -> None:
        return None

    coro = nothing()
    with pytest.raises(RuntimeError, match="not running"):
        runtime.submit(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning
    with pytest.raises(RuntimeError, match="already started"):
        runtime.start()


def test_a_slow_closer_does_not_hang_stop() -> None:
    runtime = BleRuntime()
    runtime.start()

    async def stuck() -> None:
        await asyncio.sleep(3600)

    runtime.register_connection("stuck", stuck)
    runtime.stop(timeout=1.0)
    assert not _ble_threads()


@pytest.mark.parametrize(
    "exc",
    [
        BleakBluetoothNotAvailableError(
            "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
        ),
        BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", ["The name org.bluez was not provided"]),
        FileNotFoundError(2, "No such file or directory"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_no_adapter_shapes_map_to_no_adapter_error(exc: BaseException) -> None:
    mapped = as_no_adapter(exc)
    assert isinstance(mapped, NoAdapterError)
    assert str(mapped)


def test_device_errors_are_not_mistaken_for_a_missing_adapter() -> None:
    assert as_no_adapter(BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"])) is None
    assert as_no_adapter(ValueError("bad packet")) is None


def test_classify_by_service_and_by_name() -> None:
    assert classify("whatever", [HEART_RATE_SERVICE.upper()]) == (SensorKind.HEART_RATE,)
    assert classify(None, [BLOOD_PRESSURE_SERVICE]) == (SensorKind.BLOOD_PRESSURE,)
    assert classify("", [PULSE_OXIMETER_SERVICE]) == (SensorKind.PULSE_OXIMETER,)
    assert classify("Polar H10 ABC", []) == (SensorKind.HEART_RATE,)
    assert classify("HRM-Dual:123", []) == (SensorKind.HEART_RATE,)
    assert classify("Polar H10", [HEART_RATE_SERVICE]) == (SensorKind.HEART_RATE,)  # no duplicate
    assert classify("Kitchen Speaker", ["0000110b-0000-1000-8000-00805f9b34fb"]) == ()
    assert classify(None, []) == ()
