"""Acceptance: a whole simulated session through the bedside window, then the database.

The real window, recorder, store (a temporary SQLite file), bridge and DB worker
are assembled by ``ui.app.build_app``; the simulated sensor runs in manual mode on
a FakeClock, so the test decides when time passes and runs fast. The therapist's
actions go through the keyboard where the window offers a key (D, N, typing,
1-9, C, A), through buttons otherwise. At the end, what is in the database is
checked, not what the widgets say.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from db.store import SqlStore
from devices.simulated import SimulatedSensor
from devices.simulated_faults import Fault
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import AlarmState, EventKind, ObservationKind, Phase, Stream
from ui.app import AppParts, build_app

pytestmark = pytest.mark.slow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def session(qtbot, tmp_path: Path) -> Iterator[tuple[AppParts, FakeClock, SimulatedSensor]]:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "session.db", clock=clock, flush_interval_s=0.05)
    sensor = SimulatedSensor(clock, seed=7, manual=True)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    parts = build_app(argparse.Namespace(db=None, demo=True, speed=None), app, clock=clock, store=store,
                      sensors_for_session=lambda: [sensor], autotick=False)
    parts.window.resize(1600, 1000)
    parts.window.show()
    qtbot.waitExposed(parts.window)
    parts.window.activateWindow()
    yield parts, clock, sensor
    parts.window.close_without_asking()
    parts.shutdown()


def _run(
    parts: AppParts, clock: FakeClock, sensor: SimulatedSensor, seconds: float, step: float = 1.0
) -> None:
    """Let ``seconds`` of session time pass: sensor delivers, recorder ticks, GUI handles events."""
    elapsed = 0.0
    while elapsed < seconds:
        dt = min(step, seconds - elapsed)
        clock.advance(dt)
        elapsed += dt
        sensor.advance_to()
        parts.recorder.tick()
        QApplication.processEvents()


def _wait_for(qtbot, parts: AppParts, condition: Callable[[], bool]) -> None:  # type: ignore[no-untyped-def]
    def done() -> bool:
        parts.recorder.tick()
        return condition()

    qtbot.waitUntil(done, timeout=5000)


def _accept_next_dialog(minutes: int | None = None) -> None:
    def accept() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QDialog), f"expected a dialog, got {dialog!r}"
        if minutes is not None:
            dialog.minutes.setValue(minutes)  # type: ignore[attr-defined]
        dialog.accept()

    QTimer.singleShot(50, accept)


def test_whole_session_through_the_window(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    parts, clock, sensor = session
    window, recorder = parts.window, parts.recorder
    obs_panel = window.observations
    assert obs_panel is not None

    # --- start and baseline -------------------------------------------------------------------
    window.start_session(SessionSpec("K-104", PRESETS["sublingual"], dose_amount=100.0))
    _wait_for(qtbot, parts,
              lambda: recorder.session_id is not None and "K-104" in window.session_label.text()
              and sensor.started)
    sid = recorder.session_id
    assert window.clock_panel.phase.text() == "Preparation — before dosing"
    _run(parts, clock, sensor, 180)
    assert not window.vitals.is_stale(Stream.HEART_RATE)
    assert window.vitals.hr_tile.value.property("state") == "live"
    assert len(window.plots.buffer(Stream.HEART_RATE)) > 150

    # pre-dose check: BP typed into the check prompt, Enter
    prompt = obs_panel.check_prompt
    _wait_for(qtbot, parts, prompt.isVisible)
    qtbot.keyClick(window, Qt.Key.Key_C)
    assert prompt.systolic.hasFocus()
    qtbot.keyClicks(prompt.systolic, "126")
    qtbot.keyClicks(prompt.diastolic, "82")
    qtbot.keyClick(prompt.diastolic, Qt.Key.Key_Return)
    _wait_for(qtbot, parts, lambda: any(c.name == "vitals_pre_dose" and c.state == "done"
                                        for c in recorder.snapshot().checks))

    # --- dose by keyboard, pressed 1 minute late ----------------------------------------------
    _run(parts, clock, sensor, 120)
    window.setFocus()
    _accept_next_dialog(minutes=1)
    qtbot.keyClick(window, Qt.Key.Key_D)
    _wait_for(qtbot, parts, lambda: recorder.snapshot().first_dose_at is not None)
    dose_at = recorder.snapshot().first_dose_at
    assert abs((clock.now() - dose_at).total_seconds() - 60.0) < 1.0, "the dose was back-dated 1 minute"
    assert recorder.baseline(Stream.HEART_RATE) is not None
    _run(parts, clock, sensor, 5)
    assert window.plots.anchored_on_dose
    assert window.clock_panel.phase.text() == "Onset"

    # --- observations by keyboard: N, type, Enter; then quick tag 1 on the empty line ---------
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert obs_panel.text_line.hasFocus()
    qtbot.keyClicks(obs_panel.text_line, "eyes closed, breathing slowly")
    qtbot.keyClick(obs_panel.text_line, Qt.Key.Key_Return)
    qtbot.keyClick(obs_panel.text_line, Qt.Key.Key_1)
    _wait_for(qtbot, parts, lambda: len(recorder.observations()) >= 2)
    _run(parts, clock, sensor, 2)
    # marked on the plot once saved
    qtbot.waitUntil(lambda: window.plots.observation_count >= 2, timeout=3000)

    # --- into the effect window; a link drop: stale, alarm raised, acknowledged, resolved ------
    _run(parts, clock, sensor, 12 * 60, step=15.0)
    assert window.clock_panel.phase.text() == "Effect window"
    start_s = sensor.elapsed_s
    sensor.inject_fault(Fault("link_drop", at_s=start_s + 2.0, duration_s=40.0))
    _run(parts, clock, sensor, 10)
    assert window.vitals.is_stale(Stream.HEART_RATE)
    # the panel's own refresh timer (real time) greys the number without any new data
    qtbot.waitUntil(lambda: window.vitals.hr_tile.value.property("state") == "stale", timeout=2000)
    assert "no data" in window.vitals.hr_tile.note.text()
    _run(parts, clock, sensor, 10)
    active = recorder.active_alarms()
    assert any(a.alarm_id.startswith("no_data") for a in active), active
    _wait_for(qtbot, parts, lambda: window.banner.shown_alarm_id is not None)
    window.setFocus()
    for _ in range(len(recorder.active_alarms())):  # A acknowledges the alarm the banner shows
        shown = window.banner.shown_alarm_id
        qtbot.keyClick(window, Qt.Key.Key_A)
        _wait_for(qtbot, parts, lambda shown=shown: all(
            a.state is not AlarmState.ACTIVE for a in recorder.active_alarms() if a.alarm_id == shown))
        # the banner hears of it through the bridge before the next key press
        _wait_for(qtbot, parts, lambda shown=shown: window.banner.shown_alarm_id != shown
                  or all(a.state is not AlarmState.ACTIVE for a in recorder.active_alarms()))
    assert all(a.state is not AlarmState.ACTIVE for a in recorder.active_alarms())
    _run(parts, clock, sensor, 40)
    assert not window.vitals.is_stale(Stream.HEART_RATE), "data is back: the value is live again"
    qtbot.waitUntil(lambda: window.vitals.hr_tile.value.property("state") == "live", timeout=2000)
    assert np.isnan(window.plots.buffer(Stream.HEART_RATE).y).any(), "the drop is a gap in the line"

    # --- the +40 min BP check is prompted and done --------------------------------------------
    _run(parts, clock, sensor, 28 * 60, step=30.0)
    _wait_for(qtbot, parts, lambda: prompt.check_name == "vitals_40_min" and prompt.isVisible())
    assert "Blood pressure at +40 min" in window.clock_panel.check.text()
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClicks(prompt.systolic, "148")
    qtbot.keyClicks(prompt.diastolic, "91")
    qtbot.keyClick(prompt.diastolic, Qt.Key.Key_Return)
    _wait_for(qtbot, parts, lambda: any(c.name == "vitals_40_min" and c.state == "done"
                                        for c in recorder.snapshot().checks))
    _wait_for(qtbot, parts, lambda: window.vitals.bp_tile.value.text() == "148/91")

    # --- integration and the end ---------------------------------------------------------------
    _run(parts, clock, sensor, 20 * 60, step=60.0)
    assert window.clock_panel.phase.text() == "Integration"
    window.end_session("client fit to leave")
    _wait_for(qtbot, parts, lambda: recorder.snapshot().ended_at is not None)
    # the window hears of it through the bridge (queued), then shows it
    qtbot.waitUntil(lambda: window.clock_panel.phase.text() == "Ended", timeout=3000)
    assert not window.session_running()

    # --- what the database holds ---------------------------------------------------------------
    store = parts.store
    store.flush()
    events = store.events(sid)
    kinds = [e.kind for e in events]
    for kind in (EventKind.SESSION_STARTED, EventKind.DOSE_GIVEN, EventKind.SENSOR_RECONNECTING,
                 EventKind.SENSOR_CONNECTED, EventKind.SESSION_ENDED):
        assert kind in kinds, kind
    dose = next(e for e in events if e.kind is EventKind.DOSE_GIVEN)
    assert dose.at == dose_at
    done = {e.data["check"] for e in events if e.kind is EventKind.CHECK_DONE}
    assert {"vitals_pre_dose", "vitals_40_min"} <= done
    phases = [e.data["phase"] for e in events if e.kind is EventKind.PHASE_CHANGED]
    assert phases == [Phase.ONSET.value, Phase.EFFECT.value, Phase.INTEGRATION.value]
    observations = store.observations(sid)
    notes = [o for o in observations if o.kind is ObservationKind.NOTE]
    assert [o.text for o in notes] == ["eyes closed, breathing slowly"]
    assert any(o.kind is ObservationKind.TAG and o.name == "nausea" for o in observations)
    alarm_log = [t for t in store.alarms(sid) if t.alarm_id.startswith("no_data")]
    actions = [t.action for t in alarm_log]
    assert "raised" in actions and "acknowledged" in actions, actions
    assert alarm_log[-1].state is AlarmState.RESOLVED, alarm_log[-1]
    hr = store.load_stream(sid, Stream.HEART_RATE)
    assert len(hr) > 3000
    assert np.all(np.diff(hr.t) > 0)
    assert np.max(np.diff(hr.t)) > 30, "the link drop left a gap in the stored readings"
    bp = store.load_stream(sid, Stream.BP_SYSTOLIC)
    assert 148.0 in bp.value.tolist() and 126.0 in bp.value.tolist()


def test_window_fits_a_laptop_screen_with_a_long_alarm(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    from kapmonitor.alarm_record import ActiveAlarm
    from kapmonitor.types import AlarmCategory, AlarmPriority

    parts, _clock, _sensor = session
    window = parts.window
    label = "Heart rate very high for longer than the configured delay, check the client now " * 2
    alarm = ActiveAlarm("hr_very_high", label, AlarmPriority.HIGH, AlarmCategory.PHYSIOLOGICAL,
                        AlarmState.ACTIVE, T0, 152.0, 140.0, Stream.HEART_RATE, True, True, False)
    window.resize(1366, 768)  # from the fixture's 1600: the window can be made narrower again
    QApplication.processEvents()
    window.banner.set_alarms([alarm])
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= 1366, "a long alarm must not widen the window past a laptop"
    assert window.width() == 1366
    side = window.observations.parentWidget().parentWidget()  # the scroll area around the panel
    plots_right = window.plots.mapTo(window, window.plots.rect().topRight()).x()
    assert plots_right >= 560 and side.horizontalScrollBar().maximum() == 0, "plots 560 px, panel whole"
    title = window.banner._title
    assert title.text().endswith("…") and len(title.text()) < len(window.banner.title_text)
    assert title.toolTip() == window.banner.title_text, "the whole alarm text is in the tooltip"
    assert window.banner.title_text.startswith("HIGH") and label.strip() in window.banner.title_text


def test_dose_cannot_be_back_dated_before_the_last_recorded_event(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    parts, clock, sensor = session
    window, recorder = parts.window, parts.recorder
    window.start_session(SessionSpec("K-105", PRESETS["sublingual"]))
    # the session starts on the DB worker, then the sensor is attached: wait for both
    _wait_for(qtbot, parts, lambda: recorder.snapshot() is not None and sensor.started)
    _run(parts, clock, sensor, 180)  # three minutes after the start
    last = window.last_recorded_event_at()
    assert last is not None and last == max(e.at for e in recorder.state.events)
    _accept_next_dialog(minutes=10)  # the therapist asks for 10 minutes ago; 3 is as far as it goes
    qtbot.keyClick(window, Qt.Key.Key_D)
    _wait_for(qtbot, parts, lambda: recorder.snapshot().first_dose_at is not None)
    dose_at = recorder.snapshot().first_dose_at
    assert dose_at >= last, "never before the last recorded event (which the session would refuse)"
    assert abs((clock.now() - dose_at).total_seconds() - 180.0) < 1.0
