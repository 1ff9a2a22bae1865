"""Ending a session: the structured discharge a clinic files, then confirm.

* The minimum observation time after the first dose: if it is not met (or no dose was given)
  the dialog says so plainly and ending needs a reason.
* **Ready to leave at**: when the client would have been ready to leave, by default the first
  moment every discharge criterion the record can check was met
  (:func:`kapmonitor.discharge.discharge_facts`).
* **The discharge checklist** (``ClinicSettings.discharge_checklist``), item by item, each with
  what the record says beside it ("SpO₂ 97 % at 11:02", "no SpO₂ data for 72 min"). An item
  ticked although the record contradicts it or cannot support it needs its own reason; ending
  with an item unticked needs the reason below (as ending early does).
* **During monitoring**: sedation, dissociation and respiratory depression, yes or no, each
  pre-set from the record with why ("suggested: MOAA/S 3 at 10:12"); one the record cannot
  suggest must be answered.
* **Adverse events** yes/no, what happened, whether any was serious and what made it so.
* **Concomitant medications** from the clinic's list, or None; **judged fit to leave by**
  (initials, the session's clinician by default).
* A note typed in the note line and not yet saved is shown, with "Save this note before ending"
  ticked: ending saves it first (or, unticked, drops it and its draft).

After a dose every question needs an answer before "End session" is enabled (what is still
missing is listed under the form, and goes as it is answered); a session ended without a dose was
abandoned, and only its reason is needed. :meth:`EndSessionDialog.discharge` is the
:class:`~kapmonitor.discharge.Discharge` kept with the end; :meth:`EndSessionDialog.end_reason`
the text for ``Recorder.end_session(reason)``, which says what was met and what was not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.discharge import (
    SERIOUS_OUTCOMES,
    Discharge,
    DischargeFacts,
    Evidence,
    ItemAnswer,
    Suggestion,
    Support,
)
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.settings_items import DischargeItem, default_medications
from kapmonitor.types import AlarmPriority
from ui.theme import DARK, Theme, fitted_dialog_size

__all__ = ["EndSessionDialog", "YesNo"]

_CHECK_STYLE = "QCheckBox { font-size: 17px; } QCheckBox::indicator { width: 24px; height: 24px; }"
_RADIO_STYLE = ("QRadioButton { font-size: 17px; padding-right: 14px; } "
                "QRadioButton::indicator { width: 22px; height: 22px; }")
_NOT_CHECKED = Evidence(Support.CLINICIAN, "not checked against the record")


class YesNo(QWidget):
    """A yes / no answer that starts unanswered (None) unless a suggestion sets it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.yes = QRadioButton("Yes")
        self.no = QRadioButton("No")
        self._group = QButtonGroup(self)
        for b in (self.yes, self.no):
            b.setStyleSheet(_RADIO_STYLE)
            b.setMinimumHeight(34)
            self._group.addButton(b)
            b.toggled.connect(lambda _on: self.changed.emit())
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.yes)
        row.addWidget(self.no)
        row.addStretch(1)

    def value(self) -> bool | None:
        if self.yes.isChecked():
            return True
        if self.no.isChecked():
            return False
        return None

    def set_value(self, value: bool | None) -> None:
        if value is None:
            return
        (self.yes if value else self.no).setChecked(True)


class EndSessionDialog(QDialog):
    """Confirm the end of a session with the structured discharge (see the module docstring).

    Args:
        since_first_dose_s: seconds since the first dose (None: no dose given).
        min_observation_min: the protocol's minimum observation time.
        checklist: the clinic's discharge checklist.
        unsaved_note: the note line's unsaved text ("" if none).
        facts: what the record says (None: it could not be read; nothing is pre-set then).
        medications: the clinic's concomitant medication classes.
        clinician: the session's clinician initials (the default "fit to leave" judge).
        started_at, now: the session's start and the moment of ending (UTC; for the ready time).
    """

    def __init__(
        self,
        since_first_dose_s: float | None,
        min_observation_min: float,
        checklist: Sequence[DischargeItem],
        theme: Theme = DARK,
        parent: QWidget | None = None,
        unsaved_note: str = "",
        *,
        facts: DischargeFacts | None = None,
        medications: Sequence[DischargeItem] | None = None,
        clinician: str = "",
        started_at: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("End session")
        self._elapsed_min = None if since_first_dose_s is None else since_first_dose_s / 60.0
        self._min_obs = min_observation_min
        self._facts = facts
        self._checklist = tuple(checklist)
        self._medications = tuple(medications if medications is not None else default_medications())
        self._now = now or (facts.at if facts is not None else datetime.now(UTC))
        self._started_at = started_at
        self._warn = theme.alarm[AlarmPriority.MEDIUM]
        self._dim = theme.text_dim
        body = QWidget()
        layout = QVBoxLayout(body)
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
            self.time_label.setStyleSheet(f"font-size: 18px; color: {self._warn};")
        layout.addWidget(self.time_label)
        self.save_note_box: QCheckBox | None = None
        if unsaved_note:
            shown = unsaved_note if len(unsaved_note) <= 120 else unsaved_note[:119] + "…"
            note_label = QLabel(f"The note line holds a note not yet saved:\n“{shown}”")
            note_label.setWordWrap(True)
            note_label.setStyleSheet(f"font-size: 17px; color: {self._warn};")
            self.save_note_box = QCheckBox("Save this note before ending")
            self.save_note_box.setChecked(True)
            self.save_note_box.setMinimumHeight(40)
            self.save_note_box.setStyleSheet(_CHECK_STYLE)
            layout.addWidget(note_label)
            layout.addWidget(self.save_note_box)
        layout.addWidget(self._build_ready())
        layout.addWidget(self._build_checklist())
        layout.addWidget(self._build_monitoring())
        layout.addWidget(self._build_adverse())
        layout.addWidget(self._build_medications())
        fit = QHBoxLayout()
        fit_label = QLabel("Judged fit to leave by")
        fit_label.setStyleSheet("font-size: 17px;")
        self.fit_by = QLineEdit(clinician)
        self.fit_by.setPlaceholderText("initials")
        self.fit_by.setMinimumHeight(40)
        self.fit_by.setMaximumWidth(160)
        self.fit_by.textChanged.connect(self._update)
        fit.addWidget(fit_label)
        fit.addWidget(self.fit_by)
        fit.addStretch(1)
        layout.addLayout(fit)
        self.reason_label = QLabel("Reason")
        self.reason = QLineEdit()
        self.reason.setMinimumHeight(40)
        self.reason.textChanged.connect(self._update)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.reason)
        layout.addStretch(1)
        # everything scrolls: "End session" and "Cancel" stay on a 768-pixel laptop screen
        self.scroll = QScrollArea()
        self.scroll.setWidget(body)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {self._warn}; font-size: 15px;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.end_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.end_button.setText("End session")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self.message)
        outer.addWidget(self.buttons)
        self._update()
        self.resize(fitted_dialog_size(self, 820, 900))

    # ------------------------------------------------------------------ building
    def _caption(self, text: str, warn: bool = False) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setStyleSheet(f"color: {self._warn if warn else self._dim}; font-size: 15px;")
        return label

    def _build_ready(self) -> QWidget:
        box = QGroupBox("Ready to leave")
        row = QHBoxLayout(box)
        self.ready_at = QDateTimeEdit()
        self.ready_at.setDisplayFormat("HH:mm")
        self.ready_at.setMinimumHeight(40)
        self.ready_at.setStyleSheet("font-size: 17px;")
        start = self._started_at or (self._facts.first_dose_at if self._facts else None) or self._now
        self.ready_at.setDateTimeRange(_qt(start), _qt(self._now))
        suggested = self._facts.ready_to_leave_at if self._facts is not None else None
        self.ready_at.setDateTime(_qt(suggested or self._now))
        self.ready_at.dateTimeChanged.connect(self._update)
        self.ready_words = self._caption("")
        row.addWidget(QLabel("The client would have been ready to leave at"))
        row.addWidget(self.ready_at)
        row.addWidget(self.ready_words, 1)
        return box

    def _build_checklist(self) -> QWidget:
        box = QGroupBox("Discharge checklist")
        grid = QGridLayout(box)
        self.items: dict[str, QCheckBox] = {}
        self.item_evidence: dict[str, QLabel] = {}
        self.item_reasons: dict[str, QLineEdit] = {}
        self._labels = {item.name: item.label for item in self._checklist}
        for i, item in enumerate(self._checklist):
            check = QCheckBox(item.label)
            check.setMinimumHeight(40)
            check.setStyleSheet(_CHECK_STYLE)
            evidence = self.evidence(item.name)
            if item.name == "min_observation_met" and self.min_observation_met:
                check.setChecked(True)
            check.toggled.connect(self._update)
            words = self._caption(evidence.words, warn=evidence.needs_reason_if_ticked)
            reason = QLineEdit()
            reason.setPlaceholderText("Why is it met although the record does not show it? (required)")
            reason.setMinimumHeight(36)
            reason.textChanged.connect(self._update)
            self.items[item.name] = check
            self.item_evidence[item.name] = words
            self.item_reasons[item.name] = reason
            grid.addWidget(check, 3 * i, 0)
            grid.addWidget(words, 3 * i + 1, 0)
            grid.addWidget(reason, 3 * i + 2, 0)
        return box

    def _build_monitoring(self) -> QWidget:
        box = QGroupBox("During monitoring")
        grid = QGridLayout(box)
        facts = self._facts
        rows: tuple[tuple[str, str, Suggestion | None], ...] = (
            ("sedation", "Sedation", facts.sedation if facts else None),
            ("dissociation", "Dissociation", facts.dissociation if facts else None),
            ("respiratory_depression", "Respiratory depression",
             facts.respiratory_depression if facts else None),
        )
        self.monitoring: dict[str, YesNo] = {}
        for i, (name, label, suggestion) in enumerate(rows):
            answer = YesNo()
            if suggestion is not None:
                answer.set_value(suggestion.value)
            answer.changed.connect(self._update)
            title = QLabel(label)
            title.setStyleSheet("font-size: 17px;")
            if suggestion is None:
                why = "not checked against the record"
            elif suggestion.value is None:
                why = f"the record cannot say ({suggestion.why}): answer"
            else:
                why = f"suggested {'yes' if suggestion.value else 'no'}: {suggestion.why}"
            grid.addWidget(title, 2 * i, 0)
            grid.addWidget(answer, 2 * i, 1)
            grid.addWidget(self._caption(why), 2 * i + 1, 0, 1, 2)
            self.monitoring[name] = answer
        grid.setColumnStretch(1, 1)
        return box

    def _build_adverse(self) -> QWidget:
        box = QGroupBox("Adverse events")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Any adverse event during the session?"))
        self.adverse = YesNo()
        self.adverse.changed.connect(self._update)
        row.addWidget(self.adverse, 1)
        layout.addLayout(row)
        self.adverse_details = QLineEdit()
        self.adverse_details.setPlaceholderText("What happened, when, what was done (required)")
        self.adverse_details.setMinimumHeight(40)
        self.adverse_details.textChanged.connect(self._update)
        layout.addWidget(self.adverse_details)
        serious_row = QHBoxLayout()
        self.serious_label = QLabel("Was any of them serious?")
        self.serious = YesNo()
        self.serious.changed.connect(self._update)
        serious_row.addWidget(self.serious_label)
        serious_row.addWidget(self.serious, 1)
        layout.addLayout(serious_row)
        self.outcomes: dict[str, QCheckBox] = {}
        self.outcomes_box = QWidget()
        outcomes = QVBoxLayout(self.outcomes_box)
        outcomes.setContentsMargins(24, 0, 0, 0)
        for name, label in SERIOUS_OUTCOMES:
            check = QCheckBox(label)
            check.setStyleSheet(_CHECK_STYLE)
            check.toggled.connect(self._update)
            outcomes.addWidget(check)
            self.outcomes[name] = check
        layout.addWidget(self.outcomes_box)
        return box

    def _build_medications(self) -> QWidget:
        box = QGroupBox("Concomitant medications")
        grid = QGridLayout(box)
        self.medications: dict[str, QCheckBox] = {}
        for i, med in enumerate(self._medications):
            check = QCheckBox(med.label)
            check.setStyleSheet(_CHECK_STYLE)
            check.toggled.connect(self._medication_ticked)
            self.medications[med.name] = check
            grid.addWidget(check, i // 2, i % 2)
        self.no_medications = QCheckBox("None of these")
        self.no_medications.setStyleSheet(_CHECK_STYLE)
        self.no_medications.toggled.connect(self._none_ticked)
        n = len(self._medications)
        grid.addWidget(self.no_medications, (n + 1) // 2 + (1 if n % 2 == 0 else 0), 0)
        return box

    def _medication_ticked(self, on: bool) -> None:
        if on and self.no_medications.isChecked():
            self.no_medications.setChecked(False)
        self._update()

    def _none_ticked(self, on: bool) -> None:
        if on:
            for box in self.medications.values():
                box.setChecked(False)
        self._update()

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_snapshot(
        cls,
        snapshot: SessionSnapshot,
        min_observation_min: float,
        checklist: Sequence[DischargeItem],
        theme: Theme = DARK,
        parent: QWidget | None = None,
        unsaved_note: str = "",
        **answers_from: object,
    ) -> EndSessionDialog:
        """Build from the live snapshot (``recorder.snapshot()``) and the session's protocol.

        ``answers_from``: the keyword arguments of the constructor (``facts``, ``medications``,
        ``clinician``, ``now``).
        """
        return cls(snapshot.since_first_dose_s, min_observation_min, checklist, theme, parent,
                   unsaved_note, started_at=snapshot.started_at, **answers_from)  # type: ignore[arg-type]

    @property
    def save_unsaved_note(self) -> bool:
        """True when the unsaved note is to be saved before the session ends."""
        return self.save_note_box is not None and self.save_note_box.isChecked()

    @property
    def dose_given(self) -> bool:
        return self._elapsed_min is not None

    @property
    def min_observation_met(self) -> bool:
        return self._elapsed_min is not None and self._elapsed_min >= self._min_obs

    def evidence(self, item_name: str) -> Evidence:
        return self._facts.evidence(item_name) if self._facts is not None else _NOT_CHECKED

    def unmet_items(self) -> list[str]:
        return [self._labels[name] for name, box in self.items.items() if not box.isChecked()]

    def reason_required(self) -> bool:
        return not self.min_observation_met or bool(self.unmet_items())

    def discharge(self) -> Discharge:
        """The answers as filed with the end of the session."""
        ready = self.ready_at.dateTime().toPython()
        assert isinstance(ready, datetime)
        meds: tuple[str, ...] | None = tuple(n for n, b in self.medications.items() if b.isChecked())
        if not meds and not self.no_medications.isChecked():
            meds = None
        items = []
        for item in self._checklist:
            evidence = self.evidence(item.name)
            met = self.items[item.name].isChecked()
            reason = self.item_reasons[item.name].text().strip() if met else ""
            items.append(ItemAnswer(item.name, item.label, met, evidence.support, evidence.words, reason))
        adverse = self.adverse.value()
        serious = self.serious.value() if adverse else (False if adverse is False else None)
        return Discharge(
            ready_to_leave_at=ready.astimezone().astimezone(UTC),
            adverse_events=adverse,
            adverse_event_details=self.adverse_details.text().strip() if adverse else "",
            serious_adverse_event=serious,
            serious_outcomes=tuple(n for n, b in self.outcomes.items() if b.isChecked()) if serious else (),
            sedation=self.monitoring["sedation"].value(),
            dissociation=self.monitoring["dissociation"].value(),
            respiratory_depression=self.monitoring["respiratory_depression"].value(),
            concomitant_medications=meds,
            fit_to_leave_by=self.fit_by.text().strip(),
            items=tuple(items),
        )

    def problems(self) -> list[str]:
        """What stops the session from ending now, in the order the form asks (empty: it can)."""
        found: list[str] = []
        if self.dose_given:
            answers = self.discharge()
            found += [p.message for p in answers.problems(started_at=self._started_at, ended_at=self._now,
                                                          medications=list(self.medications))]
        if self.reason_required() and not self.reason.text().strip():
            why = []
            if not self.min_observation_met:
                why.append("the minimum observation time is not met")
            unmet = self.unmet_items()
            if unmet:
                why.append(f"not ticked: {', '.join(unmet)}")
            found.append("give a reason to end now: " + "; ".join(why))
        return found

    def _update(self) -> None:
        needed = self.reason_required()
        self.reason_label.setVisible(needed)
        self.reason.setVisible(needed)
        if needed:
            self.reason.setPlaceholderText("Why end now? (required)")
        for name, box in self.items.items():
            against = self.evidence(name).needs_reason_if_ticked
            self.item_reasons[name].setVisible(box.isChecked() and against)
        adverse = self.adverse.value()
        self.adverse_details.setVisible(adverse is True)
        self.serious_label.setVisible(adverse is True)
        self.serious.setVisible(adverse is True)
        self.outcomes_box.setVisible(adverse is True and self.serious.value() is True)
        ready = self.ready_at.dateTime().toPython()
        assert isinstance(ready, datetime)
        dose = self._facts.first_dose_at if self._facts is not None else None
        if dose is not None:
            minutes = (ready.astimezone().astimezone(UTC) - dose).total_seconds() / 60.0
            suggested = self._facts.ready_to_leave_at if self._facts is not None else None
            hint = (f" — suggested: {self._facts.ready_why}"
                    if self._facts is not None and suggested is not None
                    and abs((ready.astimezone() - suggested).total_seconds()) < 60 else "")
            self.ready_words.setText(f"{max(0.0, minutes):.0f} min after the first dose{hint}")
        problems = self.problems()
        if problems:
            first = problems[0][:1].upper() + problems[0][1:]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.message.setText(f"To end the session: {first}{more}.")
        else:
            self.message.setText("")
        self.end_button.setEnabled(not problems)

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


def _qt(moment: datetime) -> QDateTime:
    """A UTC moment as the local wall-clock QDateTime the editor shows."""
    return QDateTime(moment.astimezone().replace(tzinfo=None))
