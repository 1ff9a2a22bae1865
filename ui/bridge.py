"""Carries Recorder callbacks from worker threads onto the GUI thread.

The recorder calls its listeners from the sensor thread, its ticker thread or
the database worker; Qt widgets may only be touched from the GUI thread.
:class:`RecorderBridge` implements ``RecorderListener`` and re-emits every
callback as a Qt signal. The bridge is created in (and lives in) the GUI
thread, so every connection to a widget slot is queued automatically when the
emit happens elsewhere.

Signal argument types:

* readings travel as plain values ``(str stream, float value, float t_epoch,
  int flags, str sensor_id)``: the hot path (several per second) needs no
  Python object at all, and the plots consume floats anyway;
* the rest carry the core's frozen dataclasses, declared with their own
  classes (``Signal(SensorStatus)``), never as an anonymous ``object``.
  Alarm changes travel as one frozen :class:`AlarmsChange`.

:class:`JournalBridge` does the same for the recording journal's status
(``JournaledStore.add_status_listener``): the writer thread or a recording
thread calls it, the window hears ``status_arrived(JournalStatus)`` queued on
the GUI thread.

PySide6 6.12.0 on Python 3.11 leaks a reference to ``True`` on each emit and
aborts the interpreter (PITFALLS #1); ``tests/test_qt_signal_refcount.py``
guards against running on such a build.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from kapmonitor.ports import JournalStatus
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.types import (
    AlarmTransition,
    Observation,
    Reading,
    SensorInfo,
    SensorStatus,
    SessionEvent,
)

if TYPE_CHECKING:
    from kapmonitor.alarm_record import ActiveAlarm

__all__ = ["AlarmsChange", "JournalBridge", "RecorderBridge"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlarmsChange:
    """What ``alarms_changed`` reported: the new transitions and every active alarm."""

    transitions: tuple[AlarmTransition, ...]
    active: tuple[ActiveAlarm, ...]


class RecorderBridge(QObject):
    """A ``RecorderListener`` whose callbacks become queued Qt signals.

    The listener methods keep the recorder's names (``reading_recorded``...);
    each re-emits one signal named ``<subject>_arrived`` ("arrived on the GUI
    side"), which is what widgets connect to:

        reading_arrived(str stream, float value, float t_epoch, int flags, str sensor_id)
        sensor_status_arrived(SensorStatus)
        sensor_info_arrived(SensorInfo)
        event_arrived(SessionEvent)
        observation_arrived(Observation)
        alarms_arrived(AlarmsChange)
        snapshot_arrived(SessionSnapshot)
        error_arrived(str message)

    Emitting is thread-safe and never blocks the calling (recorder) thread.

    Readings are coalesced: the recorder's threads queue them, and one queued call drains every
    reading waiting, emitting ``reading_arrived`` for each on the GUI thread. A fast clock or a
    busy computer therefore never floods the GUI's event queue with one event per reading (at
    600x the self-test delivers about 2 000 readings per second, and the GUI thread used to fall
    behind for good while ``processEvents`` kept finding more of them).

    Alarm changes are coalesced the same way: one queued call delivers every transition waiting
    (in order) with the newest set of active alarms, so the banner restyles once per turn of the
    event loop, not once per change (two self-tests at 600x on a loaded 2-core machine queued
    changes faster than the banner restyled, and hung for minutes).
    """

    reading_arrived = Signal(str, float, float, int, str)
    sensor_status_arrived = Signal(SensorStatus)
    sensor_info_arrived = Signal(SensorInfo)
    event_arrived = Signal(SessionEvent)
    observation_arrived = Signal(Observation)
    alarms_arrived = Signal(AlarmsChange)
    snapshot_arrived = Signal(SessionSnapshot)
    error_arrived = Signal(str)
    _readings_waiting = Signal()
    """Internal: readings are waiting in the queue (emitted once per batch, drained on the GUI thread)."""
    _alarms_waiting = Signal()
    """Internal: alarm changes are waiting (emitted once per batch, delivered on the GUI thread)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._waiting: deque[Reading] = deque()
        self._waiting_lock = threading.Lock()
        self._readings_waiting.connect(self._deliver_readings)
        self._transitions: list[AlarmTransition] = []
        self._active: tuple[ActiveAlarm, ...] | None = None
        self._alarms_waiting.connect(self._deliver_alarms)

    # --- RecorderListener (called on recorder threads) ----------------------
    def reading_recorded(self, reading: Reading) -> None:
        with self._waiting_lock:
            first = not self._waiting
            self._waiting.append(reading)
        if first:
            self._readings_waiting.emit()

    @Slot()
    def _deliver_readings(self) -> None:
        with self._waiting_lock:
            batch = list(self._waiting)
            self._waiting.clear()
        for reading in batch:
            self.reading_arrived.emit(
                reading.stream.value, float(reading.value), reading.at.timestamp(), int(reading.flags),
                reading.sensor_id,
            )

    def sensor_status_changed(self, status: SensorStatus) -> None:
        self.sensor_status_arrived.emit(status)

    def sensor_info_received(self, info: SensorInfo) -> None:
        self.sensor_info_arrived.emit(info)

    def event_recorded(self, event: SessionEvent) -> None:
        self.event_arrived.emit(event)

    def observation_saved(self, observation: Observation) -> None:
        self.observation_arrived.emit(observation)

    def alarms_changed(self, transitions: Sequence[AlarmTransition], active: Sequence[ActiveAlarm]) -> None:
        with self._waiting_lock:
            first = self._active is None
            self._transitions.extend(transitions)
            self._active = tuple(active)
        if first:
            self._alarms_waiting.emit()

    @Slot()
    def _deliver_alarms(self) -> None:
        with self._waiting_lock:
            transitions, active = tuple(self._transitions), self._active
            self._transitions.clear()
            self._active = None
        if active is not None:
            self.alarms_arrived.emit(AlarmsChange(transitions, active))

    def snapshot_updated(self, snapshot: SessionSnapshot) -> None:
        self.snapshot_arrived.emit(snapshot)

    def error_occurred(self, message: str) -> None:
        self.error_arrived.emit(message)


class JournalBridge(QObject):
    """A journal status listener whose calls become the queued signal ``status_arrived(JournalStatus)``.

    Pass the bridge itself to ``JournaledStore.add_status_listener``; it is called from the journal
    writer's thread or a recording thread and never blocks (it only emits). Create it in the GUI
    thread and connect ``status_arrived`` with a queued connection.
    """

    status_arrived = Signal(JournalStatus)

    def __call__(self, status: JournalStatus) -> None:
        self.status_arrived.emit(status)
