"""The review window paints before the summary's HRV is computed, then shows the same figures (issue 16).

The session (tests/review_data.py) is recorded with the real pipeline. Loaded without its HRV
(``load_review(..., hrv=False)``), the summary must say "computing…" in every HRV cell, and nothing
else may differ; once computed (on a worker, after the first paint) it must be exactly the summary
loaded in one go -- in the window, in an export started before, and from the session list.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject
from pytestqt.qtbot import QtBot
from review_data import RecordedSession, record_session

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from ui.exports import window_exports
from ui.report import REPORT_EXPORTER
from ui.review_canvas import ReviewCanvas, ReviewRow
from ui.review_data import ReviewData, load_review
from ui.review_export import ReviewSession
from ui.review_summary import COMPUTING, HRV_ROWS, phase_table
from ui.review_window import ReviewWindow
from ui.session_browser import SessionListWindow
from ui.theme import LIGHT
from ui.worker import DbWorker

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    return record_session(tmp_path_factory.mktemp("review16"))


@pytest.fixture(scope="module")
def store(recorded: RecordedSession) -> Iterator[SqlStore]:
    with SqlStore.open(recorded.path) as s:
        yield s


@pytest.fixture(scope="module")
def full(store: SqlStore, recorded: RecordedSession) -> ReviewData:
    return load_review(store, recorded.session_id)


@pytest.fixture
def worker(qtbot: QtBot) -> Iterator[DbWorker]:
    w = DbWorker()
    yield w
    w.shutdown()


def _cells(table: object) -> list[list[str]]:
    from PySide6.QtWidgets import QTableWidget

    assert isinstance(table, QTableWidget)
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_the_summary_without_hrv_is_the_summary_but_for_hrv(store: SqlStore, recorded: RecordedSession,
                                                           full: ReviewData) -> None:
    lazy = load_review(store, recorded.session_id, hrv=False)
    assert lazy.report.hrv_pending and not full.report.hrv_pending
    assert len(lazy.report.phases) == len(full.report.phases) >= 4
    for waiting, done in zip(lazy.report.phases, full.report.phases, strict=True):
        assert waiting.hrv is None and waiting.hrv_period is None and waiting.rr_flagged_share is None
        assert done.hrv is not None and done.hrv_period is not None and done.rr_flagged_share is not None
        assert waiting.rr_n == done.rr_n > 0
        assert (waiting.hr_n, waiting.hr_mean, waiting.time_beyond_s, waiting.spo2_min) == \
               (done.hr_n, done.hr_mean, done.time_beyond_s, done.spo2_min)
    assert lazy.report.checks == full.report.checks and lazy.report.discharge == full.report.discharge
    assert lazy.with_hrv().report == full.report
    assert full.with_hrv() is full  # nothing computed twice


def test_the_table_says_computing_in_the_hrv_rows_only(store: SqlStore, recorded: RecordedSession,
                                                      full: ReviewData) -> None:
    lazy = load_review(store, recorded.session_id, hrv=False)
    header, rows = phase_table(lazy.report)
    full_header, full_rows = phase_table(full.report)
    assert header == full_header
    for row, full_row in zip(rows, full_rows, strict=True):
        assert row[0] == full_row[0]
        if row[0] in HRV_ROWS:
            assert row[1:] == [COMPUTING] * (len(header) - 1)
            assert COMPUTING not in full_row
        else:
            assert row == full_row
    assert phase_table(lazy.with_hrv().report) == (full_header, full_rows)


def test_the_window_paints_first_and_fills_the_hrv_after(store: SqlStore, recorded: RecordedSession,
                                                        full: ReviewData, qtbot: QtBot,
                                                        worker: DbWorker) -> None:
    hrv_worker = DbWorker()
    try:
        lazy = load_review(store, recorded.session_id, hrv=False)
        w = ReviewWindow(lazy, store=store, worker=worker, clock=FakeClock(start=NOW), theme=LIGHT,
                         exports=window_exports(store), hrv_worker=hrv_worker)
        qtbot.addWidget(w)
        assert not w.summary.complete and hrv_worker.pending == 0, "nothing computed before the first paint"
        labels = [row[0] for row in _cells(w.summary.phases)]
        hrv_cells = [row[1:] for row in _cells(w.summary.phases) if row[0] in HRV_ROWS]
        assert len(hrv_cells) == len(HRV_ROWS) and all(c == COMPUTING for row in hrv_cells for c in row)
        with qtbot.waitSignal(w.summary_completed, timeout=20000) as done:
            w.show()
        assert done.args == [recorded.session_id]
        assert w.summary.complete and w.data.report == full.report
        _header, rows = phase_table(full.report)
        assert _cells(w.summary.phases) == rows and [row[0] for row in rows] == labels
    finally:
        hrv_worker.shutdown()


def test_an_export_started_before_the_hrv_is_done_has_it(store: SqlStore, recorded: RecordedSession,
                                                        full: ReviewData) -> None:
    lazy = load_review(store, recorded.session_id, hrv=False)
    ready = ReviewSession(store, recorded.session_id, loaded=lazy).ready_for(REPORT_EXPORTER)
    assert ready.loaded is not None and ready.loaded.report == full.report
    assert ready.review().report == full.report


def test_the_session_list_opens_the_window_then_completes_it(store: SqlStore, recorded: RecordedSession,
                                                            full: ReviewData, qtbot: QtBot,
                                                            worker: DbWorker, tmp_path: Path) -> None:
    window = SessionListWindow(store, worker=worker, clock=FakeClock(start=NOW), theme=LIGHT,
                               exports=window_exports(store))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.review_opened, timeout=10000):
        window.open_review(recorded.session_id)
    review = window.reviews[recorded.session_id]
    assert review.isVisible()
    gate = threading.Event()
    worker.run_in_worker(lambda: gate.wait(30))  # the DB worker is busy (a long commit) meanwhile
    try:
        qtbot.waitUntil(lambda: review.summary.complete, timeout=20000)  # so the HRV ran beside it
    finally:
        gate.set()
    assert review.data.report == full.report
    review.close()


def test_a_row_downsamples_its_line_to_the_width_it_is_painted_at(qtbot: QtBot) -> None:
    """pyqtgraph downsamples again only when the range changes; a row laid out after its data was set
    (every review row) must still paint a reduced line, not every reading."""
    canvas = ReviewCanvas(_NoKeys())
    qtbot.addWidget(canvas)
    row = ReviewRow()
    n = 8 * 3600  # 8 hours at 1 Hz
    x = np.arange(n) / 60.0
    row.setXRange(0.0, float(x[-1]), padding=0)
    line = row.plot(x, 70 + np.sin(np.arange(n) / 900.0), clipToView=True, autoDownsample=True,
                    downsampleMethod="peak")
    canvas.add_rows([row])
    canvas.resize(600, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    qtbot.waitUntil(lambda: row.getViewBox().width() > 100)
    shown = len(line.curve.xData)
    assert row.getViewBox().width() <= shown < n / 4, "a reduced line, at least a point per pixel"
    canvas.resize(300, 300)
    qtbot.waitUntil(lambda: len(line.curve.xData) < shown, timeout=2000)  # and again when narrower


class _NoKeys:
    def zoom(self, factor: float) -> None: ...

    def pan(self, fraction: float) -> None: ...

    def show_all(self) -> None: ...


def test_the_plot_is_painted_once_when_the_window_opens(store: SqlStore, recorded: RecordedSession,
                                                       qtbot: QtBot, worker: DbWorker) -> None:
    """The canvas is laid out for its size and its views' transforms are set before the first paint:
    before, the rows were laid out again and every item moved into its view just after it, so the
    whole canvas was painted a second time (about 40 ms of an 8-hour review's opening)."""
    paints: list[int] = []

    class _Count(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                paints.append(1)
            return False

    hrv_worker = DbWorker()
    try:
        w = ReviewWindow(load_review(store, recorded.session_id, hrv=False), store=store, worker=worker,
                         clock=FakeClock(start=NOW), theme=LIGHT, exports=window_exports(store),
                         hrv_worker=hrv_worker)
        qtbot.addWidget(w)
        counter = _Count(w)
        w.plot.view.viewport().installEventFilter(counter)
        with qtbot.waitSignal(w.summary_completed, timeout=20000):
            w.show()
        qtbot.wait(300)  # anything the opening still changes in the plot would be painted by now
        assert len(paints) == 1
        for row in w.plot._plots:  # and what was painted is the laid-out plot, its grid in place
            assert row.getViewBox().width() > 100 and (row is w.plot.lanes_plot or row.y_grid[0].values())
        w.resize(w.width() - 120, w.height())
        qtbot.waitUntil(lambda: len(paints) > 1)
        qtbot.wait(300)
        assert len(paints) == 2, "a resize paints once too"
    finally:
        hrv_worker.shutdown()
