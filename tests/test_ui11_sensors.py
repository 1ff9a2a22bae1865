"""Issue 11, sensors and entry safety, driven as a therapist would.

Unusable values are gaps (never zeros), the sensor status says what the data does ("connected — no
data for 12 s"), the Sensors dialog disconnects and reconnects a sensor mid-session, the wheel does
not change a spin box that was not clicked into, an implausible dose asks, a dose while "Vitals
before dosing" is due asks, and the demo keeps to its own database.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDialogButtonBox,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from db.paths import DB_ENV_VAR, default_db_path, demo_db_path, resolve_db_location
from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.doses import PLAUSIBLE_DOSES, dose_warning
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS, Route
from kapmonitor.sensor import SensorSink
from kapmonitor.settings import DOSE_UNITS, ClinicSettings
from kapmonitor.types import Reading, ReadingFlag, SensorState, SensorStatus, Stream
from ui.alarm_limits import AlarmLimitsEditor
from ui.app import AppParts, build_app
from ui.device_panel import DevicePanel
from ui.plots import LivePlots
from ui.sensor_activity import SIMULATED_ADDRESS
from ui.sensor_dialog import SensorDialog
from ui.session_dialog import StartSessionDialog
from ui.settings_dialog import SettingsDialog
from ui.theme import DARK
from ui.vitals_panel import VitalsPanel

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


# ------------------------------------------------------------------ helpers
def _wheel(widget: QWidget, notches: int) -> None:
    """Turn the mouse wheel over ``widget`` by ``notches`` (positive: away from the person)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    for _ in range(abs(notches)):
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, 120 if notches > 0 else -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)


def _answer_modal(choose: Callable[[QWidget], None], seen: list[str]) -> None:
    """When the next modal dialog opens, note its text and let ``choose`` press a button."""

    def handle() -> None:
        modal = QApplication.activeModalWidget()
        if modal is None:
            QTimer.singleShot(10, handle)
            return
        seen.append(modal.text() if isinstance(modal, QMessageBox) else
                    " ".join(w.text() for w in modal.findChildren(QWidget) if hasattr(w, "text")
                             and isinstance(w.text(), str) and w.isVisible()))
        choose(modal)

    QTimer.singleShot(0, handle)


def _press(label: str) -> Callable[[QWidget], None]:
    def choose(modal: QWidget) -> None:
        for button in modal.findChildren(QPushButton):
            if button.text() == label:
                button.click()
                return
        raise AssertionError(f"no button {label!r} in {[b.text() for b in modal.findChildren(QPushButton)]}")

    return choose


def _row_rect_centre(panel: DevicePanel, address: str, column: int) -> QPoint:
    row = panel.addresses().index(address)
    return panel.table.visualRect(panel.table.model().index(row, column)).center()


class SilentSensor:
    """A sensor that connects, sends one heart rate and then nothing (a strap gone quiet)."""

    def __init__(self, clock: FakeClock, sensor_id: str = "simulated:7") -> None:
        self._clock = clock
        self._id = sensor_id
        self.stopped = False

    @property
    def sensor_id(self) -> str:
        return self._id

    def start(self, sink: SensorSink) -> None:
        sink.status_changed(SensorStatus(self._id, SensorState.CONNECTED, self._clock.now()))
        sink.readings_received([Reading(Stream.HEART_RATE, 72.0, self._clock.now(), self._id)])

    def stop(self) -> None:
        self.stopped = True

    def request_blood_pressure(self) -> bool:
        return False


@pytest.fixture
def bedside(qtbot, qapp, tmp_path: Path) -> Iterator[tuple[AppParts, FakeClock]]:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "w.db", clock=clock, flush_interval_s=0.05)
    parts = build_app(argparse.Namespace(db=None, demo=False, speed=None), qapp, clock=clock, store=store,
                      autotick=False)
    try:
        parts.window.show()
        qtbot.waitExposed(parts.window)
        yield parts, clock
        qtbot.waitUntil(lambda: parts.worker.pending == 0, timeout=5000)  # its last answer is shown
    finally:
        parts.window.close_without_asking()
        parts.shutdown()


def _start(qtbot, parts: AppParts) -> None:  # type: ignore[no-untyped-def]
    parts.window.start_session(SessionSpec("K-11", PRESETS["sublingual"]))
    qtbot.waitUntil(lambda: parts.recorder.session_id is not None and parts.window.end_button.isEnabled(),
                    timeout=3000)


# ------------------------------------------------------------------ 1. unusable values are gaps
def test_heart_rate_without_contact_is_a_gap_and_the_tile_never_shows_zero(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    plots = LivePlots(DARK, lambda: clock.now().timestamp())
    vitals = VitalsPanel(DARK, clock.monotonic)
    for w in (plots, vitals):
        qtbot.addWidget(w)
        w.show()
    t0 = T0.timestamp()
    for i in range(20):
        clock.advance(1.0)
        for w in (plots, vitals):
            w.add_reading("heart_rate", 72.0 + (i % 3), t0 + 1 + i, 0, "strap")
    plots.render_frame(full=True)
    y_range_before = plots.hr_plot.getViewBox().viewRange()[1]
    assert vitals.hr_tile.value.text() == "73"
    # the strap loses skin contact: it keeps sending heart rate 0, flagged NO_CONTACT
    for i in range(20, 40):
        clock.advance(1.0)
        for w in (plots, vitals):
            w.add_reading("heart_rate", 0.0, t0 + 1 + i, int(ReadingFlag.NO_CONTACT), "strap")
        plots.render_frame(full=True)
        assert vitals.hr_tile.value.text() in ("73", "72", "74"), "the last usable value, not 0"
        assert vitals.hr_tile.value.property("state") == "stale"
        assert "no skin contact" in vitals.hr_tile.note.text()
    y = plots.buffer(Stream.HEART_RATE).y
    assert not np.any(y == 0.0), "no zero is ever drawn"
    assert math.isnan(y[-1]), "the line breaks where contact was lost"
    x_drawn, y_drawn = plots.hr_curve.getData()
    assert x_drawn is not None and not np.any(np.asarray(y_drawn) == 0.0)
    assert plots.hr_plot.getViewBox().viewRange()[1] == y_range_before, "the axis is not rescaled"
    # long without contact: the number goes, a dash stays
    for i in range(40, 170):
        clock.advance(1.0)
        vitals.add_reading("heart_rate", 0.0, t0 + 1 + i, int(ReadingFlag.NO_CONTACT), "strap")
    assert vitals.hr_tile.value.text() == "––"
    # contact back: live again, and the plot line resumes after the gap
    clock.advance(1.0)
    vitals.add_reading("heart_rate", 80.0, t0 + 200, 0, "strap")
    plots.add_reading("heart_rate", 80.0, t0 + 200, 0, "strap")
    assert vitals.hr_tile.value.text() == "80" and vitals.hr_tile.value.property("state") == "live"
    assert plots.buffer(Stream.HEART_RATE).y[-1] == 80.0


def test_stored_unusable_values_load_as_gaps(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    plots = LivePlots(DARK, lambda: clock.now().timestamp())
    qtbot.addWidget(plots)
    t = T0.timestamp() + np.arange(10.0)
    values = np.array([70, 71, 0, 0, 0, 72, 73, 74, 75, 76], dtype=np.float64)
    flags = np.zeros(10, dtype=np.int64)
    flags[2:5] = int(ReadingFlag.NO_CONTACT)
    plots.load_history(Stream.HEART_RATE, t, values, flags)
    y = plots.buffer(Stream.HEART_RATE).y
    assert not np.any(y == 0.0) and np.isnan(y[2:5]).all() and y[5] == 72.0


# ------------------------------------------------------------------ 2. status says what the data does
def test_connected_but_silent_sensor_says_no_data_for_12_s(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    vitals = VitalsPanel(DARK, clock.monotonic)
    qtbot.addWidget(vitals)
    vitals.show()
    vitals.start()
    vitals.set_sensor_status(SensorStatus("AA:BB", SensorState.CONNECTED, clock.now()))
    vitals.add_reading("heart_rate", 70.0, clock.now().timestamp(), 0, "AA:BB")
    assert "AA:BB: connected — receiving data" in vitals.sensor_label.text()
    clock.advance(12.0)
    qtbot.waitUntil(lambda: "AA:BB: connected — no data for 12 s" in vitals.sensor_label.text(), timeout=2000)
    assert vitals.sensor_label.property("state") == "warn"
    clock.advance(17 * 60.0)
    qtbot.waitUntil(lambda: "connected — no data for 17 min" in vitals.sensor_label.text(), timeout=2000)
    vitals.add_reading("heart_rate", 70.0, clock.now().timestamp(), 0, "AA:BB")
    assert "connected — receiving data" in vitals.sensor_label.text()
    for _ in range(8):  # data that arrives but is unusable is not "receiving"
        clock.advance(1.0)
        vitals.add_reading("heart_rate", 0.0, clock.now().timestamp(), int(ReadingFlag.NO_CONTACT), "AA:BB")
    assert "connected — no usable data for 8 s (no skin contact)" in vitals.sensor_label.text()


def test_sensors_dialog_shows_silence_and_disconnects_and_reconnects_mid_session(  # type: ignore[no-untyped-def]
        qtbot, bedside) -> None:
    parts, clock = bedside
    _start(qtbot, parts)
    silent = SilentSensor(clock)
    parts.recorder.attach_sensor(silent)
    window = parts.window
    qtbot.waitUntil(lambda: "connected" in window.vitals.sensor_label.text(), timeout=2000)
    dialog = SensorDialog(DevicePanel(None, DARK), parts.recorder, parts.worker, clock, None, DARK, window,
                          activity=window.vitals.sensor_activity)
    parts.bridge.sensor_status_arrived.connect(dialog.set_sensor_status)
    dialog.sensor_status_changed.connect(window.vitals.set_sensor_status)
    dialog.show()
    qtbot.waitExposed(dialog)
    panel = dialog.panel
    clock.advance(12.0)
    qtbot.waitUntil(lambda: panel.status_text(SIMULATED_ADDRESS) == "connected — no data for 12 s",
                    timeout=3000)
    assert "connected — no data for 12 s" in window.vitals.sensor_label.text()
    # tick the row (a click anywhere on it) and reconnect: the silent link is replaced by a new one
    assert not panel.reconnect_button.isEnabled()
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=_row_rect_centre(panel, SIMULATED_ADDRESS, 2))
    assert panel.reconnect_button.isEnabled() and panel.disconnect_button.isEnabled()
    qtbot.mouseClick(panel.reconnect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [s.sensor_id for s in parts.recorder.sensors] == ["simulated:1"], timeout=5000)
    assert silent.stopped
    qtbot.waitUntil(lambda: panel.status_text(SIMULATED_ADDRESS).startswith(("connect", "reconnect")),
                    timeout=3000)
    assert parts.recorder.session_id is not None, "the session goes on"
    # the bedside lists the sensor once: the replaced link is not left behind as "disconnected"
    def listed_once() -> bool:
        lines = window.vitals.sensor_label.text().splitlines()
        return len(lines) == 1 and "disconnected" not in lines[0] and "Simulated sensor" in lines[0]

    qtbot.waitUntil(listed_once, timeout=5000)
    # disconnect it: nothing is recorded from it any more, and both the dialog and the tiles say so
    qtbot.waitUntil(lambda: panel.disconnect_button.isEnabled(), timeout=3000)
    qtbot.mouseClick(panel.disconnect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: parts.recorder.sensors == [], timeout=5000)
    qtbot.waitUntil(lambda: panel.status_text(SIMULATED_ADDRESS) == "disconnected", timeout=3000)
    assert "disconnected" in panel.message.text()
    assert "simulated:1: disconnected" in window.vitals.sensor_label.text() or \
        "Simulated sensor (demo): disconnected" in window.vitals.sensor_label.text()
    assert not panel.disconnect_button.isEnabled()
    # and connect again from the same row
    qtbot.mouseClick(panel.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(parts.recorder.sensors) == 1, timeout=5000)


# ------------------------------------------------------------------ 3. the wheel
def _limits_in_scroll_area(qtbot) -> tuple[QWidget, AlarmLimitsEditor, QLineEdit]:  # type: ignore[no-untyped-def]
    page = QWidget()
    other = QLineEdit(page)
    editor = AlarmLimitsEditor(AlarmSettings.defaults(), DARK)
    scroll = QScrollArea()
    scroll.setWidget(editor)
    scroll.setWidgetResizable(True)
    layout = QVBoxLayout(page)
    layout.addWidget(other)
    layout.addWidget(scroll)
    qtbot.addWidget(page)
    page.resize(700, 300)
    page.show()
    qtbot.waitExposed(page)
    return page, editor, other


def test_the_wheel_over_an_unfocused_limit_changes_nothing(qtbot) -> None:  # type: ignore[no-untyped-def]
    page, editor, other = _limits_in_scroll_area(qtbot)
    page.activateWindow()
    qtbot.mouseClick(other, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(other.hasFocus, timeout=2000)
    relative = next(r for r in AlarmSettings.defaults().rules if r.relative_to_baseline)
    box = editor.limit[relative.alarm_id]
    before = box.value()
    assert box.focusPolicy() == Qt.FocusPolicy.StrongFocus, "the wheel cannot focus it"
    _wheel(box, -8)
    assert box.value() == before and not box.hasFocus()
    for delay in editor.delay.values():
        v = delay.value()
        _wheel(delay, 8)
        assert delay.value() == v
    # clicked into, the wheel is the person's choice and works
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    _wheel(box, 1)
    assert box.value() != before


def test_the_wheel_leaves_settings_and_bedside_fields_alone(qtbot, bedside) -> None:  # type: ignore[no-untyped-def]
    parts, _clock = bedside
    dialog = SettingsDialog(ClinicSettings(), lambda s: None, DARK, parts.window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    fields = [b for b in dialog.findChildren(QAbstractSpinBox) if b.isVisible()]
    fields += [b for b in parts.window.findChildren(QAbstractSpinBox)]
    assert fields, "there are spin boxes to try"
    for box in fields:
        assert box.focusPolicy() == Qt.FocusPolicy.StrongFocus
        text = box.text()
        _wheel(box, 8)
        _wheel(box, -3)
        assert box.text() == text


# ------------------------------------------------------------------ 4. dose plausibility
def test_the_table_covers_every_route_and_unit_and_10000_always_asks() -> None:
    for route in Route:
        for unit in DOSE_UNITS:
            assert unit in PLAUSIBLE_DOSES[route], (route, unit)
            assert dose_warning(route, 10000.0, unit), (route, unit)
    assert dose_warning(Route.INTRANASAL, 56.0, "mg") == ""
    assert dose_warning(Route.SUBLINGUAL, 300.0, "mg") == ""
    assert dose_warning(Route.INTRAMUSCULAR, 0.5, "mg/kg") == ""
    assert "more than a typical" in dose_warning(Route.INTRANASAL, 840.0, "mg")


def _fill_session_dialog(qtbot, dialog: StartSessionDialog, dose: str, unit: str) -> None:  # type: ignore[no-untyped-def]
    line = dialog.client.lineEdit()
    assert line is not None
    line.setFocus()
    qtbot.keyClicks(line, "K-11")
    dialog.clinician.setFocus()
    qtbot.keyClicks(dialog.clinician, "AB")
    dialog.unit.setCurrentText(unit)
    dialog.dose.setFocus()
    qtbot.keyClicks(dialog.dose, dose)


def _start_button(dialog: StartSessionDialog) -> QPushButton:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


@pytest.mark.parametrize("unit", DOSE_UNITS)
def test_an_implausible_dose_asks_before_the_session_starts(qtbot, unit: str) -> None:  # type: ignore[no-untyped-def]
    dialog = StartSessionDialog(ClinicSettings(), theme=DARK)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    _fill_session_dialog(qtbot, dialog, "10000", unit)
    seen: list[str] = []
    _answer_modal(_press("No, correct it"), seen)
    qtbot.mouseClick(_start_button(dialog), Qt.MouseButton.LeftButton)
    assert seen and f"10000 {unit}" in seen[0] and "typical" in seen[0]
    with pytest.raises(RuntimeError):
        dialog.result_spec()
    assert dialog.isVisible() and dialog.focusWidget() is dialog.dose, "back to the dose to correct it"
    _answer_modal(_press(f"Yes, 10000 {unit}"), seen)
    qtbot.mouseClick(_start_button(dialog), Qt.MouseButton.LeftButton)
    spec = dialog.spec()
    assert spec.dose_amount == 10000.0 and spec.dose_unit == unit


def test_a_plausible_dose_does_not_ask(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = StartSessionDialog(ClinicSettings(), theme=DARK)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    route = dialog.chosen_protocol().route
    low = PLAUSIBLE_DOSES[route]["mg"].low
    _fill_session_dialog(qtbot, dialog, f"{low * 2:g}", "mg")
    qtbot.mouseClick(_start_button(dialog), Qt.MouseButton.LeftButton)
    assert dialog.spec().dose_amount == low * 2


def test_dose_while_vitals_before_dosing_is_due_says_so_and_asks(qtbot, bedside) -> None:  # type: ignore[no-untyped-def]
    parts, _clock = bedside
    _start(qtbot, parts)
    window = parts.window
    seen: list[str] = []
    qtbot.waitUntil(lambda: window.clock_panel.dose_button.isEnabled(), timeout=3000)
    _answer_modal(_press("Cancel"), seen)
    qtbot.mouseClick(window.clock_panel.dose_button, Qt.MouseButton.LeftButton)
    assert seen and "Vitals before dosing not done yet. Give the dose anyway?" in seen[0]
    assert "Dose given anyway" in seen[0]
    assert _first_dose(parts) is None
    _answer_modal(_press("Dose given anyway"), seen)
    qtbot.mouseClick(window.clock_panel.dose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _first_dose(parts) is not None, timeout=3000)


def _first_dose(parts: AppParts) -> datetime | None:
    snap = parts.recorder.snapshot()
    return snap.first_dose_at if snap is not None else None


# ------------------------------------------------------------------ 5. the demo database
def test_a_demo_session_never_lands_in_the_default_database(qtbot, qapp, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    clinic = tmp_path / "clinic.db"
    monkeypatch.setenv(DB_ENV_VAR, str(clinic))
    assert resolve_db_location(None, demo=True) == str(demo_db_path())
    assert resolve_db_location(str(tmp_path / "mine.db"), demo=True) == str((tmp_path / "mine.db").resolve())
    assert resolve_db_location(None) == str(clinic.resolve())
    clock = FakeClock(T0)
    parts = build_app(argparse.Namespace(db=None, demo=True, speed=None), qapp, clock=clock, autotick=False)
    try:
        assert parts.store.location == str(demo_db_path())
        assert "DEMO" in parts.window.windowTitle()
        _start(qtbot, parts)
    finally:
        parts.window.close_without_asking()
        parts.shutdown()
    demo = SqlStore.open(str(demo_db_path()), clock=clock)
    try:
        assert [s.client_code for s in demo.sessions()] == ["K-11"]
    finally:
        demo.close()
    assert not default_db_path().exists() and not clinic.exists()
