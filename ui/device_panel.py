"""Choosing sensors: nearby BLE sensors, live, plus the simulated sensor for demos.

The live list comes from :class:`devices.scanner.LiveScanner`, whose callback runs on
the BLE thread. The panel never touches widgets from there: the callback only emits
an argument-less queued signal, and the GUI-thread slot reads
``scanner.current()`` (a thread-safe snapshot). Nothing crosses threads as an
anonymous Python object.

Without a Bluetooth adapter (:class:`devices.errors.NoAdapterError` from the scan's
start future) the panel says so plainly and still offers the simulated sensor,
which is always the first row and is labelled as a demo, never as a measurement.

Battery level is not advertised by BLE sensors; it is shown once a sensor is
connected (from its :class:`~kapmonitor.types.SensorStatus`). The Status column says what
the data does when the owner knows it (:meth:`DevicePanel.set_status_text`, e.g.
"connected — no data for 12 s"), and a ticked, connected sensor can be disconnected or
reconnected mid-session.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Protocol

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from devices.errors import NoAdapterError
from devices.scanner import DiscoveredSensor
from kapmonitor.types import SensorKind, SensorState, SensorStatus
from ui.sensor_activity import SIMULATED_ADDRESS, address_of
from ui.theme import DARK, Theme

__all__ = ["NO_ADAPTER_TEXT", "DevicePanel", "ScannerLike", "signal_bars"]

log = logging.getLogger(__name__)


NO_ADAPTER_TEXT = "No Bluetooth adapter found — you can use the simulated sensor for a demo."

_KIND_WORDS = {
    SensorKind.HEART_RATE: "Heart rate",
    SensorKind.BLOOD_PRESSURE: "Blood pressure",
    SensorKind.PULSE_OXIMETER: "Pulse oximeter",
    SensorKind.SIMULATED: "Simulated",
}
_STATE_WORDS = {
    SensorState.CONNECTING: "connecting…",
    SensorState.CONNECTED: "connected",
    SensorState.RECONNECTING: "reconnecting…",
    SensorState.LOST: "signal lost",
    SensorState.DISCONNECTED: "disconnected",
}


class ScannerLike(Protocol):
    """What the panel needs from ``devices.scanner.LiveScanner``."""

    def start(self, on_update: object = ...) -> concurrent.futures.Future[None]: ...
    def stop(self, timeout: float = ...) -> None: ...
    def current(self) -> list[DiscoveredSensor]: ...


def signal_bars(rssi: int) -> str:
    """Signal strength in words a therapist reads at a glance (from dBm)."""
    if rssi >= -60:
        return "strong"
    if rssi >= -75:
        return "good"
    if rssi >= -88:
        return "weak"
    return "very weak"


class DevicePanel(QFrame):
    """Nearby sensors (live) and the simulated sensor; tick one or several and press Connect.

    Args:
        scanner: a ``LiveScanner`` on the app's ``BleRuntime``; None when Bluetooth is not
            available at all (treated like a missing adapter).

    Signals:
        connect_requested(str address, str name): for each ticked row when Connect is pressed;
            the address is :data:`SIMULATED_ADDRESS` for the simulated sensor. Use
            :meth:`discovered` to get the ``DiscoveredSensor`` (with its ``BLEDevice``).
        disconnect_requested(str address, str name): for each ticked, connected row when
            Disconnect is pressed.
        reconnect_requested(str address, str name): for each ticked, connected row when
            Reconnect is pressed (drop the link and build it again).
    """

    connect_requested = Signal(str, str)
    disconnect_requested = Signal(str, str)
    reconnect_requested = Signal(str, str)
    _scan_updated = Signal()
    _scan_failed = Signal()

    COLUMNS = ("Sensor", "Measures", "Signal", "Battery", "Status")

    def __init__(
        self, scanner: ScannerLike | None, theme: Theme = DARK, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setProperty("role", "panel")
        self._scanner = scanner
        self._theme = theme
        self._scanning = False
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._sensors: dict[str, DiscoveredSensor] = {}
        self._status: dict[str, SensorStatus] = {}
        self._status_text: dict[str, str] = {}
        title = QLabel("Sensors")
        title.setStyleSheet(f"color: {theme.text_strong}; font-size: 20px; font-weight: bold;")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("font-size: 17px;")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setStyleSheet(
            "QTableWidget { font-size: 17px; } QTableWidget::indicator { width: 26px; height: 26px; }"
        )
        self.table.cellClicked.connect(self._cell_clicked)
        self.table.verticalHeader().setDefaultSectionSize(44)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemChanged.connect(lambda *_: self._update_buttons())
        self.scan_button = QPushButton("Search again")
        self.connect_button = QPushButton("Connect")
        self.connect_button.setProperty("role", "primary")
        self.disconnect_button = QPushButton("Disconnect")
        self.disconnect_button.setToolTip("Stop recording from the ticked sensors (the session goes on)")
        self.reconnect_button = QPushButton("Reconnect")
        self.reconnect_button.setToolTip("Drop the link to the ticked sensors and connect them again")
        for b in (self.scan_button, self.disconnect_button, self.reconnect_button, self.connect_button):
            b.setMinimumHeight(48)
        self.scan_button.clicked.connect(self.restart_scan)
        self.connect_button.clicked.connect(self._connect)
        self.disconnect_button.clicked.connect(lambda: self._emit_connected(self.disconnect_requested))
        self.reconnect_button.clicked.connect(lambda: self._emit_connected(self.reconnect_requested))
        buttons = QHBoxLayout()
        buttons.addWidget(self.scan_button)
        buttons.addStretch(1)
        buttons.addWidget(self.disconnect_button)
        buttons.addWidget(self.reconnect_button)
        buttons.addWidget(self.connect_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._scan_updated.connect(self._refresh, Qt.ConnectionType.QueuedConnection)
        self._scan_failed.connect(self._show_failure, Qt.ConnectionType.QueuedConnection)
        self._rebuild()
        if scanner is None:
            self._set_message(NO_ADAPTER_TEXT)
            self.scan_button.setEnabled(False)

    # --- public API --------------------------------------------------------------------------

    @property
    def scanning(self) -> bool:
        return self._scanning

    def start_scan(self) -> None:
        """Start the live scan (returns at once); results arrive through a queued signal.

        Called automatically when the panel is shown; a scan that failed (e.g. no adapter) is
        retried only by :meth:`restart_scan` ("Search again").
        """
        if self._scanner is None or self._scanning or self._error is not None:
            return
        self._scanning = True
        self._set_message(
            "Searching for sensors nearby… Put the strap on (moist electrodes) or switch the sensor on."
        )
        try:
            started = self._scanner.start(self._on_update_in_ble_thread)
        except Exception as exc:  # a synchronous refusal, e.g. the runtime is not running
            self._scanning = False
            self._error = exc
            self._show_failure()
            return
        started.add_done_callback(self._on_started_in_ble_thread)

    def stop_scan(self) -> None:
        if self._scanner is not None and self._scanning:
            self._scanning = False
            try:
                self._scanner.stop()
            except Exception as exc:
                log.warning("stopping the live scan failed: %r", exc)

    def restart_scan(self) -> None:
        self.stop_scan()
        with self._lock:
            self._error = None
        self.start_scan()

    def discovered(self, address: str) -> DiscoveredSensor | None:
        return self._sensors.get(address)

    def addresses(self) -> list[str]:
        """Row addresses in display order (the simulated sensor first)."""
        out: list[str] = []
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None:
                out.append(str(item.data(Qt.ItemDataRole.UserRole)))
        return out

    def set_checked(self, address: str, checked: bool = True) -> None:
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == address:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def set_sensor_status(self, status: SensorStatus) -> None:
        """Slot for ``RecorderBridge.sensor_status_arrived``: state and battery per sensor."""
        key = address_of(status.sensor_id)
        self._status[key] = status
        self._status_text.pop(key, None)
        self._rebuild()

    def set_status_text(self, address: str, text: str) -> None:
        """Say in the Status column what the sensor's data does (replaces the bare link state)."""
        if self._status_text.get(address) == text:
            return
        self._status_text[address] = text
        for r in range(self.table.rowCount()):
            first = self.table.item(r, 0)
            cell = self.table.item(r, len(self.COLUMNS) - 1)
            if first is not None and cell is not None and first.data(Qt.ItemDataRole.UserRole) == address:
                cell.setText(text)

    def status_text(self, address: str) -> str:
        """What the Status column shows for ``address`` ("" for a sensor never connected)."""
        for r in range(self.table.rowCount()):
            first = self.table.item(r, 0)
            cell = self.table.item(r, len(self.COLUMNS) - 1)
            if first is not None and cell is not None and first.data(Qt.ItemDataRole.UserRole) == address:
                return cell.text()
        return ""

    def is_connected(self, address: str) -> bool:
        """True while the sensor at ``address`` has a link that was not dropped."""
        status = self._status.get(address)
        return status is not None and status.state is not SensorState.DISCONNECTED

    def showEvent(self, event: QShowEvent) -> None:
        """Scanning runs while the panel is visible (BLE scanning costs radio time and battery)."""
        super().showEvent(event)
        self.start_scan()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.stop_scan()

    # --- internals ---------------------------------------------------------------------------

    def _on_update_in_ble_thread(self, sensors: list[DiscoveredSensor]) -> None:
        self._scan_updated.emit()

    def _on_started_in_ble_thread(self, future: concurrent.futures.Future[None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            with self._lock:
                self._error = exc
            self._scan_failed.emit()

    def _show_failure(self) -> None:
        with self._lock:
            exc = self._error
        self._scanning = False
        if exc is None:
            return
        if isinstance(exc, NoAdapterError):
            self._set_message(NO_ADAPTER_TEXT)
            log.info("no Bluetooth adapter: %s", exc)
        else:
            self._set_message(
                f"Searching for sensors failed: {exc}. The simulated sensor still works for a demo."
            )
            log.warning("live scan failed: %r", exc)

    def _refresh(self) -> None:
        if self._scanner is None:
            return
        for sensor in self._scanner.current():
            self._sensors[sensor.address] = sensor
        if self._scanning and self._sensors:
            self._set_message(
                f"{len(self._sensors)} sensor{'s' if len(self._sensors) != 1 else ''} nearby. "
                "Tick the ones on this client and press Connect."
            )
        self._rebuild()

    def _set_message(self, text: str) -> None:
        self.message.setText(text)

    def _rebuild(self) -> None:
        checked = {a for a in self._checked_addresses()}
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        rows: list[tuple[str, str, str, str]] = [
            (
                SIMULATED_ADDRESS,
                "Simulated sensor (demo — not a real measurement)",
                "Heart rate (simulated)",
                "—",
            )
        ]
        for s in sorted(self._sensors.values(), key=lambda s: -s.rssi):
            kinds = ", ".join(_KIND_WORDS.get(k, k.value) for k in s.kinds) or "—"
            rows.append(
                (
                    s.address,
                    f"{s.name or 'Unnamed sensor'}  ({s.address})",
                    kinds,
                    f"{signal_bars(s.rssi)} ({s.rssi} dBm)",
                )
            )
        for address, name, kinds, strength in rows:
            r = self.table.rowCount()
            self.table.insertRow(r)
            first = QTableWidgetItem(name)
            first.setData(Qt.ItemDataRole.UserRole, address)
            first.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            first.setCheckState(Qt.CheckState.Checked if address in checked else Qt.CheckState.Unchecked)
            self.table.setItem(r, 0, first)
            status = self._status.get(address)
            battery = (
                f"{status.battery_pct} %" if status is not None and status.battery_pct is not None else "—"
            )
            state = _STATE_WORDS.get(status.state, status.state.value) if status is not None else ""
            state = self._status_text.get(address, state)
            for col, text in enumerate((kinds, strength, battery, state), start=1):
                self.table.setItem(r, col, QTableWidgetItem(text))
        self.table.blockSignals(False)
        self._update_buttons()

    def _cell_clicked(self, row: int, column: int) -> None:
        """A click anywhere on a row (outside the box itself) ticks or unticks it: a big target."""
        item = self.table.item(row, 0)
        if column == 0 or item is None:
            return
        checked = item.checkState() == Qt.CheckState.Checked
        item.setCheckState(Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked)

    def _checked_addresses(self) -> list[str]:
        out = []
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def _update_buttons(self) -> None:
        checked = self._checked_addresses()
        self.connect_button.setEnabled(bool(checked))
        connected = any(self.is_connected(a) for a in checked)
        self.disconnect_button.setEnabled(connected)
        self.reconnect_button.setEnabled(connected)

    def _name(self, address: str) -> str:
        sensor = self._sensors.get(address)
        return "Simulated sensor" if address == SIMULATED_ADDRESS else (sensor.name if sensor else address)

    def _connect(self) -> None:
        for address in self._checked_addresses():
            self.connect_requested.emit(address, self._name(address))

    def _emit_connected(self, signal: SignalInstance) -> None:
        for address in self._checked_addresses():
            if self.is_connected(address):
                signal.emit(address, self._name(address))
