"""Ending a session: minimum observation time and the discharge checklist, then confirm.

* If the minimum observation time after the first dose is not met (or no dose
  was given), the dialog says so plainly and requires a reason to end early.
* The clinic's discharge checklist (``ClinicSettings.discharge_checklist``) is
  ticked item by item; ending with an item unticked also requires a reason.
* A note typed in the note line and not yet saved is shown, with "Save this note before ending"
  ticked: ending saves it first (or, unticked, drops it and its draft).
* :meth:`EndSessionDialog.end_reason` is the text to pass to
  ``Recorder.end_session(reason)``: it records what was and was not met, so the
  session record explains itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.session_model import SessionSnapshot
from kapmonitor.settings_items import DischargeItem
from kapmonitor.types import AlarmPriority
from ui.theme import DARK, Theme, fitted_dialog_size

__all__ = ["EndSessionDialog"]


class EndSessionDialog(QDialog):
    """Confirm the end of a session.

    Args:
        since_first_dose_s: seconds since the first dose (None: no dose given).
        min_observation_min: the protocol's minimum observation time.
        checklist: the clinic's discharge checklist.
        unsaved_note: the note line's unsaved text ("" if none).
    """

    def __init__(
        self,
        since_first_dose_s: float | None,
        min_observation_min: float,
        checklist: Sequence[DischargeItem],
        theme: Theme = DARK,
        parent: QWidget | None = None,
        unsaved_note: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("End session")
        self._elapsed_min = None if since_first_dose_s is None else since_first_dose_s / 60.0
        self._min_obs = min_observation_min
        warn = theme.alarm[AlarmPriority.MEDIUM]
        layout = QVBoxLayout(self)
        self.time_label = QLabel("")
        self.time_label.setWordWrap(True)
        self.time_label.setStyleSheet("font-size: 18px;")
        if self._elapsed_min is None:
            self.time_label.setText("No dose was given in this session.")
        elif self.min_observation_met:
            self.time_label.setText(
                f"Observed {self._elapsed_min:.0f} min since the dose "
                f"(minimum {min_observation_min:g} min): met."
            )
        else:
            self.time_label.setText(
                f"Minimum observation time not met: {self._elapsed_min:.0f} of {min_observation_min:g} min "
                "since the dose. Ending early needs a reason."
            )
            self.time_label.setStyleSheet(f"font-size: 18px; color: {warn};")
        layout.addWidget(self.time_label)
        self.save_note_box: QCheckBox | None = None
        if unsaved_note:
            shown = unsaved_note if len(unsaved_note) <= 120 else unsaved_note[:119] + "…"
            note_label = QLabel(f"The note line holds a note not yet saved:\n“{shown}”")
            note_label.setWordWrap(True)
            note_label.setStyleSheet(f"font-size: 17px; color: {warn};")
            self.save_note_box = QCheckBox("Save this note before ending")
            self.save_note_box.setChecked(True)
            self.save_note_box.setMinimumHeight(40)
            self.save_note_box.setStyleSheet(
                "QCheckBox { font-size: 17px; } QCheckBox::indicator { width: 24px; height: 24px; }")
            layout.addWidget(note_label)
            layout.addWidget(self.save_note_box)
        box = QGroupBox("Discharge checklist")
        box_layout = QVBoxLayout(box)
        self.items: dict[str, QCheckBox] = {}
        self._labels = {item.name: item.label for item in checklist}
        for item in checklist:
            check = QCheckBox(item.label)
            check.setMinimumHeight(40)
            check.setStyleSheet(
                "QCheckBox { font-size: 17px; } QCheckBox::indicator { width: 24px; height: 24px; }"
            )
            if item.name == "min_observation_met" and self.min_observation_met:
                check.setChecked(True)
            check.toggled.connect(self._update)
            self.items[item.name] = check
            box_layout.addWidget(check)
        # a long checklist scrolls: "End session" and "Cancel" stay on a 768-pixel laptop screen
        self.checklist_scroll = QScrollArea()
        self.checklist_scroll.setWidget(box)
        self.checklist_scroll.setWidgetResizable(True)
        self.checklist_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.checklist_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.checklist_scroll.setMinimumHeight(min(box.sizeHint().height(), 200))
        layout.addWidget(self.checklist_scroll, 1)
        self.reason_label = QLabel("Reason")
        self.reason = QLineEdit()
        self.reason.setMinimumHeight(40)
        self.reason.textChanged.connect(self._update)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.reason)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {warn};")
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.end_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.end_button.setText("End session")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update()
        hint = self.sizeHint()
        self.resize(fitted_dialog_size(self, hint.width(), hint.height()))

    @classmethod
    def from_snapshot(
        cls,
        snapshot: SessionSnapshot,
        min_observation_min: float,
        checklist: Sequence[DischargeItem],
        theme: Theme = DARK,
        parent: QWidget | None = None,
        unsaved_note: str = "",
    ) -> EndSessionDialog:
        """Build from the live snapshot (``recorder.snapshot()``) and the session's protocol."""
        return cls(snapshot.since_first_dose_s, min_observation_min, checklist, theme, parent,
                   unsaved_note=unsaved_note)

    @property
    def save_unsaved_note(self) -> bool:
        """True when the unsaved note is to be saved before the session ends."""
        return self.save_note_box is not None and self.save_note_box.isChecked()

    @property
    def min_observation_met(self) -> bool:
        return self._elapsed_min is not None and self._elapsed_min >= self._min_obs

    def unmet_items(self) -> list[str]:
        return [self._labels[name] for name, box in self.items.items() if not box.isChecked()]

    def reason_required(self) -> bool:
        return not self.min_observation_met or bool(self.unmet_items())

    def _update(self) -> None:
        needed = self.reason_required()
        self.reason_label.setVisible(needed)
        self.reason.setVisible(needed)
        problems = []
        if not self.min_observation_met:
            problems.append("the minimum observation time is not met")
        unmet = self.unmet_items()
        if unmet:
            problems.append(f"not ticked: {', '.join(unmet)}")
        if needed:
            self.reason.setPlaceholderText("Why end now? (required)")
            self.message.setText("To end now, give a reason: " + "; ".join(problems) + ".")
        else:
            self.message.setText("")
        self.end_button.setEnabled(not needed or bool(self.reason.text().strip()))

    def end_reason(self) -> str:
        """The text for ``Recorder.end_session``: what was met, what was not, and why."""
        parts: list[str] = []
        if self._elapsed_min is None:
            parts.append("ended without a dose")
        elif self.min_observation_met:
            parts.append(f"observed {self._elapsed_min:.0f} min")
        else:
            parts.append(f"ended early at {self._elapsed_min:.0f} of {self._min_obs:g} min")
        unmet = self.unmet_items()
        parts.append("discharge checklist complete" if not unmet else f"not met: {', '.join(unmet)}")
        if self.reason_required() and self.reason.text().strip():
            parts.append(f"reason: {self.reason.text().strip()}")
        return "; ".join(parts)
