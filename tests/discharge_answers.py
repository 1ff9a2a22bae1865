"""Answering the end-of-session questions the way a clinician does: clicks and typing."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractButton
from pytestqt.qtbot import QtBot

from ui.end_session_dialog import EndSessionDialog


def click(qtbot: QtBot, button: QAbstractButton) -> None:
    """Click a check box or radio button on its indicator, where a person clicks it (a click in
    the empty part of a wide box's row does nothing)."""
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(12, button.height() // 2))


def answer_discharge(qtbot: QtBot, dialog: EndSessionDialog, *, initials: str = "JQ") -> None:
    """No adverse event, no concomitant medication, each monitoring question as suggested (No when
    the record cannot say), fit to leave judged by ``initials`` unless already filled."""
    click(qtbot, dialog.adverse.no)
    for answer in dialog.monitoring.values():
        if answer.value() is None:
            click(qtbot, answer.no)
    if not dialog.no_medications.isChecked():
        click(qtbot, dialog.no_medications)
    if not dialog.fit_by.text():
        qtbot.keyClicks(dialog.fit_by, initials)
