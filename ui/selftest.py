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
import csv
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

__all__ = ["PLATFORM_ENV_VAR", "SPEED", "SelfTest", "run_self_test"]

PLATFORM_ENV_VAR = "KAPMONITOR_SELF_TEST_PLATFORM"
SPEED = 600.0
"""Clock speed of the simulated session: one session minute passes in 0.1 s."""
BASELINE_MIN = 2.0
AFTER_DOSE_MIN = 13.0
"""Long enough to pass the sublingual protocol's 10-minute onset into the effect window."""
NOTE_TEXT = "self-test note: calm, eyes closed"
CLIENT_CODE = "SELFTEST"
WAIT_S = 20.0
"""The longest any single step may take in real time before it counts as failed."""


class CheckFailed(Exception):
    """A self-test check did not pass; the message says what was wrong."""


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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# ------------------------------------------------------------------------- assets
def check_migrations() -> str:
    from db.migrate import MIGRATIONS_DIR, head_revision

    scripts = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    _require(bool(scripts), f"no migration scripts in {MIGRATIONS_DIR / 'versions'}")
    _require((MIGRATIONS_DIR / "env.py").is_file(), f"{MIGRATIONS_DIR / 'env.py'} is missing")
    return f"{len(scripts)} script(s), head {head_revision()}"


def check_sounds() -> str:
    from ui.sounds import SOUND_FILES, sounds_dir

    total = 0.0
    for name in SOUND_FILES.values():
        path = sounds_dir() / name
        _require(path.is_file(), f"{path} is missing")
        with wave.open(str(path), "rb") as wav:
            _require(wav.getnframes() > 0, f"{path} holds no sound")
            total += wav.getnframes() / wav.getframerate()
    return f"{len(SOUND_FILES)} WAV files, {total:.1f} s"


def check_fonts() -> str:
    from ui.theme import register_fonts

    families = register_fonts()
    _require(bool(families), "the bundled fonts could not be registered with Qt")
    return ", ".join(families)


def check_icon() -> str:
    from PySide6.QtGui import QImage

    from ui.icons import icon_path

    path = icon_path(256)
    image = QImage(str(path))
    _require(not image.isNull(), f"{path} is missing or not an image")
    return f"{path.name} {image.width()}x{image.height()}"


def check_audio() -> str:
    """Qt Multimedia must load in a frozen bundle (it ships its libraries); a checkout may lack them."""
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError as exc:
        if getattr(sys, "frozen", False):
            raise CheckFailed(f"Qt Multimedia does not load in this bundle: {exc}") from exc
        return f"Qt Multimedia does not load ({exc}); alarms will be visual only until libpulse0 is installed"
    outputs = QMediaDevices.audioOutputs()
    if not outputs:
        return "Qt Multimedia loads; no audio output device here, so alarms would be visual only"
    return f"Qt Multimedia loads; audio output: {outputs[0].description()}"


# ------------------------------------------------------------------------ session
def _wait(app: Any, condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Run the Qt event loop until ``condition()``; CheckFailed after ``timeout_s`` real seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout_s:g} s waiting for {what}")
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


class SessionRun:
    """The simulated session through the real window, step by step (each step one check)."""

    def __init__(self, app: Any, db_path: Path) -> None:
        self.app = app
        self.db_path = db_path
        self.parts: Any = None
        self.session_id: int | None = None
        self.phases_seen: set[str] = set()
        self.readings_seen = 0
        self.observation_ids: list[str] = []

    def open_window(self) -> str:
        from db.migrate import current_revision, head_revision
        from db.store import SqlStore
        from devices.simulated import SimulatedSensor
        from kapmonitor.clock import ScaledClock
        from kapmonitor.sensor import Sensor
        from ui.app import build_app

        clock = ScaledClock(SPEED)
        store = SqlStore.open(str(self.db_path), clock=clock)
        revision = current_revision(store.engine)
        _require(revision == head_revision(), f"schema is {revision}, expected {head_revision()}")

        def sensors() -> list[Sensor]:
            return [SimulatedSensor(clock, seed=20260301)]

        args = argparse.Namespace(db=str(self.db_path), demo=True, speed=SPEED)
        self.parts = build_app(args, self.app, clock=clock, store=store, sensors_for_session=sensors)
        bridge = self.parts.bridge
        bridge.snapshot_arrived.connect(lambda snap: self.phases_seen.add(snap.phase.value))
        bridge.reading_arrived.connect(self._count_reading)
        bridge.observation_arrived.connect(lambda obs: self.observation_ids.append(obs.observation_id))
        window = self.parts.window
        window.resize(1280, 800)
        window.show()
        _wait(self.app, window.isVisible, "the window to show")
        return f"schema {revision}, platform {self.app.platformName()}"

    def _count_reading(self, *_: object) -> None:
        self.readings_seen += 1

    def start_session(self) -> str:
        from kapmonitor.protocols import find_protocol
        from kapmonitor.store import SessionSpec

        started: list[int] = []
        window = self.parts.window
        window.session_started.connect(started.append)
        spec = SessionSpec(client_code=CLIENT_CODE, protocol=find_protocol("sublingual"), dose_amount=100.0,
                           app_version=__version__)
        window.start_session(spec)
        _wait(self.app, lambda: bool(started), "the session to start")
        self.session_id = started[0]
        clock = self.parts.clock
        t0 = clock.now()
        _wait(self.app, lambda: (clock.now() - t0).total_seconds() >= BASELINE_MIN * 60
              and self.readings_seen > 0, "baseline readings from the simulated sensor")
        return f"session {self.session_id}, {self.readings_seen} baseline readings shown"

    def dose_and_run(self) -> str:
        recorder, clock = self.parts.recorder, self.parts.clock
        self.parts.window.give_dose()
        _wait(self.app, lambda: recorder.state is not None and recorder.state.first_dose_at is not None,
              "the dose to be saved")
        dose_at = recorder.state.first_dose_at
        _wait(self.app, lambda: (clock.now() - dose_at).total_seconds() >= AFTER_DOSE_MIN * 60,
              f"{AFTER_DOSE_MIN:g} session minutes after the dose")
        _wait(self.app, lambda: "effect" in self.phases_seen, "the effect phase", timeout_s=5.0)
        return f"{AFTER_DOSE_MIN:g} min at x{SPEED:g}; phases shown: {', '.join(sorted(self.phases_seen))}"

    def observe(self) -> str:
        panel = self.parts.window.observations
        _require(panel is not None, "the window has no observation panel")
        before = len(self.observation_ids)
        panel.text_line.setText(NOTE_TEXT)
        panel.save_note()
        _wait(self.app, lambda: len(self.observation_ids) > before, "the note to be saved")
        return "note typed in the observation panel and saved"

    def end(self) -> str:
        from kapmonitor.types import EventKind

        ended: list[object] = []
        self.parts.bridge.event_arrived.connect(
            lambda event: ended.append(event) if event.kind is EventKind.SESSION_ENDED else None)
        self.parts.window.end_session("self-test complete")
        _wait(self.app, lambda: bool(ended), "the session to end")
        pixmap = self.parts.window.grab()
        _require(not pixmap.isNull() and pixmap.width() > 0, "the window could not be drawn")
        return f"window drawn at {pixmap.width()}x{pixmap.height()}"

    def close(self) -> None:
        if self.parts is not None:
            self.parts.window.close_without_asking()
            self.parts.shutdown()
            self.parts = None


# ----------------------------------------------------------------------- database
def check_database(db_path: Path, session_id: int) -> str:
    import sqlite3

    from db.store import SqlStore
    from kapmonitor.types import EventKind, Phase, Stream

    with sqlite3.connect(db_path) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    _require(result == "ok", f"integrity_check says {result!r}")
    with SqlStore.open(str(db_path)) as store:
        store.check_integrity()
        record = store.session(session_id)
        _require(record.ended_at is not None, "the session is not marked as ended")
        hr = store.load_stream(session_id, Stream.HEART_RATE)
        _require(len(hr.t) > 0, "no heart-rate readings were stored")
        kinds = {e.kind for e in store.events(session_id)}
        for needed in (EventKind.SESSION_STARTED, EventKind.DOSE_GIVEN, EventKind.SESSION_ENDED):
            _require(needed in kinds, f"no {needed.value} event was stored")
        notes = [o for o in store.observations(session_id) if o.text == NOTE_TEXT]
        _require(len(notes) == 1, f"expected the typed note once, found {len(notes)}")
        summary = next(s for s in store.sessions() if s.session_id == session_id)
        _require(summary.phase_reached.order >= Phase.EFFECT.order,
                 f"phase reached is {summary.phase_reached.value!r}, expected the effect window or later")
    return (f"integrity ok, {len(hr.t)} heart-rate readings, phase reached {summary.phase_reached.value}, "
            "note stored")


def check_export(db_path: Path, session_id: int, out_path: Path) -> str:
    from db.export import COLUMNS, export_session_csv
    from db.store import SqlStore

    with SqlStore.open(str(db_path)) as store, open(out_path, "w", encoding="utf-8", newline="") as out:
        rows = export_session_csv(store, session_id, out)
    with open(out_path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        _require(tuple(reader.fieldnames or ()) == COLUMNS, f"unexpected header {reader.fieldnames}")
        parsed = list(reader)
    _require(len(parsed) == rows, f"export reported {rows} rows, the file has {len(parsed)}")
    kinds = {r["kind"] for r in parsed}
    _require("reading" in kinds, f"no reading rows in the export (kinds: {sorted(kinds)})")
    _require(any(r["text"] == NOTE_TEXT for r in parsed), "the note is not in the export")
    _require(all(r["client_code"] == CLIENT_CODE for r in parsed), "rows with the wrong client code")
    return f"{rows} rows, {out_path.stat().st_size // 1024} KiB, parses as CSV"


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
        try:
            for index, (name, step) in enumerate(steps):
                if not test.check(name, step):
                    for later, _ in steps[index + 1:]:
                        test.skip(later, "an earlier step failed")
                    break
        finally:
            run.close()
        if run.session_id is not None and not test.failed:
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
