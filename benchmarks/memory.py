"""Memory of the live bedside window against the bare pyqtgraph floor (issue 16).

* **live window**: the real window (``ui.app.build_app``, as ``--self-test`` drives it: recorder,
  Qt bridge, DB worker, journal, SQLite) with the simulated sensor on a 600x clock: a session is
  started, dosed and left to run; the resident set size (``VmRSS``) is read after each simulated
  hour. Its growth per hour is the slope over hours 1..N. The database is created and migrated
  beforehand in a process of its own (``--child prepare``): the window is measured as it starts
  on every day but the first, with the schema current (migrating a new database imports Alembic,
  Mako and Pygments, about 10 MiB, once in the life of an installation).
* **floor**: three pyqtgraph plots in a window of the same size holding two hours of 1 Hz history
  (7 200 points each), redrawn as the live view redraws: what any Qt + pyqtgraph monitor costs.

Each runs in a fresh process (``--child``) on the offscreen platform. Reported: MiB, and the ratio
of the live window after two hours to the floor (goal: at most 1.3x), and the growth per hour.

Run: ``.venv/bin/python benchmarks/memory.py [--quick]`` (--quick: 2 simulated hours instead of 4).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _children import run_child

HERE = Path(__file__).resolve().parent
SPEED = 600.0
WINDOW = (1280, 800)


def rss_mib() -> float:
    """This process's resident set size in MiB (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def prepare(db_path: Path) -> dict[str, object]:
    """Create and migrate the database the live window then opens (in a process of its own)."""
    from db.store import SqlStore

    SqlStore.open(str(db_path)).close()
    return {"db": str(db_path)}


def live(hours: int, db_path: Path) -> dict[str, object]:
    import linecache
    import sys

    from ui.source_cache import forget_imported_sources

    forget_imported_sources()  # as `kapmonitor` does before the window's imports (ui/main.py)
    from PySide6.QtWidgets import QApplication

    from ui.selftest_session import SessionRun, wait_for

    app = QApplication.instance() or QApplication(["kapmonitor-memory"])
    run = SessionRun(app, db_path)
    run.open_window()
    run.parts.window.resize(*WINDOW)
    run.start_session()
    recorder, clock = run.parts.recorder, run.parts.clock
    run.parts.window.give_dose()
    wait_for(app, lambda: recorder.state is not None and recorder.state.first_dose_at is not None, "the dose")
    dose_at = recorder.state.first_dose_at
    samples = [rss_mib()]
    for hour in range(1, hours + 1):
        wait_for(app, lambda h=hour: (clock.now() - dose_at).total_seconds() >= h * 3600,
                 f"hour {hour}", timeout_s=3600 / SPEED * 3 + 30)
        samples.append(rss_mib())
    readings = run.readings_seen
    source_chars = sum(len(line) for entry in linecache.cache.values() if len(entry) > 2 for line in entry[2])
    run.end()
    run.close()
    return {"rss_by_hour": samples, "readings": readings, "modules": len(sys.modules),
            "alembic": "alembic" in sys.modules, "linecache_mchars": source_chars / 1e6}


def floor(points: int = 7200) -> dict[str, object]:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication, QMainWindow, QVBoxLayout, QWidget

    app = QApplication.instance() or QApplication(["kapmonitor-memory-floor"])
    window = QMainWindow()
    central = QWidget()
    layout = QVBoxLayout(central)
    t = np.arange(points, dtype=np.float64)
    curves = []
    for title, base in (("Heart rate", 70.0), ("SpO2", 97.0), ("Blood pressure", 120.0)):
        plot = pg.PlotWidget(title=title)
        layout.addWidget(plot)
        curves.append((plot.plot(t, base + np.sin(t / 60.0)), base))
    window.setCentralWidget(central)
    window.resize(*WINDOW)
    window.show()
    deadline = time.monotonic() + 5.0
    n = points
    while time.monotonic() < deadline:  # redraw as the live view does, 10 frames a second
        n += 10
        x = np.arange(n - points, n, dtype=np.float64)
        for curve, base in curves:
            curve.setData(x, base + np.sin(x / 60.0))
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 100)
        time.sleep(0.1)
    return {"rss": rss_mib()}


def _child(kind: str, hours: int, db_path: Path) -> dict[str, object]:
    return run_child(__file__, ["--child", kind, "--hours", str(hours), "--db", str(db_path)], timeout=3600)


def _slope(values: list[float]) -> float:
    """Least-squares MiB per hour over hours 1..N (hour 0 is before the history filled)."""
    ys = values[1:]
    xs = list(range(1, len(values)))
    if len(ys) < 2:
        return float("nan")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 simulated hours instead of 4")
    parser.add_argument("--hours", type=int, default=None)
    parser.add_argument("--child", choices=("prepare", "live", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    hours = args.hours or (2 if args.quick else 4)
    if args.child == "prepare":
        print(json.dumps(prepare(args.db)))
        return
    if args.child == "live":
        print(json.dumps(live(hours, args.db)))
        return
    if args.child == "floor":
        print(json.dumps(floor()))
        return
    db_path = Path(tempfile.mkdtemp(prefix="kap-memory-")) / "k.db"
    _child("prepare", hours, db_path)
    base = _child("floor", hours, db_path)
    run = _child("live", hours, db_path)
    by_hour = [float(v) for v in run["rss_by_hour"]]  # type: ignore[attr-defined]
    floor_mib = float(base["rss"])  # type: ignore[arg-type]
    at = min(2, len(by_hour) - 1)
    at_two = by_hour[at]
    print(f"memory (RSS), live window at x{SPEED:g} vs the bare pyqtgraph floor, "
          f"{WINDOW[0]}x{WINDOW[1]} offscreen")
    print(f"floor: three plots with 2 h of history            {floor_mib:7.1f} MiB")
    for hour, value in enumerate(by_hour):
        print(f"live window, {hour} h after the dose                 {value:7.1f} MiB")
    print(f"live after {at} h / floor                             {at_two / floor_mib:7.2f}   goal: <= 1.3")
    print(f"growth per hour of session (hours 1..{hours})          {_slope(by_hour):7.2f} MiB/h "
          f"({run['readings']} readings shown)")
    alembic = "loaded" if run["alembic"] else "not loaded"
    print(f"live window: {run['modules']} modules imported, Alembic {alembic}, "
          f"{run['linecache_mchars']:.1f} M characters of source held in linecache")


if __name__ == "__main__":
    main()
