"""The review window's "Monitoring form (PDF)…" button (issue 12): the same form as the command line.

The session of :mod:`form12_session` is opened in a real review window on the real store with the
real DB worker; the button is pressed, the save dialog answered, and the file read with pdftotext.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from form12_session import SETTING, Recorded, record
from PySide6.QtWidgets import QFileDialog, QToolBar
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from ui.exports import window_exports
from ui.review_window import ReviewWindow
from ui.theme import LIGHT
from ui.worker import DbWorker

NOW = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("form-window") / "sessions.db")


@pytest.fixture
def window(recorded: Recorded, qtbot: QtBot) -> Iterator[tuple[ReviewWindow, DbWorker]]:
    worker = DbWorker()
    store = SqlStore.open(recorded.path)
    w = ReviewWindow.open(store, recorded.full, worker=worker, clock=FakeClock(start=NOW), theme=LIGHT,
                          exports=window_exports(store))
    w.show_errors = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w, worker
    worker.shutdown()
    store.close()


def _text(path: Path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is needed")
    return " ".join(subprocess.run([tool, str(path), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())


def test_the_button_writes_the_form_where_the_dialog_says(window: tuple[ReviewWindow, DbWorker], qtbot: QtBot,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    w, worker = window
    bar = w.findChild(QToolBar)
    assert bar is not None
    labels = [a.text() for a in bar.actions()]
    # beside the report export, and the add/correct actions still follow the exports
    assert labels.index("Monitoring form (PDF)\u2026") == labels.index("Export PDF report\u2026") + 1
    assert bar.actions()[labels.index("Add observation\u2026")].isEnabled()
    suggested: list[str] = []
    chosen = tmp_path / "chart-form"  # no suffix typed: the dialog's answer gets .pdf

    def save_dialog(_parent: object, _title: str, name: str, _filter: str) -> tuple[str, str]:
        suggested.append(name)
        return str(chosen), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    with qtbot.waitSignal(w.export_finished, timeout=10000) as done:
        bar.actions()[labels.index("Monitoring form (PDF)\u2026")].trigger()
    assert done.args == [str(chosen.with_suffix(".pdf"))]
    started = w.data.record.started_at.astimezone()
    assert suggested == [f"K-0107_{started:%Y-%m-%d}_s{w.data.session_id}_monitoring-form.pdf"]
    text = _text(chosen.with_suffix(".pdf"))
    assert "Patient monitoring form" in text and SETTING in text and "L-5521" in text
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=5000)


def test_a_failed_form_is_reported(window: tuple[ReviewWindow, DbWorker], qtbot: QtBot,
                                   tmp_path: Path) -> None:
    w, _ = window
    with qtbot.waitSignal(w.failed, timeout=5000) as failed:
        w.export_form_to(tmp_path / "missing" / "form.pdf")
    assert "missing" in failed.args[0]
    assert not (tmp_path / "missing").exists()
