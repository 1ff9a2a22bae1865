"""The review window's time line: the whole session on one axis, zoomable, with an overview strip.

Rows, top to bottom, all sharing the x axis (minutes since the first dose; since the
start when there was no dose): heart rate with its limit lines, SpO2, RR intervals,
blood pressure points (when any were taken), a lane plot with alarm spans coloured
by priority, session events and observation markers, and an overview strip of the
whole session whose shaded region is the visible range (drag it to pan).

Every data row shows the phase bands. Readings more than :data:`GAP_S` apart break
the line (a gap is where the signal was lost); readings flagged as artifacts or
without skin contact are left out of the line and drawn as faint dots beside it --
nothing recorded is hidden. Curves clip to the view and use peak downsampling
(PITFALLS #6), set with their data in one go.

Built to open fast (``benchmarks/review_open.py``): the rows are light
:class:`~ui.review_canvas.ReviewRow` items laid out once, and what repeats across the session is
one item per row, not one per thing: the phase bands of a row are one bar item, the
observation lines across the heart rate one item of line pairs.

Mouse: wheel zooms, drag pans (x only). Keys (plot focused): ``+``/``-`` zoom,
Left/Right pan, Home shows everything. Hovering shows the elapsed and local clock
time and the heart rate there; a click emits :attr:`ReviewPlot.time_clicked`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from kapmonitor.alarm_settings import LimitRule
from kapmonitor.ports import StreamData
from kapmonitor.review_series import usable_mask
from kapmonitor.types import AlarmPriority, EventKind, Phase, Stream
from ui.review_canvas import GAP_S, ReviewCanvas, ReviewRow, with_gaps
from ui.review_data import ReviewData, current_observations, fmt_clock, fmt_elapsed
from ui.theme import Theme, qcolor, set_role

__all__ = ["GAP_S", "ReviewPlot", "with_gaps"]

log = logging.getLogger(__name__)

MIN_SPAN_MIN = 0.5
HINT = ("Point at the plot for the time and heart rate \u00b7 wheel or +/\u2212 to zoom \u00b7 drag or "
        "\u2190/\u2192 to pan \u00b7 Home: whole session \u00b7 click: nearest entry")
_AXIS_WIDTH_PX = 60
_LANES = {"notes": 0.0, "events": 1.0, "alarms": 2.0}
_EVENT_KINDS = {EventKind.DOSE_GIVEN: "d", EventKind.BOOSTER_GIVEN: "d", EventKind.CHECK_DONE: "s",
                EventKind.CHECK_DISMISSED: "s", EventKind.SENSOR_LOST: "x", EventKind.SESSION_RESUMED: "t",
                EventKind.SESSION_ENDED: "s"}


def _beyond(plot: ReviewRow) -> tuple[float, float]:
    """A y span reaching well past ``plot``'s y range, for bands and lines that cross the whole row
    (the review's y ranges are set once and cannot be zoomed or dragged)."""
    y_lo, y_hi = plot.viewRange()[1]
    span = y_hi - y_lo
    return y_lo - span, y_hi + span


class ReviewPlot(QWidget):
    """The whole session on one zoomable time axis (see the module docstring).

    Signals:
        time_clicked(float): the user clicked the plot at this UTC time (Unix seconds).
        range_changed(float, float): the visible range changed (minutes since the dose).
    """

    time_clicked = Signal(float)
    range_changed = Signal(float, float)

    def __init__(self, data: ReviewData, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data = data
        self._theme = theme
        self._anchor = data.anchor.timestamp()
        start = data.record.started_at.timestamp()
        self._x0 = (start - self._anchor) / 60.0
        self._x1 = max((data.last_activity.timestamp() - self._anchor) / 60.0, self._x0 + MIN_SPAN_MIN)
        self._syncing = False
        self._plots: list[ReviewRow] = []
        self._obs_items: list[tuple[ReviewRow, pg.GraphicsObject]] = []
        self._obs_count = 0
        self.hover_label = QLabel(HINT, self)
        set_role(self.hover_label, "caption")
        self.view = ReviewCanvas(self)
        self.view.setBackground(theme.window)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.hover_label)
        layout.addWidget(self.view, 1)
        self._build()

    # ------------------------------------------------------------------------- building
    def _x(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return (t - self._anchor) / 60.0

    def _new_plot(self, label: str, *, height: int | None = None) -> ReviewRow:
        """A row, not yet on the canvas (:meth:`_build` lays them all out at once)."""
        plot = ReviewRow()
        pen, text_pen = qcolor(self._theme.border), qcolor(self._theme.text_dim)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            # Minutes and the vitals' own units, never SI-scaled (half a minute zoomed read as
            # milli-minutes); and no label rewritten on every change of range
            axis.enableAutoSIPrefix(False)
            axis.setPen(pen)
            axis.setTextPen(text_pen)
        plot.getAxis("left").setWidth(_AXIS_WIDTH_PX)
        plot.setLabel("left", label, color=self._theme.text_dim)
        plot.showGrid(alpha=0.12)
        if height is not None:
            plot.setMaximumHeight(height)
            plot.setMinimumHeight(height)
        return plot

    def _build(self) -> None:
        d, t = self._data, self._theme
        streams = d.streams
        hr = self._new_plot("Heart rate (bpm)")
        hr.setMinimumHeight(220)
        self.hr_plot = hr
        rows = [hr]
        hr.setYRange(*self._y_range(streams.get(Stream.HEART_RATE), 30.0, 152.0), padding=0)
        self._line(hr, streams.get(Stream.HEART_RATE), t.heart_rate, 1.6)
        self._limits(hr, Stream.HEART_RATE, d.rules, d.report.hr_baseline)
        for stream, colour, title, lo_hi in ((Stream.SPO2, t.spo2, "SpO\u2082 (%)", (80.0, 101.0)),
                                             (Stream.RR_INTERVAL, t.rr, "RR (ms)", (400.0, 1300.0))):
            data = streams.get(stream)
            if data is None or len(data) == 0:
                continue
            plot = self._new_plot(title, height=95)
            plot.setYRange(*self._y_range(data, *lo_hi), padding=0)
            self._line(plot, data, colour, 1.0)
            self._limits(plot, stream, d.rules, None)
            rows.append(plot)
        if d.report.bp_points:
            plot = self._new_plot("BP (mmHg)", height=110)
            self._bp(plot)
            rows.append(plot)
        lanes = self._new_plot("", height=80)
        self.lanes_plot = lanes
        self._lanes(lanes)
        rows.append(lanes)
        for plot in rows:
            self._phase_bands(plot, labels=plot is hr)
            plot.setMouseEnabled(x=True, y=False)
            plot.setLimits(xMin=self._x0, xMax=self._x1, minXRange=MIN_SPAN_MIN)
            if plot is not hr:
                plot.setXLink(hr)
            if plot is not lanes:
                plot.getAxis("bottom").setStyle(showValues=False)
        lanes.setLabel("bottom", "minutes since dose" if d.record.dose_at else "minutes since start",
                       color=t.text_dim)
        self._plots = rows
        self._overview()
        self.view.add_rows([*rows, self.overview_plot])
        for event in d.events:
            if event.kind in (EventKind.DOSE_GIVEN, EventKind.BOOSTER_GIVEN):
                x = (event.at.timestamp() - self._anchor) / 60.0
                pen = pg.mkPen(qcolor(t.text), width=1.5)
                dose = pg.InfiniteLine(pos=x, angle=90, movable=False, pen=pen)
                hr.addItem(dose, ignoreBounds=True)
        self.selection = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(qcolor(t.accent), width=2))
        self.selection.setVisible(False)
        hr.addItem(self.selection, ignoreBounds=True)
        self.hover_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(qcolor(t.text_dim), width=1))
        self.hover_line.setVisible(False)
        hr.addItem(self.hover_line, ignoreBounds=True)
        hr.setXRange(self._x0, self._x1, padding=0)
        hr.getViewBox().sigXRangeChanged.connect(self._on_range)
        self.view.scene().sigMouseMoved.connect(self._on_move)
        self.view.scene().sigMouseClicked.connect(self._on_click)
        self._on_range()

    def _y_range(self, data: StreamData | None, lo: float, hi: float) -> tuple[float, float]:
        if data is None or len(data) == 0:
            return lo, hi
        values = data.value[usable_mask(data)]
        if values.size == 0:
            return lo, hi
        return min(lo, float(np.percentile(values, 0.5)) - 5), max(hi, float(np.percentile(values, 99.5)) + 5)

    def _line(self, plot: ReviewRow, data: StreamData | None, colour: str, width: float) -> None:
        if data is None or len(data) == 0:
            return
        ok = usable_mask(data)
        x, y = with_gaps(self._x(data.t[ok]), data.value[ok], GAP_S / 60.0)
        # Dense 1 Hz traces gain nothing visible from antialiasing, which costs most of the paint.
        plot.plot(x, y, pen=pg.mkPen(qcolor(colour), width=width), connect="finite", antialias=False,
                  clipToView=True, autoDownsample=True, downsampleMethod="peak")
        if (~ok).any():
            plot.plot(self._x(data.t[~ok]), data.value[~ok], pen=None, symbol="o", symbolSize=3,
                      symbolPen=None, symbolBrush=qcolor(self._theme.stale))

    def _limits(self, plot: ReviewRow, stream: Stream, rules: Sequence[LimitRule],
                baseline: float | None) -> None:
        for rule in rules:
            if not rule.enabled or rule.stream is not stream:
                continue
            limit = rule.threshold(baseline)
            if limit is None:
                continue
            style = Qt.PenStyle.DotLine if rule.relative_to_baseline else Qt.PenStyle.DashLine
            # Labels sit under the line at the right end, clear of the phase names at the top; the small
            # plots show the number only, so neighbouring limits never overprint each other.
            text = f"{rule.label} {limit:g}" if plot is self.hr_plot else f"{limit:g}"
            line = pg.InfiniteLine(pos=limit, angle=0, movable=False,
                                   pen=pg.mkPen(qcolor(self._theme.threshold), width=1, style=style),
                                   label=text,
                                   labelOpts={"position": 0.99, "color": qcolor(self._theme.threshold),
                                              "anchors": [(1, 0), (1, 0)]})
            plot.addItem(line, ignoreBounds=True)

    def _bp(self, plot: ReviewRow) -> None:
        pts = self._data.report.bp_points
        x = np.array([(p.at.timestamp() - self._anchor) / 60.0 for p in pts])
        sys_ = np.array([p.systolic for p in pts])
        dia = np.array([p.diastolic for p in pts])
        pen = pg.mkPen(qcolor(self._theme.text), width=2)
        plot.plot(np.repeat(x, 2), np.column_stack([sys_, dia]).ravel(), pen=pen, connect="pairs")
        plot.plot(x, sys_, pen=None, symbol="t1", symbolSize=9, symbolBrush=qcolor(self._theme.text_strong))
        plot.plot(x, dia, pen=None, symbol="t", symbolSize=9, symbolBrush=qcolor(self._theme.text_strong))
        plot.setYRange(min(50.0, float(dia.min()) - 10), max(205.0, float(sys_.max()) + 10), padding=0)
        self._limits(plot, Stream.BP_SYSTOLIC, self._data.rules, None)

    def _lanes(self, plot: ReviewRow) -> None:
        d, t = self._data, self._theme
        plot.setYRange(-0.6, 2.6, padding=0)
        plot.getAxis("left").setTicks([[(v, k) for k, v in _LANES.items()]])
        plot.showGrid(alpha=0.12, y=False)
        spans = d.report.alarm_spans
        if spans:
            x0 = np.array([(s.start.timestamp() - self._anchor) / 60.0 for s in spans])
            x1 = np.array([(s.end.timestamp() - self._anchor) / 60.0 for s in spans])
            brushes = [qcolor(t.alarm[AlarmPriority(s.priority)], 200) for s in spans]
            bars = pg.BarGraphItem(x0=x0, width=np.maximum(x1 - x0, 0.25), y=_LANES["alarms"], height=0.6,
                                   brushes=brushes, pen=None)
            plot.addItem(bars)
        marks = [(e.at, _EVENT_KINDS[e.kind]) for e in d.events if e.kind in _EVENT_KINDS]
        if marks:
            xs = [(m.timestamp() - self._anchor) / 60.0 for m, _ in marks]
            plot.plot(xs, [_LANES["events"]] * len(marks), pen=None, symbol=[s for _, s in marks],
                      symbolSize=10, symbolBrush=qcolor(t.accent))
        self._draw_observations()

    def set_data(self, data: ReviewData) -> None:
        """Show a new observation history (after a late correction); the rest is unchanged."""
        self._data = data
        self._draw_observations()

    def _draw_observations(self) -> None:
        """Observation markers in the notes lane and faint lines across the heart-rate plot.

        Added-later observations are amber; withdrawn ones are not drawn.
        """
        t = self._theme
        for plot, item in self._obs_items:
            plot.removeItem(item)
        self._obs_items = []
        obs = [o for o in current_observations(self._data.observations) if not o.deleted]
        self._obs_count = len(obs)
        if not obs:
            return
        x = np.array([(o.occurred_at.timestamp() - self._anchor) / 60.0 for o in obs])
        brushes = [qcolor(t.alarm[AlarmPriority.MEDIUM]) if o.added_later else qcolor(t.observation)
                   for o in obs]
        marks = pg.PlotDataItem(x, [_LANES["notes"]] * len(obs), pen=None, symbol="t1", symbolSize=11,
                                symbolBrush=brushes)
        self.lanes_plot.addItem(marks)
        self._obs_items.append((self.lanes_plot, marks))
        # One item of vertical line pairs reaching past the plot's (fixed) heart-rate range.
        y_lo, y_hi = _beyond(self.hr_plot)
        pen = pg.mkPen(qcolor(t.observation, 150), width=1, style=Qt.PenStyle.DashLine)
        lines = pg.PlotDataItem(np.repeat(x, 2), np.tile([y_lo, y_hi], x.size), pen=pen, connect="pairs",
                                antialias=False)
        lines.setZValue(-10)
        self.hr_plot.addItem(lines, ignoreBounds=True)
        self._obs_items.append((self.hr_plot, lines))

    @property
    def observation_marker_count(self) -> int:
        """Observations drawn (for tests and the status line)."""
        return self._obs_count

    def _phase_bands(self, plot: ReviewRow, *, labels: bool) -> None:
        """The phases as coloured bands behind the row's data (one item), named on the heart rate."""
        t = self._theme
        phases = self._data.report.phases
        if not phases:
            return
        x0 = np.array([(p.start.timestamp() - self._anchor) / 60.0 for p in phases])
        x1 = np.array([(p.end.timestamp() - self._anchor) / 60.0 for p in phases])
        y_lo, y_hi = _beyond(plot)
        bands = pg.BarGraphItem(x0=x0, x1=x1, y0=y_lo, y1=y_hi, pen=pg.mkPen(None),
                                brushes=[qcolor(t.phase[Phase(p.phase)], t.band_alpha) for p in phases])
        bands.setZValue(-20)
        plot.addItem(bands, ignoreBounds=True)
        if labels:
            y_lo, y_hi = plot.viewRange()[1]
            for phase, x in zip(phases, x0, strict=True):
                # alternate heights: short phases side by side never overprint each other's names
                text = pg.TextItem(phase.phase.value, color=qcolor(t.text_dim), anchor=(0, 0))
                text.setPos(float(x), y_hi - (y_hi - y_lo) * 0.055 * (Phase(phase.phase).order % 2))
                plot.addItem(text, ignoreBounds=True)

    def _overview(self) -> None:
        plot = self._new_plot("whole", height=70)
        self.overview_plot = plot
        hr = self._data.streams.get(Stream.HEART_RATE)
        plot.setMouseEnabled(x=False, y=False)
        plot.setXRange(self._x0, self._x1, padding=0)
        plot.setYRange(*self._y_range(hr, 50.0, 110.0), padding=0)
        self._line(plot, hr, self._theme.heart_rate, 1.0)
        self._phase_bands(plot, labels=False)
        plot.getAxis("left").setStyle(showValues=False)
        self.region = pg.LinearRegionItem((self._x0, self._x1), brush=qcolor(self._theme.accent, 50),
                                          bounds=(self._x0, self._x1))
        self.region.setZValue(10)
        plot.addItem(self.region)
        self.region.sigRegionChanged.connect(self._on_region)

    # ---------------------------------------------------------------------------- range
    def visible_range(self) -> tuple[float, float]:
        """The visible x range in minutes since the dose."""
        (lo, hi), _ = self.hr_plot.getViewBox().viewRange()
        return float(lo), float(hi)

    def full_range(self) -> tuple[float, float]:
        return self._x0, self._x1

    def set_visible_range(self, lo: float, hi: float) -> None:
        span = max(hi - lo, MIN_SPAN_MIN)
        lo = min(max(lo, self._x0), self._x1 - span)
        self.hr_plot.setXRange(max(lo, self._x0), min(lo + span, self._x1), padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom about the centre: ``factor`` > 1 zooms in."""
        lo, hi = self.visible_range()
        centre, half = (lo + hi) / 2, (hi - lo) / 2 / factor
        self.set_visible_range(centre - half, centre + half)

    def pan(self, fraction: float) -> None:
        """Move by ``fraction`` of the visible width (negative: back in time)."""
        lo, hi = self.visible_range()
        shift = (hi - lo) * fraction
        self.set_visible_range(lo + shift, hi + shift)

    def show_all(self) -> None:
        self.hr_plot.setXRange(self._x0, self._x1, padding=0)

    def center_on(self, epoch_s: float) -> None:
        """Mark ``epoch_s`` and bring it into view (keeping the zoom, or 30 min when showing all)."""
        x = (epoch_s - self._anchor) / 60.0
        self.selection.setPos(x)
        self.selection.setVisible(True)
        lo, hi = self.visible_range()
        span = hi - lo
        if span >= (self._x1 - self._x0) * 0.95:
            span = 30.0
        elif lo + span * 0.1 <= x <= hi - span * 0.1:
            return
        self.set_visible_range(x - span / 2, x + span / 2)

    def _on_range(self, *_: object) -> None:
        lo, hi = self.visible_range()
        if not self._syncing:
            self._syncing = True
            try:
                self.region.setRegion((max(lo, self._x0), min(hi, self._x1)))
            finally:
                self._syncing = False
        self.range_changed.emit(lo, hi)

    def _on_region(self) -> None:
        if self._syncing:
            return
        lo, hi = self.region.getRegion()
        self._syncing = True
        try:
            self.hr_plot.setXRange(float(lo), float(hi), padding=0)
        finally:
            self._syncing = False
        self.range_changed.emit(*self.visible_range())

    # ---------------------------------------------------------------------------- mouse
    def _x_at(self, pos: QPointF) -> float | None:
        for plot in self._plots:
            if plot.sceneBoundingRect().contains(pos):
                return float(plot.getViewBox().mapSceneToView(pos).x())
        return None

    def describe(self, x_min: float) -> str:
        """The hover text for minute ``x_min``: elapsed, clock time, heart rate there."""
        epoch = self._anchor + x_min * 60.0
        moment = datetime.fromtimestamp(epoch, tz=UTC)
        parts = [fmt_elapsed(x_min * 60.0, with_seconds=True), fmt_clock(moment, seconds=True)]
        hr = self._data.streams.get(Stream.HEART_RATE)
        if hr is not None and len(hr):
            i = int(np.searchsorted(hr.t, epoch))
            near = [j for j in (i - 1, i) if 0 <= j < len(hr)]
            j = min(near, key=lambda k: abs(float(hr.t[k]) - epoch))
            if abs(float(hr.t[j]) - epoch) <= GAP_S:
                parts.append(f"HR {hr.value[j]:.0f} bpm")
            else:
                parts.append("HR no signal")
        return "   ".join(parts)

    def _on_move(self, pos: QPointF) -> None:
        x = self._x_at(pos)
        if x is None:
            return
        self.hover_line.setPos(x)
        self.hover_line.setVisible(True)
        self.hover_label.setText(self.describe(x))

    def _on_click(self, event: object) -> None:
        button = getattr(event, "button", None)
        if button is None or button() != Qt.MouseButton.LeftButton:
            return
        x = self._x_at(event.scenePos())  # type: ignore[attr-defined]
        if x is not None:
            self.view.setFocus()
            self.time_clicked.emit(self._anchor + x * 60.0)
