"""The central station window: one tile per room with a live session, read from two metres away.

Each tile shows the room, client code, phase and time since dose, heart rate, SpO₂ and the last
blood pressure with their ages, the room's alarms (the tile's border and header take the colour of
the most urgent one), checks due, the sensors' link state and what waits in the room's journal for
the database. A room that stopped renewing its lease is greyed and says so: "SILENT since 10:42 —
no renewal for 45 s". Times on screen are local.

The window never reads the database on the GUI thread: a ``QTimer`` asks the station source
(:class:`kapmonitor.station.StationSource`, ``db.station.StationReader``) on its own
:class:`~ui.worker.DbWorker` every ``interval_s``, never queueing a poll behind one still running.
Clicking a tile (or Enter on the focused one) opens that session's live timeline: the review
window (:class:`ui.review_window.ReviewWindow`), refreshing while the session is live.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.clock import Clock
from kapmonitor.exporters import ExportRegistry
from kapmonitor.ports import SessionStore
from kapmonitor.station import RoomStatus, StationSource, StationUpdate, VitalValue, age_words
from kapmonitor.types import AlarmPriority, SensorState
from ui.review_export import ReviewSession
from ui.review_window import ReviewWindow, open_review_async
from ui.theme import Theme
from ui.worker import DbWorker

__all__ = ["RoomTile", "StationWindow"]

log = logging.getLogger(__name__)

STALE_AFTER_S = 15.0
"""A heart rate or SpO₂ older than this is greyed: the sensor has gone quiet."""
LIVE_REFRESH_S = 5.0
"""How often an open live timeline reloads its session."""

_LINK_WORDS = {SensorState.CONNECTED: "connected", SensorState.RECONNECTING: "reconnecting",
               SensorState.LOST: "SIGNAL LOST", SensorState.DISCONNECTED: "disconnected",
               SensorState.CONNECTING: "connecting"}
_PRIORITY_WORDS = {AlarmPriority.HIGH: "HIGH", AlarmPriority.MEDIUM: "MEDIUM", AlarmPriority.LOW: "LOW"}


def _local(moment: datetime, seconds: bool = False) -> str:
    return moment.astimezone().strftime("%H:%M:%S" if seconds else "%H:%M")


def _label(text: str, px: int, colour: str, *, bold: bool = False, parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setStyleSheet(f"color: {colour}; font-size: {px}px; font-weight: {'bold' if bold else 'normal'};"
                        " background: transparent; border: none;")
    return label


def _colour(label: QLabel, colour: str, px: int, *, bold: bool = False,
            background: str = "transparent") -> None:
    label.setStyleSheet(f"color: {colour}; font-size: {px}px; font-weight: {'bold' if bold else 'normal'};"
                        f" background: {background}; border: none; padding: 0 6px;")


class _Vital(QWidget):
    """One vital: caption, big number with its unit, and its age."""

    def __init__(self, caption: str, unit: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._unit = unit
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.caption = _label(caption, 17, theme.text_dim, parent=self)
        self.value = _label("—", 60, theme.text_strong, bold=True, parent=self)
        self.age = _label("", 17, theme.text_dim, parent=self)
        for widget in (self.caption, self.value, self.age):
            layout.addWidget(widget)

    def show_value(self, text: str | None, age_s: float | None, *, stale: bool, why: str = "") -> None:
        t = self._theme
        unit = f"<span style='font-size:22px'> {self._unit}</span>"
        self.value.setText("—" if text is None else f"{text}{unit}")
        self.value.setTextFormat(Qt.TextFormat.RichText)
        _colour(self.value, t.stale if stale or text is None else t.text_strong, 60, bold=True)
        if age_s is None:
            self.age.setText(why or "no reading")
        else:
            self.age.setText(f"{why + ' · ' if why else ''}{age_words(age_s)} ago")
        _colour(self.age, t.alarm[AlarmPriority.MEDIUM] if why else t.text_dim, 17)


class RoomTile(QFrame):
    """One room's tile; emits :attr:`selected` (the session id) on a click or Enter.

    Signals:
        selected(int): the person chose this room's session.
    """

    selected = Signal(int)

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.status: RoomStatus | None = None
        self.setObjectName("roomTile")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMinimumSize(420, 300)
        t = theme
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 10)
        outer.setSpacing(6)
        self.header = QFrame(self)
        head = QHBoxLayout(self.header)
        head.setContentsMargins(14, 8, 14, 8)
        self.room = _label("", 34, t.text_strong, bold=True, parent=self.header)
        self.client = _label("", 20, t.text, parent=self.header)
        head.addWidget(self.room)
        head.addStretch(1)
        head.addWidget(self.client)
        outer.addWidget(self.header)
        body = QVBoxLayout()
        body.setContentsMargins(16, 0, 16, 0)
        body.setSpacing(6)
        outer.addLayout(body)
        self.silent = _label("", 22, t.alarm[AlarmPriority.MEDIUM], bold=True, parent=self)
        self.alarm = _label("", 22, t.text_strong, bold=True, parent=self)
        self.alarm.setWordWrap(True)
        self.phase = _label("", 24, t.text_strong, bold=True, parent=self)
        vitals = QHBoxLayout()
        vitals.setSpacing(24)
        self.heart_rate = _Vital("Heart rate", "bpm", t, self)
        self.spo2 = _Vital("SpO₂", "%", t, self)
        self.blood_pressure = _Vital("Last BP", "mmHg", t, self)
        for vital in (self.heart_rate, self.spo2, self.blood_pressure):
            vitals.addWidget(vital)
        vitals.addStretch(1)
        self.checks = _label("", 19, t.alarm[AlarmPriority.LOW], bold=True, parent=self)
        self.sensors = _label("", 16, t.text, parent=self)
        self.waiting = _label("", 16, t.alarm[AlarmPriority.MEDIUM], parent=self)
        for widget in (self.checks, self.sensors, self.waiting, self.alarm, self.silent):
            widget.setWordWrap(True)
        body.addWidget(self.silent)
        body.addWidget(self.alarm)
        body.addWidget(self.phase)
        body.addLayout(vitals)
        body.addWidget(self.checks)
        body.addWidget(self.sensors)
        body.addWidget(self.waiting)
        body.addStretch(1)

    # ---------------------------------------------------------------------------- showing
    def show_status(self, room: RoomStatus) -> None:
        """Show ``room`` (ages against its ``now``, times in local time)."""
        self.status = room
        t = self._theme
        priority = room.highest_priority
        silent_edge = t.alarm[AlarmPriority.MEDIUM]
        edge = t.alarm[priority] if priority is not None else (silent_edge if not room.live else t.border)
        width = 8 if priority is not None else 3 if room.live else 6
        background = t.surface if room.live else t.window
        self.setStyleSheet(f"QFrame#roomTile {{ background: {background}; border: {width}px solid {edge};"
                           f" border-radius: 10px; }}"
                           f" QFrame#roomTile:focus {{ border-color: {t.accent}; }}")
        head_bg = t.alarm[priority] if priority is not None else "transparent"
        head_text = t.window if priority is not None else (t.text_strong if room.live else t.text_dim)
        self.header.setStyleSheet(f"background: {head_bg}; border: none; border-radius: 4px;")
        self.room.setText(room.room or "(no room name)")
        _colour(self.room, head_text, 34, bold=True, background="transparent")
        self.client.setText(f"{room.client_code} · session {room.session_id}")
        _colour(self.client, head_text, 20, background="transparent")
        self._show_silence(room)
        self._show_alarms(room)
        self._show_phase(room)
        self._show_vitals(room)
        self._show_lists(room)

    def _show_silence(self, room: RoomStatus) -> None:
        if room.live:
            self.silent.hide()
            return
        self.silent.setText(f"SILENT since {_local(room.renewed_at)} — no renewal for "
                            f"{age_words(room.silent_for_s)}")
        self.silent.show()

    def _show_alarms(self, room: RoomStatus) -> None:
        if not room.alarms:
            self.alarm.hide()
            return
        lines = []
        for alarm in room.alarms[:3]:
            value = "" if alarm.value is None else f" ({alarm.value:g})"
            state = "" if alarm.state.value == "active" else f" — {alarm.state.value.replace('_', ' ')}"
            lines.append(f"{_PRIORITY_WORDS[alarm.priority]}  {alarm.label}{value}{state}"
                         f" · since {_local(alarm.raised_at)}")
        if len(room.alarms) > 3:
            lines.append(f"and {len(room.alarms) - 3} more")
        self.alarm.setText("\n".join(lines))
        top = room.alarms[0].priority
        _colour(self.alarm, self._theme.alarm[top], 22, bold=True)
        self.alarm.show()

    def _show_phase(self, room: RoomStatus) -> None:
        since = room.since_dose_s
        when = "no dose yet" if since is None else f"{int(since // 60)} min after dose"
        self.phase.setText(f"{room.phase.value.capitalize()} · {when}")
        t = self._theme
        colour = t.phase.get(room.phase, t.text_strong) if room.live else t.stale
        _colour(self.phase, colour, 24, bold=True)

    def _vital(self, widget: _Vital, room: RoomStatus, vital: VitalValue | None) -> None:
        if vital is None:
            widget.show_value(None, None, stale=True)
            return
        age = room.age_s(vital.at)
        text = f"{vital.value:.0f}" if vital.usable else None
        widget.show_value(text, age, stale=not room.live or age > STALE_AFTER_S, why=vital.unusable_reason)

    def _show_vitals(self, room: RoomStatus) -> None:
        self._vital(self.heart_rate, room, room.heart_rate)
        self._vital(self.spo2, room, room.spo2)
        bp = room.blood_pressure
        if bp is None:
            self.blood_pressure.show_value(None, None, stale=True)
        else:
            dia = "?" if bp.diastolic is None else f"{bp.diastolic:.0f}"
            text = f"{bp.systolic:.0f}/{dia}" if bp.usable else None
            self.blood_pressure.show_value(text, room.age_s(bp.at), stale=not room.live)

    def _show_lists(self, room: RoomStatus) -> None:
        checks, overdue = [], False
        for check in room.checks_due:
            late = room.age_s(check.due_at) - check.grace_s
            overdue = overdue or late > 0
            checks.append(f"Due: {check.label}" + (f" — {age_words(late)} late" if late > 0 else ""))
        self.checks.setText("\n".join(checks))
        self.checks.setVisible(bool(checks))
        t = self._theme
        _colour(self.checks, t.alarm[AlarmPriority.MEDIUM] if overdue else t.alarm[AlarmPriority.LOW], 19,
                bold=True)
        links = [f"{s.name}: {_LINK_WORDS.get(s.state, 'no link yet') if s.state else 'no link yet'}"
                 for s in room.sensors]
        self.sensors.setText("Sensors: " + " · ".join(links) if links else "No sensor")
        lost = any(s.state in (SensorState.LOST, SensorState.RECONNECTING) for s in room.sensors)
        _colour(self.sensors, self._theme.alarm[AlarmPriority.MEDIUM] if lost else self._theme.text, 16,
                bold=lost)
        self.waiting.setText(f"Waiting for the database: {room.waiting_detail or f'{room.waiting} entries'}"
                             if room.waiting else "")
        self.waiting.setVisible(bool(room.waiting))

    # ---------------------------------------------------------------------------- choosing
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.status is not None:
            self.setFocus()
            self.selected.emit(self.status.session_id)
            return
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.status is not None:
            self.selected.emit(self.status.session_id)
            return
        super().keyPressEvent(event)


class StationWindow(QMainWindow):
    """Every room of the clinic database (see the module docstring); call :meth:`start` once shown.

    Args:
        source: the poller (blocking; run only on ``poll_worker``).
        store: where a chosen session's timeline is read from (read-only use).
        poll_worker: the thread the polls run on (its own, so a timeline load never delays a poll).
        review_worker: the thread timelines load on (None: on the GUI thread; tests).
        location: the database as shown to people.

    Signals:
        updated(int): a poll was shown (the number of rooms).
        poll_failed(str): the database could not be read (the message, also shown in the window).
        timeline_opened(int): a session's review window was opened (its id).
    """

    updated = Signal(int)
    poll_failed = Signal(str)
    timeline_opened = Signal(int)

    def __init__(self, source: StationSource, *, store: SessionStore, poll_worker: DbWorker,
                 review_worker: DbWorker | None, clock: Clock, theme: Theme,
                 exports: ExportRegistry[ReviewSession], interval_s: float = 1.0, location: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._store = store
        self._poll_worker = poll_worker
        self._review_worker = review_worker
        self._clock = clock
        self._theme = theme
        self._exports = exports
        self._location = location
        self._polling = False
        self._tiles: dict[int, RoomTile] = {}
        self.timelines: dict[int, ReviewWindow] = {}
        self.last_update: StationUpdate | None = None
        self.setWindowTitle("kapmonitor — central station")
        self.setStyleSheet(f"QMainWindow {{ background: {theme.window}; }}")
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(12, 12, 12, 12)
        self.problem = _label("", 22, theme.alarm[AlarmPriority.HIGH], bold=True, parent=central)
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.empty = _label("Waiting for the first read of the database…", 26, theme.text_dim, parent=central)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._grid_host = QWidget()
        self._grid_host.setStyleSheet(f"background: {theme.window};")
        self._grid = QGridLayout(self._grid_host)
        self._grid.setSpacing(14)
        scroll = QScrollArea(central)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._grid_host)
        layout.addWidget(self.problem)
        layout.addWidget(self.empty)
        layout.addWidget(scroll, 1)
        self.setCentralWidget(central)
        self.footer = _label("", 15, theme.text_dim, parent=self)
        self.statusBar().addWidget(self.footer, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(max(100, int(interval_s * 1000)))
        self._timer.timeout.connect(self.poll)
        self.resize(1400, 900)

    # ---------------------------------------------------------------------------- polling
    def start(self) -> None:
        """Poll now and then every interval."""
        self.poll()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        for window in self.timelines.values():
            window.stop_following()

    def poll(self) -> None:
        """Ask for an update on the poll worker (skipped while the last one is still running)."""
        if self._polling:
            return
        self._polling = True
        self._poll_worker.run_in_worker(self._source.poll, self._shown, self._failed)

    def _shown(self, update: StationUpdate) -> None:
        self._polling = False
        self.show_update(update)

    def _failed(self, exc: BaseException) -> None:
        self._polling = False
        log.warning("station poll failed: %s", exc)
        since = "" if self.last_update is None else f" Last read at {_local(self.last_update.at, True)}."
        self.problem.setText(f"The database cannot be read: {exc}.{since} "
                             "The rooms below may be out of date.")
        self.problem.show()
        self.poll_failed.emit(str(exc))

    def show_update(self, update: StationUpdate) -> None:
        """Show one poll's rooms: tiles kept per session, new ones added, ended ones removed."""
        self.last_update = update
        self.problem.hide()
        ids = [r.session_id for r in update.rooms]
        for gone in [sid for sid in self._tiles if sid not in ids]:
            tile = self._tiles.pop(gone)
            self._grid.removeWidget(tile)
            tile.deleteLater()
        columns = 1 if len(ids) <= 1 else 2 if len(ids) <= 4 else 3 if len(ids) <= 9 else 4
        for index, room in enumerate(update.rooms):
            if room.session_id not in self._tiles:
                made = self._tiles[room.session_id] = RoomTile(self._theme, self._grid_host)
                made.selected.connect(self.open_timeline)
            tile = self._tiles[room.session_id]
            tile.show_status(room)
            self._grid.addWidget(tile, index // columns, index % columns)
        rows = max(1, math.ceil(len(ids) / columns))
        for row in range(rows):
            self._grid.setRowStretch(row, 1)
        self.empty.setText("No room is recording on this database." if not ids else "")
        self.empty.setVisible(not ids)
        silent = sum(1 for r in update.rooms if not r.live)
        alarming = sum(1 for r in update.rooms if r.alarms)
        where = f" · {self._location}" if self._location else ""
        self.footer.setText(f"Updated {_local(update.at, True)} · {len(ids)} room(s), {alarming} alarming, "
                            f"{silent} silent{where}")
        self.updated.emit(len(ids))

    def tiles(self) -> list[RoomTile]:
        """The tiles in the order shown (room, then session)."""
        rooms = self.last_update.rooms if self.last_update else ()
        return [self._tiles[r.session_id] for r in rooms if r.session_id in self._tiles]

    def tile(self, session_id: int) -> RoomTile:
        return self._tiles[session_id]

    # ---------------------------------------------------------------------------- timelines
    def open_timeline(self, session_id: int) -> None:
        """Open (or bring forward) the session's review window, refreshing while the session is live."""
        window = self.timelines.get(session_id)
        if window is not None:
            window.show()
            window.raise_()
            window.activateWindow()
            self.timeline_opened.emit(session_id)
            return

        def opened(review: ReviewWindow) -> None:
            self.timelines[session_id] = review
            review.show()
            if review.data.record.ended_at is None:
                review.follow_live(LIVE_REFRESH_S)
            self.timeline_opened.emit(session_id)

        if self._review_worker is None:
            opened(ReviewWindow.open(self._store, session_id, worker=None, clock=self._clock,
                                     theme=self._theme, exports=self._exports))
            return
        open_review_async(self._store, session_id, worker=self._review_worker, clock=self._clock,
                          theme=self._theme, exports=self._exports, on_open=opened)
