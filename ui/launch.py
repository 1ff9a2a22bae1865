"""Starting the bedside window: it is painted first, and the database opens behind it (issue 16).

A therapist who starts kapmonitor sees the bedside window at once, in the colours this workstation
showed last: clock, vitals and plots, the New session button off and one line, "Opening the clinic
database…". Meanwhile the DB worker imports the database layer (SQLAlchemy is the largest part of
start-up), opens the database behind this workstation's recording journal and reads the clinic
settings. Back on the GUI thread :func:`ui.app.build_app` wires the recorder, the observation panel,
the audio and the menus into the same window; then an unfinished session is offered for resumption
or the start dialog opens, exactly as before. The sound system loads on the event loop's first
turn with that dialog up, before a session can be started.

* The clinic's theme is kept on this computer (:func:`remember_theme`) so that the first paint
  can use it; when the clinic has changed it since, the window is built once more in the new
  colours before anything can be started in it.
* A database that cannot be opened (locked, damaged, another program's, unreachable) is said in
  a message over the window, and kapmonitor exits with status 1, as it did before.
* Closed before the database has opened, the window quits; the opened store is closed at once.

Only :mod:`ui.main_window` and what it needs are imported before the first paint: no SQLAlchemy,
no Bluetooth, no multimedia (``tests/test_16_imports.py``).
"""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from kapmonitor import __version__
from kapmonitor.clock import Clock, ScaledClock, SystemClock
from kapmonitor.settings import ClinicSettings
from ui import startup_probe
from ui.gc_guard import GuiGarbageCollector
from ui.main_window import BedsideWindow
from ui.ops import Op
from ui.theme import DARK, Theme, apply_theme, theme_by_name
from ui.worker import DbWorker

if TYPE_CHECKING:
    from db.journaled_store import JournaledStore
    from ui.app import AppParts

__all__ = ["Opened", "first_paint_theme", "make_clock", "remember_theme", "run_gui", "window_title"]

log = logging.getLogger(__name__)

THEME_FILE = "window-theme"
"""Beside the workstation file: the name of the theme this computer showed last."""


def _theme_file() -> Path:
    from db.paths import workstation_file

    return workstation_file().parent / THEME_FILE


def first_paint_theme(path: Path | None = None) -> Theme:
    """The theme this workstation showed last (dark when it never ran or the file is unreadable)."""
    path = path or _theme_file()
    try:
        return theme_by_name(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return DARK


def remember_theme(theme: Theme, path: Path | None = None) -> None:
    """Keep ``theme``'s name for the next start's first paint (a failure only costs a repaint)."""
    path = path or _theme_file()
    try:
        if path.exists() and path.read_text(encoding="utf-8") == theme.name:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(theme.name, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.info("the window theme is not remembered for the next start: %s", exc)


class Opened:
    """What the DB worker opened for the window: the journaled store and the clinic settings."""

    def __init__(self, store: JournaledStore, settings: ClinicSettings) -> None:
        self.store = store
        self.settings = settings


def open_journaled_store(args: argparse.Namespace, clock: Clock) -> JournaledStore:
    """The database ``--db`` names (a demo's own unless it names one) behind this workstation's journal.

    Raises:
        StoreError: the database or its journal cannot be opened, or the room name is not valid.
    """
    from db.journaled_store import JournaledStore
    from db.paths import resolve_db_location, workstation_file
    from kapmonitor.ports import StoreError
    from kapmonitor.workstation import resolve_room

    try:
        room = resolve_room(getattr(args, "room", None), workstation_file())
    except ValueError as exc:
        raise StoreError(str(exc)) from exc
    return JournaledStore.open(resolve_db_location(getattr(args, "db", None),
                                                   demo=bool(getattr(args, "demo", False))),
                               clock=clock, room=room)


def open_for_window(args: argparse.Namespace, clock: Clock) -> Opened:
    """Open the database behind this workstation's journal and read the settings (on the DB worker).

    Raises:
        StoreError: the database or its journal cannot be opened.
        ValueError: the room name is not valid.
    """
    from ui.clinic_settings import load_clinic_settings

    store = open_journaled_store(args, clock)
    try:
        return Opened(store, load_clinic_settings(store.database))
    except BaseException:
        store.close()
        raise


def window_title(args: argparse.Namespace, clock: Clock) -> str:
    """The bedside window's title: the version, and whether it is a demo on a faster clock."""
    title = f"kapmonitor {__version__}"
    if getattr(args, "demo", False):
        title += " — DEMO (simulated sensor)"
    if isinstance(clock, ScaledClock):
        title += f" — clock ×{clock.speed:g}"
    return title


def make_clock(args: argparse.Namespace) -> Clock:
    """The real clock, or a scaled one for ``--demo --speed N``."""
    speed = getattr(args, "speed", None)
    if speed is not None and speed != 1.0:
        if not getattr(args, "demo", False):
            raise ValueError("--speed only works with --demo: a real session runs on the real clock")
        return ScaledClock(float(speed))
    return SystemClock()


class _AfterFirstPaint(QObject):
    """Calls ``then`` once, just after ``window`` is first painted (or after ``latest_ms`` if it is not)."""

    def __init__(self, window: QWidget, then: Callable[[], None], latest_ms: int) -> None:
        super().__init__(window)
        self._window = window
        self._then: Callable[[], None] | None = then
        window.installEventFilter(self)
        QTimer.singleShot(latest_ms, self, self._fire)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Paint and self._then is not None:
            QTimer.singleShot(0, self, self._fire)  # after this paint has finished
        return False

    def _fire(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            self._window.removeEventFilter(self)
            then()


def after_first_paint(window: QWidget, then: Callable[[], None], latest_ms: int = 250) -> None:
    """Run ``then`` on the GUI thread once ``window`` has been painted for the first time.

    The database opens on the DB worker only then, so that its imports do not compete with the
    first paint for the interpreter; a window that is not painted (minimised, hidden by the
    platform) does not hold the start back for more than ``latest_ms``.
    """
    _AfterFirstPaint(window, then, latest_ms)


def run_gui(args: argparse.Namespace) -> int:
    """Open the bedside window and run until it closes; returns the exit status."""
    from kapmonitor.ports import StoreError

    app = QApplication.instance() or QApplication(["kapmonitor"])
    assert isinstance(app, QApplication)
    app.setApplicationName("kapmonitor")
    app.setDesktopFileName("kapmonitor")
    from ui.icons import app_icon

    app.setWindowIcon(app_icon())
    try:
        clock = make_clock(args)
    except ValueError as exc:
        QMessageBox.critical(None, "kapmonitor cannot start", str(exc))
        log.error("cannot start: %s", exc)
        return 1
    theme = first_paint_theme()
    apply_theme(app, theme)
    gc_guard = GuiGarbageCollector()  # before any thread that allocates starts
    window = BedsideWindow(clock=clock, theme=theme)
    window.setWindowTitle(window_title(args, clock))
    startup_probe.install(window)  # benchmarks/startup.py; nothing without KAPMONITOR_STARTUP_PROBE
    window.showMaximized()  # a clinic laptop's 1366x768 or a 1080p monitor: all of it
    worker = DbWorker()
    built: list[AppParts] = []
    opened: list[Opened] = []
    status: list[int] = []

    def open_it() -> Opened:
        found = open_for_window(args, clock)
        opened.append(found)  # closed at the end if the window never took it
        return found

    def ready(found: Opened) -> None:
        if not window.isVisible():  # closed while the database opened
            return
        from ui.app import build_app, connect_dialogs, start_or_resume

        parts = build_app(args, app, clock=clock, store=found.store, settings=found.settings,
                          window=window, worker=worker, gc_guard=gc_guard, load_audio=False)
        built.append(parts)
        if parts.window is not window:  # the clinic's theme is not the one painted first
            parts.window.showMaximized()
            window.close_without_asking()
            window.deleteLater()
        remember_theme(parts.theme)
        connect_dialogs(parts)
        # What start-up made (the database layer's modules, the window) lives as long as the window:
        # frozen out of the collector's reach, the GUI thread's first collection is not a 30 ms pass
        # through all of it, nor is any later full one (ui.gc_guard; unfrozen when the window ends).
        gc.freeze()
        startup_probe.ready()
        # The sound system (QtMultimedia, the audio device, the chimes: ~35 ms) loads on the event
        # loop's first turn with the start dialog (or the resume question) up: no alarm can sound
        # before a session is started or resumed in it.
        QTimer.singleShot(0, parts.audio, parts.audio.load)
        start_or_resume(parts)

    def failed(exc: BaseException) -> None:
        if not isinstance(exc, StoreError | ValueError):
            log.error("cannot start", exc_info=exc)
        else:
            log.error("cannot start: %s", exc)
        QMessageBox.critical(window, "kapmonitor cannot start", str(exc))
        status.append(1)
        window.close_without_asking()
        app.exit(1)

    def start_opening() -> None:
        Op(open_it, parent=window, what="Opening the database").success(ready).failure(failed).run(worker)

    after_first_paint(window, start_opening)
    try:
        code = int(app.exec())
        return status[0] if status else code
    finally:
        gc.unfreeze()
        if built:
            built[0].shutdown()
        else:
            worker.shutdown(wait=True)
            for found in opened:
                found.store.close()
            gc_guard.stop()
