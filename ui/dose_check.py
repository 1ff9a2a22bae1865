"""Second looks before a dose is recorded: an unusual amount, and vitals still due before dosing.

:func:`confirm_dose` asks when the amount is outside the plausible range for the protocol's route
and unit (:mod:`kapmonitor.doses`): 10000 mg, or 56 mL of a nasal spray, is a typo far more often
than a dose. :func:`pre_dose_checks_due` names the checks ("Vitals before dosing") that are due
while no dose has been given, so the "Dose given" confirmation can say so.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from kapmonitor.doses import dose_warning
from kapmonitor.protocols import CheckTiming, Route
from kapmonitor.session_model import SessionSnapshot

__all__ = ["DOSE_QUESTION_TITLE", "confirm_dose", "pre_dose_checks_due"]

DOSE_QUESTION_TITLE = "Check the dose"


def confirm_dose(parent: QWidget | None, route: Route, amount: float, unit: str) -> bool:
    """True when ``amount`` ``unit`` is plausible for ``route``, or the therapist confirms it.

    The question is modal and defaults to correcting the amount (Enter does not record a typo).
    """
    warning = dose_warning(route, amount, unit)
    if not warning:
        return True
    box = QMessageBox(QMessageBox.Icon.Warning, DOSE_QUESTION_TITLE,
                      f"{warning}\n\nIs {amount:g} {unit} really the dose?", parent=parent)
    record = box.addButton(f"Yes, {amount:g} {unit}", QMessageBox.ButtonRole.AcceptRole)
    correct = box.addButton("No, correct it", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(correct)
    box.setEscapeButton(correct)
    box.exec()
    return box.clickedButton() is record


def pre_dose_checks_due(snapshot: SessionSnapshot | None) -> list[str]:
    """Labels of the before-dosing checks that are due and not done (none once a dose was given)."""
    if snapshot is None or snapshot.first_dose_at is not None or snapshot.ended_at is not None:
        return []
    return [c.label for c in snapshot.checks if c.timing is CheckTiming.PRE_DOSE and c.state == "due"]
