"""Composition root of the bedside window: builds every part and passes it in explicitly.

``kapmonitor`` opens the window on the real clock; ``kapmonitor --demo`` opens it
with the simulated sensor, and ``--demo --speed N`` runs the clock N times faster
for training. There are no globals: :func:`build_app` makes

* the clock (``SystemClock``, or ``ScaledClock`` for ``--demo --speed``),
* the store: a :class:`~db.journaled_store.JournaledStore` (the database named by
  ``--db`` / ``KAPMONITOR_DB`` behind this workstation's recording journal; the demo's own
  ``demo.db`` unless ``--db`` names one); the
  recorder writes into the journal and one writer thread applies it to the
  database, so a busy or unreachable database never loses a note. The window
  says while entries wait for it (:class:`~ui.bridge.JournalBridge`). Review,
  export and clinic settings use the database behind it (``store.database``),
* the clinic settings (from the database, defaults when none are saved),
* the recorder, its Qt bridge and the single DB worker,
* the sensors for a session (simulated in demo mode; Bluetooth sensors are added
  from the device panel), the alarm audio and the window,
* with the clinic setting "Lab Streaming Layer" on, the LSL outlets (:mod:`ui.lsl_outlets`)
  listening to the recorder: each session recorded in the window is streamed; with it off
  pylsl is never imported,

and :func:`ui.launch.run_gui` shows the window before the database is open, has this module wire
it once the DB worker has opened the database, runs the event loop and shuts everything down in order
(the journaled store last: what the database has not taken yet stays in the
journal and is applied at the next start).
On start, an unfinished session (the app was closed or crashed mid-session)
is offered for resumption with its clock intact.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QWidget

from db.journal_writer import JournalWriter
from db.journaled_store import JournaledStore
from db.paths import journal_folder, workstation_file
from db.store import SqlStore
from devices.factory import make_sensor
from kapmonitor.clock import Clock
from kapmonitor.journal import Journal
from kapmonitor.ports import LeaseHeld, SessionSpec, StoreError, StreamData
from kapmonitor.recording import Recorder
from kapmonitor.sensor import Sensor
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
from kapmonitor.types import Stream
from ui.audio import AlarmAudio
from ui.bridge import AlarmsChange, JournalBridge, RecorderBridge
from ui.clinic_settings import load_clinic_settings
from ui.gc_guard import GuiGarbageCollector
from ui.launch import make_clock, open_journaled_store, window_title
from ui.main_window import BedsideWindow
from ui.no_wheel import guard_wheel
from ui.note_draft import NoteDrafts
from ui.observation_commands import ObservationCommands
from ui.observation_panel import ObservationPanel
from ui.observation_timeline import describe as describe_observation
from ui.ops import Op
from ui.resume_history import ResumedHistory
from ui.theme import Theme, apply_theme, theme_by_name
from ui.worker import DbWorker

if TYPE_CHECKING:  # Bluetooth (bleak, D-Bus) loads when the sensors dialog first opens
    from devices.runtime import BleRuntime
    from devices.scanner import LiveScanner
    from kapmonitor.discharge import DischargeFacts  # with the end of a session
    from ui.device_panel import ScannerLike
    from ui.lsl_outlets import LslOutlets  # with the Lab Streaming Layer switched on
    from ui.sensor_dialog import SensorDialog

__all__ = ["HISTORY_STREAMS", "AppParts", "build_app", "connect_dialogs", "journaled", "make_clock",
           "set_lab_streaming", "start_or_resume", "window_title"]

log = logging.getLogger(__name__)

HISTORY_STREAMS = (Stream.HEART_RATE, Stream.SPO2, Stream.RR_INTERVAL)
"""Streams reloaded into the plots when a session is resumed."""


@dataclass
class AppParts:
    """Everything :func:`build_app` made, for :func:`ui.launch.run_gui`, tests and tools."""

    app: QApplication
    clock: Clock
    store: JournaledStore
    settings: ClinicSettings
    recorder: Recorder
    bridge: RecorderBridge
    worker: DbWorker
    window: BedsideWindow
    audio: AlarmAudio
    theme: Theme
    demo: bool
    runtime: BleRuntime | None = None
    scanner: LiveScanner | None = None
    sensor_dialog: SensorDialog | None = None
    sensors: list[Sensor] = field(default_factory=list)
    session_list: QWidget | None = None
    menu_actions: dict[str, QAction] = field(default_factory=dict)
    journal_bridge: JournalBridge | None = None
    gc_guard: GuiGarbageCollector | None = None
    """Cyclic garbage collection on the GUI thread only, while the app runs (:mod:`ui.gc_guard`)."""
    end_pending: bool = False
    """The end dialog is being prepared (End pressed twice opens one dialog)."""
    lsl: LslOutlets | None = None
    """The Lab Streaming Layer outlets while the clinic setting is on (:func:`set_lab_streaming`)."""

    @property
    def database(self) -> SqlStore:
        """The database behind the journal (review, export, settings)."""
        return self.store.database

    def shutdown(self) -> None:
        """Stop sensors and the ticker (the session stays resumable), then the worker and the store.

        Closing the journaled store applies what the database takes within a few seconds; the
        rest stays in the journal for the next start.
        """
        self.audio.stop()
        if self.scanner is not None:
            self.scanner.stop()
        self.worker.shutdown(wait=True)
        self.recorder.close()
        self.recorder.remove_listener(self.bridge)
        set_lab_streaming(self, False, wait_s=5.0)
        if self.runtime is not None:
            self.runtime.stop()
        self.store.close()
        if self.gc_guard is not None:
            self.gc_guard.stop()

    def open_sensors(self) -> None:
        """Show the sensors dialog (made on first use; the BLE runtime starts then)."""
        if self.sensor_dialog is None:
            from devices.runtime import BleRuntime
            from devices.scanner import LiveScanner
            from ui.device_panel import DevicePanel
            from ui.sensor_dialog import SensorDialog

            try:
                self.runtime = BleRuntime()
                self.runtime.start()
                self.scanner = LiveScanner(self.runtime)
            except Exception as exc:  # no Bluetooth stack: the simulated sensor still works
                log.warning("Bluetooth unavailable: %s", exc)
                self.runtime, self.scanner = None, None
            # cast: DevicePanel's ScannerLike types on_update as `object` (LiveScanner's is narrower)
            panel = DevicePanel(cast("ScannerLike | None", self.scanner), self.theme)
            self.sensor_dialog = SensorDialog(panel, self.recorder, self.worker, self.clock, self.runtime,
                                              self.theme, self.window,
                                              activity=self.window.vitals.sensor_activity)
            self.sensor_dialog.sensor_status_changed.connect(self.window.vitals.set_sensor_status)
            self.bridge.sensor_status_arrived.connect(self.sensor_dialog.set_sensor_status)
        self.sensor_dialog.show()
        self.sensor_dialog.raise_()


def _demo_sensors(clock: Clock) -> Callable[[], list[Sensor]]:
    def make() -> list[Sensor]:
        return [make_sensor("simulated", clock)]

    return make


def journaled(store: SqlStore) -> JournaledStore:
    """Put this workstation's recording journal for ``store``'s database in front of it.

    The journaled store owns ``store`` from now on (closing it closes ``store``).

    Raises:
        StoreError: the journal cannot be opened (e.g. another kapmonitor is recording into it).
    """
    journal = Journal.open(journal_folder(store.location, store.room))
    return JournaledStore(store, journal, JournalWriter(store, journal))


def build_app(args: argparse.Namespace, app: QApplication, *, clock: Clock | None = None,
              store: JournaledStore | SqlStore | None = None,
              sensors_for_session: Callable[[], list[Sensor]] | None = None,
              autotick: bool = True, settings: ClinicSettings | None = None,
              window: BedsideWindow | None = None, worker: DbWorker | None = None,
              gc_guard: GuiGarbageCollector | None = None, load_audio: bool = True) -> AppParts:
    """Assemble the window and its collaborators (no event loop, no dialogs).

    Args:
        args: parsed ``kapmonitor`` arguments (``db``, ``demo``, ``speed``).
        app: the running ``QApplication``.
        clock / store / sensors_for_session: override for tests and tools (a plain ``SqlStore``
            gets this workstation's journal put in front of it: the window always records
            through the journal).
        autotick: run the recorder's ticker thread (tests drive ``recorder.tick()`` themselves).
        settings: the clinic settings already read from ``store`` (default: read them now).
        window / worker / gc_guard: the bedside window already shown before the database opened,
            not yet attached (:mod:`ui.launch`), the DB worker that opened it, the garbage
            collector started before it; made here when not given. A window painted in another
            theme than the clinic's is not used: a new one is made (the caller shows it).
        load_audio: open the sound system now; ``False`` leaves it to the caller, who calls
            ``parts.audio.load()`` before a session can start (:mod:`ui.launch`: on the event
            loop's turn after the start dialog opens).

    Raises:
        StoreError: the database or its journal cannot be opened.
    """
    clock = clock or make_clock(args)
    if store is None:
        store = open_journaled_store(args, clock)
    elif isinstance(store, SqlStore):
        store = journaled(store)
    settings = settings if settings is not None else load_clinic_settings(store.database)
    try:
        theme = theme_by_name(settings.theme)
    except ValueError:
        theme = theme_by_name("dark")
    if window is None or window.theme is not theme:
        apply_theme(app, theme)
        window = BedsideWindow(clock=clock, theme=theme)
    guard_wheel(app)
    demo = bool(getattr(args, "demo", False))
    if sensors_for_session is None:
        sensors_for_session = _demo_sensors(clock) if demo else list
    gc_guard = gc_guard or GuiGarbageCollector()  # before any thread that allocates starts
    recorder = Recorder(store, clock, settings.alarms, autotick=autotick)
    bridge = RecorderBridge()
    recorder.add_listener(bridge)
    worker = worker or DbWorker()
    window.set_describe(lambda obs: describe_observation(obs, settings))
    window.attach(recorder, bridge, worker, sensors_for_session)
    commands = ObservationCommands(recorder, worker.run_in_worker, clock)
    drafts = NoteDrafts.for_database(store.location)
    window.set_observation_panel(ObservationPanel(settings, commands, theme, drafts=drafts))
    audio = AlarmAudio(settings.audio, load=load_audio)
    bridge.alarms_arrived.connect(lambda change: _sound(audio, change))
    audio.audio_unavailable.connect(lambda reason: window.statusBar().showMessage(
        f"Alarm sound unavailable ({reason}): alarms are visual only"))
    window.setWindowTitle(window_title(args, clock))
    journal_bridge = JournalBridge()
    journal_bridge.status_arrived.connect(window.show_journal_status, Qt.ConnectionType.QueuedConnection)
    store.add_status_listener(journal_bridge)
    window.show_journal_status(store.journal_status())
    parts = AppParts(app=app, clock=clock, store=store, settings=settings, recorder=recorder, bridge=bridge,
                     worker=worker, window=window, audio=audio, theme=theme, demo=demo,
                     journal_bridge=journal_bridge, gc_guard=gc_guard)
    parts.menu_actions = install_menus(parts)
    set_lab_streaming(parts, settings.lab_streaming.enabled)
    worker.run_in_worker(prune_note_drafts(store, drafts))
    # an export killed mid-write leaves a part file in the folder the save dialog starts in
    worker.run_in_worker(_remove_stale_export_parts)
    return parts


def _remove_stale_export_parts() -> None:
    """Remove the part files of killed exports from where the save dialog starts (on the DB worker)."""
    from db.export.atomic import remove_stale_parts

    for folder in {Path.cwd(), Path.home()}:
        remove_stale_parts(folder)


def prune_note_drafts(store: JournaledStore | SqlStore, drafts: NoteDrafts) -> Callable[[], list[int]]:
    """Removes the note drafts of sessions closed meanwhile (run on the DB worker at start-up).

    A session may end without this bedside knowing: closed from the session list, ended on another
    workstation of the same database, or the database replaced. Only a session the database says
    is ended, or says it does not have, loses its draft.
    """

    def still_open(session_id: int) -> bool:
        try:
            return store.session(session_id).ended_at is None
        except KeyError:
            return False

    def prune() -> list[int]:
        removed = drafts.prune(still_open)
        if removed:
            log.info("removed the note drafts of closed sessions %s", removed)
        return removed

    return prune


def set_lab_streaming(parts: AppParts, on: bool, *, wait_s: float = 0.0) -> None:
    """Stream the sessions recorded in the window on the Lab Streaming Layer, or stop.

    On: the outlets listen to the recorder (a session running now is streamed from now on, the
    next ones from their start), with liblsl configured for the clinic's scope first. pylsl
    missing (or liblsl unusable) is said in the status bar and logged; recording goes on. Off:
    the outlets close on their own thread after sending what they have (waited for up to
    ``wait_s``: at shutdown, not when the setting is switched off).
    """
    if on and parts.lsl is None:
        from ui.lsl_config import LslUnavailable
        from ui.lsl_outlets import attach_lsl

        try:
            parts.lsl = attach_lsl(parts.recorder, parts.store.room, parts.settings.lab_streaming.scope,
                                   workstation_file().parent)
        except LslUnavailable as exc:
            log.warning("Lab Streaming Layer not started: %s", exc)
            parts.window.statusBar().showMessage(f"Lab Streaming Layer off: {exc}")
    elif not on and parts.lsl is not None:
        parts.recorder.remove_listener(parts.lsl)
        parts.lsl.close(wait_s)
        parts.lsl = None


def _sound(audio: AlarmAudio, change: AlarmsChange) -> None:
    audio.set_alarms(change.active)


def history_loader(store: JournaledStore | SqlStore, session_id: int) -> Callable[[], ResumedHistory]:
    """Reads a resumed session's stored streams, client code, observations and alarm log (on the DB worker).

    Through the journaled store the read first lets the journal writer catch up, so what was
    journaled before an interruption is part of the history.
    """

    def load() -> ResumedHistory:
        streams: list[StreamData] = [store.load_stream(session_id, s) for s in HISTORY_STREAMS]
        return ResumedHistory(streams, store.session(session_id).spec.client_code,
                              store.observations(session_id), store.alarms(session_id))

    return load


def offer_resume(parts: AppParts, parent: QWidget) -> bool:
    """Ask whether to resume this room's latest unfinished session; resume it if so. True if resuming.

    Only the room's own sessions (and those recorded before rooms existed) not being recorded by
    another workstation are offered; another room's session is taken over from the session list.
    """
    unfinished = parts.store.latest_unfinished(room=parts.store.room)
    if unfinished is None:
        return False
    started = unfinished.started_at.astimezone().strftime("%H:%M on %d %b")
    answer = QMessageBox.question(
        parent, "Resume session?",
        f"Session {unfinished.session_id} (client {unfinished.client_code}, started {started}) was not "
        "ended.\n\nResume it? Its clock continues from the original dose time.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
    if answer != QMessageBox.StandardButton.Yes:
        return False
    try:
        parts.store.claim_for_resume(unfinished.session_id)
    except StoreError as exc:  # another workstation took it meanwhile, or the database is away
        QMessageBox.warning(parent, "Cannot resume", f"Session {unfinished.session_id} cannot be resumed "
                            f"here: {exc}")
        return False
    parts.window.resume_session(unfinished.session_id, history_loader(parts.store, unfinished.session_id))
    return True


def ask_new_session(parts: AppParts) -> None:
    """Open the start-session dialog; start the session it describes."""
    from ui.session_dialog import StartSessionDialog

    known = sorted({s.client_code for s in parts.database.sessions()})  # suggestions: never wait
    dialog = StartSessionDialog(parts.settings, known, parts.theme, parts.window)
    if dialog.exec():
        spec: SessionSpec = dialog.spec()
        parts.window.start_session(spec)


END_FACTS_WAIT_MS = 2000
"""The end dialog opens after at most this long even if the record could not be read (a stalled
database): its answers are then not pre-set from the record, and it says so."""


def ask_end_session(parts: AppParts) -> None:
    """Read what the record says (off the GUI thread), then ask the structured discharge and end."""
    snapshot, protocol = parts.recorder.snapshot(), parts.recorder.protocol
    session_id = parts.recorder.session_id
    if snapshot is None or protocol is None or session_id is None or snapshot.ended_at is not None:
        return
    if parts.end_pending:
        return  # the dialog is on its way (End pressed twice)
    parts.end_pending = True
    asked_at = parts.clock.now()
    store, checklist = parts.store, parts.settings.discharge_checklist
    opened: list[bool] = []

    def load() -> tuple[DischargeFacts, str]:
        from kapmonitor.discharge import facts_for_session

        facts = facts_for_session(store, session_id, checklist, asked_at)
        return facts, store.session(session_id).spec.clinician_initials

    def open_dialog(found: tuple[DischargeFacts, str] | None) -> None:
        if opened:
            return  # the record came after the dialog had opened without it
        opened.append(True)
        try:
            _end_dialog(parts, snapshot, protocol.min_observation_min, found, asked_at)
        finally:
            parts.end_pending = False

    def failed(exc: BaseException) -> None:
        log.warning("the record could not be read for the discharge questions: %s", type(exc).__name__)
        open_dialog(None)

    Op(load, parent=parts.window, what="Reading the record for the discharge").success(open_dialog) \
        .failure(failed).run(parts.worker)
    QTimer.singleShot(END_FACTS_WAIT_MS, lambda: open_dialog(None))


def _end_dialog(parts: AppParts, snapshot: SessionSnapshot, min_observation_min: float,
                found: tuple[DischargeFacts, str] | None, asked_at: datetime) -> None:
    from ui.end_session_dialog import EndSessionDialog

    if parts.recorder.snapshot() is None or parts.recorder.session_id is None:
        return
    panel = parts.window.observations
    unsaved = panel.unsaved_note() if panel is not None else ""
    facts, clinician = found if found is not None else (None, "")
    dialog = EndSessionDialog.from_snapshot(
        snapshot, min_observation_min, parts.settings.discharge_checklist, parts.theme, parts.window,
        unsaved, facts=facts, medications=parts.settings.medications, clinician=clinician,
        now=asked_at)
    if found is None:
        dialog.message.setText("The record could not be read in time: nothing is pre-set from it. "
                               + dialog.message.text())
    if dialog.exec():
        if panel is not None and unsaved:
            if dialog.save_unsaved_note:
                panel.save_note()  # queued on the DB worker before the end: saved in the session
            else:
                panel.drop_unsaved_note()
        discharge = dialog.discharge() if dialog.dose_given else None
        parts.window.end_session(dialog.end_reason(), discharge)


def open_past_sessions(parts: AppParts) -> QWidget:
    """Show the session list (review, exports, resume or close unfinished sessions)."""
    from ui.exports import window_exports
    from ui.session_browser import SessionListWindow

    if parts.session_list is None:
        browser = SessionListWindow(parts.database, worker=parts.worker, clock=parts.clock,
                                    theme=parts.theme, exports=window_exports(parts.database))
        browser.resume_requested.connect(lambda sid: resume_from_list(parts, sid))
        browser.session_closed.connect(lambda sid: _closed_elsewhere(parts, sid))
        parts.session_list = browser
    parts.session_list.show()
    parts.session_list.raise_()
    parts.session_list.activateWindow()
    return parts.session_list


def _closed_elsewhere(parts: AppParts, session_id: int) -> None:
    """A session was closed from the session list: its note draft (if any) has no use now."""
    panel = parts.window.observations
    if panel is not None and panel.draft_keeper is not None:
        panel.draft_keeper.drafts.discard(session_id)


def resume_from_list(parts: AppParts, session_id: int) -> bool:
    """Resume an unfinished session chosen in the list, unless another one is running.

    A session of this room is resumed with its lease taken (refused while another workstation
    records it). Another room's session is taken over only after a confirmation, never while
    that room's lease is live, and the take-over is recorded as an event in the session.
    """
    snapshot = parts.recorder.snapshot()
    if snapshot is not None and snapshot.ended_at is None:
        QMessageBox.information(
            parts.window, "A session is running",
            f"Session {parts.recorder.session_id} is still running. End it before resuming "
            f"session {session_id}.")
        return False
    if not _take_lease(parts, session_id):
        return False
    parts.window.resume_session(session_id, history_loader(parts.store, session_id))
    parts.window.raise_()
    return True


def _take_lease(parts: AppParts, session_id: int) -> bool:
    """Claim this room's session, or take another room's over once confirmed; False (said) if not."""
    store = parts.store
    try:
        owner = store.database.session_room(session_id)
        if owner in (store.room, ""):
            store.claim_for_resume(session_id)
            return True
        lease = store.database.lease(session_id)
        if lease is not None and lease.live and lease.holder != store.holder:
            raise LeaseHeld(session_id, lease.room, lease.renewed_ago_s, store.database.lease_s)
        stopped = ("" if lease is None else
                   f" It stopped renewing its hold on the session {lease.renewed_ago_s:.0f} s ago.")
        answer = QMessageBox.question(
            parts.window, "Take over the session?",
            f"Session {session_id} belongs to {owner}.{stopped}\n\nTake it over in {store.room}? "
            f"{owner} can then no longer continue it, and the take-over is recorded in the session.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        store.take_over(session_id)
        return True
    except (StoreError, KeyError) as exc:
        QMessageBox.warning(parts.window, "Cannot resume",
                            f"Session {session_id} cannot be resumed here: {exc}")
        return False


def open_settings(parts: AppParts) -> None:
    """Edit the clinic's defaults; saved to the database on the DB worker."""
    from ui.settings_dialog import SettingsDialog

    SettingsDialog(parts.settings, lambda s: save_settings(parts, s), parts.theme, parts.window,
                   workstation_file=workstation_file(), room=parts.store.room).exec()


def save_settings(parts: AppParts, settings: ClinicSettings) -> None:
    """Use new clinic settings from now on and store them (on the DB worker).

    A running session keeps the limits it started with (they are snapshotted
    into it); quick tags, scales, audio and lab streaming on/off change at once (a new
    streaming scope applies from the next start: liblsl reads its configuration once).
    """
    parts.settings = settings
    parts.audio.set_settings(settings.audio)
    set_lab_streaming(parts, settings.lab_streaming.enabled)
    panel = getattr(parts.window, "observations", None)
    if isinstance(panel, ObservationPanel):
        panel.set_settings(settings)
    Op(lambda: parts.store.put_setting(SETTINGS_KEY, settings.to_dict()), parent=parts.window,
       what="Saving the clinic settings", title="Settings not saved").run(parts.worker)


def install_menus(parts: AppParts) -> dict[str, QAction]:
    """The window's menu: sessions (new, end, past), sensors, clinic settings, keys.

    The footer buttons and single keys stay the way to work at the bedside; the
    menu adds what is needed away from it (past sessions, clinic settings).
    """
    window = parts.window
    actions: dict[str, QAction] = {}

    def add(menu: QMenu, key: str, text: str, shortcut: str, slot: Callable[[], object]) -> None:
        action = QAction(text, window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        actions[key] = action

    bar = window.menuBar()
    session = bar.addMenu("&Session")
    add(session, "new", "&New session…", "", window.new_session_requested.emit)
    add(session, "end", "&End session…", "", window.end_session_requested.emit)
    session.addSeparator()
    add(session, "past", "&Past sessions…", "Ctrl+O", lambda: open_past_sessions(parts))
    add(session, "sensors", "&Sensors…", "", window.sensors_requested.emit)
    session.addSeparator()
    add(session, "quit", "&Quit", "Ctrl+Q", window.close)
    clinic = bar.addMenu("&Clinic")
    add(clinic, "settings", "Clinic &settings…", "Ctrl+,", lambda: open_settings(parts))
    return actions


def connect_dialogs(parts: AppParts) -> None:
    """New session / End session / Sensors (footer buttons, keys, menu) open their dialogs."""
    window = parts.window
    window.new_session_requested.connect(lambda: ask_new_session(parts))
    window.end_session_requested.connect(lambda: ask_end_session(parts))
    window.sensors_requested.connect(parts.open_sensors)


def start_or_resume(parts: AppParts) -> None:
    """Offer this room's unfinished session for resumption, or else open the start dialog."""
    if not offer_resume(parts, parts.window):
        ask_new_session(parts)
