"""Time to open a 4-hour session's review window, from a database of 200 sessions.

Measured in one run, on the same session (4 h of 1 Hz heart rate and SpO2, ~1.2 Hz RR):

* **bare load**: ``SqlStore.load_stream`` of the five review streams (heart rate, RR,
  SpO2, systolic and diastolic BP) -- the floor any review must pay;
* **open**: ``load_review`` (record, events, observations, alarm log, the same
  streams, and the per-phase summary with HRV) + building the ``ReviewWindow`` +
  showing it until its plot canvas has painted for the first time (the window's
  other widgets paint in the same pass).

Goal: open < 500 ms. Reported: the median of ``--repeat`` runs after one warm-up,
the break-down (load+summary / build / first paint) and the ratio open / bare load.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/review_open.py [--quick]``
(--quick: 20 sessions). The database is built once and cached under /tmp
(``benchmarks/_dbbench.py``; the 200-session build takes a few minutes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _dbbench import review_db
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget

from db.store import SqlStore
from kapmonitor.clock import SystemClock
from ui.exports import window_exports
from ui.review_data import REVIEW_STREAMS, load_review
from ui.review_window import ReviewWindow
from ui.theme import LIGHT, apply_theme

GOAL_S = 0.5


class _PaintWatch(QObject):
    """Notes the first paint event of a widget (the plot canvas: painted last, and the slowest)."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.seen = False
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.seen = True
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 sessions instead of 200")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n_sessions = 20 if args.quick else 200
    path = review_db(n_sessions)
    app = QApplication.instance() or QApplication(["review_open"])
    assert isinstance(app, QApplication)
    apply_theme(app, LIGHT)
    store = SqlStore.open(path)
    sid = n_sessions // 2
    clock = SystemClock()
    exports = window_exports(store)
    try:
        def bare() -> int:
            return sum(len(store.load_stream(sid, s)) for s in REVIEW_STREAMS)

        def open_window() -> tuple[float, float, float, int]:
            t0 = time.perf_counter()
            data = load_review(store, sid)
            t1 = time.perf_counter()
            window = ReviewWindow(data, store=store, worker=None, clock=clock, theme=LIGHT, exports=exports)
            window.resize(1400, 880)
            t2 = time.perf_counter()
            painted = _PaintWatch(window.plot.view.viewport())
            window.show()
            while not painted.seen:
                app.processEvents()
            t3 = time.perf_counter()
            window.close()
            window.deleteLater()
            app.processEvents()
            return t1 - t0, t2 - t1, t3 - t2, sum(len(s) for s in data.streams.values())

        rows = bare()
        open_window()  # warm-up: first use of pyqtgraph items, fonts, style sheet
        bare_times, runs = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            bare()
            bare_times.append(time.perf_counter() - started)
            runs.append(open_window())
    finally:
        store.close()
    t_bare = statistics.median(bare_times)
    load, build, paint = (statistics.median(r[i] for r in runs) for i in range(3))
    total = statistics.median(r[0] + r[1] + r[2] for r in runs)
    verdict = "ok" if total < GOAL_S else "MISSED"
    print(f"review open: session {sid} of {n_sessions} (4 h, {rows} readings), median of {args.repeat}")
    print(f"  bare load_stream x{len(REVIEW_STREAMS)}: {t_bare * 1000:.0f} ms")
    print(f"  open: {total * 1000:.0f} ms = load+summary {load * 1000:.0f} + build {build * 1000:.0f} "
          f"+ first paint {paint * 1000:.0f} ms   (goal < {GOAL_S * 1000:.0f} ms: {verdict})")
    print(f"  ratio open / bare load: {total / t_bare:.1f}")


if __name__ == "__main__":
    main()
