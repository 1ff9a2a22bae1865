"""Issue 14, the windows: the review window's toolbar and the session list offer EDF+, FHIR R4 and
RR for Kubios beside the CSV and the PDF report, and the review window writes each (on the database
worker) byte for byte as ``kapmonitor export`` does (FHIR: the same resources; only the Bundle's
time stamp is the window clock's)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from export14_session import CLIENT, Recorded, record_session
from PySide6.QtWidgets import QToolBar
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from ui.exports import window_exports
from ui.main import main
from ui.review_window import ReviewWindow
from ui.session_list import SessionListWidget
from ui.theme import LIGHT
from ui.worker import DbWorker

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record_session(tmp_path_factory.mktemp("window14") / "k.db")


@pytest.fixture
def worker(qtbot: QtBot) -> Iterator[DbWorker]:
    w = DbWorker()
    yield w
    w.shutdown()


def test_the_review_window_writes_every_research_format_as_the_command_line_does(
        recorded: Recorded, qtbot: QtBot, worker: DbWorker, tmp_path: Path) -> None:
    with SqlStore.open(recorded.path) as store:
        w = ReviewWindow.open(store, recorded.session_id, worker=worker, clock=FakeClock(start=NOW),
                              theme=LIGHT, exports=window_exports(store))
        w.show_errors = False
        qtbot.addWidget(w)
        (bar,) = w.findChildren(QToolBar)
        labels = [a.text() for a in bar.actions()][:5]
        assert labels == ["Export CSV\u2026", "Export EDF+\u2026", "Export FHIR R4\u2026",
                          "Export RR for Kubios\u2026", "Export PDF report\u2026"]
        for name, suffix in (("edf", ".edf"), ("fhir", ".json"), ("rr", ".txt")):
            from_window = tmp_path / f"window{suffix}"
            with qtbot.waitSignal(w.export_finished, timeout=10000):
                w.export_to(name, from_window)
            from_cli = tmp_path / f"cli{suffix}"
            assert main(["--db", str(recorded.path), "export", str(recorded.session_id), "--format", name,
                         "-o", str(from_cli)]) == 0
            if name == "fhir":
                window_bundle = json.loads(from_window.read_text(encoding="utf-8"))
                cli_bundle = json.loads(from_cli.read_text(encoding="utf-8"))
                assert window_bundle["timestamp"] == "2026-03-14T15:00:00.000Z"
                assert window_bundle["entry"] == cli_bundle["entry"] and window_bundle["entry"]
            else:
                assert from_window.read_bytes() == from_cli.read_bytes() and from_cli.stat().st_size > 1000
        hidden = tmp_path / "hidden.edf"
        with qtbot.waitSignal(w.export_finished, timeout=10000):
            w.export_to("edf", hidden, deidentify=True)
        assert CLIENT.encode() not in hidden.read_bytes()[:256]
        w.close()


def test_the_session_list_has_an_export_button_per_format(recorded: Recorded, qtbot: QtBot) -> None:
    with SqlStore.open(recorded.path) as store:
        exports = window_exports(store)
        widget = SessionListWidget(store, worker=None, clock=FakeClock(start=NOW), theme=LIGHT,
                                   export_formats=[(e.name, e.title) for e in exports])
        qtbot.addWidget(widget)
        widget.refresh()
        assert {f"export:{n}" for n in ("csv", "edf", "fhir", "rr", "report")} <= set(widget.buttons)
        widget.close()
