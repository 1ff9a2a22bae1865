"""The review plot's canvas and its small helpers (split from :mod:`ui.review_plot`)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

__all__ = ["GAP_S", "ReviewCanvas", "Zoomable", "with_gaps"]

GAP_S = 5.0
"""Readings further apart than this are drawn with a break between them."""


class Zoomable(Protocol):
    """What the canvas's keys drive."""

    def zoom(self, factor: float) -> None: ...

    def pan(self, fraction: float) -> None: ...

    def show_all(self) -> None: ...


def with_gaps(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
              gap: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``x``/``y`` with a NaN row inserted wherever consecutive ``x`` are more than ``gap`` apart."""
    if x.size < 2:
        return x, y
    breaks = np.flatnonzero(np.diff(x) > gap) + 1
    if breaks.size == 0:
        return x, y
    mid = (x[breaks - 1] + x[breaks]) / 2.0
    return np.insert(x, breaks, mid), np.insert(y, breaks, np.nan)


class ReviewCanvas(pg.GraphicsLayoutWidget):
    """The plot canvas; handles the zoom and pan keys itself."""

    def __init__(self, owner: Zoomable) -> None:
        super().__init__()
        self._owner = owner
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self._owner.zoom(2.0)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self._owner.zoom(0.5)
        elif key == Qt.Key.Key_Left:
            self._owner.pan(-0.25)
        elif key == Qt.Key.Key_Right:
            self._owner.pan(0.25)
        elif key == Qt.Key.Key_Home:
            self._owner.show_all()
        else:
            super().keyPressEvent(event)
            return
        event.accept()
