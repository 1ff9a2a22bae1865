"""The floor for ``startup.py``: an empty PySide6 window with three pyqtgraph plots, shown maximised,
printing the same two probe lines as the bedside window (not a benchmark itself)."""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QVBoxLayout, QWidget


class _FirstPaint(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            print("kapmonitor-probe first-paint", flush=True)
        return False


def main() -> None:
    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    central = QWidget()
    layout = QVBoxLayout(central)
    for title in ("Heart rate", "SpO2", "Blood pressure"):
        layout.addWidget(pg.PlotWidget(title=title))
    window.setCentralWidget(central)
    probe = _FirstPaint(window)
    window.installEventFilter(probe)
    window.showMaximized()
    QTimer.singleShot(0, lambda: print("kapmonitor-probe interactive", flush=True))
    app.exec()


if __name__ == "__main__":
    main()
