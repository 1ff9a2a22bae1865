"""Time to open an 8-hour session's review window, from a database of 200 sessions, against the bare load.

Measured in one run, on the same session (8 h of 1 Hz heart rate and SpO2, ~1.2 Hz RR, a blood
pressure every 15 min; 24 notes, 8 alarms):

* **bare load**: ``SqlStore.load_stream`` of the five review streams (heart rate, RR,
  SpO2, systolic and diastolic BP) -- the floor any review must pay;
* **open**, what the clinician feels: from the click (``SessionListWindow.open_review``, the
  "Past sessions" window's Open, with the real DB worker) until the review window's first paint
  with the plots, the entries and the session's figures has finished (the window's widgets
  paint in one pass; the plot canvas is watched from the moment the window is shown). Anything
  the window still computes after that -- the per-phase HRV, shown as "computing…" meanwhile --
  is timed separately as **complete**: click to the summary tab filled;
* **break-down** of the open, measured synchronously in the same run: load (record, events,
  observations, alarm log, the streams, the summary but for HRV: ``load_review``), build (the
  ``ReviewWindow``), first paint; and the HRV computed after it (``ReviewData.with_hrv``, on a
  thread of its own as the session list does).

Goal: open <= 2x the bare load. Reported: the median of ``--repeat`` runs after one warm-up,
interleaved (bare, click, break-down), and the ratio open / bare load.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/review_open.py [--quick] [--hours 8]``
(--quick: 20 sessions). The database is built once and cached under /tmp
(``benchmarks/_dbbench.py``; the 200-session build takes a couple of minutes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _dbbench import review_db
from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from db.store import SqlStore
from kapmonitor.clock import SystemClock
from ui.exports import window_exports
from ui.review_data import REVIEW_STREAMS, load_review
from ui.review_window import ReviewWindow
from ui.session_browser import SessionListWindow
from ui.theme import LIGHT, apply_theme
from ui.worker import DbWorker

GOAL_RATIO = 2.0
BP_EVERY_S = 900
TIMEOUT_S = 30.0


class _PaintWatch(QObject):
    """Notes when a widget's first paint has finished (the plot canvas: the slowest part of the
    window): the event's arrival starts the paint, the next turn of the event loop follows it."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.seen = False
        self.done_at = 0.0
        self._widget = widget
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._widget and event.type() == QEvent.Type.Paint and not self.seen:
            self._widget.removeEventFilter(self)
            QTimer.singleShot(0, self._finished)
        return False

    def _finished(self) -> None:
        self.done_at = time.perf_counter()
        self.seen = True


def _spin(app: QApplication, done: Callable[[], bool]) -> None:
    """Run the event loop until ``done()``, sleeping between events as the app's loop does (a busy
    loop here would take the GIL from the worker threads and time itself, not the window)."""
    deadline = time.perf_counter() + TIMEOUT_S
    watchdog = QTimer()
    watchdog.start(100)  # wakes the wait now and then to check the deadline
    try:
        while not done():
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
            if time.perf_counter() > deadline:
                raise RuntimeError("the review window did not open in time")
    finally:
        watchdog.stop()


def _close(app: QApplication, window: QWidget) -> None:
    window.close()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 sessions instead of 200")
    parser.add_argument("--hours", type=int, default=8, help="length of the sessions (default 8)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n_sessions = 20 if args.quick else 200
    path = review_db(n_sessions, session_s=args.hours * 3600, bp_every_s=BP_EVERY_S)
    app = QApplication.instance() or QApplication(["review_open"])
    assert isinstance(app, QApplication)
    apply_theme(app, LIGHT)
    store = SqlStore.open(path)
    sid = n_sessions // 2
    clock = SystemClock()
    exports = window_exports(store)
    worker = DbWorker()
    hrv_worker = DbWorker()
    browser = SessionListWindow(store, worker=worker, clock=clock, theme=LIGHT, exports=exports)
    _spin(app, lambda: worker.pending == 0)
    try:
        def bare() -> int:
            return sum(len(store.load_stream(sid, s)) for s in REVIEW_STREAMS)

        def click() -> tuple[float, float]:
            """Click to first paint, and click to the summary complete (seconds)."""
            # watched from the moment the window is shown (it paints on a later turn of the event
            # loop); watched only after the wait below, a later repaint was timed instead
            watch: list[_PaintWatch] = []
            opened = browser.review_opened.connect(
                lambda _sid: watch.append(_PaintWatch(browser.reviews[sid].plot.view.viewport())))
            t0 = time.perf_counter()
            browser.open_review(sid)
            _spin(app, lambda: bool(watch) and watch[0].seen)
            browser.review_opened.disconnect(opened)
            window = browser.reviews[sid]
            t1 = watch[0].done_at
            _spin(app, lambda: window.summary.complete)
            t2 = time.perf_counter()
            _close(app, window)
            _spin(app, lambda: sid not in browser.reviews)
            return t1 - t0, t2 - t0

        def parts() -> tuple[float, float, float, float]:
            """load, build, first paint, HRV after it (seconds): the click's steps, loaded here."""
            t0 = time.perf_counter()
            data = load_review(store, sid, hrv=False)
            t1 = time.perf_counter()
            window = ReviewWindow(data, store=store, worker=worker, clock=clock, theme=LIGHT, exports=exports,
                                  hrv_worker=hrv_worker)
            t2 = time.perf_counter()
            painted = _PaintWatch(window.plot.view.viewport())
            window.show()
            _spin(app, lambda: painted.seen)
            t3 = painted.done_at
            _spin(app, lambda: window.summary.complete)
            t4 = time.perf_counter()
            _close(app, window)
            return t1 - t0, t2 - t1, t3 - t2, t4 - t3

        rows = bare()
        click()  # warm-up: first use of pyqtgraph items, fonts, style sheet
        parts()
        bare_times, clicks, split = [], [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            bare()
            bare_times.append(time.perf_counter() - started)
            clicks.append(click())
            split.append(parts())
    finally:
        browser.close()
        worker.shutdown()
        hrv_worker.shutdown()
        store.close()
    t_bare = statistics.median(bare_times)
    t_open = statistics.median(c[0] for c in clicks)
    t_complete = statistics.median(c[1] for c in clicks)
    load, build, paint, hrv = (statistics.median(r[i] for r in split) for i in range(4))
    ratio = t_open / t_bare
    verdict = "ok" if ratio <= GOAL_RATIO else "MISSED"
    print(f"review open: session {sid} of {n_sessions} ({args.hours} h, {rows} readings), "
          f"median of {args.repeat}")
    print(f"  bare load_stream x{len(REVIEW_STREAMS)}: {t_bare * 1000:.0f} ms")
    print(f"  open, click to first paint: {t_open * 1000:.0f} ms   ratio open / bare load: {ratio:.2f} "
          f"(goal <= {GOAL_RATIO:g}: {verdict})")
    print(f"    break-down (synchronous): load+summary {load * 1000:.0f} + build {build * 1000:.0f} "
          f"+ first paint {paint * 1000:.0f} ms = {(load + build + paint) * 1000:.0f} ms")
    print(f"  complete, click to the HRV summary shown: {t_complete * 1000:.0f} ms "
          f"(HRV computed after the first paint: {hrv * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
