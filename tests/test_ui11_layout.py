"""The bedside on a clinic laptop (1366x768) and a 1080p monitor, and legible from two metres.

A session runs on the simulated sensor and a fake clock: 41 minutes after the dose a blood
pressure of 192/112 raises an alarm while the "+40 min" check is due. The window is given the
free area of the screen (a 40-pixel taskbar and a 30-pixel title bar taken off), as a maximised
window gets; every control a therapist may need must then lie inside the window -- controls in
the side column's scroll area count when scrolling brings them into its viewport -- and the
phase and next event must be about 9 mm tall on a 24" 1080p screen (0.277 mm per pixel: a cap
height of at least 32 pixels).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QFontMetrics, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QScrollArea,
    QWidget,
)

from db.store import SqlStore
from devices.simulated import SimulatedSensor
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import DEFAULT_GRACE_MIN, PRESETS
from kapmonitor.settings import ClinicSettings
from kapmonitor.types import AlarmPriority, ObservationKind, Phase
from ui.app import AppParts, build_app
from ui.session_dialog import StartSessionDialog
from ui.theme import DARK

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TASKBAR_AND_TITLE_PX = 70
MM_PER_PX_24IN_1080P = 0.277
CAP_HEIGHT_9MM_PX = 32


@pytest.fixture
def bedside(qtbot, tmp_path: Path) -> Iterator[tuple[AppParts, FakeClock, SimulatedSensor]]:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "layout.db", clock=clock, flush_interval_s=0.05)
    sensor = SimulatedSensor(clock, seed=11, manual=True)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    parts = build_app(argparse.Namespace(db=None, demo=True, speed=None), app, clock=clock, store=store,
                      sensors_for_session=lambda: [sensor], autotick=False)
    parts.window.show()
    qtbot.waitExposed(parts.window)
    yield parts, clock, sensor
    parts.window.close_without_asking()
    parts.shutdown()


def _run(parts: AppParts, clock: FakeClock, sensor: SimulatedSensor, seconds: float,
         step: float = 5.0) -> None:
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(step)
        elapsed += step
        sensor.advance_to()
        parts.recorder.tick()
        QApplication.processEvents()


def _settle(qtbot, parts: AppParts) -> None:  # type: ignore[no-untyped-def]
    def done() -> bool:
        parts.recorder.tick()
        return parts.worker.pending == 0

    qtbot.waitUntil(done, timeout=5000)
    parts.window.clock_panel.refresh()
    QApplication.processEvents()


def _check_due_with_alarm(qtbot, parts: AppParts, clock: FakeClock, sensor: SimulatedSensor) -> None:  # type: ignore[no-untyped-def]
    """41 min after the dose: the +40 min BP check is due and 192/112 raised a high alarm."""
    parts.window.start_session(SessionSpec("K-104", PRESETS["sublingual"], dose_amount=100.0,
                                           clinician_initials="AB"))
    qtbot.waitUntil(lambda: parts.recorder.snapshot() is not None and parts.worker.pending == 0, timeout=5000)
    _run(parts, clock, sensor, 120, step=1.0)
    parts.recorder.complete_check("vitals_pre_dose")
    parts.recorder.record_manual_vitals(systolic=124, diastolic=78)
    _run(parts, clock, sensor, 60, step=1.0)
    parts.recorder.give_dose()
    _run(parts, clock, sensor, 41 * 60)
    parts.recorder.record_manual_vitals(systolic=192, diastolic=112)
    _run(parts, clock, sensor, 20, step=1.0)
    _settle(qtbot, parts)
    snap = parts.recorder.snapshot()
    assert snap is not None and snap.next_check is not None and snap.next_check.state == "due"
    assert parts.window.banner.isVisible(), "the high blood pressure alarm is on screen"


def _fit_window(qtbot, parts: AppParts, screen_w: int, screen_h: int) -> QWidget:  # type: ignore[no-untyped-def]
    window = parts.window
    window.showNormal()
    window.setGeometry(QRect(0, 0, screen_w, screen_h - TASKBAR_AND_TITLE_PX))
    qtbot.waitUntil(lambda: window.width() == screen_w and window.height() == screen_h - TASKBAR_AND_TITLE_PX,
                    timeout=3000)
    _settle(qtbot, parts)
    return window


def _rect_in(widget: QWidget, ancestor: QWidget) -> QRect:
    return QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())


def _scroll_area_of(widget: QWidget, window: QWidget) -> QScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        if isinstance(parent, QScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def _scroll_to(scroll: QScrollArea, control: QWidget) -> None:
    """Scroll until the whole of ``control`` is in view (for a line edit, ensureWidgetVisible shows only
    its cursor)."""
    content = scroll.widget()
    centre = control.mapTo(content, control.rect().center())
    scroll.ensureVisible(centre.x(), centre.y(), control.width() // 2 + 1, control.height() // 2 + 1)
    QApplication.processEvents()


def _bedside_controls(window: QWidget) -> list[QWidget]:
    controls: list[QWidget] = []
    for kind in (QAbstractButton, QLineEdit, QAbstractSpinBox):
        controls += [c for c in window.findChildren(kind) if c.isVisibleTo(window) and c.window() is window]
    return controls


def _unreachable(window: QWidget) -> list[str]:
    """Every visible control that is zero-sized or that no scrolling brings inside the window."""
    visible = window.rect()
    problems = []
    for control in _bedside_controls(window):
        name = f"{type(control).__name__} {getattr(control, 'text', lambda: '')()!r}"
        if control.width() <= 0 or control.height() <= 0:
            problems.append(f"{name} has no size")
            continue
        scroll = _scroll_area_of(control, window)
        if scroll is not None:
            viewport = scroll.viewport()
            if not visible.contains(_rect_in(viewport, window)):
                problems.append(f"{name}: its scroll area is off screen")
                continue
            _scroll_to(scroll, control)
            if not viewport.rect().contains(_rect_in(control, viewport)):
                at = _rect_in(control, viewport).getRect()
                problems.append(f"{name} at {at}: scrolling does not bring it into its scroll area's view "
                                f"{viewport.rect().getRect()}")
        elif not visible.contains(_rect_in(control, window)):
            problems.append(f"{name} at {_rect_in(control, window).getRect()} is off screen")
    return problems


@pytest.mark.parametrize("screen", [(1366, 768), (1920, 1080)], ids=["laptop-1366x768", "monitor-1920x1080"])
def test_every_bedside_control_is_reachable_with_a_check_due_and_an_alarm(  # type: ignore[no-untyped-def]
        qtbot, bedside, screen: tuple[int, int]) -> None:
    parts, clock, sensor = bedside
    _check_due_with_alarm(qtbot, parts, clock, sensor)
    window = _fit_window(qtbot, parts, *screen)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768 - TASKBAR_AND_TITLE_PX, \
        "the window can be made as small as a laptop's free screen while a session runs"
    problems = _unreachable(window)
    assert not problems, "\n".join(problems)
    texts = {c.text() for c in window.findChildren(QAbstractButton) if c.isVisibleTo(window)}
    for needed in ("End session…", "Sensors… (S)", "Keys (F1)", "Save vitals", "Done"):
        assert needed in texts
    assert any(t.startswith("Acknowledge") for t in texts) and any(t.startswith("Pause") for t in texts)
    panel = parts.window.observations
    assert panel is not None
    assert len(panel.tag_buttons) == len(ClinicSettings.defaults().quick_tags)
    clock = parts.window.clock_panel
    for label in (clock.clock, clock.phase, clock.next_phase):
        shown = label.contentsRect()
        metrics = QFontMetrics(label.font())
        assert metrics.horizontalAdvance(label.text()) <= shown.width(), f"{label.text()!r} is cut off"
        # the line is centred in the label: what a short label cuts off must be empty space only
        cut = max(0, metrics.height() - shown.height()) / 2
        assert cut <= min(metrics.ascent() - metrics.capHeight(), metrics.descent()), \
            f"{label.text()!r} is cut off at the top or bottom"


def test_rass_minus_five_can_be_clicked_on_a_laptop_screen(qtbot, bedside) -> None:  # type: ignore[no-untyped-def]
    parts, clock, sensor = bedside
    _check_due_with_alarm(qtbot, parts, clock, sensor)
    _fit_window(qtbot, parts, 1366, 768)
    panel = parts.window.observations
    assert panel is not None
    button = panel.scale_buttons["rass"][-5]
    scroll = _scroll_area_of(button, parts.window)
    assert scroll is not None
    _scroll_to(scroll, button)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(o.kind is ObservationKind.SCALE and o.name == "rass" and o.value == -5
                                for o in parts.recorder.observations()), timeout=5000)


def test_phase_and_next_event_are_readable_from_two_metres_on_a_1080p_monitor(qtbot, bedside) -> None:  # type: ignore[no-untyped-def]
    parts, clock, sensor = bedside
    _check_due_with_alarm(qtbot, parts, clock, sensor)
    _fit_window(qtbot, parts, 1920, 1080)
    panel = parts.window.clock_panel
    assert panel.phase.text() == "Effect window"
    assert panel.next_phase.text().startswith("Integration in ")
    for label in (panel.phase, panel.next_phase, panel.clock):
        cap_px = QFontMetrics(label.font()).capHeight()
        assert cap_px >= CAP_HEIGHT_9MM_PX, f"{label.text()!r}: {cap_px * MM_PER_PX_24IN_1080P:.1f} mm"
        assert label.height() >= cap_px and label.visibleRegion().boundingRect().height() >= cap_px
    assert panel.phase_colour() == DARK.phase[Phase.EFFECT], "the phase in the progress band's colour"
    assert panel.band.bar_px > 12 and panel.band.height() > 12


def test_type_shrinks_on_the_laptop_but_stays_larger_than_body_text(qtbot, bedside) -> None:  # type: ignore[no-untyped-def]
    parts, clock, sensor = bedside
    _check_due_with_alarm(qtbot, parts, clock, sensor)
    _fit_window(qtbot, parts, 1920, 1080)
    big = QFontMetrics(parts.window.clock_panel.phase.font()).capHeight()
    _fit_window(qtbot, parts, 1366, 768)
    small = QFontMetrics(parts.window.clock_panel.phase.font()).capHeight()
    assert small < big, "the type follows the window"
    assert small >= 2 * QFontMetrics(parts.window.observations.font()).capHeight()  # type: ignore[union-attr]


def test_a_check_overdue_beyond_its_grace_period_is_escalated(qtbot, bedside) -> None:  # type: ignore[no-untyped-def]
    parts, clock, sensor = bedside
    _check_due_with_alarm(qtbot, parts, clock, sensor)
    panel = parts.window.clock_panel
    assert panel.check.text().startswith("Check due: Blood pressure at +40 min")
    assert panel.check_state() == "due"
    _run(parts, clock, sensor, DEFAULT_GRACE_MIN * 60 + 25 * 60 - 60)
    _settle(qtbot, parts)
    assert panel.check.text() == "Check overdue 35 min: Blood pressure at +40 min"
    assert panel.check_state() == "overdue"
    colour = panel.check.palette().color(QPalette.ColorRole.WindowText).name()
    assert colour == DARK.alarm[AlarmPriority.MEDIUM], "escalated in the alarm colour"


def test_the_bedside_opens_maximised(qtbot, real_loop, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ui.app
    import ui.launch

    seen: dict[str, object] = {}

    def instead_of_the_start_dialog(parts: AppParts) -> None:
        seen["maximised"] = parts.window.isMaximized()
        seen["size"] = parts.window.size()
        seen["screen"] = parts.window.screen().availableGeometry().size()
        QTimer.singleShot(0, parts.app.quit)

    monkeypatch.setattr(ui.app, "ask_new_session", instead_of_the_start_dialog)
    args = argparse.Namespace(db=str(tmp_path / "maximised.db"), demo=False, speed=None)
    assert ui.launch.run_gui(args) == 0
    assert seen["maximised"] is True


def test_start_session_keeps_start_and_cancel_on_a_768_pixel_screen(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = StartSessionDialog(ClinicSettings.defaults(), (), DARK)
    qtbot.addWidget(dialog)
    available = dialog.screen().availableGeometry()
    assert dialog.height() <= available.height() - 60, "the dialog fits its screen"
    dialog.resize(780, 768 - TASKBAR_AND_TITLE_PX)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.minimumSizeHint().height() <= 768 - TASKBAR_AND_TITLE_PX
    start = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    cancel = dialog.buttons.button(dialog.buttons.StandardButton.Cancel)
    for button in (start, cancel):
        assert dialog.rect().contains(_rect_in(button, dialog)), f"{button.text()} is on screen"
    problems = _unreachable(dialog)
    assert not problems, "\n".join(problems)
    assert dialog.scroll.horizontalScrollBar().maximum() == 0, \
        "the form is as wide as the view: its horizontal scroll bar is off, so nothing is cut off"
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_short_small_plots_drop_their_titles_and_tick_values_instead_of_overlapping(qtbot) -> None:  # type: ignore[no-untyped-def]
    from ui.plots import COMPACT_PLOT_PX, LivePlots

    clock = FakeClock(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    plots = LivePlots(DARK, lambda: clock.now().timestamp())
    qtbot.addWidget(plots)
    for plot in (plots.spo2_plot, plots.rr_plot):
        plot.show()
    plots.hr_plot.setMinimumHeight(100)  # as the bedside lets them shrink (ui.bedside_layout)
    for plot in (plots.spo2_plot, plots.rr_plot, plots.overview_plot):
        plot.setMinimumHeight(36)

    def axes() -> list[tuple[bool, bool]]:
        out = []
        for plot in (plots.spo2_plot, plots.rr_plot, plots.overview_plot):
            axis = plot.getPlotItem().getAxis("left")
            out.append((axis.label.isVisible(), bool(axis.style["showValues"])))
        return out

    plots.resize(700, 260)  # a 768-pixel laptop: each small plot gets a few dozen pixels
    plots.show()
    qtbot.waitUntil(lambda: plots.spo2_plot.height() < COMPACT_PLOT_PX, timeout=2000)
    assert axes() == [(False, False)] * 3
    assert plots.hr_plot.getPlotItem().getAxis("left").labelText == "HR (bpm)"
    plots.resize(700, 900)
    qtbot.waitUntil(lambda: plots.spo2_plot.height() >= COMPACT_PLOT_PX, timeout=2000)
    assert axes() == [(True, True)] * 3
    assert plots.hr_plot.getPlotItem().getAxis("left").labelText == "Heart rate (bpm)"


def test_the_keys_help_leaves_the_alarm_and_its_buttons_in_sight(qtbot, bedside) -> None:  # type: ignore[no-untyped-def]
    parts, clock, sensor = bedside
    _check_due_with_alarm(qtbot, parts, clock, sensor)
    window = _fit_window(qtbot, parts, 1366, 768)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window.help.isVisible(), timeout=2000)
    banner = window.banner
    help_rect = _rect_in(window.help, window)
    for part in (banner, banner.ack_button, banner.pause_button):
        assert not help_rect.intersects(_rect_in(part, window)), f"the help covers {part!r}"
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.help.isVisible(), timeout=2000)
