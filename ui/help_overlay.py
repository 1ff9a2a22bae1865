"""The keyboard help shown over the bedside window (F1 or ?), and the list of shortcuts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from ui.theme import Theme

__all__ = ["SHORTCUTS", "HelpOverlay"]

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("D", "Dose given (you can say it was some minutes ago)"),
    ("B", "Booster given"),
    ("C", "Go to the due check (type BP, Enter)"),
    ("A", "Acknowledge the alarm shown"),
    ("P", "Pause alarm audio"),
    ("N", "Write a note (Enter saves)"),
    ("1 – 9", "Quick tags (nausea, anxiety…) on an empty note line"),
    ("S", "Sensors: find and connect"),
    ("+  /  −", "Longer / shorter heart-rate window"),
    ("F1  or  ?", "Show or hide this help"),
    ("Ctrl+N", "New session"),
    ("Ctrl+E", "End session"),
    ("Esc", "Close this help"),
)


class HelpOverlay(QFrame):
    """A quiet, dismissible panel listing the keyboard shortcuts over the window."""

    def __init__(self, theme: Theme, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("helpOverlay")
        self.setStyleSheet(f"QFrame#helpOverlay {{ background: rgba(8, 12, 16, 225); border-radius: 10px; }}"
                           f" QLabel {{ color: {theme.text_strong}; font-size: 18px; }}")
        rows = "".join(f"<tr><td style='padding:4px 24px 4px 0'><b>{k}</b></td><td>{v}</td></tr>"
                       for k, v in SHORTCUTS)
        label = QLabel(f"<h2>Keyboard</h2><table>{rows}</table>")
        label.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 30, 40, 30)
        layout.addWidget(label, 0, Qt.AlignmentFlag.AlignCenter)
        self.hide()

    def fit(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect().adjusted(60, 60, -60, -60))
