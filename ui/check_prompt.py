"""A quiet prompt for a scheduled check that has come due (e.g. blood pressure at +40 min).

It is a calm highlighted strip -- a coloured edge, no flashing, no sound --
shown while a check is due, until the therapist marks it done (optionally
entering the blood pressure right there) or dismisses it with a reason. It
reads the due checks from each :class:`~kapmonitor.session_model.SessionSnapshot`
and sends the outcome through :class:`~ui.observation_commands.ObservationCommands`
(the DB worker).

Its BP fields take digits only; once the check is sent (or dismissed), focus goes back
to the window, so the next key is a bedside key (``D`` doses, it is not typed anywhere).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from kapmonitor.session_model import CheckStatus
from kapmonitor.types import AlarmPriority, Observation
from ui.bedside_keys import give_focus_back, make_number_field
from ui.observation_commands import ObservationCommands
from ui.observation_timeline import ReasonDialog
from ui.theme import DARK, Theme

__all__ = ["CheckPrompt"]

log = logging.getLogger(__name__)


class CheckPrompt(QFrame):
    """Shows the first due check; hidden when none is due."""

    def __init__(
        self, theme: Theme = DARK, parent: QWidget | None = None, commands: ObservationCommands | None = None
    ) -> None:
        super().__init__(parent)
        self._theme = theme
        self._commands = commands
        self._check: CheckStatus | None = None
        self._submitted: set[str] = set()
        self.setObjectName("checkPrompt")
        self.setStyleSheet(
            f"QFrame#checkPrompt {{ background: {theme.surface_raised}; border: 1px solid {theme.border};"
            f" border-left: 6px solid {theme.alarm[AlarmPriority.LOW]}; border-radius: 0px; }}"
            f"QLabel#checkText {{ color: {theme.text_strong}; font-size: 18px; background: transparent; }}"
        )
        self.text = QLabel("")
        self.text.setObjectName("checkText")
        self.text.setWordWrap(True)
        self.systolic = make_number_field(QLineEdit())
        self.systolic.setPlaceholderText("SYS")
        self.diastolic = make_number_field(QLineEdit())
        self.diastolic.setPlaceholderText("DIA")
        for e in (self.systolic, self.diastolic):
            e.setMaximumWidth(80)
            e.setMinimumHeight(44)
            e.returnPressed.connect(self._done)
            e.textChanged.connect(self._bp_edited)
        self._invalid_bp = False  # the message says what is wrong with the BP typed
        self.done_button = QPushButton("Done")
        self.dismiss_button = QPushButton("Not done…")
        for b in (self.done_button, self.dismiss_button):
            b.setMinimumHeight(44)
        self.done_button.clicked.connect(self._done)
        self.dismiss_button.clicked.connect(self._dismiss)
        self.message = QLabel("")
        self.message.setStyleSheet(f"color: {theme.alarm[AlarmPriority.MEDIUM]}; background: transparent;")
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 6, 8, 6)
        row.addWidget(self.text, 1)
        row.addWidget(self.message)
        row.addWidget(QLabel("BP"))
        row.addWidget(self.systolic)
        row.addWidget(QLabel("/"))
        row.addWidget(self.diastolic)
        row.addWidget(self.done_button)
        row.addWidget(self.dismiss_button)
        self.setVisible(False)

    def set_commands(self, commands: ObservationCommands | None) -> None:
        self._commands = commands

    @property
    def check_name(self) -> str | None:
        return self._check.name if self._check is not None else None

    def set_snapshot(self, snapshot: Any) -> None:
        """Show the first due check of ``snapshot`` (a ``SessionSnapshot``), or hide."""
        checks: tuple[CheckStatus, ...] = getattr(snapshot, "checks", ())
        due = [c for c in checks if c.state == "due" and c.name not in self._submitted]
        self._submitted &= {c.name for c in checks if c.state == "due"}
        check = due[0] if due else None
        if check != self._check:
            self._check = check
            if check is not None:
                since = f" — due since {check.due_at.astimezone().strftime('%H:%M')}" if check.due_at else ""
                self.text.setText(f"{check.label}{since}")
                self.message.setText("")
        self.setVisible(check is not None)

    def _bp(self) -> tuple[float, float] | None:
        s, d = self.systolic.text().strip(), self.diastolic.text().strip()
        if not s and not d:
            return None
        try:
            sys_v, dia_v = float(s), float(d)
        except ValueError:
            raise ValueError("Enter both BP numbers, e.g. 128 / 84, or leave both empty") from None
        if not (40 <= sys_v <= 300 and 20 <= dia_v <= 200 and dia_v < sys_v):
            raise ValueError("BP must be systolic 40-300 over a lower diastolic 20-200 mmHg")
        return sys_v, dia_v

    def _done(self) -> None:
        check, commands = self._check, self._commands
        if check is None or commands is None:
            return
        try:
            bp = self._bp()
        except ValueError as exc:
            self.message.setText(str(exc))
            self._invalid_bp = True
            return
        name = check.name
        self._submitted.add(name)
        give_focus_back(self)
        self.setVisible(False)

        def failed(message: str) -> None:
            self._submitted.discard(name)
            self._check = None
            self.message.setText(f"Not saved: {message}")
            self.setVisible(True)

        if bp is None:
            commands.complete_check(name, on_failed=failed)
        else:

            def vitals_saved(obs: Observation) -> None:
                commands.complete_check(name, obs.text, on_failed=failed)

            commands.vitals(
                systolic=bp[0],
                diastolic=bp[1],
                spo2=None,
                heart_rate=None,
                on_saved=vitals_saved,
                on_failed=failed,
            )
        self.systolic.clear()
        self.diastolic.clear()

    def _bp_edited(self, _text: str) -> None:
        """The BP is being corrected: the complaint about it goes at once (Done checks again)."""
        if self._invalid_bp:
            self._invalid_bp = False
            self.message.setText("")

    def _dismiss(self) -> None:
        check, commands = self._check, self._commands
        if check is None or commands is None:
            return
        dialog = ReasonDialog("Check not done", f"Why was “{check.label}” not done?", self)
        if dialog.exec() != ReasonDialog.DialogCode.Accepted:
            return
        name = check.name
        self._submitted.add(name)
        give_focus_back(self)
        self.setVisible(False)

        def failed(message: str) -> None:
            self._submitted.discard(name)
            self._check = None
            self.message.setText(f"Not saved: {message}")
            self.setVisible(True)

        commands.dismiss_check(name, dialog.text(), on_failed=failed)
