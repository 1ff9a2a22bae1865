"""The sensors feeding a recorder: which are attached, what they supervise, how they stop.

:class:`SensorAttachments` is the bookkeeping the recorder keeps under its state
lock (it is not thread-safe on its own):

* the attached sensors, and the ones detached since (whatever a detached sensor
  still delivers is dropped, whether or not it stopped in time);
* the (stream, sensor) pairs the alarm engine supervises;
* each sensor's last recorded link state, so a repeated status makes no new event;
* each stream's last time on the session's line, so a sensor's readings never go
  back in time.

Stopping a sensor never blocks the caller for long: :func:`stop_bounded` waits
:data:`SENSOR_STOP_TIMEOUT_S` at most and goes on without a stuck sensor.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime
from typing import Final

from kapmonitor.recording.listener import RecorderError
from kapmonitor.sensor import Sensor
from kapmonitor.session_clock import SessionClock
from kapmonitor.streams import SUPERVISED_STREAMS
from kapmonitor.types import (
    EventKind,
    EventValue,
    Reading,
    ReadingFlag,
    SensorState,
    SensorStatus,
    SessionEvent,
    Stream,
)
from kapmonitor.vitals import MANUAL_SENSOR_ID

__all__ = ["SENSOR_STOP_TIMEOUT_S", "SensorAttachments", "link_event", "stop_bounded", "tell_dose"]

log = logging.getLogger(__name__)

SENSOR_STOP_TIMEOUT_S: Final = 0.5
"""How long (real seconds) stopping a sensor may take before the recorder goes on without it."""

_LINK_EVENTS: Final = {
    SensorState.CONNECTED: EventKind.SENSOR_CONNECTED,
    SensorState.RECONNECTING: EventKind.SENSOR_RECONNECTING,
    SensorState.LOST: EventKind.SENSOR_LOST,
    SensorState.DISCONNECTED: EventKind.SENSOR_DISCONNECTED,
}

class SensorAttachments:
    """Attached and detached sensors, supervised streams, link states and stream times."""

    def __init__(self) -> None:
        self._sensors: dict[str, Sensor] = {}
        self._detached: set[str] = set()
        self._watched: set[tuple[Stream, str]] = set()
        self._links: dict[str, SensorState] = {}
        self._last_at: dict[tuple[Stream, str], datetime] = {}

    # ------------------------------------------------------------- attachment
    def attach(self, sensor: Sensor) -> None:
        """Remember ``sensor`` as attached; raises :class:`RecorderError` if it already is."""
        if sensor.sensor_id in self._sensors:
            raise RecorderError(f"sensor {sensor.sensor_id} is already attached")
        self._sensors[sensor.sensor_id] = sensor
        self._detached.discard(sensor.sensor_id)

    def detach(self, sensor_id: str) -> Sensor | None:
        """Forget the sensor (None if it was not attached); from now on its deliveries are dropped."""
        sensor = self._sensors.pop(sensor_id, None)
        if sensor is not None:
            self._detached.add(sensor_id)
        return sensor

    def forget_streams(self, sensor_id: str) -> None:
        """Stop tracking a detached sensor's supervised streams and link state."""
        self._watched = {w for w in self._watched if w[1] != sensor_id}
        self._links.pop(sensor_id, None)

    def is_detached(self, sensor_id: str) -> bool:
        return sensor_id in self._detached

    def get(self, sensor_id: str) -> Sensor | None:
        return self._sensors.get(sensor_id)

    def all(self) -> list[Sensor]:
        return list(self._sensors.values())

    def ids(self) -> list[str]:
        return list(self._sensors)

    def new_session(self) -> None:
        """Forget the per-session state (supervision, link states, stream times); sensors stay attached."""
        self._watched = set()
        self._links = {}
        self._last_at = {}

    # -------------------------------------------------------------- per reading
    def newly_supervised(self, reading: Reading) -> bool:
        """True the first time a supervised stream arrives from this sensor (the engine should watch it)."""
        key = (reading.stream, reading.sensor_id)
        if reading.stream not in SUPERVISED_STREAMS or key in self._watched:
            return False
        if reading.sensor_id == MANUAL_SENSOR_ID or reading.flags & ReadingFlag.MANUAL:
            return False  # a value typed by hand is one value, not a stream that can go quiet
        self._watched.add(key)
        return True

    def on_session_line(self, reading: Reading, clock: SessionClock) -> Reading:
        """The reading with its time on the session's clock, never before the stream's last one.

        Hand-entered values (``manual``) are stamped on the session's clock already; a time
        the sensor itself stamped (``SENSOR_TIMESTAMP``) is moved onto the line but not held
        back.
        """
        if reading.sensor_id == MANUAL_SENSOR_ID:
            return reading
        at = clock.to_session(reading.at)
        if not reading.flags & ReadingFlag.SENSOR_TIMESTAMP:
            key = (reading.stream, reading.sensor_id)
            last = self._last_at.get(key)
            if last is not None and at < last:
                at = last
            self._last_at[key] = at
        return reading if at == reading.at else replace(reading, at=at)

    def link_changed(self, status: SensorStatus) -> bool:
        """True if ``status`` changes the sensor's recorded link state (and remember it)."""
        if self._links.get(status.sensor_id) is status.state:
            return False
        self._links[status.sensor_id] = status.state
        return True


def link_event(status: SensorStatus) -> SessionEvent | None:
    """The session event a link change is recorded as (None: not a recorded state, e.g. connecting)."""
    kind = _LINK_EVENTS.get(status.state)
    if kind is None:
        return None
    data: dict[str, EventValue] = {"sensor_id": status.sensor_id}
    if status.detail:
        data["detail"] = status.detail
    return SessionEvent(kind, status.at, data)


def stop_bounded(sensor: Sensor, timeout_s: float = SENSOR_STOP_TIMEOUT_S) -> None:
    """``sensor.stop()``, waiting ``timeout_s`` at most (a stuck sensor is left behind, logged)."""
    worker = threading.Thread(target=_stop_quietly, args=(sensor,), name="kapmonitor-sensor-stop",
                              daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        log.warning("sensor %s did not stop within %.1f s; going on without it", sensor.sensor_id, timeout_s)


def _stop_quietly(sensor: Sensor) -> None:
    try:
        sensor.stop()
    except Exception:
        log.exception("stopping sensor %s failed", sensor.sensor_id)


def tell_dose(sensor: Sensor, at: datetime) -> None:
    """Let a sensor that models the drug's effect (the simulator) know the dose time."""
    dose_given = getattr(sensor, "dose_given", None)
    if callable(dose_given):
        dose_given(at)
