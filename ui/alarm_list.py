"""The bedside's alarm list: the alarms now, grouped per problem, and the session's alarm log.

:class:`AlarmListWidget` is the log (every transition, newest first); :class:`ActiveAlarmTable`
lists every alarm present, one bold row per problem with its other alarms under it; the
banner's "+N other alarms" opens both in an :class:`AlarmListPopup`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.alarm_problems import AlarmProblem
from kapmonitor.alarm_words import describe_alarm, format_number, value_with_unit
from kapmonitor.types import AlarmState, AlarmTransition
from ui.theme import DARK, Theme, qcolor

__all__ = ["ActiveAlarmTable", "AlarmListPopup", "AlarmListWidget", "format_value"]

_STATE_WORDS = {
    AlarmState.ACTIVE: "sounding",
    AlarmState.ACKNOWLEDGED: "acknowledged",
    AlarmState.AUDIO_PAUSED: "audio paused",
    AlarmState.LATCHED: "condition ended — acknowledge to clear",
    AlarmState.RESOLVED: "resolved",
}


def format_value(x: float) -> str:
    """Whole numbers from 10 up, one decimal below (``152``, ``7.5``)."""
    return format_number(x)


class _AlarmTable(QTableWidget):
    """A read-only table of whole rows: ``COLUMNS``, the one at ``STRETCH`` taking the free width."""

    COLUMNS: tuple[str, ...] = ()
    STRETCH = 0

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self._theme = theme
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(False)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        for col in range(len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch if col == self.STRETCH
                                        else QHeaderView.ResizeMode.ResizeToContents)
        self.setStyleSheet("QTableWidget { font-size: 16px; }")


class AlarmListWidget(_AlarmTable):
    """Every alarm transition of the session, newest first: time (local), alarm, priority, action."""

    COLUMNS = ("Time", "Alarm", "Priority", "Action", "Value")
    STRETCH = 1

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(theme, parent)
        self._placeholder = QLabel("No alarms in this session", self.viewport())
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet(f"color: {theme.text_dim}; font-size: 17px;")
        self._shown: list[AlarmTransition] = []
        self._update_placeholder()

    def add_transitions(self, transitions: Sequence[AlarmTransition]) -> None:
        """Append transitions (as they arrive); the newest shows at the top."""
        for t in transitions:
            self._shown.append(t)
            self.insertRow(0)
            value = value_with_unit(t.alarm_id, t.category, t.stream, t.value)
            cells = (
                t.at.astimezone().strftime("%H:%M:%S"),
                t.label,
                t.priority.value,
                t.action.replace("_", " "),
                value,
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 2:
                    item.setForeground(qcolor(self._theme.alarm[t.priority]))
                item.setData(Qt.ItemDataRole.UserRole, t.alarm_id)
                self.setItem(0, col, item)
        self._update_placeholder()

    def set_transitions(self, transitions: Sequence[AlarmTransition]) -> None:
        """Replace the list (e.g. after resuming a session), oldest first in ``transitions``."""
        self.setRowCount(0)
        self._shown = []
        self.add_transitions(transitions)

    def restore_history(self, stored: Sequence[AlarmTransition]) -> None:
        """Put a resumed session's stored log under the rows this run has shown already.

        ``stored`` is the session's log as read from the database on resuming; rows that arrived
        in this run while it was being read may be in it too, and are shown once. The database
        keeps times to the microsecond, so a row is the same row when its time, alarm and action
        are the same.
        """
        def key(t: AlarmTransition) -> tuple[datetime, str, str]:
            return (t.at, t.alarm_id, t.action)

        known = {key(t) for t in stored}
        newer = [t for t in self._shown if key(t) not in known]
        self.set_transitions(sorted([*stored, *newer], key=lambda t: t.at))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._placeholder.resize(self.viewport().size())

    def _update_placeholder(self) -> None:
        self._placeholder.setVisible(self.rowCount() == 0)
        self._placeholder.resize(self.viewport().size())


class ActiveAlarmTable(_AlarmTable):
    """Every alarm present now: one bold row per problem (its head), its other alarms under it."""

    COLUMNS = ("Alarm", "Priority", "State", "Value", "Since")
    STRETCH = 0

    def set_problems(self, problems: Sequence[AlarmProblem], now: datetime) -> None:
        self.setRowCount(0)
        for problem in problems:
            for i, alarm in enumerate(problem.alarms):
                row = self.rowCount()
                self.insertRow(row)
                cells = (
                    alarm.label if i == 0 else f"    also: {alarm.label}",
                    alarm.priority.value,
                    _STATE_WORDS[alarm.state],
                    describe_alarm(alarm, now),
                    alarm.since.astimezone().strftime("%H:%M:%S"),
                )
                for col, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.ItemDataRole.UserRole, alarm.alarm_id)
                    if col == 1:
                        item.setForeground(qcolor(self._theme.alarm[alarm.priority]))
                    if i == 0:
                        font = QFont(item.font())
                        font.setBold(True)
                        item.setFont(font)
                    self.setItem(row, col, item)


class AlarmListPopup(QFrame):
    """The bedside alarm list the banner's "+N other alarms" opens (a popup under the banner).

    Closes with Esc, the Close button or a click outside it.
    """

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("alarmListPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            f"QFrame#alarmListPopup {{ background: {theme.surface}; border: 2px solid {theme.border}; }}"
            f"QLabel {{ color: {theme.text}; font-size: 18px; font-weight: bold; }}"
        )
        self.current = ActiveAlarmTable(theme)
        self.log = AlarmListWidget(theme)
        self.close_button = QPushButton("Close  (Esc)")
        self.close_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Alarms now"))
        layout.addWidget(self.current, 3)
        layout.addWidget(QLabel("Alarm log of this session"))
        layout.addWidget(self.log, 2)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignRight)
