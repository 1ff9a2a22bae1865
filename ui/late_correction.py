"""The dialog for adding or correcting an observation after the session ended.

:class:`LateObservationDialog` collects the input and validates it with the same
rules the save applies (:func:`kapmonitor.recording.late.check_late_input`); the
caller saves the entry with :func:`kapmonitor.recording.late.add_late_observation`
or :func:`~kapmonitor.recording.late.correct_observation` on the DB worker.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from kapmonitor.ports import SessionRecord
from kapmonitor.recording.late import LateInput, LateObservationError, check_late_input
from kapmonitor.types import Observation, ObservationKind
from ui.theme import set_role

__all__ = ["LateObservationDialog"]


class LateObservationDialog(QDialog):
    """Collects a late observation, or a correction of ``previous`` (then a reason is required)."""

    def __init__(self, record: SessionRecord, previous: Observation | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._record = record
        self._previous = previous
        self.setWindowTitle("Correct observation" if previous else "Add observation (after the session)")
        form = QFormLayout(self)
        note = QLabel("It will be marked as added later, with the time it was written.", self)
        set_role(note, "caption")
        form.addRow(note)
        self.kind = QComboBox(self)
        for kind in ObservationKind:
            self.kind.addItem(kind.value, kind)
        self.name = QLineEdit(self)
        self.value = QLineEdit(self)
        self.value.setPlaceholderText("optional number, e.g. a score")
        self.text = QPlainTextEdit(self)
        self.text.setFixedHeight(70)
        self.when = QDateTimeEdit(self)
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        end = record.ended_at or record.started_at
        self.when.setDateTimeRange(QDateTime(record.started_at.astimezone().replace(tzinfo=None)),
                                   QDateTime(end.astimezone().replace(tzinfo=None)))
        self.author = QLineEdit(self)
        self.author.setPlaceholderText("your initials")
        self.reason = QLineEdit(self)
        self.withdraw = QCheckBox("Withdraw this observation (it stays in the history)", self)
        for label, widget in (("Kind", self.kind), ("Name", self.name), ("Value", self.value),
                              ("Text", self.text), ("Happened at", self.when), ("Author", self.author),
                              ("Reason", self.reason)):
            form.addRow(label, widget)
        form.addRow(self.withdraw)
        self.withdraw.setVisible(previous is not None)
        self.error = QLabel("", self)
        set_role(self.error, "status")
        self.error.setProperty("state", "warn")
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        if previous is not None:
            self.kind.setCurrentIndex(list(ObservationKind).index(previous.kind))
            self.name.setText(previous.name)
            self.value.setText("" if previous.value is None else f"{previous.value:g}")
            self.text.setPlainText(previous.text)
            self.when.setDateTime(QDateTime(previous.occurred_at.astimezone().replace(tzinfo=None)))
            self.reason.setPlaceholderText("required: why it is corrected")
        else:
            self.name.setText("note")
            self.when.setDateTime(QDateTime(end.astimezone().replace(tzinfo=None)))
            self.reason.setPlaceholderText("optional: why it is added now")
        self.entry: LateInput | None = None
        # once Save was refused, the message follows the fields as they are corrected
        self._refused = False
        for edit in (self.name, self.value, self.author, self.reason):
            edit.textChanged.connect(self._recheck)
        self.text.textChanged.connect(self._recheck)
        self.kind.currentIndexChanged.connect(self._recheck)
        self.when.dateTimeChanged.connect(self._recheck)
        self.withdraw.toggled.connect(self._recheck)

    def _recheck(self, *_args: object) -> None:
        if not self._refused:
            return
        try:
            self.read()
        except LateObservationError as exc:
            self.error.setText(str(exc))
        else:
            self.error.setText("")

    def read(self) -> LateInput:
        """The entered values; raises :class:`LateObservationError` for any bad field."""
        raw = self.value.text().strip().replace(",", ".")
        try:
            value = float(raw) if raw else None
        except ValueError:
            raise LateObservationError(f"the value must be a number, got {raw!r}") from None
        local = self.when.dateTime().toPython()
        assert isinstance(local, datetime)
        occurred = local.astimezone().astimezone(UTC)
        previous = self._previous
        if previous is not None and abs((occurred - previous.occurred_at).total_seconds()) < 1:
            occurred = previous.occurred_at  # unchanged: keep the exact stored time
        entry = LateInput(self.kind.currentData(), self.name.text(), value, self.text.toPlainText().strip(),
                          occurred, self.author.text(), self.reason.text().strip(), self.withdraw.isChecked())
        check_late_input(self._record, entry, correcting=self._previous is not None)
        return entry

    def _accept(self) -> None:
        try:
            self.entry = self.read()
        except LateObservationError as exc:
            self.error.setText(str(exc))
            self._refused = True
            return
        self.accept()
