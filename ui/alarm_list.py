"""The session's alarm log as a table: every transition with its local time, newest first."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QWidget

from kapmonitor.streams import STREAM_UNITS
from kapmonitor.types import AlarmTransition
from ui.theme import DARK, Theme, qcolor

__all__ = ["AlarmListWidget", "format_value"]


def format_value(x: float) -> str:
    """Whole numbers from 10 up, one decimal below (``152``, ``7.5``)."""
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"


class AlarmListWidget(QTableWidget):
    """Every alarm transition of the session, newest first: time (local), alarm, priority, action."""

    COLUMNS = ("Time", "Alarm", "Priority", "Action", "Value")

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
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (0, 2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.setStyleSheet("QTableWidget { font-size: 16px; }")
        self._placeholder = QLabel("No alarms in this session", self.viewport())
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet(f"color: {theme.text_dim}; font-size: 17px;")
        self._update_placeholder()

    def add_transitions(self, transitions: Sequence[AlarmTransition]) -> None:
        """Append transitions (as they arrive); the newest shows at the top."""
        for t in transitions:
            self.insertRow(0)
            unit = STREAM_UNITS.get(t.stream, "") if t.stream is not None else ""
            value = f"{format_value(t.value)} {unit}".strip() if t.value is not None else ""
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
        self.add_transitions(transitions)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._placeholder.resize(self.viewport().size())

    def _update_placeholder(self) -> None:
        self._placeholder.setVisible(self.rowCount() == 0)
        self._placeholder.resize(self.viewport().size())
