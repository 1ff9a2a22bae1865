"""Live-view costs: frame time with 4 h of history, reading-to-screen latency, CPU of a live session.

Run (offscreen, ~1 minute)::

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/ui_frame.py [--cpu-seconds 25]

1. **Frame time.** ``LivePlots`` holding 4 hours of 1 Hz heart rate, SpO2 and RR,
   with what a real session shows (phase bands, alarm-limit lines with labels,
   an observation marker every 15 min). Each frame adds one reading per stream
   and moves the clock 1 s, so the window scrolls every frame (the worst real
   frame: at a 15-min window one pixel is about a second), then repaints all four
   plots (forced, even those Qt would not repaint: an upper bound).
   Baseline, in the same run, interleaved frame by frame so both see the same
   machine load: four default ``PlotWidget``s of the same sizes, each with one
   plain 1 px curve of the same visible points (the last ``window`` minutes of
   each stream, scrolled the same way; the overview gets every point of the
   session, as a minimal plot would), all four repainted. Goals: live view
   < 10 ms per frame and <= 1.5 x the bare plots (both on the median; the mean
   and p95 are printed too, because the overview is redrawn only when it moves a
   pixel, so its cost lands on a few frames). The same ratio is also required of
   the three scrolling plots alone (without the overview, where the bare plot's
   unreduced 14 400 points make the baseline expensive).
2. **Latency.** A sensor thread feeds 10 readings/s into the real Recorder (SQLite
   store on a temp file) for ~20 s; the time from ``reading_received`` on the
   sensor thread to the heart-rate number being *painted* in the window
   (paint event of the label). Goal p99 < 50 ms.
3. **CPU.** The demo app (real clock, simulated sensor at 1 Hz, window offscreen,
   session started and dosed) for ``--cpu-seconds``; ``time.process_time`` (all
   threads) over wall time. Goal < 3 % of one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kapmonitor.alarm_settings import default_rules
from kapmonitor.clock import SystemClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.session import SessionState
from kapmonitor.types import Observation, ObservationKind, Reading, Stream
from ui.plots import LivePlots
from ui.theme import DARK, apply_theme

HOURS = 4.0
FRAMES = 120
WARMUP = 10


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _repaint(widgets: list[pg.PlotWidget]) -> None:
    for w in widgets:
        w.viewport().repaint()


def _bare_plots(
    live_widgets: list[pg.PlotWidget],
) -> tuple[QWidget, list[pg.PlotWidget], list[pg.PlotDataItem]]:
    """Minimal pyqtgraph: default PlotWidgets the sizes of ours, one plain 1 px curve each."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    bare = [pg.PlotWidget() for _ in live_widgets]
    for w, live in zip(bare, live_widgets, strict=True):
        w.setFixedSize(live.size())
        layout.addWidget(w)
    box.show()
    curves = [w.plot(pen=pg.mkPen(DARK.heart_rate, width=1)) for w in bare]
    return box, bare, curves


def bench_frames(app: QApplication) -> dict[str, float]:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    n = int(HOURS * 3600)
    total = n + 2 * (WARMUP + FRAMES) + 10
    now = [t0.timestamp() + n]
    plots = LivePlots(DARK, lambda: now[0])
    plots.resize(1100, 760)
    plots.show()
    state = SessionState(PRESETS["sublingual"])
    state.start(t0)
    state.give_dose(t0 + timedelta(minutes=10))
    state.due_events(datetime.fromtimestamp(now[0], UTC))
    plots.set_snapshot(state.snapshot(datetime.fromtimestamp(now[0], UTC)))
    plots.set_limits(default_rules(), {Stream.HEART_RATE: 70.0})
    rng = np.random.default_rng(1)
    t = t0.timestamp() + np.arange(total, dtype=np.float64)
    hr = 70 + 5 * np.sin(np.arange(total) / 40) + rng.normal(0, 2, total)
    data = {Stream.HEART_RATE: (t, hr), Stream.SPO2: (t + 0.5, np.round(97 + rng.normal(0, 0.7, total))),
            Stream.RR_INTERVAL: (t + 0.2, 60000 / hr)}
    for stream, (ts, ys) in data.items():
        plots.load_history(stream, ts[:n], ys[:n])
    for i in range(0, n, 900):  # an observation every 15 min
        plots.add_observation(Observation(f"o{i}", 1, ObservationKind.TAG, "nausea",
                                          datetime.fromtimestamp(t[i], UTC), t0))
    plots.render_frame(full=True)
    app.processEvents()
    live_widgets = [plots.hr_plot, plots.spo2_plot, plots.rr_plot, plots.overview_plot]
    box, bare, curves = _bare_plots(live_widgets)
    # The bare plots show the same samples, as minutes since the dose, from preallocated arrays.
    anchor = (t0 + timedelta(minutes=10)).timestamp()
    bare_xy = [((ts - anchor) / 60.0, ys) for ts, ys in data.values()]
    window = plots.window_minutes
    app.processEvents()
    shown = [n, n]  # readings shown so far: live view, bare plots

    def live_frame() -> tuple[float, float]:
        """Seconds for the whole frame, and for it without the overview's repaint."""
        now[0] += 1.0  # one second of session per frame: the window scrolls every frame
        i = shown[0]
        shown[0] += 1
        for stream, (ts, ys) in data.items():
            plots.add_reading(stream.value, float(ys[i]), float(ts[i]), 0, "bench")
        start = time.perf_counter()
        plots.render_frame()
        _repaint(live_widgets[:3])
        mid = time.perf_counter()
        _repaint(live_widgets[3:])
        end = time.perf_counter()
        return end - start, mid - start

    def bare_frame() -> tuple[float, float]:
        k = shown[1] = shown[1] + 1
        start = time.perf_counter()
        x_now = float(bare_xy[0][0][k - 1])
        for curve, plot, (x, y) in zip(curves, bare, bare_xy, strict=False):
            lo = int(np.searchsorted(x[:k], x_now - window))
            curve.setData(x[lo:k], y[lo:k])
            plot.setXRange(x_now - window, x_now, padding=0)
        _repaint(bare[:3])
        mid = time.perf_counter()
        curves[3].setData(bare_xy[0][0][:k], bare_xy[0][1][:k])  # whole session, every point
        _repaint(bare[3:])
        end = time.perf_counter()
        return end - start, mid - start

    for _ in range(WARMUP):
        live_frame()
        bare_frame()
    live_both: list[tuple[float, float]] = []
    base_both: list[tuple[float, float]] = []
    for _ in range(FRAMES):  # interleaved, so both see the same machine load
        live_both.append(live_frame())
        base_both.append(bare_frame())
    live, live_recent = [a for a, _ in live_both], [b for _, b in live_both]
    base, base_recent = [a for a, _ in base_both], [b for _, b in base_both]
    plots.close()
    box.close()
    med = statistics.median
    return {
        "points_per_stream": n,
        "live_view_ms": med(live) * 1e3,
        "live_view_mean_ms": statistics.fmean(live) * 1e3,
        "live_view_p95_ms": _pct(live, 95) * 1e3,
        "bare_plots_ms": med(base) * 1e3,
        "bare_plots_mean_ms": statistics.fmean(base) * 1e3,
        "ratio_median": med(live) / med(base),
        "ratio_mean": statistics.fmean(live) / statistics.fmean(base),
        # the three scrolling plots alone (everything but the overview's redraw and repaint)
        "live_recent_plots_ms": med(live_recent) * 1e3,
        "bare_recent_plots_ms": med(base_recent) * 1e3,
        "ratio_recent_plots": med(live_recent) / med(base_recent),
    }


class _PaintProbe(QObject):
    """Records when the heart-rate number is painted showing each new value."""

    def __init__(self, label: QObject, sent: dict[int, float], out: list[float]) -> None:
        super().__init__()
        self._label = label
        self._sent = sent
        self._out = out
        self._seen: set[int] = set()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._label and event.type() == QEvent.Type.Paint:
            text = self._label.text()  # type: ignore[attr-defined]
            if text.isdigit():
                v = int(text)
                if v in self._sent and v not in self._seen:
                    self._seen.add(v)
                    self._out.append(time.perf_counter() - self._sent[v])
        return False

    def reset(self, v: int) -> None:
        self._seen.discard(v)


def bench_latency(app: QApplication, tmp: Path) -> dict[str, float]:
    from ui.app import build_app

    clock = SystemClock()
    args = argparse.Namespace(db=str(tmp / "latency.db"), demo=False, speed=None)
    parts = build_app(args, app, clock=clock, sensors_for_session=list)
    parts.window.resize(1600, 1000)
    parts.window.show()
    parts.recorder.start_session(SessionSpec("BENCH", PRESETS["sublingual"]))
    parts.window._session_ready(parts.recorder.session_id or 0, "BENCH")
    sent: dict[int, float] = {}
    latencies: list[float] = []
    label = parts.window.vitals.hr_tile.value
    probe = _PaintProbe(label, sent, latencies)
    label.installEventFilter(probe)
    stop = threading.Event()

    def feed() -> None:
        i = 0
        while not stop.is_set() and i < 200:
            v = 60 + (i % 100)
            probe.reset(v)
            sent[v] = time.perf_counter()
            parts.recorder.reading_received(Reading(Stream.HEART_RATE, float(v), clock.now(), "bench:1"))
            i += 1
            time.sleep(0.1)
        stop.set()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    while not stop.is_set():
        app.processEvents()
        time.sleep(0.002)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.002)
    parts.window.close_without_asking()
    parts.shutdown()
    return {"samples": len(latencies), "p50_ms": _pct(latencies, 50) * 1e3,
            "p99_ms": _pct(latencies, 99) * 1e3, "max_ms": max(latencies) * 1e3}


def bench_cpu(app: QApplication, tmp: Path, seconds: float) -> dict[str, float]:
    from ui.app import build_app

    args = argparse.Namespace(db=str(tmp / "cpu.db"), demo=True, speed=None)
    parts = build_app(args, app)
    parts.window.resize(1600, 1000)
    parts.window.show()
    parts.window.start_session(SessionSpec("CPU", PRESETS["sublingual"]))

    def run_loop(duration: float) -> None:
        QTimer.singleShot(int(duration * 1000), lambda: app.exit(0))  # quit() would close the window
        app.exec()

    run_loop(3.0)
    parts.window.give_dose(0.0)
    run_loop(2.0)
    wall0, cpu0 = time.monotonic(), time.process_time()
    run_loop(seconds)
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    readings = len(parts.window.plots.buffer(Stream.HEART_RATE))
    parts.window.close_without_asking()
    parts.shutdown()
    return {"seconds": wall, "cpu_percent_of_one_core": 100.0 * cpu / wall, "hr_points_shown": readings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-seconds", type=float, default=25.0)
    parser.add_argument("--frames-only", action="store_true", help="only the frame-time part (~10 s)")
    opts = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    apply_theme(app, DARK)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        frames = bench_frames(app)
        print("frame (4 h history):", {k: round(v, 2) for k, v in frames.items()})
        worst_ratio = max(frames["ratio_median"], frames["ratio_recent_plots"])
        ok = frames["live_view_ms"] < 10.0 and worst_ratio <= 1.5
        print(f"frame goals (< 10 ms, <= 1.5 x bare): {'met' if ok else 'NOT met'}")
        if opts.frames_only:
            return 0
        latency = bench_latency(app, tmp)
        print("reading-to-screen latency:", {k: round(v, 2) for k, v in latency.items()})
        cpu = bench_cpu(app, tmp, opts.cpu_seconds)
        print("live session CPU:", {k: round(v, 2) for k, v in cpu.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
