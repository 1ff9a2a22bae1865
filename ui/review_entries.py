"""The review window's list of observations, session events and alarm transitions, in time order.

:func:`build_entries` turns a :class:`~ui.review_data.ReviewData` into plain
:class:`Entry` rows (also used by the PDF report); :class:`EntryList` shows them in a
table beside the plot. Observations appear once, as their current revision; a
withdrawn one is greyed and struck through, one written after the session is marked
"added later", and selecting an observation shows every revision below the table.

Selecting a row emits :attr:`EntryList.entry_selected` with the row's time; the window
moves the plot there. :meth:`EntryList.select_nearest` does the reverse (a click on the
plot) without emitting, so the two never ping-pong.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from kapmonitor.settings import ClinicSettings
from kapmonitor.types import (
    AlarmPriority,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    SessionEvent,
)
from ui.observation_timeline import describe
from ui.review_data import ReviewData, current_observations, fmt_clock, fmt_elapsed, session_settings
from ui.theme import Theme, qcolor, set_role

__all__ = ["COLUMNS", "Entry", "EntryList", "EntryModel", "build_entries", "describe_event",
           "describe_observation", "observation_history_text"]

COLUMNS = ("Time", "Clock", "Kind", "Entry", "Details")

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class Entry:
    """One row: ``kind`` is ``observation``, ``event`` or ``alarm``."""

    at: datetime
    kind: str
    what: str
    detail: str
    observation_id: str | None = None
    priority: AlarmPriority | None = None
    added_later: bool = False
    deleted: bool = False
    edited: bool = False


def describe_observation(o: Observation, settings: ClinicSettings | None = None) -> tuple[str, str]:
    """(what, details) of an observation revision, in the therapist's words.

    With ``settings`` (the session's clinic settings), ``what`` is the bedside's own wording,
    :func:`ui.observation_timeline.describe` (a scale's label, signed value and anchor text), so
    paper and screen say it the same way; its text is then not repeated in the details.
    """
    if settings is not None:
        what = describe(o, settings)
    else:
        # a vitals entry's value is its systolic pressure, already spelled out in its text
        show_value = o.value is not None and o.kind is not ObservationKind.VITAL
        what = f"{o.name} {o.value:g}" if show_value else o.name
    shown = settings is not None and o.text in what
    details = [o.text] if o.text and o.text != o.name and not shown else []
    if o.author:
        details.append(f"by {o.author}")
    if o.revision > 1 and not o.deleted:
        details.append(f"corrected (revision {o.revision})" + (f": {o.reason}" if o.reason else ""))
    if o.deleted:
        details.append(f"withdrawn: {o.reason}" if o.reason else "withdrawn")
    if o.added_later:
        details.append(f"added later ({fmt_clock(o.recorded_at)} {o.recorded_at.astimezone():%d %b})")
    return what, "; ".join(details)


def describe_event(e: SessionEvent, check_labels: dict[str, str]) -> tuple[str, str]:
    """(what, details) of a session event."""
    data = e.data
    check = check_labels.get(str(data.get("check", "")), str(data.get("check", "")))
    amount = data.get("amount")
    dose = f"{amount:g} {data.get('unit') or 'mg'}" if isinstance(amount, int | float) else ""
    kind = EventKind(e.kind)
    text = {
        EventKind.SESSION_STARTED: ("Session started", ""),
        EventKind.DOSE_GIVEN: ("Dose given", dose),
        EventKind.BOOSTER_GIVEN: ("Booster given", dose),
        EventKind.PHASE_CHANGED: (f"Phase: {data.get('phase', '')}", ""),
        EventKind.CHECK_DUE: ("Check due", check),
        EventKind.CHECK_DONE: ("Check done", f"{check}" + (f"; {data['note']}" if data.get("note") else "")),
        EventKind.CHECK_DISMISSED: ("Check dismissed", f"{check}; {data.get('reason', '')}"),
        EventKind.SENSOR_CONNECTED: ("Sensor connected", str(data.get("sensor_id", ""))),
        EventKind.SENSOR_RECONNECTING: ("Sensor reconnecting", str(data.get("sensor_id", ""))),
        EventKind.SENSOR_LOST: ("Sensor signal lost", str(data.get("sensor_id", ""))),
        EventKind.SENSOR_DISCONNECTED: ("Sensor disconnected", str(data.get("sensor_id", ""))),
        EventKind.SESSION_RESUMED: ("Session resumed", "after an interruption"),
        EventKind.SESSION_TAKEN_OVER: ("Session taken over",
                                       f"from {data.get('from_room') or 'an unnamed room'} by "
                                       f"{data.get('to_room', '')}"
                                       + (f" ({data['by']})" if data.get("by") else "")),
        EventKind.SESSION_ENDED: ("Session ended", str(data.get("reason") or "")),
    }
    return text[kind]


def describe_alarm(a: AlarmTransition) -> tuple[str, str]:
    """(what, details) of an alarm-log row."""
    details = [f"{a.priority.value} priority", a.action.replace("_", " ")]
    if a.value is not None and a.category.value == "physiological":
        details.append(f"value {a.value:g}" + (f", limit {a.limit:g}" if a.limit is not None else ""))
    return a.label, "; ".join(details)


def build_entries(data: ReviewData) -> list[Entry]:
    """Every observation (current revision), event and alarm transition, in time order."""
    labels = {c.name: c.label for c in data.record.spec.protocol.checks}
    revisions: dict[str, int] = {}
    for o in data.observations:
        revisions[o.observation_id] = revisions.get(o.observation_id, 0) + 1
    rows: list[tuple[datetime, int, int, Entry]] = []
    for i, e in enumerate(data.events):
        what, detail = describe_event(e, labels)
        rows.append((e.at, 0, i, Entry(e.at, "event", what, detail)))
    for i, a in enumerate(data.alarms):
        what, detail = describe_alarm(a)
        rows.append((a.at, 1, i, Entry(a.at, "alarm", what, detail, priority=a.priority)))
    settings = session_settings(data.record)  # the bedside's words for scales and tags
    for i, o in enumerate(current_observations(data.observations)):
        what, detail = describe_observation(o, settings)
        rows.append((o.occurred_at, 2, i, Entry(o.occurred_at, "observation", what, detail, o.observation_id,
                                                added_later=o.added_later, deleted=o.deleted,
                                                edited=revisions[o.observation_id] > 1)))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [r[3] for r in rows]


def observation_history_text(history: list[Observation]) -> str:
    """Every revision of one observation, oldest first, one line each."""
    lines = []
    for o in sorted(history, key=lambda r: r.revision):
        what, detail = describe_observation(o)
        lines.append(f"rev {o.revision}, written {fmt_clock(o.recorded_at, seconds=True)} "
                     f"{o.recorded_at.astimezone():%d %b}: at {fmt_clock(o.occurred_at)} {what}"
                     + (f" ({detail})" if detail else ""))
    return "\n".join(lines)


class EntryModel(QAbstractTableModel):
    """The entries as a read-only table."""

    def __init__(self, data: ReviewData, theme: Theme) -> None:
        super().__init__()
        self._theme = theme
        self.reset(data)

    def reset(self, data: ReviewData) -> None:
        self.beginResetModel()
        self._data = data
        self.entries = build_entries(data)
        self._times = [e.at.timestamp() for e in self.entries]
        # The cells' text once: a table sized to its contents asks for every cell many times.
        self._text = [self._row_text(e) for e in self.entries]
        self.endResetModel()

    def _row_text(self, e: Entry) -> tuple[str, str, str, str, str, str]:
        """The five columns and the tool tip of ``e``."""
        kind = "note (later)" if e.added_later else {"observation": "note"}.get(e.kind, e.kind)
        return (fmt_elapsed(self._data.elapsed_s(e.at), with_seconds=True), fmt_clock(e.at, seconds=True),
                kind, e.what, e.detail, f"{e.what}\n{e.detail}".strip())

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text[row][col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._text[row][5]
        e = self.entries[row]
        if role == Qt.ItemDataRole.ForegroundRole:
            if e.deleted:
                return qcolor(self._theme.stale)
            if e.priority is not None and col == 3:
                return qcolor(self._theme.alarm[e.priority])
            if e.kind == "observation":
                return qcolor(self._theme.text_strong)
            return None
        if role == Qt.ItemDataRole.FontRole and (e.deleted or e.added_later):
            font = QFont()
            font.setStrikeOut(e.deleted)
            font.setItalic(e.added_later)
            return font
        return None

    def nearest_row(self, epoch_s: float) -> int | None:
        """The row whose time is nearest ``epoch_s`` (None when there are no rows)."""
        if not self._times:
            return None
        i = bisect.bisect_left(self._times, epoch_s)
        near = [j for j in (i - 1, i) if 0 <= j < len(self._times)]
        return min(near, key=lambda j: abs(self._times[j] - epoch_s))


class EntryList(QWidget):
    """The entry table and, under it, the revision history of the selected observation.

    Signals:
        entry_selected(float): the user selected a row at this UTC time (Unix seconds).
    """

    entry_selected = Signal(float)

    def __init__(self, data: ReviewData, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data = data
        self.model = EntryModel(data, theme)
        self._fitted = False
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(3, 190)
        header.setStretchLastSection(True)
        self.history = QLabel("", self)
        self.history.setWordWrap(True)
        self.history.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        set_role(self.history, "caption")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.history)
        self._quiet = False
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

    def showEvent(self, event: QShowEvent) -> None:
        """Time, clock and kind fit their contents from the first show on: measured earlier, Qt
        measured every row again each time the list was put into the review window's tabs and
        splitter (13 000 calls of :meth:`EntryModel.data` to open an 8-hour session, 20 ms)."""
        if not self._fitted:
            self._fitted = True
            header = self.table.horizontalHeader()
            for col in range(3):
                header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        super().showEvent(event)

    def set_data(self, data: ReviewData) -> None:
        """Show new data (after a late correction), keeping the selected observation if any."""
        keep = self.selected_entry()
        self._data = data
        self.model.reset(data)
        if keep is not None:
            for row, e in enumerate(self.model.entries):
                if e.observation_id is not None and e.observation_id == keep.observation_id:
                    self._select(row, emit=False)
                    break

    def selected_entry(self) -> Entry | None:
        index = self.table.selectionModel().currentIndex()
        return self.model.entries[index.row()] if index.isValid() else None

    def select_row(self, row: int) -> None:
        """Select ``row`` as the user would (emits :attr:`entry_selected`)."""
        self._select(row, emit=True)

    def select_nearest(self, epoch_s: float) -> Entry | None:
        """Select the entry nearest ``epoch_s`` without emitting; return it."""
        row = self.model.nearest_row(epoch_s)
        if row is None:
            return None
        self._select(row, emit=False)
        return self.model.entries[row]

    def _select(self, row: int, *, emit: bool) -> None:
        self._quiet = not emit
        try:
            index = self.model.index(row, 0)
            flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                     | QItemSelectionModel.SelectionFlag.Rows)
            self.table.selectionModel().setCurrentIndex(index, flags)
            self.table.scrollTo(index)
        finally:
            self._quiet = False
        self._show_history(self.model.entries[row])

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        entry = self.model.entries[current.row()]
        self._show_history(entry)
        if not self._quiet:
            self.entry_selected.emit(entry.at.timestamp())

    def _show_history(self, entry: Entry) -> None:
        if entry.observation_id is None:
            self.history.setText("")
            return
        revisions = [o for o in self._data.observations if o.observation_id == entry.observation_id]
        self.history.setText("History:\n" + observation_history_text(revisions))
