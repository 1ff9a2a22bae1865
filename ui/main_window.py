"""The bedside window: clock, vitals, plots, alarms and observations in one calm screen.

Everything shown comes from the recorder through :class:`~ui.bridge.RecorderBridge`
(queued signals on the GUI thread). Everything that commits -- dose, booster,
checks, alarm acknowledgement, observations, start and end -- runs on the one
:class:`~ui.worker.DbWorker` thread; the GUI thread never waits on Bluetooth or
the database, and a change shows as saved only when the recorder's callback for
the durable commit arrives. The widgets and their arrangement are
:class:`~ui.bedside_layout.BedsideLayout`; this module wires them.

Keyboard (usable without looking): the bedside keys are the one table
:data:`ui.bedside_keys.BEDSIDE_KEYS` (D dose, B booster, C check, A / P alarm,
N note, 1-9 quick tags, M / R / I scales, V vitals, S sensors, + / - window,
F1 help, Ctrl+N / Ctrl+E, Esc), dispatched by one :class:`~ui.bedside_keys.BedsideKeys`
whatever has focus, and listed by the help overlay (F1) from the same table. They
act unless the therapist is typing free text (a note begun with N, a click or
text); in number fields only digits are typed; Esc always leaves a field.

Above the footer, a line says when the recording journal holds entries the
database has not taken yet (:meth:`BedsideWindow.show_journal_status`, fed by
:class:`~ui.bridge.JournalBridge`): "3 notes waiting for the database — kept
safely on this computer"; when they have all reached it, it says so for a few
seconds and disappears.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, TypeVar

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QWidget,
)

from kapmonitor.clock import Clock
from kapmonitor.ports import JournalStatus, SessionSpec, StreamData
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.types import EventKind, Observation, SensorInfo, SensorStatus, SessionEvent, Stream
from ui.bedside_keys import BedsideKeys
from ui.bedside_layout import BedsideLayout, default_window_size
from ui.bridge import AlarmsChange, RecorderBridge
from ui.help_overlay import HelpOverlay
from ui.ops import Op
from ui.theme import Theme, set_state
from ui.worker import DbWorker

if TYPE_CHECKING:  # the recorder, the panel and the discharge load after the first paint (ui.launch)
    from kapmonitor.discharge import Discharge
    from kapmonitor.recording import Recorder
    from kapmonitor.sensor import Sensor
    from ui.observation_panel import ObservationPanel
    from ui.resume_history import ResumedHistory

__all__ = ["BedsideWindow"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_WINDOW_STEPS_MIN = (5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 240.0)

JOURNAL_CLEARED_TEXT: Final = "All notes have reached the database"
"""Shown briefly when entries that waited for the database have all reached it."""
JOURNAL_CLEARED_SHOW_MS: Final = 6000

OPENING_TEXT: Final = "Opening the clinic database…"
"""The session line while the window waits for the database (it paints before the database opens)."""


class BedsideWindow(QMainWindow):
    """The live session window (see the module docstring).

    It can be built and shown before the database is open (the first paint does not wait for it,
    issue 16): :meth:`attach` connects the recorder later. Given ``recorder``, ``bridge`` and
    ``worker`` it attaches at once.

    Args:
        clock: the injected clock (display times, staleness).
        theme: colours.
        recorder / bridge / worker / sensors_for_session: see :meth:`attach`.
        describe: words for an observation's marker on the plot (default: its text or name).

    Signals:
        session_started(int session_id): a session was started or resumed.
        session_closed(): the window closed (the app shuts the recorder down).
        new_session_requested() / end_session_requested() / sensors_requested(): Ctrl+N /
            Ctrl+E / S or the footer buttons; the app opens the start / end / sensors dialog.
    """

    _recorder: Recorder
    _bridge: RecorderBridge
    _worker: DbWorker

    session_started = Signal(int)
    session_closed = Signal()
    new_session_requested = Signal()
    end_session_requested = Signal()
    sensors_requested = Signal()

    def __init__(self, *, clock: Clock, theme: Theme, recorder: Recorder | None = None,
                 bridge: RecorderBridge | None = None, worker: DbWorker | None = None,
                 sensors_for_session: Callable[[], Sequence[Sensor]] | None = None,
                 describe: Callable[[Observation], str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attached = False
        """The recorder is attached: before that (the database is still opening) the window is painted
        but starts nothing, its New session button off and a line saying what it waits for."""
        self._clock = clock
        self._theme = theme
        self._sensors_for_session: Callable[[], Sequence[Sensor]] = lambda: ()
        self._force_close = False
        self._describe = describe
        self.observations: ObservationPanel | None = None
        self._journal_waiting = False
        self.journal_cleared_ms = JOURNAL_CLEARED_SHOW_MS
        self.setWindowTitle("kapmonitor — bedside")
        self._build()
        self._connect_widgets()
        self._bind_keys()
        self.resize(default_window_size(self.screen().availableGeometry().size()))
        if recorder is not None and bridge is not None and worker is not None:
            self.attach(recorder, bridge, worker, sensors_for_session)
        else:
            self.new_button.setEnabled(False)
            self.end_button.setEnabled(False)
            self.session_label.setText(OPENING_TEXT)

    def set_describe(self, describe: Callable[[Observation], str]) -> None:
        """Words for an observation's marker on the plot (the clinic's quick tags and scales)."""
        self._describe = describe

    @property
    def theme(self) -> Theme:
        """The colours the window was built with."""
        return self._theme

    def attach(self, recorder: Recorder, bridge: RecorderBridge, worker: DbWorker,
               sensors_for_session: Callable[[], Sequence[Sensor]] | None = None) -> None:
        """Connect the window to its recorder once the database is open (once only).

        Args:
            recorder: the session recorder (shared with nothing else in the UI).
            bridge: the recorder's listener, already added with ``recorder.add_listener``.
            worker: the single database worker.
            sensors_for_session: makes the sensors to attach when a session starts or resumes.
        """
        if self.attached:
            raise RuntimeError("the window is already attached to a recorder")
        self._recorder = recorder
        self._bridge = bridge
        self._worker = worker
        if sensors_for_session is not None:
            self._sensors_for_session = sensors_for_session
        self._connect_recorder()
        self.attached = True
        if self.session_label.text() == OPENING_TEXT:
            self.session_label.setText("")
        self._update_session_buttons(None)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        central = self.central = BedsideLayout(self._theme, self._clock, self.last_recorded_event_at)
        self.banner = central.banner
        self.clock_panel = central.clock_panel
        self.vitals = central.vitals
        self.plots = central.plots
        self.session_label = central.session_label
        self.saving_label = central.saving_label
        self.journal_label = central.journal_label
        self._journal_cleared_timer = QTimer(self)
        self._journal_cleared_timer.setSingleShot(True)
        self._journal_cleared_timer.timeout.connect(self._hide_journal_status)
        self.new_button = central.new_button
        self.end_button = central.end_button
        self.help_button = central.help_button
        self.sensors_button = central.sensors_button
        self.setCentralWidget(central)
        self.help = HelpOverlay(self._theme, central, below=central.banner)

    def last_recorded_event_at(self) -> datetime | None:
        """The latest session event (not sensor events): a dose cannot be dated before it."""
        state = self._recorder.state if self.attached else None
        events = state.events if state is not None else ()
        return max((e.at for e in events), default=None)

    def add_side_widget(self, widget: QWidget, stretch: int = 1) -> None:
        """Place a panel (observations, devices) in the right-hand column."""
        self.central.add_side_widget(widget, stretch)

    def set_observation_panel(self, panel: ObservationPanel) -> None:
        """Show the observation panel and feed it from the bridge.

        Its check prompt takes over the due-check button (with BP fields), so the
        clock panel only announces checks; key C jumps to the prompt.
        """
        self.observations = panel
        self.central.add_scrolling_side_panel(panel)
        self._bridge.observation_arrived.connect(panel.observation_arrived)
        self._bridge.snapshot_arrived.connect(panel.snapshot_arrived)
        self.clock_panel.set_check_button_enabled(False)
        panel.bind_keys(self.keys)

    def _connect_widgets(self) -> None:
        self.new_button.clicked.connect(self.new_session_requested)
        self.end_button.clicked.connect(self.end_session_requested)
        self.help_button.clicked.connect(self.toggle_help)
        self.sensors_button.clicked.connect(self.sensors_requested)

    def _connect_recorder(self) -> None:
        b = self._bridge
        b.reading_arrived.connect(self.plots.add_reading)
        b.reading_arrived.connect(self.vitals.add_reading)
        b.sensor_status_arrived.connect(self._on_sensor_status)
        b.sensor_info_arrived.connect(self._on_sensor_info)
        b.event_arrived.connect(self._on_event)
        b.observation_arrived.connect(self._on_observation)
        b.alarms_arrived.connect(self._on_alarms)
        b.snapshot_arrived.connect(self._on_snapshot)
        b.error_arrived.connect(self._on_error)
        self.clock_panel.dose_requested.connect(self.give_dose)
        self.clock_panel.booster_requested.connect(self.give_booster)
        self.clock_panel.check_done_requested.connect(self.complete_check)
        self.banner.acknowledge_requested.connect(self.acknowledge_alarm)
        self.banner.pause_requested.connect(self.pause_alarm_audio)
        # A method, not a lambda: Qt disconnects it when the window is destroyed, while the worker lives on.
        self._worker.busy_changed.connect(self._show_saving)

    def _show_saving(self, busy: bool) -> None:
        self.saving_label.setText("saving…" if busy else "")

    def _bind_keys(self) -> None:
        """The window's share of the bedside keys (the observation panel binds the rest)."""
        self.keys = BedsideKeys(self, lambda text: self.statusBar().showMessage(text, 6000))

        def does(slot: Callable[[], object]) -> Callable[[str], bool]:
            def act(_press: str) -> bool:
                slot()
                return True
            return act

        self.keys.bind({
            "dose": does(self.clock_panel.ask_dose),
            "booster": does(self.clock_panel.ask_booster),
            "check": does(self.focus_check),
            "note": does(self.focus_note),
            "acknowledge": does(self.banner.ack_button.click),  # what the button does, no more
            "pause": does(self.banner.pause_button.click),
            "sensors": does(self.sensors_requested.emit),
            "window": self._window_key,
            "help": does(self.toggle_help),
            "escape": does(self._escape),
            "new_session": does(self._request_new),
            "end_session": does(self._request_end),
        })

    # ---------------------------------------------------------------- live data
    @Slot(SessionSnapshot)
    def _on_snapshot(self, snapshot: SessionSnapshot) -> None:
        self.clock_panel.set_snapshot(snapshot)
        self.plots.set_snapshot(snapshot)
        self._update_session_buttons(snapshot)

    @Slot(SensorStatus)
    def _on_sensor_status(self, status: SensorStatus) -> None:
        self.vitals.set_sensor_status(status)

    @Slot(SensorInfo)
    def _on_sensor_info(self, info: SensorInfo) -> None:
        self.vitals.set_sensor_info(info)

    @Slot(SessionEvent)
    def _on_event(self, event: SessionEvent) -> None:
        if event.kind in (EventKind.DOSE_GIVEN, EventKind.SESSION_STARTED, EventKind.SESSION_RESUMED):
            self._refresh_limits()
        if event.kind is EventKind.SESSION_ENDED:
            self.statusBar().showMessage("Session ended and saved", 8000)
            session_id = self._recorder.session_id
            if self.observations is not None and session_id is not None:
                self.observations.session_ended(session_id)

    @Slot(Observation)
    def _on_observation(self, observation: Observation) -> None:
        self.plots.add_observation(observation, self._describe(observation) if self._describe else None)

    @Slot(AlarmsChange)
    def _on_alarms(self, change: AlarmsChange) -> None:
        self.banner.set_alarms(change.active)
        self.banner.add_transitions(change.transitions)
        for transition in change.transitions:
            self.plots.add_alarm_marker(transition)
        self.alarms_changed_hook(change)

    def alarms_changed_hook(self, change: AlarmsChange) -> None:
        """Extension point for the app (e.g. the audio player); default: nothing."""

    @Slot(str)
    def _on_error(self, message: str) -> None:
        log.error("recorder reported: %s", message)
        self.statusBar().showMessage(message, 30000)

    @Slot(JournalStatus)
    def show_journal_status(self, status: JournalStatus) -> None:
        """Say what waits for the database (GUI thread; the app feeds it through ``JournalBridge``).

        Nothing is shown while the database takes everything; while entries wait, the line
        ``status.describe()``; once they have all reached the database after waiting,
        :data:`JOURNAL_CLEARED_TEXT` for ``journal_cleared_ms`` (:data:`JOURNAL_CLEARED_SHOW_MS`),
        then nothing.
        """
        line = status.describe()
        label = self.journal_label
        if line:
            self._journal_cleared_timer.stop()
            self._journal_waiting = True
            label.setText(line)
            set_state(label, "warn")
            label.show()
        elif self._journal_waiting:
            self._journal_waiting = False
            label.setText(JOURNAL_CLEARED_TEXT)
            set_state(label, "ok")
            label.show()
            self._journal_cleared_timer.start(self.journal_cleared_ms)

    def journal_status_text(self) -> str:
        """What the journal status line shows now ("" when hidden)."""
        return self.journal_label.text() if not self.journal_label.isHidden() else ""

    def _hide_journal_status(self) -> None:
        if not self._journal_waiting:
            self.journal_label.hide()
            self.journal_label.setText("")

    def _refresh_limits(self) -> None:
        baseline = self._recorder.baseline(Stream.HEART_RATE)
        self.plots.set_limits(self._recorder.alarm_settings.rules,
                              {Stream.HEART_RATE: baseline} if baseline is not None else None)
        self.vitals.set_baseline(baseline)

    def load_history(self, streams: Sequence[StreamData], observations: Sequence[Observation]) -> None:
        """Show what a resumed session recorded before the interruption."""
        for data in streams:
            self.plots.load_history(data.stream, data.t, data.value, data.flags)
        for obs in observations:
            self._on_observation(obs)

    # ----------------------------------------------------------------- commands
    def _run(self, what: str, fn: Callable[[], T], on_done: Callable[[T], None] | None = None) -> None:
        """Run a committing recorder call on the worker; tell the therapist if it failed."""

        op = Op(fn, parent=self, what=what, title="Not saved")
        if on_done is not None:
            op.success(on_done)
        op.run(self._worker)

    def start_session(self, spec: SessionSpec) -> None:
        """Start a new session and attach the session's sensors (on the worker)."""

        def start() -> int:
            session_id = self._recorder.start_session(spec)
            for sensor in self._sensors_for_session():
                self._recorder.attach_sensor(sensor)
            return session_id

        self._run("Starting the session", start, lambda sid: self._session_ready(sid, spec.client_code))

    def resume_session(self, session_id: int, history: Callable[[], ResumedHistory]) -> None:
        """Resume an interrupted session (clock intact), reload its history, attach sensors.

        Everything is read on the DB worker; the observation panel gets every revision back
        (editable and deletable as before) and the note draft kept for the session; the alarm
        list and the plots' alarm marks get the alarm log from before the interruption.
        """

        def resume() -> tuple[ResumedHistory, list[Observation]]:
            self._recorder.resume_session(session_id)
            loaded = history()
            for sensor in self._sensors_for_session():
                self._recorder.attach_sensor(sensor)
            return loaded, self._recorder.observations()

        def done(result: tuple[ResumedHistory, list[Observation]]) -> None:
            loaded, latest = result
            self.load_history(loaded.streams, latest)
            self.banner.restore_history(loaded.alarms)
            for transition in loaded.alarms:
                self.plots.add_alarm_marker(transition)
            if self.observations is not None:
                self.observations.session_resumed(session_id, loaded.observations or latest)
            self._session_ready(session_id, loaded.client_code)

        self._run("Resuming the session", resume, done)

    def _session_ready(self, session_id: int, client_code: str) -> None:
        proto = self._recorder.protocol
        self.clock_panel.set_protocol(proto)
        self._refresh_limits()
        name = proto.name if proto is not None else ""
        self.session_label.setText(f"Session {session_id} · client {client_code} · {name}")
        for widget in (self.clock_panel, self.vitals, self.plots):
            widget.start()
        snap = self._recorder.snapshot()
        if snap is not None:
            self._on_snapshot(snap)
        self.session_started.emit(session_id)

    @Slot(float)
    def give_dose(self, minutes_ago: float = 0.0) -> None:
        at = self._clock.now() - timedelta(minutes=minutes_ago) if minutes_ago > 0 else None
        self._run("The dose", lambda: self._recorder.give_dose(at=at))

    @Slot(float)
    def give_booster(self, minutes_ago: float = 0.0) -> None:
        at = self._clock.now() - timedelta(minutes=minutes_ago) if minutes_ago > 0 else None
        self._run("The booster", lambda: self._recorder.give_booster(at=at))

    @Slot(str)
    def complete_check(self, name: str) -> None:
        self._run("The check", lambda: self._recorder.complete_check(name))

    @Slot(str)
    def acknowledge_alarm(self, alarm_id: str) -> None:
        self._run("Acknowledging the alarm", lambda: self._recorder.acknowledge_alarm(alarm_id or None))

    @Slot(str)
    def pause_alarm_audio(self, alarm_id: str) -> None:
        self._run("Pausing alarm audio", lambda: self._recorder.pause_alarm_audio(alarm_id or None))

    def end_session(self, reason: str = "", discharge: Discharge | None = None) -> None:
        """End the session on the worker, with the clinician's structured ``discharge`` answers."""
        self._run("Ending the session", lambda: self._recorder.end_session(reason, discharge))

    # ------------------------------------------------------------------- view
    def focus_note(self) -> None:
        """Put the cursor in the note line (key N): what is typed now is a note."""
        if self.observations is not None:
            self.keys.enter_field(self.observations.text_line)

    def focus_check(self) -> None:
        """Key C: go to the due check (its BP field), or mark it done from the clock panel."""
        prompt = self.observations.check_prompt if self.observations is not None else None
        if prompt is not None and prompt.isVisible():
            prompt.systolic.setFocus()
        elif self.clock_panel.check_button.isVisible():
            self.clock_panel.check_button.click()

    def _window_key(self, press: str) -> bool:
        self.step_window(-1 if press == "-" else +1)
        return True

    def step_window(self, direction: int) -> None:
        """Lengthen (+1) or shorten (-1) the heart-rate window through preset steps."""
        current = self.plots.window_minutes
        if direction > 0:
            bigger = [m for m in _WINDOW_STEPS_MIN if m > current + 1e-6]
            new = bigger[0] if bigger else current
        else:
            smaller = [m for m in _WINDOW_STEPS_MIN if m < current - 1e-6]
            new = smaller[-1] if smaller else current
        self.plots.set_window_minutes(new)
        self.statusBar().showMessage(f"Heart-rate window: {new:g} minutes", 3000)

    def _request_new(self) -> None:
        if self.new_button.isEnabled():
            self.new_session_requested.emit()

    def _request_end(self) -> None:
        if self.end_button.isEnabled():
            self.end_session_requested.emit()

    def _update_session_buttons(self, snapshot: SessionSnapshot | None) -> None:
        running = snapshot is not None and snapshot.ended_at is None
        self.end_button.setEnabled(running)
        self.new_button.setEnabled(not running)

    def toggle_help(self) -> None:
        if self.help.isVisible():
            self.help.hide()
        else:
            self.help.fit()
            self.help.show()
            self.help.raise_()

    def _escape(self) -> None:
        """Esc: close the help (the key dispatcher has already left any field)."""
        self.help.hide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.help.isVisible():
            self.help.fit()

    # ------------------------------------------------------------------ closing
    def session_running(self) -> bool:
        if not self.attached:
            return False
        snap = self._recorder.snapshot()
        return snap is not None and snap.ended_at is None

    def confirm_close(self) -> bool:
        """Ask before closing mid-session; True if the window may close."""
        if not self.session_running():
            return True
        answer = QMessageBox.question(
            self, "Session still running",
            "A session is still running.\n\nClose the window anyway? Everything recorded is saved, "
            "and the session can be resumed when kapmonitor starts again. To finish the session, "
            "choose No and end it first (Ctrl+E).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def close_without_asking(self) -> None:
        self._force_close = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._force_close and not self.confirm_close():
            event.ignore()
            return
        for widget in (self.clock_panel, self.vitals, self.plots):
            widget.stop()
        event.accept()
        self.session_closed.emit()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<BedsideWindow session={self._recorder.session_id if self.attached else None}>"
