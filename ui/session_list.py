"""The session list: every recorded session, searchable, with the actions on one.

Columns: client code, local date and start time, protocol, dose, duration, phase
reached, observation and alarm counts, and a status that marks sessions left
unfinished by a crash. Search by client code, filter by a date range (local dates)
and by protocol (a :class:`QSortFilterProxyModel`; thousands of rows filter as you
type). The rows come from ``SessionStore.sessions()``, one SQL query.

Actions: open the review (double-click or Enter), export CSV (with the de-identify
option) or the PDF report, resume an unfinished session when it is recent
(:data:`RESUME_WITHIN`; the composition root does the resuming), or close an
unfinished one with a reason (:func:`kapmonitor.recording.closing.close_unfinished`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.clock import Clock
from kapmonitor.ports import SessionStore, SessionSummary
from kapmonitor.recording.closing import close_unfinished
from kapmonitor.types import AlarmPriority
from ui.ops import Op, show_error
from ui.review_data import fmt_clock, fmt_date, fmt_minutes
from ui.theme import Theme, qcolor, set_role
from ui.worker import DbWorker

__all__ = ["COLUMNS", "RESUME_WITHIN", "SessionFilter", "SessionListWidget", "SessionTableModel"]

log = logging.getLogger(__name__)

RESUME_WITHIN = timedelta(hours=6)
"""An unfinished session can be resumed (its clock continued) only this soon after its last activity."""

COLUMNS = ("Client", "Date", "Start", "Protocol", "Dose", "Duration", "Phase reached", "Observations",
           "Alarm log", "Status")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_HEADER_TIPS = {
    5: "From the start to the end (or to the last recorded activity of an unfinished session)",
    7: "Observations written (each edit of one counts once more)",
    8: "Entries in the alarm log: each alarm raised, acknowledged, escalated, cleared...",
}
_Index = QModelIndex | QPersistentModelIndex
T = TypeVar("T")


class SessionTableModel(QAbstractTableModel):
    """The sessions as rows (most recent first, as the store gives them)."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self.sessions: list[SessionSummary] = []
        self._keys: list[tuple[str, float, float, str, float, float, int, int, int, int]] = []
        self._days: list[date] = []
        self._sort: tuple[int, Qt.SortOrder] = (1, Qt.SortOrder.DescendingOrder)

    def set_sessions(self, sessions: list[SessionSummary]) -> None:
        self.beginResetModel()
        self.sessions = list(sessions)
        # Sort keys computed once: sorting thousands of rows asks for them tens of thousands of times.
        self._keys = [(s.client_code.lower(), s.started_at.timestamp(), s.started_at.timestamp(),
                       s.protocol_name, s.dose_amount or 0.0, self.duration_s(s), s.phase_reached.order,
                       s.observation_count, s.alarm_count, 0 if s.ended_at else 1) for s in self.sessions]
        self._days = [s.started_at.astimezone().date() for s in self.sessions]
        self._apply_sort()
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows in Python on the precomputed keys (the proxy then keeps this order).

        Sorting in the proxy would ask :meth:`data` for a key tens of thousands of times.
        """
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        before = [self.sessions[i.row()].session_id for i in old]
        self._apply_sort()
        row_of = {s.session_id: r for r, s in enumerate(self.sessions)}
        moved = [self.index(row_of[sid], i.column()) for sid, i in zip(before, old, strict=True)]
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()

    def _apply_sort(self) -> None:
        column, order = self._sort
        if not 0 <= column < len(COLUMNS) or not self.sessions:
            return
        rows = sorted(range(len(self.sessions)), key=lambda r: self._keys[r][column],
                      reverse=order == Qt.SortOrder.DescendingOrder)
        self.sessions = [self.sessions[r] for r in rows]
        self._keys = [self._keys[r] for r in rows]
        self._days = [self._days[r] for r in rows]

    def day(self, row: int) -> date:
        """The local start date of ``row``."""
        return self._days[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.sessions)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS.get(section)
        return None

    @staticmethod
    def duration_s(s: SessionSummary) -> float:
        return ((s.ended_at or s.last_activity_at) - s.started_at).total_seconds()

    def data(self, index: _Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        s = self.sessions[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            dose = "" if s.dose_amount is None else f"{s.dose_amount:g} {s.dose_unit}"
            return (s.client_code, fmt_date(s.started_at), fmt_clock(s.started_at), s.protocol_name, dose,
                    fmt_minutes(self.duration_s(s)), s.phase_reached.value, str(s.observation_count),
                    str(s.alarm_count), "ended" if s.ended_at else "UNFINISHED")[col]
        if role == SORT_ROLE:
            return self._keys[index.row()][col]
        if role == Qt.ItemDataRole.UserRole:
            return s.session_id
        if s.ended_at is None and role == Qt.ItemDataRole.ForegroundRole and col in (0, 9):
            return qcolor(self._theme.alarm[AlarmPriority.MEDIUM])
        if s.ended_at is None and role == Qt.ItemDataRole.FontRole and col == 9:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and s.ended_at is None:
            return (f"Not ended: recording stopped at {fmt_clock(s.last_activity_at)} on "
                    f"{fmt_date(s.last_activity_at)} (a crash or power loss?). "
                    "Resume it or close it with a reason.")
        return None


class SessionFilter(QSortFilterProxyModel):
    """Client-code search (substring, any case), local date range and protocol."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._from: date | None = None
        self._to: date | None = None
        self._protocol: str | None = None
        self.setSortRole(SORT_ROLE)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sorting is the source model's (fast, on precomputed keys); the proxy keeps its order."""
        model = self.sourceModel()
        assert isinstance(model, SessionTableModel)
        model.sort(column, order)

    def _refilter(self, change: Callable[[], None]) -> None:
        # Qt 6.9 replaced invalidateFilter() by this pair; older Qt only has the former.
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - Qt < 6.9
            change()
            self.invalidateFilter()

    def set_filters(self, text: str, first: date | None, last: date | None, protocol: str | None) -> None:
        """All filters at once (one pass over the rows)."""
        def change() -> None:
            self._text, self._from, self._to, self._protocol = text.strip().lower(), first, last, protocol

        self._refilter(change)

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_dates(self, first: date | None, last: date | None) -> None:
        """Only sessions started (local date) from ``first`` to ``last`` inclusive; None: open end."""
        def change() -> None:
            self._from, self._to = first, last

        self._refilter(change)

    def set_protocol(self, name: str | None) -> None:
        self._refilter(lambda: setattr(self, "_protocol", name))

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, SessionTableModel)
        s = model.sessions[source_row]
        if self._text and self._text not in s.client_code.lower():
            return False
        if self._protocol is not None and s.protocol_name != self._protocol:
            return False
        day = model.day(source_row)
        if self._from is not None and day < self._from:
            return False
        return not (self._to is not None and day > self._to)


class SessionListWidget(QWidget):
    """The list with its search, filters and action buttons (see the module docstring).

    Signals:
        review_requested(int), resume_requested(int): the composition root opens / resumes.
        export_requested(int, str): export the session in the format of that name (one button per
            format in ``export_formats``; the owner asks for a file and writes it).
        sessions_loaded(int): the list was (re)loaded with this many sessions.
        session_closed(int): an unfinished session was closed here (its end is saved).
    """

    review_requested = Signal(int)
    resume_requested = Signal(int)
    export_requested = Signal(int, str)
    sessions_loaded = Signal(int)
    session_closed = Signal(int)

    def __init__(self, store: SessionStore, *, worker: DbWorker | None, clock: Clock, theme: Theme,
                 export_formats: Sequence[tuple[str, str]] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._export_formats = tuple(export_formats)
        self._worker = worker
        self._clock = clock
        self.show_errors = True
        self.model = SessionTableModel(theme, self)
        self.proxy = SessionFilter(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search client code")
        self.search.setClearButtonEnabled(True)
        self.use_dates = QCheckBox("From", self)
        self.date_from = QDateEdit(self)
        self.date_to = QDateEdit(self)
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.protocol = QComboBox(self)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setResizeContentsPrecision(40)  # size columns from the first rows, not all thousands
        header.setStretchLastSection(True)
        self.count = QLabel("", self)
        set_role(self.count, "caption")
        exports = [(f"export:{name}", f"Export {title}\u2026") for name, title in self._export_formats]
        self.buttons = {name: QPushButton(text, self) for name, text in (
            ("open", "Open review"), *exports, ("resume", "Resume"), ("close", "Close with reason\u2026"))}
        self._layout()
        self._connect()
        self._selection_changed()

    def _layout(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.search, 2)
        filters.addWidget(self.use_dates)
        filters.addWidget(self.date_from)
        filters.addWidget(QLabel("to", self))
        filters.addWidget(self.date_to)
        filters.addWidget(self.protocol, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.count, 1)
        for button in self.buttons.values():
            actions.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)

    def _connect(self) -> None:
        self.search.textChanged.connect(self._filters_changed)
        self.use_dates.toggled.connect(self._filters_changed)
        self.date_from.dateChanged.connect(self._filters_changed)
        self.date_to.dateChanged.connect(self._filters_changed)
        self.protocol.currentIndexChanged.connect(self._filters_changed)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self._emit_selected(self.review_requested))
        self.table.activated.connect(lambda _i: self._emit_selected(self.review_requested))
        self.buttons["open"].clicked.connect(lambda: self._emit_selected(self.review_requested))
        for name, _title in self._export_formats:
            self.buttons[f"export:{name}"].clicked.connect(
                lambda _checked=False, n=name: self._export_selected(n))
        self.buttons["resume"].clicked.connect(lambda: self._emit_selected(self.resume_requested))
        self.buttons["close"].clicked.connect(self._ask_close)

    # --------------------------------------------------------------------------- data
    def _run(self, fn: Callable[[], T], on_done: Callable[[T], None]) -> None:
        Op(fn, parent=self, what="The session list").success(on_done).failure(self._error).run(self._worker)

    def _error(self, exc: BaseException) -> None:
        if self.show_errors:
            show_error(self, "The session list", exc)
        else:
            log.error("session list action failed: %s", exc, exc_info=exc)

    def refresh(self) -> None:
        """Reload the sessions (on the worker when there is one)."""
        self._run(self._store.sessions, self.set_sessions)

    def set_sessions(self, sessions: list[SessionSummary]) -> None:
        """Show these sessions (keeps the filters)."""
        current = self.protocol.currentData()
        self.model.set_sessions(sessions)
        names = sorted({s.protocol_name for s in sessions})
        self.protocol.blockSignals(True)
        self.protocol.clear()
        self.protocol.addItem("All protocols", None)
        for name in names:
            self.protocol.addItem(name, name)
        self.protocol.setCurrentIndex(max(self.protocol.findData(current), 0) if current else 0)
        self.protocol.blockSignals(False)
        if sessions and not self.use_dates.isChecked():
            days = [s.started_at.astimezone().date() for s in sessions]
            self.date_from.setDate(QDate(min(days)))
            self.date_to.setDate(QDate(max(days)))
        self._filters_changed()
        self.sessions_loaded.emit(len(sessions))

    def set_date_range(self, first: date | None, last: date | None) -> None:
        """Filter by local start date (None, None: any date)."""
        self.use_dates.setChecked(first is not None or last is not None)
        if first is not None:
            self.date_from.setDate(QDate(first))
        if last is not None:
            self.date_to.setDate(QDate(last))
        self._filters_changed()

    def _filters_changed(self, *_: object) -> None:
        dates = self.use_dates.isChecked()
        self.date_from.setEnabled(dates)
        self.date_to.setEnabled(dates)
        first = self.date_from.date().toPython() if dates else None
        last = self.date_to.date().toPython() if dates else None
        self.proxy.set_filters(self.search.text(), first if isinstance(first, date) else None,
                               last if isinstance(last, date) else None, self.protocol.currentData())
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        unfinished = sum(1 for s in self.model.sessions if s.ended_at is None)
        text = f"{shown} of {total} sessions" if shown != total else f"{total} sessions"
        self.count.setText(text + (f"  \u00b7  {unfinished} unfinished" if unfinished else ""))

    # ------------------------------------------------------------------------ actions
    def visible_sessions(self) -> list[SessionSummary]:
        """The rows shown, in display order."""
        return [self.model.sessions[self.proxy.mapToSource(self.proxy.index(r, 0)).row()]
                for r in range(self.proxy.rowCount())]

    def selected(self) -> SessionSummary | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.sessions[self.proxy.mapToSource(rows[0]).row()]

    def select_session(self, session_id: int) -> bool:
        """Select the row of ``session_id`` if it is shown; True if found."""
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if index.data(Qt.ItemDataRole.UserRole) == session_id:
                self.table.selectRow(r)
                return True
        return False

    def can_resume(self, s: SessionSummary, now: datetime | None = None) -> bool:
        """Unfinished and its last activity within :data:`RESUME_WITHIN`."""
        moment = now if now is not None else self._clock.now()
        return s.ended_at is None and moment - s.last_activity_at <= RESUME_WITHIN

    def _selection_changed(self, *_: object) -> None:
        s = self.selected()
        for name in ("open", *(f"export:{n}" for n, _t in self._export_formats)):
            self.buttons[name].setEnabled(s is not None)
        self.buttons["resume"].setEnabled(s is not None and self.can_resume(s))
        self.buttons["close"].setEnabled(s is not None and s.ended_at is None)
        if s is not None and s.ended_at is None and not self.can_resume(s):
            self.buttons["resume"].setToolTip(
                f"Too long ago to continue its clock (more than {RESUME_WITHIN.total_seconds() / 3600:g} h): "
                "close it with a reason instead")

    def _emit_selected(self, signal: Any) -> None:
        s = self.selected()
        if s is not None:
            signal.emit(s.session_id)

    def _export_selected(self, format_name: str) -> None:
        s = self.selected()
        if s is not None:
            self.export_requested.emit(s.session_id, format_name)

    def close_selected(self, reason: str) -> None:
        """Close the selected unfinished session with ``reason`` and reload the list."""
        s = self.selected()
        if s is None:
            return
        sid = s.session_id
        def closed(_event: object) -> None:
            self.session_closed.emit(sid)
            self.refresh()

        self._run(lambda: close_unfinished(self._store, sid, reason), closed)

    def _ask_close(self) -> None:
        s = self.selected()
        if s is None or s.ended_at is not None:
            return
        reason, ok = QInputDialog.getText(
            self, "Close unfinished session",
            f"Session {s.session_id} ({s.client_code}) stopped recording at "
            f"{fmt_clock(s.last_activity_at)}.\nIt will be ended at that time. Why is it being closed?")
        if ok and reason.strip():
            self.close_selected(reason)
