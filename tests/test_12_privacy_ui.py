"""Privacy at rest, the window's error paths: a note or reason that could not be saved is not logged.

When the database refuses a row for a reason nobody foresaw, the driver's error names the
statement; it must not carry the row's values (the note, the reason) into the log, nor into
the traceback logged beside it. A real SQLite file is made to fail on insert by a trigger
calling a function that does not exist: an unexpected driver error, as a damaged or foreign
schema would give.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.settings import ClinicSettings
from kapmonitor.types import ObservationKind
from ui.observation_commands import ObservationCommands
from ui.observation_panel import ObservationPanel
from ui.ops import Op
from ui.theme import DARK
from ui.worker import DbWorker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOTE = "zqx-ui-note-she-mentioned-her-brother"
TAG = "zqx-ui-free-tag"
CHECK_NOTE = "zqx-ui-check-note-cuff-left-arm"
DISMISSAL = "zqx-ui-dismissal-client-declined"
END_REASON = "zqx-ui-end-reason-went-home-early"


def _break_inserts(db: Path) -> None:
    with sqlite3.connect(db) as con:
        for table in ("observations", "session_events"):
            con.execute(f"CREATE TRIGGER zqx_{table} BEFORE INSERT ON {table} "
                        "BEGIN SELECT zqx_no_such_function(1); END")



def test_entries_that_fail_to_save_are_logged_without_their_text(
    qtbot: QtBot, tmp_path: Path, logged: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "k.db"
    clock = FakeClock(T0)
    store = SqlStore.open(db, clock=clock)
    recorder = Recorder(store, clock, ClinicSettings.defaults().alarms, autotick=False)
    recorder.start_session(SessionSpec("K-001", PRESETS["sublingual"]))
    _break_inserts(db)
    worker = DbWorker()
    commands = ObservationCommands(recorder, worker.run_in_worker, clock)
    panel = ObservationPanel(ClinicSettings.defaults(), commands, DARK)
    qtbot.addWidget(panel)
    failures: list[str] = []
    try:
        panel.text_line.setText(NOTE)
        panel.save_note()
        commands.add(ObservationKind.TAG, TAG, on_failed=failures.append)
        commands.complete_check("vitals_pre_dose", CHECK_NOTE, on_failed=failures.append)
        commands.dismiss_check("vitals_pre_dose", DISMISSAL, on_failed=failures.append)
        Op(lambda: recorder.end_session(END_REASON), parent=panel, what="Ending the session").run(worker)
        qtbot.waitUntil(lambda: worker.pending == 0 and len(failures) == 3, timeout=10_000)
        qtbot.waitUntil(lambda: "Ending the session failed" in caplog.text, timeout=5000)
        panel.retry_timer.stop()
    finally:
        worker.shutdown()
        recorder.close()
        store.close()
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = logged.read_text(encoding="utf-8") + caplog.text
    assert "zqx_no_such_function" in text, "the failures were logged (with the driver's reason)"
    leaked = [m for m in (NOTE, TAG, CHECK_NOTE, DISMISSAL, END_REASON) if m in text]
    assert leaked == []
