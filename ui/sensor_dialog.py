"""The "Sensors" dialog: the device panel, and what Connect does.

:class:`SensorDialog` wraps UI-B's :class:`~ui.device_panel.DevicePanel` (live scan
list + simulated sensor). When the therapist ticks sensors and presses Connect,
each is built here -- a :class:`~devices.ble_sensor.BleSensor` on the app's
:class:`~devices.runtime.BleRuntime`, or a :class:`~devices.simulated.SimulatedSensor`
-- and attached to the recorder on the DB worker (``attach_sensor`` starts it;
it never blocks the GUI thread). Its status then arrives through the bridge.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QVBoxLayout, QWidget

from devices.factory import make_sensor
from devices.runtime import BleRuntime
from kapmonitor.clock import Clock
from kapmonitor.recording import Recorder
from kapmonitor.sensor import Sensor, SensorSpec
from kapmonitor.types import SensorStatus
from ui.device_panel import SIMULATED_ADDRESS, DevicePanel
from ui.observation_commands import RunInWorker
from ui.theme import Theme

__all__ = ["SensorDialog"]

log = logging.getLogger(__name__)



class SensorDialog(QDialog):
    """Choose and connect sensors (non-modal; it stays open while sensors connect).

    Args:
        panel: the device panel (with the app's scanner, or None without Bluetooth).
        recorder: sensors are attached to it.
        run_in_worker: ``DbWorker.run_in_worker``.
        clock: the injected clock the sensors run on.
        runtime: the BLE runtime (None: Bluetooth unavailable; only the simulated sensor).
    """

    def __init__(self, panel: DevicePanel, recorder: Recorder, run_in_worker: RunInWorker, clock: Clock,
                 runtime: BleRuntime | None, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sensors")
        self.resize(760, 520)
        self.panel = panel
        self._recorder = recorder
        self._run = run_in_worker
        self._clock = clock
        self._runtime = runtime
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(panel, 1)
        layout.addWidget(buttons)
        panel.connect_requested.connect(self.connect_sensor)

    def make_sensor(self, address: str, name: str) -> Sensor:
        """Build the sensor for a ticked row (``ValueError`` if Bluetooth is unavailable)."""
        if address == SIMULATED_ADDRESS:
            return make_sensor("simulated", self._clock)
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

        def failed(exc: BaseException) -> None:
            log.error("connecting %s failed: %s", address, exc)
            self.panel.message.setText(f"{name or address} could not be connected: {exc}")

        self._run(lambda: self._recorder.attach_sensor(sensor), None, failed)

    def set_sensor_status(self, status: SensorStatus) -> None:
        self.panel.set_sensor_status(status)
