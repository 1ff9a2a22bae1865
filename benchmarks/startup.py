"""Start-up: the window and the commands, each against its bare baseline, interleaved (issue 16).

Each figure is the median of ``--repeat`` cold starts of a fresh process, timed by this script from
the moment it starts the process; the runs of a figure and of its baseline alternate, so a busy
machine slows both alike. Reported: seconds, and the ratio to the baseline.

* **window, first paint**: ``kapmonitor --demo`` on an existing database (the warm-up run creates
  it) until the bedside window is first painted (``ui/startup_probe.py``,
  ``KAPMONITOR_STARTUP_PROBE=1``); baseline: an empty PySide6 + pyqtgraph window (three plots)
  printing the same line (``_bare_window.py``). Goal: within 1.5x.
* **window, interactive**: the same until a session can be started (the database is open and the
  start dialog is up); the bare window's until its event loop first takes input. Goal: within 2x.
* **--version**, **sessions** (10 sessions in the database) and **export** (the CSV of a 1-hour
  session to /dev/null): the whole command; baselines ``python -c pass`` and, for ``sessions``, a
  bare ``sqlite3`` query of the same sessions. Goals: ``--version`` and ``sessions`` within 0.25 s,
  ``export``'s start-up under 0.2 s (its time minus the CSV's own writing, measured in-process).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/startup.py [--quick] [--only window|commands]``
(--quick: 3 runs of each instead of 5). The window runs need a platform: offscreen here, a display elsewhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
TIMEOUT_S = 60.0


PYCACHE = Path(tempfile.gettempdir()) / f"kap-startup-pyc-{os.getuid()}"
"""Compiled bytecode for every run, kapmonitor's and the baselines' alike, kept outside the tree: an
installed app (pip compiles on install; the bundle ships compiled) never compiles its sources at start,
so neither does a run here after the warm-up."""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(PYCACHE), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def run_to_end(argv: Sequence[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of ``argv`` (which must succeed)."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def run_to_marks(argv: Sequence[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds from start to each ``kapmonitor-probe WHAT`` line, then the process is ended."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            stdin=subprocess.DEVNULL)
    marks: dict[str, float] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("kapmonitor-probe "):
                marks[line.split()[1]] = time.perf_counter() - started
                if {"first-paint", "interactive"} <= marks.keys():
                    break
            if time.perf_counter() - started > TIMEOUT_S:
                break
    finally:
        proc.kill()
        proc.wait(timeout=10)
    if {"first-paint", "interactive"} - marks.keys():
        raise SystemExit(f"{' '.join(argv)} never printed both probe lines (got {sorted(marks)})")
    return marks


def interleaved(repeat: int, *runs: Callable[[], dict[str, float]]) -> list[dict[str, float]]:
    """Each run ``repeat`` times, alternating, after one warm-up of each; the medians of each."""
    for run in runs:
        run()
    samples: list[list[dict[str, float]]] = [[] for _ in runs]
    for _ in range(repeat):
        for i, run in enumerate(runs):
            samples[i].append(run())
    return [{key: statistics.median(s[key] for s in series) for key in series[0]} for series in samples]


def _record(db: Path, minutes: float, seed: int) -> None:
    subprocess.run([PY, "-m", "kapmonitor", "--db", str(db), "record", "--speed", "3000",
                    "--baseline-minutes", "1", "--minutes", str(minutes), "--seed", str(seed)],
                   env=_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL, timeout=600)


def _csv_seconds(db: Path, session: str) -> float:
    """The export's own work, in-process and warm: what ``export SESSION -o /dev/null`` does after
    starting up (the same reader, session, registry and atomic write), best of three after one."""
    code = f"""
import argparse, os, time
from pathlib import Path
from db.export import EXPORTERS
from db.export.source import StoredSession
from kapmonitor.exporters import ExportOptions
from kapmonitor.clock import SystemClock
from ui.cli.stores import open_reader, resolve_session
args = argparse.Namespace(db={str(db)!r}, room=None)
times = []
for _ in range(4):
    started = time.perf_counter()
    with open_reader(args) as store:
        source = StoredSession(store, resolve_session(store, {session!r}))
        EXPORTERS.export_file(EXPORTERS.get("csv"), source, Path(os.devnull),
                              ExportOptions(generated_at=SystemClock().now()))
    times.append(time.perf_counter() - started)
print(min(times[1:]))
"""
    out = subprocess.run([PY, "-c", code], env=_env(), capture_output=True, text=True, check=True,
                         timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def _line(name: str, value: float, baseline_name: str, baseline: float, goal: str) -> None:
    print(f"{name:<28} {value:7.3f} s   {baseline_name:<34} {baseline:7.3f} s   ratio {value / baseline:5.2f}"
          f"   goal: {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of each instead of 5")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--only", choices=("window", "commands"), help="time only the window or the commands")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    folder = Path(tempfile.mkdtemp(prefix="kap-startup-"))
    try:
        db = folder / "clinic.db"
        if args.only != "window":
            for seed in range(10):
                _record(db, 60 if seed == 0 else 5, seed)
        sql = (f"import sqlite3; c = sqlite3.connect({str(db)!r}); "
               "print(c.execute('SELECT id, started_at FROM sessions ORDER BY id DESC').fetchall())")

        def window() -> dict[str, float]:
            # the everyday start: this room's database exists at the current schema (the warm-up run
            # creates it); a first start on a new database also creates the schema
            return run_to_marks([PY, "-m", "kapmonitor", "--db", str(folder / "demo.db"), "--demo"],
                                _env(KAPMONITOR_STARTUP_PROBE="1", XDG_DATA_HOME=str(folder / "xdg")))

        def bare_window() -> dict[str, float]:
            return run_to_marks([PY, str(HERE / "_bare_window.py")], _env())

        def command(*argv: str) -> Callable[[], dict[str, float]]:
            return lambda: {"s": run_to_end([PY, "-m", "kapmonitor", *argv], _env())}

        def python(*argv: str) -> Callable[[], dict[str, float]]:
            return lambda: {"s": run_to_end([PY, *argv], _env())}

        print(f"start-up, median of {repeat} interleaved cold starts each ({sys.platform}, "
              f"QT_QPA_PLATFORM={_env()['QT_QPA_PLATFORM']})")
        if args.only != "commands":
            app, bare = interleaved(repeat, window, bare_window)
            _line("window: first paint", app["first-paint"], "bare PySide6 + pyqtgraph window",
                  bare["first-paint"], "<= 1.5x")
            _line("window: interactive", app["interactive"], "bare window, interactive", bare["interactive"],
                  "<= 2x")
        if args.only == "window":
            return
        version, sessions, export, empty, sqlite = interleaved(
            repeat, command("--version"), command("--db", str(db), "sessions"),
            command("--db", str(db), "export", "1", "-o", os.devnull), python("-c", "pass"),
            python("-c", sql))
        csv_s = _csv_seconds(db, "1")
        _line("kapmonitor --version", version["s"], "python -c pass", empty["s"], "< 0.25 s")
        _line("kapmonitor sessions", sessions["s"], "python: sqlite3 query of them", sqlite["s"], "< 0.25 s")
        _line("kapmonitor export (1 h CSV)", export["s"], "python -c pass", empty["s"], "start-up < 0.2 s")
        print(f"{'  of which writing the CSV':<28} {csv_s:7.3f} s   start-up {export['s'] - csv_s:.3f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
