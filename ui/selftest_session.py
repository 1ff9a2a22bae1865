"""The simulated session of ``kapmonitor --self-test`` (:mod:`ui.selftest`) and its database checks.

:class:`SessionRun` drives the real bedside window built by :func:`ui.app.build_app` --
the recorder, its Qt bridge, the DB worker, the observation panel -- with the simulated
sensor on a :class:`~kapmonitor.clock.ScaledClock`, recording through a
:class:`~db.journaled_store.JournaledStore` as the app does (its journal in the self-test's
own folder); each step is one self-test check and raises :class:`CheckFailed` with a plain
reason when it does not work. The database and CSV checks then read back what the session
stored, through a fresh connection.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kapmonitor import __version__

__all__ = ["CLIENT_CODE", "NOTE_TEXT", "SPEED", "CheckFailed", "SessionRun", "check_database", "check_export",
           "require"]

SPEED = 600.0
"""Clock speed of the simulated session: one session minute passes in 0.1 s."""
BASELINE_MIN = 2.0
AFTER_DOSE_MIN = 13.0
"""Long enough to pass the sublingual protocol's 10-minute onset into the effect window."""
NOTE_TEXT = "self-test note: calm, eyes closed"
CLIENT_CODE = "SELFTEST"
WAIT_S = 20.0
"""The longest any single step may take in real time before it counts as failed."""
EVENTS_MS = 100
"""The longest one turn of the event loop may run before a wait looks at its condition again."""


class CheckFailed(Exception):
    """A self-test check did not pass; the message says what was wrong."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def wait_for(app: Any, condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Run the Qt event loop until ``condition()``; CheckFailed after ``timeout_s`` real seconds."""
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout_s:g} s waiting for {what}")
        # At most EVENTS_MS of events, then the condition again: on a loaded machine a 600x clock
        # posts readings faster than the window draws them, and an unbounded processEvents()
        # never came back (two self-tests at once on 2 cores hung for 180 s).
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, EVENTS_MS)
        time.sleep(0.01)
    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, EVENTS_MS)


class SessionRun:
    """The simulated session through the real window, step by step (each step one check)."""

    def __init__(self, app: Any, db_path: Path, speed: float = SPEED) -> None:
        self.app = app
        self.db_path = db_path
        self.speed = speed  # the session clock's speed (benchmarks run the window at 1x too)
        self.parts: Any = None
        self.session_id: int | None = None
        self.phases_seen: set[str] = set()
        self.readings_seen = 0
        self.observation_ids: list[str] = []

    def open_window(self) -> str:
        from db.journaled_store import JournaledStore
        from db.migrate import packaged_head
        from devices.factory import make_sensor
        from kapmonitor.clock import ScaledClock
        from kapmonitor.sensor import Sensor
        from ui.app import build_app

        clock = ScaledClock(self.speed)
        store = JournaledStore.open(str(self.db_path), clock=clock,
                                    journal_dir=self.db_path.parent / "journal")
        with store.database.engine.connect() as conn:  # read as recorded: no Alembic in the window
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
        revision = rows[0][0] if len(rows) == 1 else f"{len(rows)} revisions recorded"
        if revision != packaged_head():
            store.close()
            raise CheckFailed(f"schema is {revision}, expected {packaged_head()}")

        def sensors() -> list[Sensor]:
            return [make_sensor("simulated:20260301", clock)]

        args = argparse.Namespace(db=str(self.db_path), demo=True, speed=self.speed)
        self.parts = build_app(args, self.app, clock=clock, store=store, sensors_for_session=sensors)
        bridge = self.parts.bridge
        bridge.snapshot_arrived.connect(lambda snap: self.phases_seen.add(snap.phase.value))
        bridge.reading_arrived.connect(self._count_reading)
        bridge.observation_arrived.connect(lambda obs: self.observation_ids.append(obs.observation_id))
        window = self.parts.window
        window.resize(1280, 800)
        window.show()
        wait_for(self.app, window.isVisible, "the window to show")
        return f"schema {revision}, platform {self.app.platformName()}"

    def _count_reading(self, *_: object) -> None:
        self.readings_seen += 1

    def start_session(self) -> str:
        from kapmonitor.ports import SessionSpec
        from kapmonitor.protocols import find_protocol

        started: list[int] = []
        window = self.parts.window
        window.session_started.connect(started.append)
        spec = SessionSpec(client_code=CLIENT_CODE, protocol=find_protocol("sublingual"), dose_amount=100.0,
                           app_version=__version__)
        window.start_session(spec)
        wait_for(self.app, lambda: bool(started), "the session to start")
        self.session_id = started[0]
        clock = self.parts.clock
        t0 = clock.now()
        wait_for(self.app, lambda: (clock.now() - t0).total_seconds() >= BASELINE_MIN * 60
              and self.readings_seen > 0, "baseline readings from the simulated sensor")
        return f"session {self.session_id}, {self.readings_seen} baseline readings shown"

    def dose_and_run(self) -> str:
        recorder, clock = self.parts.recorder, self.parts.clock
        self.parts.window.give_dose()
        wait_for(self.app, lambda: recorder.state is not None and recorder.state.first_dose_at is not None,
              "the dose to be saved")
        dose_at = recorder.state.first_dose_at
        wait_for(self.app, lambda: (clock.now() - dose_at).total_seconds() >= AFTER_DOSE_MIN * 60,
              f"{AFTER_DOSE_MIN:g} session minutes after the dose")
        wait_for(self.app, lambda: "effect" in self.phases_seen, "the effect phase", timeout_s=5.0)
        return f"{AFTER_DOSE_MIN:g} min at x{SPEED:g}; phases shown: {', '.join(sorted(self.phases_seen))}"

    def observe(self) -> str:
        panel = self.parts.window.observations
        require(panel is not None, "the window has no observation panel")
        before = len(self.observation_ids)
        panel.text_line.setText(NOTE_TEXT)
        panel.save_note()
        wait_for(self.app, lambda: len(self.observation_ids) > before, "the note to be saved")
        return "note typed in the observation panel and saved"

    def end(self) -> str:
        from kapmonitor.ports import StoreError
        from kapmonitor.types import EventKind

        ended: list[object] = []
        self.parts.bridge.event_arrived.connect(
            lambda event: ended.append(event) if event.kind is EventKind.SESSION_ENDED else None)
        self.parts.window.end_session("self-test complete")
        wait_for(self.app, lambda: bool(ended), "the session to end")
        try:
            self.parts.store.wait_applied(WAIT_S)
        except StoreError as exc:
            raise CheckFailed(f"the journal did not reach the database: {exc}") from exc
        pixmap = self.parts.window.grab()
        require(not pixmap.isNull() and pixmap.width() > 0, "the window could not be drawn")
        return f"window drawn at {pixmap.width()}x{pixmap.height()}"

    def close(self) -> str:
        """Close the window and shut the recorder, worker and store down, as the app does on exit."""
        parts, self.parts = self.parts, None
        require(parts is not None, "the window was never opened")
        parts.window.close_without_asking()
        parts.shutdown()
        require(not parts.window.isVisible(), "the window is still visible after closing")
        return "recorder, database worker and store shut down"


# ----------------------------------------------------------------------- database
def check_database(db_path: Path, session_id: int) -> str:
    import sqlite3

    from db.store import SqlStore
    from kapmonitor.types import EventKind, Phase, Stream

    with sqlite3.connect(db_path) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    require(result == "ok", f"integrity_check says {result!r}")
    with SqlStore.open(str(db_path)) as store:
        store.check_integrity()
        record = store.session(session_id)
        require(record.ended_at is not None, "the session is not marked as ended")
        hr = store.load_stream(session_id, Stream.HEART_RATE)
        require(len(hr.t) > 0, "no heart-rate readings were stored")
        kinds = {e.kind for e in store.events(session_id)}
        for needed in (EventKind.SESSION_STARTED, EventKind.DOSE_GIVEN, EventKind.SESSION_ENDED):
            require(needed in kinds, f"no {needed.value} event was stored")
        notes = [o for o in store.observations(session_id) if o.text == NOTE_TEXT]
        require(len(notes) == 1, f"expected the typed note once, found {len(notes)}")
        summary = next(s for s in store.sessions() if s.session_id == session_id)
        require(summary.phase_reached.order >= Phase.EFFECT.order,
                 f"phase reached is {summary.phase_reached.value!r}, expected the effect window or later")
    return (f"integrity ok, {len(hr.t)} heart-rate readings, phase reached {summary.phase_reached.value}, "
            "note stored")


def check_export(db_path: Path, session_id: int, out_path: Path) -> str:
    from db.export import EXPORTERS
    from db.export.csv import COLUMNS
    from db.export.source import StoredSession
    from db.store import SqlStore
    from kapmonitor.clock import SystemClock
    from kapmonitor.exporters import ExportOptions

    options = ExportOptions(generated_at=SystemClock().now())
    with SqlStore.open(str(db_path)) as store:
        csv_format = EXPORTERS.get("csv")
        rows = EXPORTERS.export_file(csv_format, StoredSession(store, session_id), out_path, options)
    with open(out_path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        require(tuple(reader.fieldnames or ()) == COLUMNS, f"unexpected header {reader.fieldnames}")
        parsed = list(reader)
    require(len(parsed) == rows, f"export reported {rows} rows, the file has {len(parsed)}")
    kinds = {r["kind"] for r in parsed}
    require("reading" in kinds, f"no reading rows in the export (kinds: {sorted(kinds)})")
    require(any(r["text"] == NOTE_TEXT for r in parsed), "the note is not in the export")
    require(all(r["client_code"] == CLIENT_CODE for r in parsed), "rows with the wrong client code")
    return f"{rows} rows, {out_path.stat().st_size // 1024} KiB, parses as CSV"
