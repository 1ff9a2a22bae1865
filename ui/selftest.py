"""``kapmonitor --self-test``: check an installation in one command.

Runs the application's real parts -- the bundled assets, the database with its
migrations, the bedside window (offscreen), the recorder with the simulated
sensor on a fast clock, the observation panel, the CSV export -- against a
temporary database, and prints one line per check on stdout::

    ok   database opens and migrates (schema 0001)
    FAIL bedside window opens: <what went wrong>

The exit status is 0 only if every check passed. Nothing outside the temporary
directory is touched: the clinic's own database is never opened. When a check
fails the temporary directory is kept and its path printed, so it can be sent
along with the output.

The window is drawn offscreen (``QT_QPA_PLATFORM=offscreen``) so the check works
over SSH and on a machine without a display; set ``KAPMONITOR_SELF_TEST_PLATFORM``
(e.g. ``xcb``, ``wayland``, ``windows``, ``cocoa``) to test the real display
platform instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kapmonitor import __version__
from ui.selftest_session import CheckFailed, SessionRun, check_database, check_export, require

__all__ = ["PLATFORM_ENV_VAR", "CheckFailed", "SelfTest", "run_self_test"]

PLATFORM_ENV_VAR = "KAPMONITOR_SELF_TEST_PLATFORM"


class SelfTest:
    """Runs named checks, prints one line each and remembers the failures."""

    def __init__(self, out: Any = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.passed = 0
        self.failed: list[str] = []

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def check(self, name: str, fn: Callable[[], str | None]) -> bool:
        """Run ``fn``; print ``ok   name (detail)`` or ``FAIL name: error``. True if it passed."""
        t0 = time.monotonic()
        try:
            detail = fn()
        except Exception as exc:  # every failure is reported, never raised: the next checks still run
            message = str(exc) or type(exc).__name__
            if not isinstance(exc, CheckFailed):
                message = f"{type(exc).__name__}: {message}"
            self.failed.append(name)
            self.line(f"FAIL {name}: {message}")
            return False
        self.passed += 1
        took = time.monotonic() - t0
        timing = f" [{took:.1f} s]" if took >= 0.1 else ""
        self.line(f"ok   {name}" + (f" ({detail})" if detail else "") + timing)
        return True

    def skip(self, name: str, why: str) -> None:
        self.failed.append(name)
        self.line(f"FAIL {name}: not run ({why})")



# ------------------------------------------------------------------------- assets
def check_migrations() -> str:
    from db.migrate import MIGRATIONS_DIR, head_revision

    scripts = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    require(bool(scripts), f"no migration scripts in {MIGRATIONS_DIR / 'versions'}")
    require((MIGRATIONS_DIR / "env.py").is_file(), f"{MIGRATIONS_DIR / 'env.py'} is missing")
    return f"{len(scripts)} script(s), head {head_revision()}"


def check_sounds() -> str:
    from ui.sounds import SOUND_FILES, sounds_dir

    total = 0.0
    for name in SOUND_FILES.values():
        path = sounds_dir() / name
        require(path.is_file(), f"{path} is missing")
        with wave.open(str(path), "rb") as wav:
            require(wav.getnframes() > 0, f"{path} holds no sound")
            total += wav.getnframes() / wav.getframerate()
    return f"{len(SOUND_FILES)} WAV files, {total:.1f} s"


def check_fonts() -> str:
    from ui.theme import register_fonts

    families = register_fonts()
    require(bool(families), "the bundled fonts could not be registered with Qt")
    return ", ".join(families)


def check_icon() -> str:
    from PySide6.QtGui import QImage

    from ui.icons import icon_path

    path = icon_path(256)
    image = QImage(str(path))
    require(not image.isNull(), f"{path} is missing or not an image")
    return f"{path.name} {image.width()}x{image.height()}"


def check_audio() -> str:
    """Qt Multimedia must load in a frozen bundle (it ships its libraries); a checkout may lack them."""
    try:
        from PySide6.QtMultimedia import QMediaDevices

        from ui.audio import start_audio_only

        start_audio_only()  # as the window starts it
    except ImportError as exc:
        if getattr(sys, "frozen", False):
            raise CheckFailed(f"Qt Multimedia does not load in this bundle: {exc}") from exc
        return f"Qt Multimedia does not load ({exc}); alarms will be visual only until libpulse0 is installed"
    outputs = QMediaDevices.audioOutputs()
    if not outputs:
        return "Qt Multimedia loads; no audio output device here, so alarms would be visual only"
    return f"Qt Multimedia loads; audio output: {outputs[0].description()}"


# ---------------------------------------------------------------------------- run
@contextmanager
def _workdir() -> Iterator[tuple[Path, list[bool]]]:
    """A temporary directory, removed afterwards unless the flag list gets ``True`` (keep it)."""
    path = Path(tempfile.mkdtemp(prefix="kapmonitor-selftest-"))
    keep: list[bool] = []
    try:
        yield path, keep
    finally:
        if not any(keep):
            shutil.rmtree(path, ignore_errors=True)


def _describe() -> str:
    kind = "frozen bundle" if getattr(sys, "frozen", False) else "Python installation"
    return (f"kapmonitor {__version__} self-test: {kind} at {Path(sys.executable).parent}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")


_HARMLESS_QT_MESSAGES = (
    "does not support propagateSizeHints",  # every window geometry change on the offscreen platform
    "qt.multimedia.symbolsresolver",  # optional PipeWire/VA-API libraries probed at start
)


def _quiet_qt_messages(mode: Any, context: Any, message: str) -> None:
    """Qt's messages to stderr, without the harmless offscreen noise that would bury real problems."""
    category = getattr(context, "category", "") or ""
    if any(text in message or text == category for text in _HARMLESS_QT_MESSAGES):
        return
    sys.stderr.write((f"{category}: " if category and category != "default" else "") + message + "\n")


def run_self_test(args: argparse.Namespace | None = None) -> int:
    """Run every check (see the module docstring); 0 if all passed, 1 otherwise."""
    os.environ["QT_QPA_PLATFORM"] = os.environ.get(PLATFORM_ENV_VAR) or "offscreen"
    test = SelfTest()
    started = time.monotonic()
    test.line(_describe())
    test.check("migrations are bundled", check_migrations)
    test.check("alarm sounds are bundled", check_sounds)

    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    previous_handler = qInstallMessageHandler(_quiet_qt_messages)

    app = QApplication.instance() or QApplication(["kapmonitor"])
    app.setApplicationName("kapmonitor-selftest")
    test.line(f"     Qt {pyside_version}, platform {app.platformName()}")
    test.check("bundled fonts register with Qt", check_fonts)
    test.check("application icon is bundled", check_icon)
    test.check("Qt Multimedia (alarm sound)", check_audio)

    with _workdir() as (work, keep):
        db_path = work / "selftest.db"
        run = SessionRun(app, db_path)
        steps = [
            ("database opens and migrates; bedside window opens", run.open_window),
            ("session starts with the simulated sensor (baseline)", run.start_session),
            ("dose given; clock reaches the effect window", run.dose_and_run),
            ("observation typed and saved", run.observe),
            ("session ends; window draws", run.end),
        ]
        session_ok = False
        try:
            for index, (name, step) in enumerate(steps):
                if not test.check(name, step):
                    for later, _ in steps[index + 1:]:
                        test.skip(later, "an earlier step failed")
                    break
            else:
                session_ok = True
        finally:
            if run.parts is not None:
                test.check("window closes; recorder and database shut down cleanly", run.close)
        if session_ok and run.session_id is not None:
            sid = run.session_id
            test.check("database is intact and holds the session", lambda: check_database(db_path, sid))
            test.check("session exports to CSV", lambda: check_export(db_path, sid, work / "session.csv"))
        else:
            test.skip("database is intact and holds the session", "the session did not complete")
            test.skip("session exports to CSV", "the session did not complete")
        if test.failed:
            keep.append(True)
            test.line(f"     files kept for inspection in {work}")
    qInstallMessageHandler(previous_handler)
    elapsed = time.monotonic() - started
    if test.failed:
        test.line(f"self-test FAILED: {len(test.failed)} of {test.passed + len(test.failed)} checks "
                  f"failed ({elapsed:.1f} s)")
        return 1
    test.line(f"self-test passed: {test.passed} checks in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover - ``kapmonitor --self-test`` is the entry point
    sys.exit(run_self_test())
