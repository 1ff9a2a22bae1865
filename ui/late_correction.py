"""Late corrections: adding or correcting an observation after the session ended.

Nothing is overwritten (STYLE.md rule 7): a new observation is revision 1, a correction
is the next revision of the same ``observation_id``, a withdrawal a revision with
``deleted=True``. Every revision written here has ``added_later=True`` and
``recorded_at`` = now (the injected clock), so the record shows what was written at the
bedside and what was written afterwards. The session must have ended: a running
session is corrected through its :class:`~kapmonitor.recorder.Recorder`.

:func:`add_late_observation` and :func:`correct_observation` write through the store
(blocking: call them on the DB worker); :class:`LateObservationDialog` collects the
input and validates it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
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

from db.store import SqlStore
from kapmonitor.clock import Clock
from kapmonitor.store import SessionRecord
from kapmonitor.types import Observation, ObservationKind, new_observation_id
from ui.theme import set_role

__all__ = ["LateInput", "LateObservationDialog", "LateObservationError", "add_late_observation",
           "correct_observation"]


class LateObservationError(ValueError):
    """A late observation was refused; the message says what to change."""


@dataclass(frozen=True, slots=True)
class LateInput:
    """What the therapist entered."""

    kind: ObservationKind
    name: str
    value: float | None
    text: str
    occurred_at: datetime
    author: str
    reason: str = ""
    withdraw: bool = False


def _check(record: SessionRecord, entry: LateInput, *, correcting: bool) -> None:
    if record.ended_at is None:
        raise LateObservationError(
            f"session {record.session_id} has not ended: resume it to add observations, or close it first")
    if not entry.name.strip():
        raise LateObservationError("an observation needs a name, e.g. 'note', 'nausea' or 'sedation'")
    if entry.value is not None and not math.isfinite(entry.value):
        raise LateObservationError(f"the value must be a finite number, got {entry.value!r}")
    if not record.started_at <= entry.occurred_at <= record.ended_at:
        raise LateObservationError(
            f"the time must lie within the session ({record.started_at.astimezone():%H:%M} to "
            f"{record.ended_at.astimezone():%H:%M} local time)")
    if correcting and not entry.reason.strip():
        raise LateObservationError("a correction needs a reason (it is kept with the record)")


def add_late_observation(store: SqlStore, record: SessionRecord, clock: Clock,
                         entry: LateInput) -> Observation:
    """Save a new observation written after the session (revision 1, ``added_later``)."""
    _check(record, entry, correcting=False)
    obs = Observation(new_observation_id(), 1, entry.kind, entry.name.strip(), entry.occurred_at, clock.now(),
                      value=entry.value, text=entry.text, author=entry.author.strip(), reason=entry.reason,
                      added_later=True)
    store.save_observation(record.session_id, obs)
    return obs


def correct_observation(store: SqlStore, record: SessionRecord, clock: Clock, observation_id: str,
                        entry: LateInput) -> Observation:
    """Save the next revision of ``observation_id`` (a correction, or a withdrawal with ``withdraw``).

    Raises:
        LateObservationError: bad input, session not ended, or no such observation.
    """
    _check(record, entry, correcting=True)
    revisions = [o for o in store.observations(record.session_id) if o.observation_id == observation_id]
    if not revisions:
        raise LateObservationError(f"session {record.session_id} has no observation {observation_id}")
    latest = max(revisions, key=lambda o: o.revision)
    obs = dataclasses.replace(
        latest, revision=latest.revision + 1, kind=entry.kind, name=entry.name.strip(), value=entry.value,
        text=entry.text, occurred_at=entry.occurred_at, recorded_at=clock.now(),
        author=entry.author.strip() or latest.author, deleted=entry.withdraw, reason=entry.reason.strip(),
        added_later=True)
    store.save_observation(record.session_id, obs)
    return obs


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
        _check(self._record, entry, correcting=self._previous is not None)
        return entry

    def _accept(self) -> None:
        try:
            self.entry = self.read()
        except LateObservationError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
