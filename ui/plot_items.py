"""What the live plots are made of: plot and trace factories, limit lines, phase bands, markers.

:class:`~ui.plots.LivePlots` owns the data and the frame loop; this module builds
the pyqtgraph items it shows and keeps the observation and alarm markers, so the
container stays about data flow. Choices here are about cost as much as looks
(PITFALLS #6, measured by ``benchmarks/ui_frame.py`` and ``benchmarks/peer_openhrv.py``):
traces are aliased, axes never rebuild label HTML on a scroll, markers outside the
visible window are taken out of the plot, and what does not move with the data --
alarm-limit lines, their labels, phase bands -- are plain Qt items that Qt draws and
transforms without calling back into Python (pyqtgraph's ``InfiniteLine`` and
``LinearRegionItem`` recompute their geometry in Python on every scroll and paint in
Python on every repaint).
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem, QGraphicsRectItem, QGraphicsSimpleTextItem

from kapmonitor.alarm_settings import LimitRule
from kapmonitor.types import AlarmPriority, AlarmTransition, Observation, Phase
from ui.theme import Theme, qcolor

__all__ = ["AXIS_WIDTH_PX", "LimitLine", "PlotMarkers", "band_colour", "make_curve", "make_plot",
           "marker_label", "phase_band"]

AXIS_WIDTH_PX = 64
"""Width of every left axis: equal widths keep the linked x axes aligned."""

_MARKER_LABEL_CHARS = 28


def make_plot(theme: Theme, left_label: str, *, show_x: bool) -> pg.PlotWidget:
    """A plot with no menu, no mouse zoom, no grid, fixed axis width; x axis hidden unless ``show_x``."""
    plot = pg.PlotWidget(background=theme.window)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    item = plot.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        # Otherwise every x scroll re-sets each axis label's HTML (~0.1 ms each), the hidden right
        # and top axes' too (they follow the view all the same); no units, no prefix.
        axis.enableAutoSIPrefix(False)
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(qcolor(theme.border))
        axis.setTextPen(qcolor(theme.text_dim))
        # Ticks point out, towards their numbers: ticks pointing into the plot put the axis inside
        # the trace's repaint area, so every new sample repainted both axes' tick texts too (the
        # larger part of a plot's repaint, measured).
        axis.setStyle(tickLength=5)
    item.setLabel("left", left_label, color=theme.text_dim)
    item.getAxis("left").setWidth(AXIS_WIDTH_PX)
    # No grid: calmer, and a full-plot grid costs ~15 ms per repaint offscreen (measured).
    if show_x:
        item.getAxis("bottom").setStyle(showValues=True)
    else:
        # The small plots share the heart-rate plot's x axis; their own tick rows were redrawn on
        # every scroll (~0.7 ms each per frame) to show no numbers.
        item.hideAxis("bottom")
        item.layout.setContentsMargins(0, 8, 0, 6)  # room for the edge tick labels of stacked plots
    item.getViewBox().disableAutoRange()
    return plot


def make_curve(plot: pg.PlotWidget, colour: str, width: float, *, cached: bool = False) -> pg.PlotDataItem:
    """A trace clipped to the view and peak-downsampled; NaN rows break the line.

    ``cached`` keeps the drawn trace as a device pixmap: for a plot that is redrawn
    rarely (the overview), a repaint in between is a copy.
    """
    # Aliased: an antialiased 1 px trace of ~900 noisy points cost ~1.5 ms more per repaint than the
    # aliased one (more than a bare plot's whole frame), and wider antialiased lines ~40 ms.
    # connect="finite": the NaN rows the ring buffer inserts at gaps break the line.
    curve = plot.plot(pen=pg.mkPen(qcolor(colour), width=width), antialias=False, connect="finite")
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    if cached:
        curve.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return curve


class LimitLine:
    """A horizontal alarm-limit line (dashed for high priority, dotted otherwise), labelled with its value.

    Drawn by Qt alone: the line is a ``QGraphicsLineItem`` in data coordinates and the label a
    ``QGraphicsSimpleTextItem`` in the plot's view box, just above the line at its left end. A
    scroll of the x axis moves neither in Python: the line is long enough to cover the view and
    is lengthened only when the view scrolls past one of its ends (:meth:`cover`, once per few
    window widths); the label moves only when the y range or the plot's size changes.

    Args:
        theme: colours.
        rule: the alarm rule drawn (priority, direction, tooltip).
        value: where the line is drawn, in the plot's y units.
        plot: the plot it is added to (:meth:`remove` takes it out again).
    """

    def __init__(self, theme: Theme, rule: LimitRule, value: float, plot: pg.PlotWidget) -> None:
        self._value = float(value)
        self._plot = plot
        self._view = plot.getViewBox()
        self._span: tuple[float, float] | None = None
        tint = theme.threshold
        style = Qt.PenStyle.DashLine if rule.priority is AlarmPriority.HIGH else Qt.PenStyle.DotLine
        self.line = QGraphicsLineItem()
        self.line.setPen(pg.mkPen(qcolor(tint, 170), width=1, style=style))  # cosmetic: 1 px at any scale
        self.line.setToolTip(rule.label)
        text = f"{value:g}"
        if rule.relative_to_baseline:
            text += f" (baseline {'+' if rule.direction == 'above' else '−'}{rule.limit:g})"
        self.label = QGraphicsSimpleTextItem(text, self._view)
        self.label.setBrush(QBrush(qcolor(tint)))
        self.label.setPen(QPen(Qt.PenStyle.NoPen))
        self.label.setToolTip(rule.label)
        self.label.setZValue(1000)  # above the traces, inside the view box (clipped with it)
        plot.addItem(self.line, ignoreBounds=True)
        self._view.sigYRangeChanged.connect(self._place_label)
        self._view.sigResized.connect(self._place_label)
        (left, right), _ = self._view.viewRange()
        self.cover(left, right)
        self._place_label()

    def value(self) -> float:
        """Where the line is drawn (the limit, in the plot's y units)."""
        return self._value

    @property
    def text(self) -> str:
        """The label's words ("120", "100 (baseline +30)")."""
        return str(self.label.text())

    def cover(self, left: float, right: float) -> None:
        """Make the line span at least ``left``..``right`` (the visible x range); cheap when it does."""
        span = self._span
        if span is not None and span[0] <= left and right <= span[1]:
            return
        width = max(right - left, 1.0)
        # A few window widths either side: long enough to be lengthened rarely, short enough that a
        # dashed pen never has millions of dashes to lay out.
        self._span = (left - 2.0 * width, right + 4.0 * width)
        self.line.setLine(self._span[0], self._value, self._span[1], self._value)

    def _place_label(self, *_: object) -> None:
        at = self._view.mapFromView(QPointF(0.0, self._value))
        height = self.label.boundingRect().height()
        self.label.setPos(max(2.0, self._view.width() * 0.005), at.y() - height)

    def remove(self) -> None:
        """Take the line and its label out of the plot."""
        self._view.sigYRangeChanged.disconnect(self._place_label)
        self._view.sigResized.disconnect(self._place_label)
        self._plot.removeItem(self.line)
        self.label.setParentItem(None)  # type: ignore[arg-type]  # None: no parent (the stub says otherwise)
        scene = self.label.scene()
        if scene is not None:
            scene.removeItem(self.label)


def band_colour(theme: Theme, phase: Phase) -> QColor:
    """The phase's colour at the theme's band opacity, blended over the plot background beforehand.

    The bands lie behind everything on the plots' own background, so an opaque colour looks the
    same as the translucent one and fills without blending (a translucent band over the whole
    plot cost ~0.7 ms per repaint offscreen).
    """
    top, under, alpha = QColor(theme.phase[phase]), QColor(theme.window), theme.band_alpha / 255.0
    return QColor(round(top.red() * alpha + under.red() * (1 - alpha)),
                  round(top.green() * alpha + under.green() * (1 - alpha)),
                  round(top.blue() * alpha + under.blue() * (1 - alpha)))


BAND_Y_EXTENT = 1.0e4
"""A phase band reaches this far above and below zero in y: beyond any plot's range."""


def phase_band(theme: Theme, phase: Phase, x0: float, x1: float) -> QGraphicsRectItem:
    """A fixed, borderless band behind the traces in the phase's colour, from ``x0`` to ``x1``."""
    band = QGraphicsRectItem(QRectF(x0, -BAND_Y_EXTENT, x1 - x0, 2 * BAND_Y_EXTENT))
    band.setBrush(QBrush(band_colour(theme, phase)))
    band.setPen(QPen(Qt.PenStyle.NoPen))
    band.setZValue(-100)
    band.setToolTip(phase.value.capitalize())
    return band


def marker_label(observation: Observation, label: str | None = None) -> str:
    """The words at an observation's marker: ``label``, else its text, else name (and value); cut to 28."""
    if label is None:
        label = observation.text or (observation.name if observation.value is None
                                     else f"{observation.name} {observation.value:g}")
    if len(label) > _MARKER_LABEL_CHARS:
        label = label[: _MARKER_LABEL_CHARS - 1].rstrip() + "…"
    return label


class PlotMarkers:
    """Observation and alarm markers on the recent plot (and alarm markers on the overview).

    Args:
        theme: colours.
        live_plot: the recent-history plot (observation and alarm markers).
        overview_plot: the whole-session plot (alarm markers only).
        x_of: session epoch seconds to the plots' x (minutes since the anchor).

    Markers are kept by wall time and re-placed by :meth:`place` when the anchor
    moves; :meth:`cull` keeps only those inside the recent plot's x range in it,
    since every labelled line in a plot is updated on every scroll, visible or not.
    """

    def __init__(self, theme: Theme, live_plot: pg.PlotWidget, overview_plot: pg.PlotWidget,
                 x_of: Callable[[float], float]) -> None:
        self._theme = theme
        self._live = live_plot
        self._overview = overview_plot
        self._x_of = x_of
        self._obs: dict[str, tuple[float, Observation, pg.InfiniteLine]] = {}
        self._alarms: list[tuple[float, AlarmTransition, pg.InfiniteLine, pg.InfiniteLine]] = []
        self._in_plot: set[pg.InfiniteLine] = set()

    @property
    def observation_count(self) -> int:
        return len(self._obs)

    @property
    def alarm_count(self) -> int:
        return len(self._alarms)

    def observation(self, observation: Observation, label: str | None = None) -> None:
        """Mark (or move, or remove if deleted) an observation; see :func:`marker_label`."""
        old = self._obs.pop(observation.observation_id, None)
        if old is not None:
            self._show(old[2], False)
        if observation.deleted:
            return
        t = self._theme
        line = pg.InfiniteLine(angle=90, movable=False,
                               pen=pg.mkPen(qcolor(t.observation, 150), width=1, style=Qt.PenStyle.DotLine),
                               label=marker_label(observation, label),
                               labelOpts={"position": 0.93, "color": qcolor(t.text),
                                          "fill": qcolor(t.window, 180)})
        self._obs[observation.observation_id] = (observation.occurred_at.timestamp(), observation, line)
        self.place()

    def alarm(self, transition: AlarmTransition) -> None:
        """Mark where an alarm was raised (only ``raised`` transitions are drawn)."""
        if transition.action != "raised":
            return
        pen = pg.mkPen(qcolor(self._theme.alarm[transition.priority], 170), width=2)
        live = pg.InfiniteLine(angle=90, movable=False, pen=pen)  # no label: the banner names it
        live.setToolTip(transition.label)
        overview = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self._overview.addItem(overview)
        self._alarms.append((transition.at.timestamp(), transition, live, overview))
        self.place()

    def place(self) -> None:
        """Put every marker at its x (after a new marker or a new anchor), then cull."""
        for t_epoch, _obs, line in self._obs.values():
            line.setPos(self._x_of(t_epoch))
        for t_epoch, _tr, live, overview in self._alarms:
            live.setPos(self._x_of(t_epoch))
            overview.setPos(self._x_of(t_epoch))
        self.cull()

    def cull(self) -> None:
        """Keep only markers inside the recent plot's x range (plus 2 %) in the plot."""
        (left, right), _ = self._live.getViewBox().viewRange()
        margin = (right - left) * 0.02
        lines = [line for _, _, line in self._obs.values()] + [live for _, _, live, _ in self._alarms]
        for line in lines:
            self._show(line, left - margin <= line.value() <= right + margin)

    def _show(self, line: pg.InfiniteLine, shown: bool) -> None:
        if shown and line not in self._in_plot:
            self._live.addItem(line)
            self._in_plot.add(line)
        elif not shown and line in self._in_plot:
            self._live.removeItem(line)
            self._in_plot.discard(line)
