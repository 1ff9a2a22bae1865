"""Live-view costs: frame time with 4 h of history, reading-to-screen latency, CPU of a live session.

Run (offscreen, ~1 minute)::

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/ui_frame.py [--cpu-seconds 25]

1. **Frame time.** ``LivePlots`` holding 4 hours of 1 Hz heart rate, SpO2 and RR;
   each frame adds one reading per stream, moves the clock 1 s (so the window
   scrolls every frame: the worst case) and repaints every plot. Compared, in the
   same run and at the same sizes, with bare pyqtgraph: (a) one ``PlotWidget``
   with one plain curve of the visible heart-rate points, the size of our
   heart-rate plot; (b) four bare plots with plain curves of the same data our
   four plots show. Goals: ratio to (a) for the heart-rate plot <= 1.5, and the
   whole live view < 10 ms per frame.
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

from kapmonitor.clock import SystemClock
from kapmonitor.protocols import PRESETS
from kapmonitor.session import SessionState
from kapmonitor.store import SessionSpec
from kapmonitor.types import Observation, ObservationKind, Reading, Stream
from ui.plots import LivePlots
from ui.theme import DARK, apply_theme

HOURS = 4.0
FRAMES = 120


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _repaint(widgets: list[pg.PlotWidget]) -> None:
    for w in widgets:
        w.viewport().repaint()


def bench_frames(app: QApplication) -> dict[str, float]:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    n = int(HOURS * 3600)
    now = [t0.timestamp() + n]
    plots = LivePlots(DARK, lambda: now[0])
    plots.resize(1100, 760)
    plots.show()
    state = SessionState(PRESETS["sublingual"])
    state.start(t0)
    state.give_dose(t0 + timedelta(minutes=10))
    state.due_events(datetime.fromtimestamp(now[0], UTC))
    plots.set_snapshot(state.snapshot(datetime.fromtimestamp(now[0], UTC)))
    rng = np.random.default_rng(1)
    t = t0.timestamp() + np.arange(n, dtype=np.float64)
    hr = 70 + 5 * np.sin(np.arange(n) / 40) + rng.normal(0, 2, n)
    plots.load_history(Stream.HEART_RATE, t, hr)
    plots.load_history(Stream.SPO2, t + 0.5, np.round(97 + rng.normal(0, 0.7, n)))
    plots.load_history(Stream.RR_INTERVAL, t + 0.2, 60000 / hr)
    for i in range(0, n, 900):  # an observation every 15 min
        plots.add_observation(Observation(f"o{i}", 1, ObservationKind.TAG, "nausea",
                                          datetime.fromtimestamp(t[i], UTC), t0))
    plots.render_frame()
    app.processEvents()
    live_widgets = [plots.hr_plot, plots.spo2_plot, plots.rr_plot, plots.overview_plot]

    def one_live_frame(widgets: list[pg.PlotWidget]) -> float:
        now[0] += 1.0
        for stream, v in ((Stream.HEART_RATE, 72.0), (Stream.SPO2, 97.0), (Stream.RR_INTERVAL, 830.0)):
            plots.add_reading(stream.value, v, now[0] - 0.1, 0, "bench")
        start = time.perf_counter()
        plots.render_frame()
        _repaint(widgets)
        return time.perf_counter() - start

    for _ in range(10):
        one_live_frame(live_widgets)
    live_all = [one_live_frame(live_widgets) for _ in range(FRAMES)]
    live_hr = [one_live_frame([plots.hr_plot]) for _ in range(FRAMES)]

    # bare pyqtgraph, same sizes, same run
    sizes = [w.size() for w in live_widgets]
    bare_box = QWidget()
    layout = QVBoxLayout(bare_box)
    layout.setContentsMargins(0, 0, 0, 0)
    bare = [pg.PlotWidget() for _ in live_widgets]
    for w, size in zip(bare, sizes, strict=True):
        w.setFixedSize(size)
        layout.addWidget(w)
    bare_box.show()
    curves = [w.plot(pen=pg.mkPen(DARK.heart_rate, width=1)) for w in bare]
    bufs = [plots.buffer(Stream.HEART_RATE), plots.buffer(Stream.SPO2), plots.buffer(Stream.RR_INTERVAL)]
    window = plots.window_minutes
    app.processEvents()

    def one_bare_frame(count: int) -> float:
        now[0] += 1.0
        start = time.perf_counter()
        x_now = float(bufs[0].x[-1])
        for k in range(min(count, 3)):
            x, y = bufs[k].since(x_now - window)
            curves[k].setData(x, y)
            bare[k].setXRange(x_now - window, x_now, padding=0)
        if count == 4:
            curves[3].setData(bufs[0].x, bufs[0].y)
        _repaint(bare[:count])
        return time.perf_counter() - start

    for _ in range(10):
        one_bare_frame(4)
    bare_all = [one_bare_frame(4) for _ in range(FRAMES)]
    bare_hr = [one_bare_frame(1) for _ in range(FRAMES)]
    plots.close()
    bare_box.close()
    med = statistics.median
    return {
        "points_per_stream": n,
        "live_view_ms": med(live_all) * 1e3,
        "live_view_p95_ms": _pct(live_all, 95) * 1e3,
        "bare_four_plots_ms": med(bare_all) * 1e3,
        "ratio_live_view_to_bare_four": med(live_all) / med(bare_all),
        "live_hr_plot_ms": med(live_hr) * 1e3,
        "bare_hr_curve_ms": med(bare_hr) * 1e3,
        "ratio_hr_plot_to_bare_curve": med(live_hr) / med(bare_hr),
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
    opts = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    apply_theme(app, DARK)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        frames = bench_frames(app)
        print("frame (4 h history):", {k: round(v, 2) for k, v in frames.items()})
        latency = bench_latency(app, tmp)
        print("reading-to-screen latency:", {k: round(v, 2) for k, v in latency.items()})
        cpu = bench_cpu(app, tmp, opts.cpu_seconds)
        print("live session CPU:", {k: round(v, 2) for k, v in cpu.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
