"""The review plot's canvas, its rows and small helpers (split from :mod:`ui.review_plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import QGraphicsGridLayout, QGraphicsItem

__all__ = ["GAP_S", "ReviewCanvas", "ReviewRow", "YGrid", "Zoomable", "with_gaps"]

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


class YGrid(pg.PlotCurveItem):
    """One level of a row's horizontal grid lines (0: at the left axis's major ticks, 1: its minor
    ones) across the row's view, in one path and as bright as the axis would draw them."""

    def __init__(self, axis: pg.AxisItem, level: int, alpha: float) -> None:
        super().__init__(connect="pairs", antialias=False)
        self.setZValue(-10)  # behind the data, in front of the phase bands
        self._axis = axis
        self._level = level
        self.alpha = alpha
        self._drawn: tuple[float, ...] = ()
        self._across = (0.0, 0.0)
        self._for = (0.0, 0.0, 0.0)  # the y range and height the lines were placed for

    def values(self) -> tuple[float, ...]:
        """The y values of this level's lines now."""
        return self._drawn

    def update_lines(self, *_: object) -> None:
        """Lines at this level's ticks for the view's y range and height, across its x range."""
        view = self.getViewBox()
        if view is None:
            return
        (x_lo, x_hi), (y_lo, y_hi) = view.viewRange()
        height = max(1.0, float(view.height()))
        across = self._across[0] <= x_lo and self._across[1] >= x_hi
        if across and (y_lo, y_hi, height) == self._for:
            return  # panned or zoomed within the lines: nothing to do
        self._for = (y_lo, y_hi, height)
        levels = self._axis.tickValues(y_lo, y_hi, height)
        ys = tuple(float(v) for v in levels[self._level][1] if y_lo <= v <= y_hi) \
            if len(levels) > self._level else ()
        if ys == self._drawn and across:
            return
        # pyqtgraph's AxisItem.generateDrawSpecs: 1/(level+1) of the alpha, less when lines crowd
        alpha = self.alpha / (self._level + 1) * min(1.0, max(0.0, 0.05 * height / (len(ys) + 1)))
        colour = self._axis.pen().color()
        colour.setAlphaF(alpha)
        self.setPen(pg.mkPen(colour, width=1))
        span = x_hi - x_lo
        self._across = (x_lo - span, x_hi + span)  # past the view: panning shows no ends
        self._drawn = ys
        self.setData(np.tile(self._across, len(ys)), np.repeat(np.asarray(ys, dtype=np.float64), 2))


class ReviewRow(pg.GraphicsWidget):
    """One row of the review plot: a view box (with the y grid, :class:`YGrid`), its left axis (label)
    and its bottom axis (x grid).

    Laid out as a ``pyqtgraph.PlotItem`` lays out these three, with the few of its methods the
    review uses, but without what a PlotItem builds and the review never shows: its context menu
    (a form of some forty controls), buttons, title and top and right axes. Six PlotItems were
    about half the time to build the window (``benchmarks/review_open.py``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.vb = pg.ViewBox(enableMenu=False)
        self.axes = {"left": pg.AxisItem("left"), "bottom": pg.AxisItem("bottom")}
        grid = QGraphicsGridLayout()
        grid.setContentsMargins(1, 1, 1, 1)
        grid.setSpacing(0)
        grid.addItem(self.axes["left"], 0, 0)
        grid.addItem(self.vb, 0, 1)
        grid.addItem(self.axes["bottom"], 1, 1)
        self.setLayout(grid)
        for axis in self.axes.values():
            axis.linkToView(self.vb)
        self.vb.sigResized.connect(self._resized)
        self.y_grid: list[YGrid] = []
        self._grid_pending = False
        self.vb.sigResized.connect(self._update_y_grid)
        self.vb.sigYRangeChanged.connect(self._update_y_grid)
        self.vb.sigXRangeChanged.connect(self._update_y_grid)

    def _resized(self, *_: object) -> None:
        """Downsample again for the new width: pyqtgraph does so only when the range changes, so
        the first paint (the row laid out after its data was set) would draw every point."""
        for item in self.vb.addedItems:
            if isinstance(item, pg.PlotDataItem) and item.opts["autoDownsample"]:
                item.viewRangeChanged()

    def _update_y_grid(self, *_: object) -> None:
        """Place the grid lines for the view's range and size on the next turn of the event loop:
        building the window changes both some fifty times before it is first painted."""
        if not self._grid_pending and self.y_grid:
            self._grid_pending = True
            QTimer.singleShot(0, self, self._place_y_grid)

    def _place_y_grid(self) -> None:
        self._grid_pending = False
        for line in self.y_grid:
            line.update_lines()

    def getViewBox(self) -> pg.ViewBox:
        return self.vb

    def getAxis(self, name: str) -> pg.AxisItem:
        return self.axes[name]

    def setLabel(self, axis: str, text: str, **style: Any) -> None:
        self.axes[axis].setLabel(text, **style)

    def showGrid(self, alpha: float, *, y: bool = True) -> None:
        """Grid lines, ``alpha`` 0..1: vertical ones drawn by the bottom axis, horizontal ones (``y``)
        by two :class:`YGrid` items at the left axis's ticks.

        Drawn by the left axis too (pyqtgraph's way), the horizontal lines were 30-40 ms of the
        first paint of an 8-hour review's six rows (``benchmarks/review_open.py``: the axis replays
        them from a QPicture), about 1 ms as items of the row's view.
        """
        self.axes["bottom"].setGrid(int(alpha * 255))
        for line in self.y_grid:
            self.vb.removeItem(line)
        self.y_grid = [YGrid(self.axes["left"], level, alpha) for level in (0, 1)] if y else []
        for line in self.y_grid:
            self.vb.addItem(line, ignoreBounds=True)
        self._update_y_grid()

    def addItem(self, item: QGraphicsItem, *, ignoreBounds: bool = False) -> None:
        self.vb.addItem(item, ignoreBounds=ignoreBounds)

    def removeItem(self, item: QGraphicsItem) -> None:
        self.vb.removeItem(item)

    def plot(self, *args: Any, **options: Any) -> pg.PlotDataItem:
        """A data item made with all its options at once (its data is prepared once), added to the row."""
        item = pg.PlotDataItem(*args, **options)
        self.vb.addItem(item)
        return item

    def viewRange(self) -> list[list[float]]:
        return self.vb.viewRange()

    def setXRange(self, lo: float, hi: float, padding: float | None = None) -> None:
        self.vb.setXRange(lo, hi, padding=padding)

    def setYRange(self, lo: float, hi: float, padding: float | None = None) -> None:
        self.vb.setYRange(lo, hi, padding=padding)

    def setXLink(self, other: ReviewRow) -> None:
        self.vb.setXLink(other.vb)

    def setLimits(self, **limits: float) -> None:
        self.vb.setLimits(**limits)

    def setMouseEnabled(self, *, x: bool, y: bool) -> None:
        self.vb.setMouseEnabled(x=x, y=y)

    def sceneBoundingRect(self) -> QRectF:
        """The view box's rectangle in the scene (where a point maps to a time)."""
        return self.vb.sceneBoundingRect()


class ReviewCanvas(pg.GraphicsLayoutWidget):
    """The plot canvas; handles the zoom and pan keys itself."""

    def __init__(self, owner: Zoomable) -> None:
        super().__init__()
        self._owner = owner
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def add_rows(self, rows: Sequence[ReviewRow]) -> None:
        """Put ``rows`` under each other, top to bottom, laid out once (the layout's own ``addItem``
        lays everything out again after each item)."""
        grid = self.ci.layout
        for i, row in enumerate(rows):
            grid.addItem(row, i, 0)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        """Lay the rows out for the new size and set their views' transforms now, before the paint
        that follows.

        Left to themselves both happen later: the layout on a posted request, which arrives after the
        window's first paint, and the views' transforms as that paint begins, which moves every item
        in them. Either way the whole canvas was painted again right after the first paint when the
        review opened (and after every resize), showing the same: some 25-40 ms of an 8-hour review's
        opening spent for nothing.
        """
        super().resizeEvent(event)
        if event is None:  # pyqtgraph calls it so while it builds the view
            return
        self.ci.layout.activate()
        self.scene().prepareForPaint()

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
