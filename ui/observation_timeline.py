"""The session's observations as a list, newest first, with edit / delete / history.

An entry appears as *saved* only when its commit is confirmed (the
``on_saved`` callback or the bridge's ``observation_arrived``). Until then a
pending entry shows "saving…" in a dimmed style; if saving fails it says
"NOT SAVED" with the reason (or, while the panel retries it by itself, "not
saved — <reason>; retrying"), and keeps the text so nothing the therapist typed
is lost. Revisions are kept: the list shows the latest revision, "History…"
shows every one. A deleted observation stays visible, struck through, with
its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.settings import ClinicSettings
from kapmonitor.types import AlarmPriority, Observation, ObservationKind
from ui.theme import DARK, Theme, qcolor

__all__ = ["EditObservationDialog", "HistoryDialog", "ObservationTimeline", "ReasonDialog", "describe"]

_LATE_S = 120.0


def describe(obs: Observation, settings: ClinicSettings) -> str:
    """What the therapist wrote, in words: "Nausea", "MOAA/S sedation 4 — Lethargic…", the note."""
    if obs.kind is ObservationKind.TAG:
        tag = next((t for t in settings.quick_tags if t.name == obs.name), None)
        base = tag.label if tag is not None else obs.name.replace("_", " ").capitalize()
        return f"{base} — {obs.text}" if obs.text else base
    if obs.kind is ObservationKind.SCALE:
        scale = settings.scale(obs.name)
        label = scale.label if scale is not None else obs.name
        if obs.value is None:
            return label
        value = f"{obs.value:+g}" if obs.name == "rass" and obs.value != 0 else f"{obs.value:g}"
        anchor = scale.text_for(obs.value) if scale is not None else ""
        return f"{label} {value}" + (f" — {anchor}" if anchor else "")
    if obs.kind is ObservationKind.VITAL:
        return obs.text or obs.name
    if obs.kind is ObservationKind.NOTE:
        return obs.text
    return f"{obs.name.replace('_', ' ').capitalize()}: {obs.text}" if obs.text else obs.name


def _clock_text(moment: datetime, dose_at: datetime | None) -> str:
    local = moment.astimezone().strftime("%H:%M")
    if dose_at is None:
        return local
    minutes = (moment - dose_at).total_seconds() / 60.0
    sign = "+" if minutes >= 0 else "−"
    return f"{local}  T{sign}{abs(minutes):.0f} min"


@dataclass
class _Pending:
    token: str
    summary: str
    error: str = ""
    retrying: bool = False


class ObservationTimeline(QWidget):
    """Observations newest first; pending entries on top. See the module docstring.

    Signals:
        edit_requested(str observation_id): "Edit…" on the selected entry.
        delete_requested(str observation_id): "Delete…" on the selected entry.
        retry_requested(str token): "Retry" on a failed entry (the panel re-submits it).
    """

    edit_requested = Signal(str)
    delete_requested = Signal(str)
    retry_requested = Signal(str)

    def __init__(self, settings: ClinicSettings, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._theme = theme
        self._revisions: dict[str, dict[int, Observation]] = {}
        self._pending: dict[str, _Pending] = {}
        self._dose_at: datetime | None = None
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.setStyleSheet("QListWidget { font-size: 17px; } QListWidget::item { padding: 6px; }")
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.list.itemDoubleClicked.connect(self._double_clicked)
        self.edit_button = QPushButton("Edit…")
        self.delete_button = QPushButton("Delete…")
        self.history_button = QPushButton("History…")
        for b in (self.edit_button, self.delete_button, self.history_button):
            b.setMinimumHeight(44)
        self.edit_button.clicked.connect(lambda: self._emit_for_selected(self.edit_requested))
        self.delete_button.clicked.connect(lambda: self._emit_for_selected(self.delete_requested))
        self.history_button.clicked.connect(self._show_history)
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.history_button)
        buttons.addStretch(1)
        self._empty = QLabel("No observations yet")
        self._empty.setStyleSheet(f"color: {theme.text_dim}; font-size: 16px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._empty)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._rebuild()

    # --- feeding -------------------------------------------------------------------------------

    def set_settings(self, settings: ClinicSettings) -> None:
        self._settings = settings
        self._rebuild()

    def set_dose_time(self, dose_at: datetime | None) -> None:
        if dose_at != self._dose_at:
            self._dose_at = dose_at
            self._rebuild()

    def add_pending(self, token: str, summary: str) -> None:
        """Show an entry that is being saved ("saving…"); not yet an observation."""
        self._pending[token] = _Pending(token, summary)
        self._rebuild()

    def resolve_pending(self, token: str, observation: Observation) -> None:
        """The commit was confirmed: the pending entry becomes the saved observation."""
        self._pending.pop(token, None)
        self._revisions.setdefault(observation.observation_id, {})[observation.revision] = observation
        self._rebuild()  # always: the bridge may have delivered this revision already

    def fail_pending(self, token: str, message: str, *, retrying: bool = False) -> None:
        """Saving failed: say why. ``retrying``: it is being retried by itself (no action needed)."""
        if token in self._pending:
            pending = self._pending[token]
            if (pending.error, pending.retrying) != (message, retrying):
                pending.error, pending.retrying = message, retrying
                self._rebuild()

    def drop_pending(self, token: str) -> None:
        self._pending.pop(token, None)
        self._rebuild()

    def add_observation(self, observation: Observation) -> None:
        """Add a committed revision (idempotent: the same revision twice changes nothing)."""
        revs = self._revisions.setdefault(observation.observation_id, {})
        if revs.get(observation.revision) == observation:
            return
        revs[observation.revision] = observation
        self._rebuild()

    def set_observations(self, observations: Sequence[Observation]) -> None:
        """Replace everything with these revisions (e.g. after resuming a session)."""
        self._revisions = {}
        for obs in observations:
            self._revisions.setdefault(obs.observation_id, {})[obs.revision] = obs
        self._rebuild()

    # --- queries -------------------------------------------------------------------------------

    def latest(self, observation_id: str) -> Observation | None:
        revs = self._revisions.get(observation_id)
        return revs[max(revs)] if revs else None

    def history(self, observation_id: str) -> list[Observation]:
        revs = self._revisions.get(observation_id, {})
        return [revs[r] for r in sorted(revs)]

    def entry_texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def pending_tokens(self) -> list[str]:
        return list(self._pending)

    def pending_summary(self, token: str) -> str:
        return self._pending[token].summary

    def selected_id(self) -> str | None:
        item: QListWidgetItem | None = self.list.currentItem()  # None when nothing is selected
        if item is None:
            return None
        data: object = item.data(Qt.ItemDataRole.UserRole)
        return data if isinstance(data, str) and data in self._revisions else None

    def select(self, observation_id: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == observation_id:
                self.list.setCurrentRow(i)
                return

    # --- internals -----------------------------------------------------------------------------

    def _rebuild(self) -> None:
        selected = self.selected_id()
        self.list.clear()
        t = self._theme
        for p in reversed(list(self._pending.values())):
            if p.error and p.retrying:
                text = f"not saved — {p.error}; retrying\n{p.summary}"
                colour = t.alarm.get(AlarmPriority.MEDIUM, t.text_strong)
            elif p.error:
                text = f"NOT SAVED — {p.error}\n{p.summary}   (double-click to try again)"
                colour = t.alarm.get(AlarmPriority.MEDIUM, t.text_strong)
            else:
                text = f"saving…  {p.summary}"
                colour = t.text_dim
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, "pending:" + p.token)
            item.setForeground(qcolor(colour))
            font = QFont(item.font())
            font.setItalic(True)
            item.setFont(font)
            self.list.addItem(item)
        latest = [revs[max(revs)] for revs in self._revisions.values() if revs]
        latest.sort(key=lambda o: (o.occurred_at, o.recorded_at), reverse=True)
        for obs in latest:
            parts = [_clock_text(obs.occurred_at, self._dose_at), describe(obs, self._settings)]
            notes = []
            if obs.revision > 1 and not obs.deleted:
                notes.append("edited")
            if (obs.recorded_at - obs.occurred_at).total_seconds() > _LATE_S and obs.revision == 1:
                notes.append(f"entered {obs.recorded_at.astimezone().strftime('%H:%M')}")
            if obs.added_later:
                notes.append("added after the session")
            if obs.deleted:
                notes.append(f"deleted: {obs.reason}")
            text = "   ".join(parts) + (f"   ({'; '.join(notes)})" if notes else "")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, obs.observation_id)
            if obs.deleted:
                font = QFont(item.font())
                font.setStrikeOut(True)
                item.setFont(font)
                item.setForeground(qcolor(t.stale))
            self.list.addItem(item)
        self._empty.setVisible(self.list.count() == 0)
        if selected is not None:
            self.select(selected)
        self._update_buttons()

    def _double_clicked(self, item: QListWidgetItem) -> None:
        data = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(data, str) and data.startswith("pending:"):
            token = data.removeprefix("pending:")
            pending = self._pending.get(token)
            if pending is not None and pending.error:
                if not pending.retrying:  # a retrying entry keeps saying so until it is saved
                    pending.error = ""
                    self._rebuild()
                self.retry_requested.emit(token)
        elif isinstance(data, str) and data in self._revisions:
            self.edit_requested.emit(data)

    def _update_buttons(self) -> None:
        oid = self.selected_id()
        obs = self.latest(oid) if oid else None
        editable = obs is not None and not obs.deleted
        self.edit_button.setEnabled(editable)
        self.delete_button.setEnabled(editable)
        self.history_button.setEnabled(obs is not None)

    def _emit_for_selected(self, signal: SignalInstance) -> None:
        oid = self.selected_id()
        if oid is not None:
            signal.emit(oid)

    def _show_history(self) -> None:
        oid = self.selected_id()
        if oid is not None:
            HistoryDialog(self.history(oid), self._settings, self).exec()


class ReasonDialog(QDialog):
    """Asks for a required reason (deleting an observation, dismissing a check, ending early)."""

    def __init__(self, title: str, prompt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Reason (required)")
        self.reason.setMinimumHeight(40)
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        self.reason.textChanged.connect(self._update)
        layout = QVBoxLayout(self)
        label = QLabel(prompt)
        label.setWordWrap(True)
        layout.addWidget(label)
        layout.addWidget(self.reason)
        layout.addWidget(self._buttons)
        self._update()

    def _update(self) -> None:
        self._buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.reason.text().strip()))

    def text(self) -> str:
        return self.reason.text().strip()


class EditObservationDialog(QDialog):
    """Correct an observation: the text, or the score of a scale; a reason is recorded with it."""

    def __init__(
        self, observation: Observation, settings: ClinicSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Correct observation")
        self._obs = observation
        form = QFormLayout()
        self.text_edit = QLineEdit(observation.text)
        self.text_edit.setMinimumHeight(40)
        self.value_combo: QComboBox | None = None
        scale = settings.scale(observation.name) if observation.kind is ObservationKind.SCALE else None
        if scale is not None:
            self.value_combo = QComboBox()
            for value, anchor in scale.values:
                self.value_combo.addItem(
                    f"{value:+d}  {anchor}" if scale.name == "rass" else f"{value}  {anchor}", value
                )
                if observation.value == value:
                    self.value_combo.setCurrentIndex(self.value_combo.count() - 1)
            form.addRow(scale.label, self.value_combo)
        form.addRow("Text", self.text_edit)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Why is it corrected? (optional)")
        form.addRow("Reason", self.reason)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Original: {describe(observation, settings)}"))
        layout.addLayout(form)
        layout.addWidget(buttons)

    def new_value(self) -> float | None:
        if self.value_combo is None:
            return self._obs.value
        return float(self.value_combo.currentData())

    def value_changed(self) -> bool:
        return self.value_combo is not None and self.new_value() != self._obs.value


class HistoryDialog(QDialog):
    """Every revision of one observation, oldest first, with when and why it changed."""

    def __init__(
        self, revisions: Sequence[Observation], settings: ClinicSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Observation history")
        self.list = QListWidget()
        self.list.setWordWrap(True)
        for obs in revisions:
            when = obs.recorded_at.astimezone().strftime("%H:%M:%S")
            what = "deleted" if obs.deleted else describe(obs, settings)
            why = f" — reason: {obs.reason}" if obs.reason else ""
            by = f" by {obs.author}" if obs.author else ""
            self.list.addItem(f"Revision {obs.revision}, written {when}{by}: {what}{why}")
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(close)
        self.resize(640, 320)
