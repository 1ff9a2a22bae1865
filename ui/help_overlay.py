"""The keyboard help shown over the bedside window (F1 or ?).

It prints :data:`ui.bedside_keys.BEDSIDE_KEYS`, the table the key dispatcher uses, and
the typing rule under it: the help cannot list a key that does something else.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from ui.bedside_keys import BEDSIDE_KEYS, TYPING_RULE
from ui.theme import Theme

__all__ = ["HelpOverlay", "help_rows"]


def help_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for every bedside key, in the table's order."""
    return [(row.keys, row.description) for row in BEDSIDE_KEYS]


class HelpOverlay(QFrame):
    """A quiet, dismissible panel listing the keyboard shortcuts over the window.

    Args:
        below: a widget the help must leave visible (the alarm banner): the panel starts under it,
            so an alarm and its Acknowledge/Pause stay in sight while the keys are read.
    """

    def __init__(self, theme: Theme, parent: QWidget, *, below: QWidget | None = None) -> None:
        super().__init__(parent)
        self._below = below
        self.setObjectName("helpOverlay")
        self.setStyleSheet(f"QFrame#helpOverlay {{ background: rgba(8, 12, 16, 225); border-radius: 10px; }}"
                           f" QLabel {{ color: {theme.text_strong}; font-size: 17px; }}")
        cell = "<td style='padding:2px 24px 2px 0'>"
        rows = "".join(f"<tr>{cell}<b>{escape(k)}</b></td><td>{escape(v)}</td></tr>" for k, v in help_rows())
        self.label = QLabel(f"<h2>Keyboard</h2><table>{rows}</table><p>{escape(TYPING_RULE)}</p>")
        self.label.setWordWrap(True)
        label = self.label
        label.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 30, 40, 30)
        layout.addWidget(label, 0, Qt.AlignmentFlag.AlignCenter)
        self.hide()

    def fit(self) -> None:
        """Cover the window from under ``below`` (or its top) down, leaving a margin."""
        parent = self.parentWidget()
        if parent is None:
            return
        area = parent.rect().adjusted(60, 60, -60, -60)
        if self._below is not None and self._below.isVisible():
            area.setTop(max(area.top(), self._below.geometry().bottom() + 8))
        self.setGeometry(area)
