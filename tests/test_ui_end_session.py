"""Ending a session through the window never hangs on a sensor that does not stop."""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from devices.simulated import SimulatedSensor
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording.sensors import SENSOR_STOP_TIMEOUT_S
from ui.app import build_app, connect_dialogs
from ui.end_session_dialog import EndSessionDialog

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


class _SensorThatNeverStops(SimulatedSensor):
    """The simulated sensor, except that ``stop()`` blocks for good (a hung Bluetooth stack)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, seed=5, manual=True)
        self.stop_called = threading.Event()
        self.release = threading.Event()  # set only when the test is over, to let the thread go

    def stop(self) -> None:
        self.stop_called.set()
        self.release.wait()
        super().stop()


def test_end_session_returns_within_a_second_with_a_sensor_that_never_stops(
    qtbot: QtBot, tmp_path: Path
) -> None:
    assert SENSOR_STOP_TIMEOUT_S <= 0.5
    clock = FakeClock(T0)
    sensor = _SensorThatNeverStops(clock)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    store = SqlStore.open(tmp_path / "end.db", clock=clock, flush_interval_s=0.05)
    parts = build_app(argparse.Namespace(db=None, demo=True, speed=None), app, clock=clock, store=store,
                      sensors_for_session=lambda: [sensor], autotick=False)
    connect_dialogs(parts)  # the End session button opens the confirm dialog, as in run_gui
    window = parts.window
    window.show()
    qtbot.waitExposed(window)
    try:
        window.start_session(SessionSpec("K-300", PRESETS["sublingual"]))
        qtbot.waitUntil(lambda: sensor.started and window.end_button.isEnabled(), timeout=5000)
        for _ in range(30):
            clock.advance(1.0)
            sensor.advance_to()
            parts.recorder.tick()
        QApplication.processEvents()

        confirmed_at: list[float] = []

        def confirm() -> None:
            dialog = QApplication.activeModalWidget()
            assert isinstance(dialog, EndSessionDialog), f"expected the end-session dialog, got {dialog!r}"
            qtbot.keyClicks(dialog.reason, "client asked to stop")  # no dose yet: a reason is required
            assert dialog.end_button.isEnabled()
            confirmed_at.append(time.monotonic())
            qtbot.mouseClick(dialog.end_button, Qt.MouseButton.LeftButton)

        def poll() -> None:  # the dialog opens once the record was read for the discharge questions
            if isinstance(QApplication.activeModalWidget(), EndSessionDialog):
                confirm()
            else:
                QTimer.singleShot(20, poll)

        QTimer.singleShot(20, poll)
        clicked_at = time.monotonic()
        qtbot.mouseClick(window.end_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(confirmed_at), timeout=5000)
        qtbot.waitUntil(lambda: window.clock_panel.phase.text() == "Ended" and not window.session_running()
                        and not window.end_button.isEnabled(), timeout=5000)
        ended_at = time.monotonic()

        assert ended_at - confirmed_at[0] < 1.0, f"ended {ended_at - confirmed_at[0]:.2f} s after confirming"
        assert ended_at - clicked_at < 1.0, f"ended {ended_at - clicked_at:.2f} s after the click"
        assert sensor.stop_called.is_set() and not sensor.release.is_set(), "the sensor never stopped"
        assert parts.recorder.sensors == [], "the stuck sensor was left behind, not waited for"
    finally:
        sensor.release.set()
        window.close_without_asking()
        parts.shutdown()
