"""A real bedside process for the crash test of the note draft (run by ``test_ui11_resume``).

``python tests/draft_process.py DB`` builds the application exactly as ``ui.main`` does (the real
clock, the journaled store on ``DB``, the DB worker), starts a session, saves one note by typing
it and pressing Enter, then types a second note without saving it. When the second note's draft
file is on disk it prints ``DRAFTED <session id> <draft path>`` and keeps running until it is
killed: the test sends SIGKILL, as a power cut or a crash would end it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from db.store import SqlStore
from kapmonitor.clock import SystemClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from ui.app import build_app
from ui.note_draft import drafts_folder


def _wait(app: QApplication, done: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    db = Path(sys.argv[1])
    app = QApplication(sys.argv[:1])
    clock = SystemClock()
    store = SqlStore.open(db, clock=clock)
    parts = build_app(argparse.Namespace(db=str(db), demo=False, speed=None), app, clock=clock, store=store,
                      sensors_for_session=list)
    parts.window.show()
    parts.window.start_session(SessionSpec("K-CRASH", PRESETS["sublingual"]))
    _wait(app, lambda: "K-CRASH" in parts.window.session_label.text())
    sid = parts.recorder.session_id
    panel = parts.window.observations
    assert panel is not None and sid is not None
    QTest.keyClick(parts.window, Qt.Key.Key_N)
    QTest.keyClicks(panel.text_line, "client settled on the couch")
    QTest.keyClick(panel.text_line, Qt.Key.Key_Return)
    _wait(app, lambda: any("client settled" in t and not t.startswith("saving")
                           for t in panel.timeline.entry_texts()))
    QTest.keyClick(parts.window, Qt.Key.Key_N)  # Enter gave the focus back to the bedside keys
    QTest.keyClicks(panel.text_line, "client describes floating, asks for")
    draft = drafts_folder(parts.store.location) / f"session-{sid}.txt"
    _wait(app, draft.exists)
    print(f"DRAFTED {sid} {draft}", flush=True)
    while True:  # until killed
        app.processEvents()
        time.sleep(0.02)


if __name__ == "__main__":
    main()
