"""Cyclic garbage is collected on the GUI thread only; readings reach the GUI coalesced, in order."""

from __future__ import annotations

import gc
import threading
import weakref
from datetime import UTC, datetime, timedelta

from kapmonitor.types import Reading, ReadingFlag, Stream
from ui.bridge import RecorderBridge
from ui.gc_guard import GuiGarbageCollector

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_cycles_wait_for_the_gui_timer_and_collection_comes_back_when_stopped(qtbot) -> None:  # type: ignore[no-untyped-def]
    gc.enable()
    guard = GuiGarbageCollector(interval_ms=20)
    try:
        assert not gc.isenabled()
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        del cycle
        for _ in range(gc.get_threshold()[0] + 10):  # enough allocations to have triggered a collection
            _Cycle()
        assert gone() is not None, "collected outside the GUI timer"
        qtbot.waitUntil(lambda: gone() is None, timeout=3000)
    finally:
        guard.stop()
    assert gc.isenabled()


def test_readings_from_a_sensor_thread_arrive_in_order_in_one_queued_delivery(qtbot) -> None:  # type: ignore[no-untyped-def]
    bridge = RecorderBridge()
    got: list[tuple[str, float, float]] = []
    bridge.reading_arrived.connect(lambda s, v, t, f, sid: got.append((s, v, t)))
    readings = [Reading(Stream.HEART_RATE, 60.0 + i, T0 + timedelta(seconds=i), "strap", ReadingFlag.NONE)
                for i in range(2000)]

    def sensor() -> None:
        for r in readings:
            bridge.reading_recorded(r)

    thread = threading.Thread(target=sensor)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(got) == len(readings), timeout=5000)
    assert [v for _s, v, _t in got] == [r.value for r in readings]
    assert [t for _s, _v, t in got] == sorted(t for _s, _v, t in got)
