"""Test helpers for the BLE tests: a recording sink and a polling wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from kapmonitor.types import Reading, SensorInfo, SensorState, SensorStatus, Stream

__all__ = ["RecordingSink", "wait_until"]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


class RecordingSink:
    """A thread-safe SensorSink that records everything, for assertions from the test thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.readings: list[Reading] = []
        self.statuses: list[SensorStatus] = []
        self.infos: list[SensorInfo] = []
        self.threads: set[str] = set()

    def readings_received(self, readings: Sequence[Reading]) -> None:
        for reading in readings:
            self.reading_received(reading)

    def reading_received(self, reading: Reading) -> None:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            self.readings.append(reading)

    def status_changed(self, status: SensorStatus) -> None:
        with self._lock:
            self.statuses.append(status)

    def info_received(self, info: SensorInfo) -> None:
        with self._lock:
            self.infos.append(info)

    def states(self, sensor_id: str | None = None) -> list[SensorState]:
        """The link states reported, in order, with consecutive repeats collapsed."""
        with self._lock:
            raw = [s.state for s in self.statuses if sensor_id is None or s.sensor_id == sensor_id]
        return [s for i, s in enumerate(raw) if i == 0 or raw[i - 1] is not s]

    def values(self, stream: Stream, sensor_id: str | None = None) -> list[float]:
        with self._lock:
            return [
                r.value
                for r in self.readings
                if r.stream is stream and (sensor_id is None or r.sensor_id == sensor_id)
            ]

    def wait_state(self, state: SensorState, timeout: float = 5.0, count: int = 1) -> None:
        wait_until(lambda: self.states().count(state) >= count, timeout, f"{count}x {state.value}")

    def wait_values(self, stream: Stream, n: int, timeout: float = 5.0) -> list[float]:
        wait_until(lambda: len(self.values(stream)) >= n, timeout, f"{n} {stream.value} readings")
        return self.values(stream)
