"""Live plots of the bedside window: recent heart rate, SpO2, RR, and the whole session.

Layout (top to bottom): heart rate over the last ``window_min`` minutes (big),
SpO2 and RR intervals (small, shown once such data arrives; x axes linked to
the heart-rate plot), and the whole session so far (small overview).

The x axis is minutes since the first dose (negative before it), or minutes
since the session started while no dose has been given. Re-anchoring when the
dose is given shifts the stored x values once (O(n), once per session).

Cost control (PITFALLS #6; measured by ``benchmarks/ui_frame.py``): samples live
in preallocated :class:`RingBuffer` arrays; each frame hands pyqtgraph only the
*visible slice* of the live traces (an O(log n) view, no copy), with
``setClipToView`` and peak downsampling on every curve; traces are drawn
aliased (antialiasing a noisy trace costs more than the rest of the plot); a
curve gets new data only when its stream changed or the window scrolled. The
whole-session overview is redrawn only when its right edge has moved at least
one pixel (and at most every ``overview_every_s`` seconds of session time), and
its trace is kept as a device pixmap, so repaints in between are a copy.
Frames come from a ``QTimer`` (default 2 Hz, in real time whatever the clock's
speed); readings only land in the buffers, and the next frame draws whatever
arrived since the last one, so a heart-rate packet, its RR intervals and the
oximeter's value half a second later cost one redraw per frame between them,
not one each (the numbers in the tiles show each reading at once). The x range
follows the clock (real elapsed time, never counted ticks) and is only moved
when the shift is at least one pixel, so an idle 1 Hz session repaints about
once a second. Alarm-limit lines and phase bands are plain Qt items
(:mod:`ui.plot_items`): a scroll moves them without a call into Python.

Gaps: readings more than ``gap_s`` apart get a NaN row between them; the line
breaks where the signal was lost. A value that is not usable
(:func:`kapmonitor.streams.usable`: no skin contact, an artifact, nonsense such
as heart rate 0) is kept in the store but drawn as a gap, never as a number, so
it neither looks like asystole nor rescales the axis; manual entries are drawn
as dots.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from kapmonitor import streams
from kapmonitor.alarm_settings import LimitRule
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.types import AlarmTransition, Observation, Phase, ReadingFlag, Stream
from ui.plot_items import LimitLine, PlotMarkers, make_curve, make_plot, phase_band
from ui.ringbuffer import RingBuffer
from ui.theme import Theme, qcolor

__all__ = ["LivePlots", "RingBuffer"]

log = logging.getLogger(__name__)

COMPACT_PLOT_PX = 52
"""A small plot shorter than this shows its trace without an axis title and tick values."""
COMPACT_HR_PLOT_PX = 140
"""A heart-rate plot shorter than this titles its axis "HR (bpm)" (the long title would be cut)."""

_PLOTTED = (Stream.HEART_RATE, Stream.SPO2, Stream.RR_INTERVAL)
_TITLES = {Stream.HEART_RATE: "Heart rate (bpm)", Stream.SPO2: "SpO\u2082 (%)",
           Stream.RR_INTERVAL: "RR (ms)"}


class LivePlots(QWidget):
    """The live view's plots.

    Args:
        theme: colours.
        now_epoch: the injected clock's current wall time as Unix seconds.
        window_min: width of the recent-history plot in minutes.
        frame_hz: frame rate of the redraw timer.
        gap_s: a step between readings longer than this breaks the line.
        overview_every_s: minimum seconds of session time between overview redraws.

    Feed it through :meth:`add_reading` (connect ``RecorderBridge.reading_arrived``),
    :meth:`set_snapshot`, :meth:`add_observation`, :meth:`add_alarm_marker`
    and :meth:`set_limits`; call :meth:`start` to run the frame timer, or
    :meth:`render_frame` directly (tests, benchmarks).
    """

    def __init__(self, theme: Theme, now_epoch: Callable[[], float], *, window_min: float = 15.0,
                 frame_hz: float = 2.0, gap_s: float = 5.0, overview_every_s: float = 2.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if not window_min > 0 or not frame_hz > 0 or not gap_s > 0:
            raise ValueError("window_min, frame_hz and gap_s must be positive")
        self._theme = theme
        self._now_epoch = now_epoch
        self._window_min = float(window_min)
        self._overview_every_s = overview_every_s
        self._anchor: float | None = None
        self._anchor_is_dose = False
        self._buffers = {s: RingBuffer(4096, gap_x=gap_s / 60.0) for s in _PLOTTED}
        self._manual: dict[Stream, list[tuple[float, float]]] = {Stream.HEART_RATE: [], Stream.SPO2: []}
        self._drawn_versions: dict[Stream, int] = {}
        self._overview_version = -1
        self._overview_drawn_x: float | None = None
        self._last_x_now: float | None = None
        self._y_range: tuple[float, float] | None = None
        self._bounds: tuple[tuple[Phase, datetime, datetime | None], ...] = ()
        self._band_items: list[tuple[pg.PlotWidget, QGraphicsRectItem]] = []
        self._limits: dict[str, float] = {}
        self._limit_items: list[LimitLine] = []
        self._build()
        self._markers = PlotMarkers(theme, self.hr_plot, self.overview_plot, self._x)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.CoarseTimer)
        self._timer.setInterval(max(1, round(1000.0 / frame_hz)))
        self._timer.timeout.connect(self.render_frame)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        t = self._theme
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.hr_plot = make_plot(t, _TITLES[Stream.HEART_RATE], show_x=True)
        self.spo2_plot = make_plot(t, _TITLES[Stream.SPO2], show_x=False)
        self.rr_plot = make_plot(t, _TITLES[Stream.RR_INTERVAL], show_x=False)
        self.overview_plot = make_plot(t, "Session", show_x=True)
        for plot in (self.spo2_plot, self.rr_plot):
            plot.setXLink(self.hr_plot)
            plot.hide()
        self.spo2_plot.setYRange(85, 101, padding=0)
        self.hr_plot.setMinimumHeight(170)
        for plot in (self.spo2_plot, self.rr_plot, self.overview_plot):
            plot.setMinimumHeight(70)
        layout.addWidget(self.hr_plot, 6)
        layout.addWidget(self.spo2_plot, 2)
        layout.addWidget(self.rr_plot, 2)
        layout.addWidget(self.overview_plot, 2)
        self.hr_curve = make_curve(self.hr_plot, t.heart_rate, 1.0)
        self.spo2_curve = make_curve(self.spo2_plot, t.spo2, 1.0)
        self.rr_curve = make_curve(self.rr_plot, t.rr, 1.0)
        # Redrawn only when it moves a pixel: in between, a repaint copies the cached pixmap.
        self.overview_curve = make_curve(self.overview_plot, t.heart_rate, 1.0, cached=True)
        self._curves = {Stream.HEART_RATE: self.hr_curve, Stream.SPO2: self.spo2_curve,
                        Stream.RR_INTERVAL: self.rr_curve}
        self._manual_items = {
            s: p.plot(pen=None, symbol="o", symbolSize=9, symbolBrush=qcolor(c), symbolPen=None)
            for s, p, c in ((Stream.HEART_RATE, self.hr_plot, t.heart_rate),
                            (Stream.SPO2, self.spo2_plot, t.spo2))
        }
        self._update_axis_label()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """On a short screen the small plots keep their traces and drop what no longer fits.

        Below :data:`COMPACT_PLOT_PX` a small plot's axis title and its tick labels would overlap
        (three titles stacked into one smear on a 768-pixel laptop): the trace and its limit lines
        stay; the title and the tick values go (the tiles above give the numbers).
        """
        super().resizeEvent(event)
        hr_title = "HR (bpm)" if self.hr_plot.height() < COMPACT_HR_PLOT_PX else _TITLES[Stream.HEART_RATE]
        hr_axis = self.hr_plot.getPlotItem().getAxis("left")
        if hr_axis.labelText != hr_title:
            self.hr_plot.getPlotItem().setLabel("left", hr_title, color=self._theme.text_dim)
        for plot in (self.spo2_plot, self.rr_plot, self.overview_plot):
            compact = plot.height() < COMPACT_PLOT_PX
            axis = plot.getPlotItem().getAxis("left")
            axis.showLabel(not compact)
            axis.setStyle(showValues=not compact)

    # ------------------------------------------------------------------ inputs
    @Slot(str, float, float, int, str)
    def add_reading(self, stream: str, value: float, t_epoch: float, flags: int, sensor_id: str = "") -> None:
        """Take one reading (the bridge's ``reading_arrived`` signature); other streams are ignored."""
        try:
            kind = Stream(stream)
        except ValueError:
            return
        if kind not in self._buffers:
            return
        checked = streams.checked_flags(kind, value, flags)
        is_usable = streams.usable(kind, checked)
        if self._anchor is None:
            self._anchor = t_epoch
        x = (t_epoch - self._anchor) / 60.0
        if flags & ReadingFlag.MANUAL:
            if kind in self._manual and is_usable:
                self._manual[kind].append((x, value))
                self._drawn_versions.pop(kind, None)
            return
        buf = self._buffers[kind]
        last = buf.last_x
        if last is not None and x < last:
            log.debug("dropping out-of-order %s reading at %.3f min (last %.3f)", stream, x, last)
            return
        if is_usable:
            buf.append(x, value)
        else:
            buf.append_gap(x)  # stored, never drawn: heart rate 0 without contact is a gap, not asystole

    def load_history(self, stream: Stream, t_epoch: np.ndarray, values: np.ndarray,
                     flags: np.ndarray | None = None) -> None:
        """Bulk-load a stored stream (resume after a crash), before any live readings already shown."""
        if stream not in self._buffers or len(t_epoch) == 0:
            return
        spec = streams.spec(stream)
        y_all = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # NaN (a gap) stays a gap; nonsense becomes one
            drawable = (y_all >= spec.low) & (y_all <= spec.high)
        keep = np.ones(y_all.shape, dtype=bool)
        if flags is not None:
            flag_arr = np.asarray(flags, dtype=np.int64)
            keep &= (flag_arr & int(ReadingFlag.MANUAL)) == 0
            drawable &= (flag_arr & int(spec.unusable)) == 0
        if self._anchor is None:
            self._anchor = float(t_epoch[0])
        buf = self._buffers[stream]
        x_hist = (np.asarray(t_epoch, dtype=np.float64)[keep] - self._anchor) / 60.0
        y_hist = np.where(drawable, y_all, np.nan)[keep]
        # Live readings may have arrived first (the sensor reattaches while history loads):
        # history goes before them, overlapping history is dropped.
        live_x, live_y = buf.x.copy(), buf.y.copy()
        if len(live_x):
            older = x_hist < live_x[0]
            x_hist, y_hist = x_hist[older], y_hist[older]
        buf.clear()
        buf.extend(x_hist, y_hist)
        buf.extend(live_x, live_y)

    def set_snapshot(self, snapshot: SessionSnapshot) -> None:
        """Anchor the axis on the dose (or start) and draw the phase bands."""
        anchor_at = snapshot.first_dose_at or snapshot.started_at
        if anchor_at is not None:
            self._set_anchor(anchor_at.timestamp(), snapshot.first_dose_at is not None)
        if snapshot.phase_bounds != self._bounds:
            self._bounds = snapshot.phase_bounds
            self._draw_bands()

    def set_limits(self, rules: Sequence[LimitRule], baselines: Mapping[Stream, float] | None = None) -> None:
        """Draw the enabled heart-rate and SpO2 alarm limits as dashed lines.

        A rule relative to the baseline is drawn at baseline +/- offset once the
        baseline is known (pass ``baselines``), and not at all before.
        """
        for line in self._limit_items:
            line.remove()
        self._limit_items.clear()
        self._limits.clear()
        plots = {Stream.HEART_RATE: self.hr_plot, Stream.SPO2: self.spo2_plot}
        for rule in rules:
            plot = plots.get(rule.stream)
            value = rule.threshold((baselines or {}).get(rule.stream))
            if plot is None or not rule.enabled or value is None:
                continue
            key = f"{rule.stream.value}_{rule.direction}"
            if rule.direction == "above":
                self._limits[key] = min(value, self._limits.get(key, math.inf))
            else:
                self._limits[key] = max(value, self._limits.get(key, -math.inf))
            self._limit_items.append(LimitLine(self._theme, rule, value, plot))
        self._y_range = None

    def add_observation(self, observation: Observation, label: str | None = None) -> None:
        """Mark (or move, or remove if deleted) an observation on the heart-rate plot.

        ``label`` is the text shown at the marker (default: the note text, or name and
        value); it is cut to 28 characters.
        """
        self._markers.observation(observation, label)

    def add_alarm_marker(self, transition: AlarmTransition) -> None:
        """Mark where an alarm was raised (only ``raised`` transitions are drawn)."""
        self._markers.alarm(transition)

    @property
    def observation_count(self) -> int:
        """Observations marked on the plot (deleted ones are not)."""
        return self._markers.observation_count

    @property
    def alarm_marker_count(self) -> int:
        return self._markers.alarm_count

    @property
    def limit_values(self) -> list[float]:
        """Where the alarm-limit lines are drawn (both plots)."""
        return [line.value() for line in self._limit_items]

    def set_window_minutes(self, minutes: float) -> None:
        """Change the recent-history width (clamped to 1..240 minutes)."""
        self._window_min = min(240.0, max(1.0, float(minutes)))
        self._last_x_now = None
        self._drawn_versions.clear()

    @property
    def window_minutes(self) -> float:
        return self._window_min

    def buffer(self, stream: Stream) -> RingBuffer:
        """The samples of one plotted stream (x in minutes since the anchor)."""
        return self._buffers[stream]

    @property
    def anchored_on_dose(self) -> bool:
        return self._anchor_is_dose

    # --------------------------------------------------------------- frame loop
    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def render_frame(self, full: bool = False) -> None:
        """Push new samples to the curves and scroll the window to the clock's now.

        ``full`` also redraws the throttled whole-session overview now.
        """
        if self._anchor is None:
            return
        x_now = (self._now_epoch() - self._anchor) / 60.0
        left = x_now - self._window_min
        moved = self._scroll_to(x_now, left)
        for stream, curve in self._curves.items():
            buf = self._buffers[stream]
            if self._drawn_versions.get(stream) == buf.version and not moved:
                continue
            self._drawn_versions[stream] = buf.version
            x, y = buf.since(left)
            curve.setData(x, y)
            if len(buf) and stream is not Stream.HEART_RATE:
                plot = self.spo2_plot if stream is Stream.SPO2 else self.rr_plot
                if plot.isHidden():
                    plot.show()
                if stream is Stream.RR_INTERVAL:
                    self._fit_y(plot, y, floor=300.0, ceil=1500.0, pad=50.0)
            if stream is Stream.HEART_RATE:
                self._fit_hr(y)
        for stream, item in self._manual_items.items():
            pts = self._manual[stream]
            if pts and len(pts) != len(item.xData if item.xData is not None else ()):
                item.setData([p[0] for p in pts], [p[1] for p in pts])
        if full:
            self._overview_drawn_x = None
        self._render_overview(x_now)

    def _scroll_to(self, x_now: float, left: float) -> bool:
        view = self.hr_plot.getViewBox()
        width_px = max(1.0, view.width())
        px_per_min = width_px / self._window_min
        if self._last_x_now is not None and abs(x_now - self._last_x_now) * px_per_min < 1.0:
            return False
        self._last_x_now = x_now
        right = x_now + self._window_min * 0.015
        view.setXRange(left, right, padding=0)
        _settle(self.hr_plot, self.spo2_plot, self.rr_plot)  # the linked plots moved with it
        for line in self._limit_items:
            line.cover(left, right)
        self._markers.cull()
        return True

    def _fit_hr(self, y: np.ndarray) -> None:
        lo_lim = self._limits.get("heart_rate_below", 45.0)
        hi_lim = self._limits.get("heart_rate_above", 120.0)
        finite = y[np.isfinite(y)] if len(y) else y
        lo, hi = lo_lim - 5.0, hi_lim + 10.0  # room for the limit labels above their lines
        if len(finite):
            lo = min(lo, 5.0 * math.floor((float(finite.min()) - 5.0) / 5.0))
            hi = max(hi, 5.0 * math.ceil((float(finite.max()) + 5.0) / 5.0))
        if (lo, hi) != self._y_range:
            self._y_range = (lo, hi)
            self.hr_plot.setYRange(lo, hi, padding=0)
            self.overview_plot.setYRange(lo, hi, padding=0)
            _settle(self.hr_plot, self.overview_plot)

    @staticmethod
    def _fit_y(plot: pg.PlotWidget, y: np.ndarray, *, floor: float, ceil: float, pad: float) -> None:
        finite = y[np.isfinite(y)]
        if not len(finite):
            return
        lo = max(floor, 50.0 * math.floor((float(finite.min()) - pad) / 50.0))
        hi = min(ceil, 50.0 * math.ceil((float(finite.max()) + pad) / 50.0))
        if hi > lo and plot.property("y_range") != (lo, hi):
            plot.setProperty("y_range", (lo, hi))
            plot.setYRange(lo, hi, padding=0)
            _settle(plot)

    def _render_overview(self, x_now: float) -> None:
        """Redraw the whole-session plot when its right edge moved a pixel (and not too often).

        Both rules use session time, so the overview keeps pace with the data whatever the
        frame rate; new readings inside the last pixel column wait for the next redraw (the
        recent plots show them at once).
        """
        buf = self._buffers[Stream.HEART_RATE]
        first = buf.x[0] if len(buf) else x_now
        if self._bounds:
            first = min(first, (self._bounds[0][1].timestamp() - (self._anchor or 0.0)) / 60.0)
        right = max(x_now, first + 5.0)
        if self._overview_drawn_x is not None:
            px_per_min = max(1.0, self.overview_plot.getViewBox().width()) / max(1e-9, right - first)
            moved_px = (x_now - self._overview_drawn_x) * px_per_min
            if moved_px < 1.0 or (x_now - self._overview_drawn_x) * 60.0 < self._overview_every_s:
                return
        self._overview_drawn_x = x_now
        self.overview_plot.setXRange(first, right, padding=0.01)
        _settle(self.overview_plot)
        if buf.version != self._overview_version:
            self._overview_version = buf.version
            self.overview_curve.setData(buf.x, buf.y)

    # ------------------------------------------------------------------ anchor
    def _set_anchor(self, anchor: float, is_dose: bool) -> None:
        if self._anchor == anchor and self._anchor_is_dose == is_dose:
            return
        if self._anchor is not None and self._anchor != anchor:
            delta = (self._anchor - anchor) / 60.0
            for buf in self._buffers.values():
                buf.shift_x(delta)
            for pts in self._manual.values():
                pts[:] = [(x + delta, v) for x, v in pts]
        self._anchor = anchor
        self._anchor_is_dose = is_dose
        self._last_x_now = None
        self._overview_drawn_x = None
        self._drawn_versions.clear()
        self._update_axis_label()
        self._draw_bands()
        self._markers.place()

    def _update_axis_label(self) -> None:
        text = "minutes since dose" if self._anchor_is_dose else "minutes since start (no dose yet)"
        self.hr_plot.getPlotItem().setLabel("bottom", text, color=self._theme.text_dim)

    def _x(self, t_epoch: float) -> float:
        return (t_epoch - (self._anchor if self._anchor is not None else t_epoch)) / 60.0

    def _draw_bands(self) -> None:
        for plot, item in self._band_items:
            plot.removeItem(item)
        self._band_items.clear()
        if self._anchor is None:
            return
        for phase, start, end in self._bounds:
            if phase is Phase.ENDED:
                continue
            x0 = self._x(start.timestamp())
            x1 = self._x(end.timestamp()) if end is not None else x0 + 100_000.0
            for plot in (self.hr_plot, self.overview_plot):
                band = phase_band(self._theme, phase, x0, x1)
                plot.addItem(band, ignoreBounds=True)
                self._band_items.append((plot, band))


def _settle(*plots: pg.PlotWidget) -> None:
    """Apply a new view range to the plots' items now, not in their next paint.

    pyqtgraph moves a view box's items to a new range lazily, at the start of the next paint;
    the items then ask for another repaint, so every scroll painted each plot twice (counted
    here). Moving them at once, before anything is painted, makes it one paint per change.
    """
    for plot in plots:
        plot.getViewBox().updateMatrix()
