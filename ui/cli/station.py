"""``kapmonitor station [--json] [--interval S] [--count N]``: every room's live session on this database.

Read-only: it opens the database the way ``kapmonitor sessions`` does (:func:`ui.cli.stores.open_store`:
migrated only if it is older than this app), never creates a session and never claims a lease.

With ``--json`` no Qt is imported: one JSON object per line per update
(``{"at": ISO UTC, "rooms": [...]}``, :func:`kapmonitor.station.station_json`), flushed at once, for a
terminal or another tool; it stops after ``--count`` updates, on Ctrl-C, or quietly when the reader
of the pipe goes away (exit 0). Without ``--json``: the station window (:mod:`ui.station_window`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from typing import TextIO

from db.station import StationReader
from kapmonitor.cli import EXIT_OK, UsageError
from kapmonitor.ports import StoreError
from kapmonitor.station import StationSource, station_json
from ui.cli.stores import open_store

__all__ = ["cmd_station", "print_updates"]


def print_updates(source: StationSource, out: TextIO, *, interval_s: float, count: int | None) -> int:
    """Print one JSON line per update every ``interval_s`` (on a fixed schedule that does not drift
    with the time a poll takes); returns how many were printed. ``BrokenPipeError`` from ``out``
    propagates; a database that cannot be read is a :class:`UsageError` (one line, exit 2)."""
    printed = 0
    start = time.monotonic()
    while count is None or printed < count:
        try:
            update = source.poll()
        except StoreError as exc:
            raise UsageError(str(exc)) from exc
        out.write(json.dumps(station_json(update), allow_nan=False) + "\n")
        out.flush()
        printed += 1
        if count is not None and printed >= count:
            break
        ticks = int((time.monotonic() - start) / interval_s) + 1
        time.sleep(max(0.0, start + ticks * interval_s - time.monotonic()))
    return printed


def _json_loop(args: argparse.Namespace) -> int:
    with open_store(args, creates=True) as store:  # rooms may start recording after the station
        try:
            print_updates(StationReader(store.engine), sys.stdout, interval_s=args.interval, count=args.count)
        except KeyboardInterrupt:
            pass
        except BrokenPipeError:
            # The reader went away (``| head``): say nothing, and point stdout at nothing so the
            # interpreter's last flush at exit does not complain either.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _window(args: argparse.Namespace) -> int:
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display and not os.environ.get("QT_QPA_PLATFORM"):
        raise UsageError("the station window needs a display; use --json in a terminal")
    from PySide6.QtWidgets import QApplication

    from kapmonitor.clock import SystemClock
    from ui.exports import window_exports
    from ui.station_window import StationWindow
    from ui.theme import DARK, apply_theme
    from ui.worker import DbWorker

    app = QApplication.instance() or QApplication(["kapmonitor station"])
    assert isinstance(app, QApplication)
    apply_theme(app, DARK)
    with open_store(args, creates=True) as store:  # rooms may start recording after the station
        poll_worker, review_worker = DbWorker(), DbWorker()
        window = StationWindow(StationReader(store.engine), store=store, poll_worker=poll_worker,
                               review_worker=review_worker, clock=SystemClock(), theme=DARK,
                               exports=window_exports(store), interval_s=args.interval,
                               location=store.location)
        window.show()
        window.start()
        try:
            app.exec()
        finally:
            window.stop()
            poll_worker.shutdown()
            review_worker.shutdown()
    return EXIT_OK


def cmd_station(args: argparse.Namespace) -> int:
    """Run the station: JSON lines with ``--json``, else the window (until it is closed)."""
    return _json_loop(args) if args.json else _window(args)
