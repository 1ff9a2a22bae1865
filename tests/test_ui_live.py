"""Live bedside view: ring buffer, plots, vitals staleness, clock panel, bridge, worker, window."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.protocols import PRESETS
from kapmonitor.session import SessionState
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    Observation,
    ObservationKind,
    Phase,
    Reading,
    ReadingFlag,
    SensorState,
    SensorStatus,
    Stream,
)
from ui.bridge import AlarmsChange, RecorderBridge
from ui.clock_panel import ClockPanel, format_clock
from ui.plots import LivePlots
from ui.ringbuffer import RingBuffer
from ui.theme import DARK, LIGHT, apply_theme, register_fonts, theme_by_name
from ui.vitals_panel import VitalsPanel, format_age
from ui.worker import DbWorker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _themed(qapp: QApplication) -> None:
    apply_theme(qapp, DARK)


# ------------------------------------------------------------------ theme
def test_bundled_font_registers_and_themes_resolve() -> None:
    assert "DejaVu Sans" in register_fonts()
    assert theme_by_name("Light") is LIGHT
    with pytest.raises(ValueError, match="unknown theme"):
        theme_by_name("neon")
    assert DARK.is_dark and not LIGHT.is_dark
    assert set(DARK.phase) == set(Phase) and set(DARK.alarm) == set(AlarmPriority)


# ------------------------------------------------------------------ ring buffer
def test_ring_buffer_views_do_not_copy_and_grow_by_doubling() -> None:
    buf = RingBuffer(4)
    for i in range(5):
        buf.append(float(i), float(i * 10))
    assert buf.capacity == 8
    assert len(buf) == 5
    x = buf.x
    assert np.shares_memory(x, buf.x)
    assert x.flags["C_CONTIGUOUS"]
    assert buf.y.tolist() == [0, 10, 20, 30, 40]


def test_ring_buffer_inserts_nan_at_gaps_and_slices_by_time() -> None:
    buf = RingBuffer(8, gap_x=5.0)
    for t in (0, 1, 2, 20, 21):
        buf.append(float(t), 70.0)
    y = buf.y
    assert np.isnan(y).sum() == 1
    gap_index = int(np.flatnonzero(np.isnan(y))[0])
    assert buf.x[gap_index - 1] == 2.0 and buf.x[gap_index + 1] == 20.0
    assert np.all(np.diff(buf.x) >= 0)
    xs, _ = buf.since(20.0, pad=0)
    assert xs.tolist() == [20.0, 21.0]
    assert buf.last_finite() == (21.0, 70.0)


def test_ring_buffer_extend_matches_appends_and_rejects_disorder() -> None:
    xs = np.array([0.0, 1.0, 10.0, 11.0, 30.0])
    ys = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    a, b = RingBuffer(2, gap_x=3.0), RingBuffer(2, gap_x=3.0)
    for x, y in zip(xs, ys, strict=True):
        a.append(x, y)
    b.extend(xs, ys)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    with pytest.raises(ValueError, match="time order"):
        a.append(5.0, 1.0)
    with pytest.raises(ValueError, match="time order"):
        b.extend([40.0, 39.0], [1.0, 1.0])


# ------------------------------------------------------------------ plots
def _snapshot_at(state: SessionState, clock: FakeClock):  # type: ignore[no-untyped-def]
    state.due_events(clock.now())
    return state.snapshot(clock.now())


def test_live_plots_show_only_the_window_break_at_gaps_and_reanchor_on_dose(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    plots = LivePlots(DARK, lambda: clock.now().timestamp(), window_min=5.0)
    qtbot.addWidget(plots)
    plots.resize(900, 600)
    plots.show()
    state = SessionState(PRESETS["sublingual"])
    state.start(clock.now())
    plots.set_snapshot(_snapshot_at(state, clock))
    for i in range(600):  # 10 minutes at 1 Hz, with a 30 s drop at 5 min
        if 300 <= i < 330:
            clock.advance(1)
            continue
        plots.add_reading("heart_rate", 70.0 + (i % 7), clock.now().timestamp(), 0, "s")
        clock.advance(1)
    plots.render_frame()
    x, _ = plots.hr_curve.getOriginalDataset()
    assert x.min() >= 10.0 - 5.0 - 0.1, "only the visible window (plus one point) is handed to the curve"
    assert len(x) < 350
    assert np.isnan(plots.buffer(Stream.HEART_RATE).y).sum() == 1, "the 30 s drop is a gap"
    # dose at 10 min: the axis re-anchors; the last sample is now just before 0
    state.give_dose(clock.now())
    plots.set_snapshot(_snapshot_at(state, clock))
    assert plots.anchored_on_dose
    last_x = plots.buffer(Stream.HEART_RATE).last_x
    assert last_x is not None and -0.05 < last_x <= 0.0
    assert plots.hr_plot.getPlotItem().getAxis("bottom").labelText == "minutes since dose"


def _subpaths(curve) -> int:  # type: ignore[no-untyped-def]
    """Number of separate line pieces in a drawn curve (each starts with a move-to)."""
    path = curve.curve.getPath()
    return sum(1 for i in range(path.elementCount()) if path.elementAt(i).isMoveTo())


def test_live_curve_is_broken_at_a_gap_not_bridged(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    plots = LivePlots(DARK, lambda: clock.now().timestamp(), window_min=5.0)
    qtbot.addWidget(plots)
    plots.resize(900, 600)
    plots.show()
    for i in range(120):  # 2 minutes at 1 Hz with a 30 s drop in the middle
        if not 50 <= i < 80:
            plots.add_reading("heart_rate", 70.0 + (i % 5), clock.now().timestamp(), 0, "s")
        clock.advance(1)
    plots.render_frame()
    assert _subpaths(plots.hr_curve) == 2, "the lost signal shows as a break in the line"
    plots.add_reading("heart_rate", 71.0, clock.now().timestamp(), 0, "s")
    plots.render_frame()
    assert _subpaths(plots.hr_curve) == 2


def test_overview_redraws_only_when_it_moves_a_pixel(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    plots = LivePlots(DARK, lambda: clock.now().timestamp(), overview_every_s=2.0)
    qtbot.addWidget(plots)
    plots.resize(900, 600)
    plots.show()
    t = T0.timestamp() + np.arange(4 * 3600, dtype=np.float64)
    plots.load_history(Stream.HEART_RATE, t, np.full(t.size, 70.0))
    clock.advance(4 * 3600)
    plots.render_frame(full=True)
    view = plots.overview_plot.getViewBox()
    drawn = view.viewRange()[0]
    s_per_px = 4 * 3600 / view.width()
    assert s_per_px > 3.0
    clock.advance(1)
    plots.add_reading("heart_rate", 90.0, clock.now().timestamp(), 0, "s")
    plots.render_frame()
    assert view.viewRange()[0] == drawn, "a sub-pixel step does not redraw the 4-hour overview"
    assert plots.hr_curve.getOriginalDataset()[1][-1] == 90.0, "the recent plot shows the reading at once"
    clock.advance(int(s_per_px) + 1)
    plots.add_reading("heart_rate", 91.0, clock.now().timestamp(), 0, "s")
    plots.render_frame()
    assert view.viewRange()[0][1] > drawn[1], "one pixel later the overview moves"
    assert plots.overview_curve.getOriginalDataset()[1][-1] == 91.0


def test_live_plots_limits_markers_and_secondary_traces(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    plots = LivePlots(DARK, lambda: clock.now().timestamp())
    qtbot.addWidget(plots)
    plots.show()
    plots.set_limits(AlarmSettings.defaults().rules, {Stream.HEART_RATE: 70.0})
    positions = sorted(plots.limit_values)
    assert 120.0 in positions and 140.0 in positions and 45.0 in positions
    assert 100.0 in positions, "baseline 70 + 30 relative rule is drawn"
    assert plots.spo2_plot.isHidden()
    t = clock.now().timestamp()
    plots.add_reading("spo2", 97.0, t, 0, "s")
    plots.add_reading("rr_interval", 800.0, t, 0, "s")
    plots.add_reading("rr_interval", 2500.0, t + 0.5, int(ReadingFlag.ARTIFACT), "s")
    plots.render_frame()
    assert not plots.spo2_plot.isHidden() and not plots.rr_plot.isHidden()
    assert 2500.0 not in plots.buffer(Stream.RR_INTERVAL).y, "artifact RR is not drawn (a gap)"
    obs = Observation("o1", 1, ObservationKind.TAG, "nausea", T0 + timedelta(minutes=1), T0)
    plots.add_observation(obs)
    assert plots.observation_count == 1
    plots.add_observation(Observation("o1", 2, ObservationKind.TAG, "nausea", obs.occurred_at, T0,
                                      deleted=True, reason="wrong client"))
    assert plots.observation_count == 0
    raised = AlarmTransition(T0, "hr_high", "Heart rate high", AlarmPriority.MEDIUM,
                             AlarmCategory.PHYSIOLOGICAL, AlarmState.ACTIVE, "raised")
    plots.add_alarm_marker(raised)
    plots.add_alarm_marker(AlarmTransition(T0, "hr_high", "Heart rate high", AlarmPriority.MEDIUM,
                                           AlarmCategory.PHYSIOLOGICAL, AlarmState.RESOLVED, "resolved"))
    assert plots.alarm_marker_count == 1


# ------------------------------------------------------------------ vitals
def test_vitals_go_stale_when_data_stops_and_recover(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    panel = VitalsPanel(DARK, clock.monotonic, hr_stale_s=5.0)
    qtbot.addWidget(panel)
    assert panel.is_stale(Stream.HEART_RATE)
    panel.add_reading("heart_rate", 72.0, 0.0, 0, "s")
    assert not panel.is_stale(Stream.HEART_RATE)
    assert panel.hr_tile.value.text() == "72"
    assert panel.hr_tile.value.property("state") == "live"
    clock.advance(6.0)
    panel.refresh()
    assert panel.is_stale(Stream.HEART_RATE)
    assert panel.hr_tile.value.property("state") == "stale"
    assert "no data 6 s" in panel.hr_tile.note.text()
    clock.advance(200.0)
    panel.refresh()
    assert panel.hr_tile.value.text() == "––", "a long-lost value is blanked"
    panel.add_reading("heart_rate", 75.0, 0.0, 0, "s")
    assert panel.hr_tile.value.text() == "75"
    assert panel.hr_tile.value.property("state") == "live"
    panel.add_reading("heart_rate", 150.0, 0.0, int(ReadingFlag.MANUAL), "manual")
    assert panel.hr_tile.value.text() == "75", "a manual spot value never shows as live"


def test_vitals_trend_bp_and_sensor_status(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    panel = VitalsPanel(DARK, clock.monotonic)
    qtbot.addWidget(panel)
    for i in range(120):
        panel.add_reading("heart_rate", 70.0 + i * 0.1, 0.0, 0, "s")
        clock.advance(1.0)
    panel.add_reading("heart_rate", 82.0, 0.0, 0, "s")
    assert panel.hr_tile.trend.text() == "↑"
    clock.advance(10.0)
    panel.refresh()
    assert panel.hr_tile.trend.text() == "", "no trend arrow on a stale value"
    panel.add_reading("bp_systolic", 131.0, 5.0, int(ReadingFlag.MANUAL), "manual")
    panel.add_reading("bp_diastolic", 84.0, 5.0, int(ReadingFlag.MANUAL), "manual")
    assert panel.bp_tile.value.text() == "131/84"
    clock.advance(180.0)
    panel.refresh()
    assert panel.bp_tile.note.text() == "3 min ago"
    panel.set_sensor_status(SensorStatus("s1", SensorState.RECONNECTING, T0, battery_pct=40, contact=True))
    assert "reconnecting" in panel.sensor_label.text() and "battery 40 %" in panel.sensor_label.text()
    assert panel.sensor_label.property("state") == "warn"
    panel.set_sensor_status(SensorStatus("s1", SensorState.LOST, T0))
    assert "signal lost" in panel.sensor_label.text()
    assert panel.sensor_label.property("state") == "lost"
    assert format_age(3725) == "1 h 02 min"


# ------------------------------------------------------------------ clock panel
def test_clock_panel_follows_the_phases(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    proto = PRESETS["sublingual"]
    clock = FakeClock(T0)
    panel = ClockPanel(DARK, clock.now)
    qtbot.addWidget(panel)
    assert panel.phase.text() == "No session"
    state = SessionState(proto)
    state.start(clock.now())
    panel.set_protocol(proto)
    panel.set_snapshot(_snapshot_at(state, clock))
    assert panel.phase.text() == "Preparation — before dosing"
    assert panel.dose_button.isEnabled() and not panel.booster_button.isEnabled()
    assert "Vitals before dosing" in panel.check.text() and panel.check_button.isVisibleTo(panel)
    with qtbot.waitSignal(panel.check_done_requested) as blocker:
        panel.check_button.click()
    assert blocker.args == ["vitals_pre_dose"]
    state.complete_check("vitals_pre_dose", clock.now())
    clock.advance(120)
    state.give_dose(clock.now())
    clock.advance(4 * 60 + 5)
    panel.set_snapshot(_snapshot_at(state, clock))
    assert panel.clock.text() == "04:05"
    assert panel.phase.text() == "Onset"
    assert panel.next_phase.text() == "Effect window in 05:55"
    clock.advance(2.0)  # no new snapshot: the clock still moves, computed from the dose time
    panel.refresh()
    assert panel.clock.text() == "04:07"
    clock.advance(30 * 60)
    state.give_booster(clock.now())
    clock.advance(61)
    panel.set_snapshot(_snapshot_at(state, clock))
    assert panel.phase.text() == "Effect window"
    assert "since booster: 01:01" in panel.booster.text()
    assert "Blood pressure at +40 min" in panel.check.text()
    clock.advance(60 * 60)
    panel.set_snapshot(_snapshot_at(state, clock))
    assert panel.phase.text() == "Integration"
    assert panel.clock.text() == "1:35:08"
    state.end(clock.now())
    clock.advance(100)
    panel.set_snapshot(_snapshot_at(state, clock))
    assert panel.phase.text() == "Ended"
    assert panel.clock.text() == "1:35:08", "elapsed time stops at the end"
    assert not panel.booster_button.isEnabled()
    assert format_clock(59.9) == "00:59" and format_clock(3600) == "1:00:00"


def test_dose_button_confirms_with_minutes_ago(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ui import clock_panel

    clock = FakeClock(T0)
    panel = ClockPanel(DARK, clock.now)
    qtbot.addWidget(panel)
    state = SessionState(PRESETS["sublingual"])
    state.start(clock.now())
    panel.set_snapshot(_snapshot_at(state, clock))

    def fake_exec(self: clock_panel.DoseDialog) -> int:
        self.minutes.setValue(3)
        return int(clock_panel.QDialog.DialogCode.Accepted.value)

    monkeypatch.setattr(clock_panel.DoseDialog, "exec", fake_exec)
    with qtbot.waitSignal(panel.dose_requested) as blocker:
        panel.dose_button.click()
    assert blocker.args == [3.0]


def test_dose_dialog_back_dates_only_to_the_last_recorded_event(qtbot) -> None:  # type: ignore[no-untyped-def]
    from ui.clock_panel import MAX_BACKDATE_MIN, DoseDialog, backdate_limit_min

    now = T0 + timedelta(minutes=30)
    last = T0 + timedelta(minutes=22, seconds=30)
    assert backdate_limit_min(now, last) == 7, "7.5 minutes back is cut to whole minutes, never before it"
    assert backdate_limit_min(now, None) == MAX_BACKDATE_MIN
    assert backdate_limit_min(now, now + timedelta(seconds=5)) == 0
    dialog = DoseDialog("Dose given", "Record?", now=now, earliest=last)
    qtbot.addWidget(dialog)
    dialog.minutes.setValue(20)
    assert dialog.minutes_ago() == 7.0
    assert dialog.limit_note.text() == (f"Can be back-dated up to 7 min: the last recorded event was at "
                                        f"{last.astimezone().strftime('%H:%M')}.")
    free = DoseDialog("Dose given", "Record?", now=now, earliest=T0 - timedelta(hours=5))
    qtbot.addWidget(free)
    assert free.minutes.maximum() == MAX_BACKDATE_MIN and free.limit_note.isHidden()


# ------------------------------------------------------------------ bridge and worker
def test_bridge_delivers_callbacks_from_another_thread_on_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    bridge = RecorderBridge()
    received: list[tuple[object, ...]] = []
    threads: list[QThread] = []
    bridge.reading_arrived.connect(lambda *a: (received.append(a), threads.append(QThread.currentThread())))
    alarms: list[AlarmsChange] = []
    bridge.alarms_arrived.connect(alarms.append)
    reading = Reading(Stream.HEART_RATE, 71.0, T0, "simulated:1", ReadingFlag.NO_CONTACT)

    def produce() -> None:
        bridge.reading_recorded(reading)
        bridge.alarms_changed([], [])

    worker = threading.Thread(target=produce)
    with qtbot.waitSignal(bridge.alarms_arrived, timeout=2000):
        worker.start()
    worker.join()
    assert received == [("heart_rate", 71.0, T0.timestamp(), int(ReadingFlag.NO_CONTACT), "simulated:1")]
    assert threads[0] is QApplication.instance().thread()
    assert alarms == [AlarmsChange((), ())]


def test_db_worker_runs_in_order_off_the_gui_thread_and_reports_back(qtbot) -> None:  # type: ignore[no-untyped-def]
    worker = DbWorker()
    gui = threading.get_ident()
    ran_on: list[int] = []
    done: list[int] = []
    errors: list[BaseException] = []

    def job(n: int) -> int:
        ran_on.append(threading.get_ident())
        return n

    for n in range(5):
        worker.run_in_worker(lambda n=n: job(n), done.append)
    worker.run_in_worker(lambda: 1 / 0, on_error=errors.append)
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=2000)
    assert done == [0, 1, 2, 3, 4]
    assert all(t != gui for t in ran_on) and len(set(ran_on)) == 1
    assert isinstance(errors[0], ZeroDivisionError)
    worker.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        worker.run_in_worker(lambda: 1)


# ------------------------------------------------------------------ window
def test_main_window_assembled_help_keys_and_close_guard(qtbot, qapp, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from db.store import SqlStore
    from kapmonitor.ports import SessionSpec
    from ui.app import build_app
    from ui.device_panel import DevicePanel
    from ui.sensor_activity import SIMULATED_ADDRESS
    from ui.sensor_dialog import SensorDialog

    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "w.db", clock=clock, flush_interval_s=0.05)
    parts = build_app(argparse.Namespace(db=None, demo=False, speed=None), qapp, clock=clock, store=store,
                      autotick=False)
    window = parts.window
    try:
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
        for widget in (window.banner, window.clock_panel, window.vitals, window.plots, window.observations):
            assert widget is not None and widget.isVisibleTo(window)
        assert not window.end_button.isEnabled()
        qtbot.keyClick(window, Qt.Key.Key_F1)
        assert window.help.isVisible()
        qtbot.keyClick(window, Qt.Key.Key_Escape)
        assert not window.help.isVisible()
        qtbot.keyClick(window, Qt.Key.Key_Plus)
        assert window.plots.window_minutes == 30.0
        qtbot.keyClick(window, Qt.Key.Key_Minus)
        qtbot.keyClick(window, Qt.Key.Key_Minus)
        assert window.plots.window_minutes == 10.0
        window.start_session(SessionSpec("K-1", PRESETS["intranasal"]))
        qtbot.waitUntil(lambda: parts.recorder.session_id is not None and window.end_button.isEnabled(),
                        timeout=3000)
        # the sensors dialog connects the simulated sensor through the worker
        dialog = SensorDialog(DevicePanel(None, DARK), parts.recorder, parts.worker, clock,
                              None, DARK, window)
        dialog.connect_sensor(SIMULATED_ADDRESS, "Simulated")
        qtbot.waitUntil(lambda: len(parts.recorder.sensors) == 1, timeout=3000)
        dialog.connect_sensor("AA:BB:CC:DD:EE:FF", "Polar H10")
        assert "Bluetooth is not available" in dialog.panel.message.text()
        # closing mid-session asks; "No" keeps the window open
        asked: list[str] = []

        def answer_no(*args: object) -> QMessageBox.StandardButton:
            asked.append(str(args[1]))
            return QMessageBox.StandardButton.No

        monkeypatch.setattr(QMessageBox, "question", answer_no)
        window.close()
        assert asked == ["Session still running"] and window.isVisible()
    finally:
        window.close_without_asking()
        parts.shutdown()


def test_history_loaded_after_live_readings_goes_before_them(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    plots = LivePlots(DARK, lambda: clock.now().timestamp())
    qtbot.addWidget(plots)
    t0 = T0.timestamp()
    for i in range(5):  # live readings after resuming, at t0+100..104
        plots.add_reading("heart_rate", 80.0, t0 + 100 + i, 0, "s")
    stored_t = t0 + np.arange(0.0, 103.0)  # stored history overlaps the live readings
    plots.load_history(Stream.HEART_RATE, stored_t, np.full(stored_t.shape, 70.0),
                       np.zeros(stored_t.shape, dtype=np.int32))
    buf = plots.buffer(Stream.HEART_RATE)
    assert np.all(np.diff(buf.x) >= 0)
    finite = buf.y[np.isfinite(buf.y)]
    assert finite.tolist() == [70.0] * 100 + [80.0] * 5


def test_unfinished_session_resumes_with_its_history_and_clock(qtbot, qapp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from db.store import SqlStore
    from kapmonitor.ports import SessionSpec
    from ui.app import build_app, history_loader

    clock = FakeClock(T0)
    args = argparse.Namespace(db=None, demo=False, speed=None)
    store = SqlStore.open(tmp_path / "r.db", clock=clock, flush_interval_s=0.05)
    first = build_app(args, qapp, clock=clock, store=store, autotick=False)
    sid = first.recorder.start_session(SessionSpec("K-9", PRESETS["sublingual"]))
    for _ in range(120):
        clock.advance(1)
        first.recorder.reading_received(Reading(Stream.HEART_RATE, 66.0, clock.now(), "strap"))
    first.recorder.give_dose()
    clock.advance(300)
    first.window.close_without_asking()
    first.shutdown()  # like a crash: the session is not ended

    store2 = SqlStore.open(tmp_path / "r.db", clock=clock, flush_interval_s=0.05)
    second = build_app(args, qapp, clock=clock, store=store2, autotick=False)
    try:
        unfinished = store2.latest_unfinished()
        assert unfinished is not None and unfinished.session_id == sid
        second.window.resume_session(sid, history_loader(store2, sid))
        qtbot.waitUntil(lambda: "K-9" in second.window.session_label.text(), timeout=3000)
        assert second.window.clock_panel.clock.text() == "05:00", "the clock continues from the dose"
        assert len(second.window.plots.buffer(Stream.HEART_RATE)) == 120
        assert second.window.plots.anchored_on_dose
    finally:
        second.window.close_without_asking()
        second.shutdown()
