"""The "Sensors" dialog: the device panel, and what Connect, Disconnect and Reconnect do.

:class:`SensorDialog` wraps :class:`~ui.device_panel.DevicePanel` (live scan list + simulated
sensor). When the therapist ticks sensors and presses Connect, each is built here through
:func:`devices.factory.make_sensor` -- a Bluetooth sensor on the app's
:class:`~devices.runtime.BleRuntime`, or the simulated one -- and attached to the recorder on the
DB worker (:class:`~ui.ops.Op`; ``attach_sensor`` starts it and never blocks the GUI thread). Its
status then arrives through the bridge. Disconnect detaches a ticked sensor mid-session
(``Recorder.detach_sensor``: the session goes on, the removal is recorded); Reconnect detaches it
and attaches a freshly built one (a sensor that says "connected" but has sent nothing for minutes
is usually cured by that). The Status column says what the data does, from the
:class:`~ui.sensor_activity.SensorActivity` the vitals panel keeps, updated every second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QVBoxLayout, QWidget

from devices.factory import make_sensor
from devices.runtime import BleRuntime
from kapmonitor.clock import Clock
from kapmonitor.recording import Recorder
from kapmonitor.sensor import Sensor, SensorSpec
from kapmonitor.types import SensorState, SensorStatus
from ui.device_panel import DevicePanel
from ui.ops import Op
from ui.sensor_activity import SIMULATED_ADDRESS, SensorActivity, address_of
from ui.theme import Theme
from ui.worker import DbWorker

__all__ = ["SensorDialog"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SensorDialog(QDialog):
    """Choose, connect, disconnect and reconnect sensors (non-modal; it stays open meanwhile).

    Args:
        panel: the device panel (with the app's scanner, or None without Bluetooth).
        recorder: sensors are attached to it and detached from it.
        worker: the DB worker the recorder commands run on (None: run at once, for tools).
        clock: the injected clock the sensors run on.
        runtime: the BLE runtime (None: Bluetooth unavailable; only the simulated sensor).
        activity: what each sensor's data does (the vitals panel's ``sensor_activity``); None: the
            Status column shows the bare link state.

    Signals:
        sensor_status_changed(SensorStatus): a sensor was disconnected here (the recorder sends
            nothing more for it); connect it to whatever shows sensor states.
    """

    sensor_status_changed = Signal(SensorStatus)

    def __init__(self, panel: DevicePanel, recorder: Recorder, worker: DbWorker | None, clock: Clock,
                 runtime: BleRuntime | None, theme: Theme, parent: QWidget | None = None, *,
                 activity: SensorActivity | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sensors")
        self.resize(760, 520)
        self.panel = panel
        self._recorder = recorder
        self._worker = worker
        self._clock = clock
        self._runtime = runtime
        self._activity = activity
        self._ids: dict[str, set[str]] = {}  # panel address -> sensor ids seen for it
        self._states: dict[str, SensorState] = {}  # sensor id -> its last link state
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(panel, 1)
        layout.addWidget(buttons)
        panel.connect_requested.connect(self.connect_sensor)
        panel.disconnect_requested.connect(self.disconnect_sensor)
        panel.reconnect_requested.connect(self.reconnect_sensor)
        self.sensor_status_changed.connect(self.set_sensor_status)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)

    def make_sensor(self, address: str, name: str) -> Sensor:
        """Build the sensor for a ticked row (``ValueError`` if Bluetooth is unavailable)."""
        if address == SIMULATED_ADDRESS:
            return make_sensor(SensorSpec("simulated"), self._clock)
        found = self.panel.discovered(address)
        return make_sensor(SensorSpec("ble", address=address), self._clock, runtime=self._runtime, name=name,
                           device=found.device if found is not None else None)

    def connect_sensor(self, address: str, name: str) -> None:
        """Attach the sensor for ``address`` on the worker; errors are shown in the panel."""
        try:
            sensor = self.make_sensor(address, name)
        except ValueError as exc:
            self.panel.message.setText(str(exc))
            return
        self._op(f"Connecting {name or address}", lambda: self._recorder.attach_sensor(sensor),
                 f"{name or address}: connecting…")

    def disconnect_sensor(self, address: str, name: str) -> None:
        """Detach every sensor of the row ``address`` on the worker (the session goes on)."""
        ids = self._attached_ids(address)

        def detach() -> list[str]:
            for sensor_id in ids:
                self._recorder.detach_sensor(sensor_id)
            return ids

        def done(removed: list[str]) -> None:
            self._removed(removed)
            self.panel.message.setText(
                f"{name or address} disconnected. Tick it and press Connect to use it again.")

        self._op(f"Disconnecting {name or address}", detach, f"{name or address}: disconnecting…", done)

    def reconnect_sensor(self, address: str, name: str) -> None:
        """Detach the row's sensors and attach a newly built one, on the worker."""
        try:
            sensor = self.make_sensor(address, name)
        except ValueError as exc:
            self.panel.message.setText(str(exc))
            return
        ids = self._attached_ids(address)

        def redo() -> list[str]:
            for sensor_id in ids:
                self._recorder.detach_sensor(sensor_id)
            self._recorder.attach_sensor(sensor)
            return ids

        def done(removed: list[str]) -> None:
            self._removed([sid for sid in removed if sid != sensor.sensor_id])
            self.panel.message.setText(f"{name or address}: connecting again…")

        # the old link is shown as dropped at once; the new one's status follows from the recorder
        self._op(f"Reconnecting {name or address}", redo, f"{name or address}: reconnecting…", done)

    def set_sensor_status(self, status: SensorStatus) -> None:
        """Slot for the bridge's ``sensor_status_arrived`` (and this dialog's own removals).

        A row may have had several sensors (a reconnected simulated sensor gets a new id): the
        end of an old one does not hide the new one's state.
        """
        ids = self._ids.setdefault(address_of(status.sensor_id), set())
        ids.add(status.sensor_id)
        self._states[status.sensor_id] = status.state
        replaced = status.state is SensorState.DISCONNECTED and any(
            self._states.get(other, SensorState.DISCONNECTED) is not SensorState.DISCONNECTED
            for other in ids if other != status.sensor_id)
        if not replaced:
            self.panel.set_sensor_status(status)
        self.refresh()

    def refresh(self) -> None:
        """Put what each connected sensor's data does into the Status column."""
        if self._activity is None:
            return
        for sensor_id in self._activity.ids():  # sensors connected before this dialog was made
            status = self._activity.status_of(sensor_id)
            if status is not None and sensor_id not in self._states:
                self._ids.setdefault(address_of(sensor_id), set()).add(sensor_id)
                self._states[sensor_id] = status.state
                self.panel.set_sensor_status(status)
        for address, ids in self._ids.items():
            live = [sid for sid in sorted(ids) if self._states.get(sid) is not SensorState.DISCONNECTED]
            lines = [line for sid in live if (line := self._activity.describe(sid)) is not None]
            if lines:  # else the panel shows the bare "disconnected"
                self.panel.set_status_text(address, "; ".join(line.words for line in lines))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()

    # ------------------------------------------------------------------ internals
    def _attached_ids(self, address: str) -> list[str]:
        return [s.sensor_id for s in self._recorder.sensors if address_of(s.sensor_id) == address]

    def _removed(self, sensor_ids: list[str]) -> None:
        now: datetime = self._clock.now()
        for sensor_id in sensor_ids:
            self.sensor_status_changed.emit(SensorStatus(sensor_id, SensorState.DISCONNECTED, now, "removed"))

    def _op(self, what: str, fn: Callable[[], T], pending: str,
            done: Callable[[T], None] | None = None) -> None:
        self.panel.message.setText(pending)

        def failed(exc: BaseException) -> None:
            log.error("%s failed: %s", what, exc)
            self.panel.message.setText(f"{what} failed: {exc}")

        op = Op(fn, parent=self, what=what).failure(failed)
        if done is not None:
            op.success(done)
        op.run(self._worker)
