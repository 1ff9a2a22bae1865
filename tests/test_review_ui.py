"""Session list (search, filters, unfinished sessions) and review window (plot and list in sync,
zoom, late corrections, CSV and PDF exports) on a session recorded with the real pipeline."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot
from review_data import CLIENT, RecordedSession, record_session

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording.closing import close_unfinished
from kapmonitor.recording.late import LateInput, LateObservationError, add_late_observation
from kapmonitor.session import SessionState
from kapmonitor.types import EventKind, ObservationKind, Phase
from ui.cli.export import cmd_export
from ui.exports import window_exports
from ui.late_correction import LateObservationDialog
from ui.review_entries import observation_history_text
from ui.review_window import ReviewWindow
from ui.session_list import SessionListWidget
from ui.theme import LIGHT
from ui.worker import DbWorker

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    return record_session(tmp_path_factory.getbasetemp() / "recorded")


@pytest.fixture
def store_copy(recorded: RecordedSession, tmp_path: Path) -> Iterator[SqlStore]:
    """A private copy of the recorded database, for tests that write to it."""
    target = tmp_path / "copy.db"
    shutil.copy(recorded.path, target)
    store = SqlStore.open(target)
    yield store
    store.close()


@pytest.fixture(scope="module")
def store(recorded: RecordedSession) -> Iterator[SqlStore]:
    s = SqlStore.open(recorded.path)
    yield s
    s.close()


@pytest.fixture
def worker(qtbot: QtBot) -> Iterator[DbWorker]:
    w = DbWorker()
    yield w
    w.shutdown()


def window_for(store: SqlStore, session_id: int, qtbot: QtBot,
               worker: DbWorker | None = None) -> ReviewWindow:
    w = ReviewWindow.open(store, session_id, worker=worker, clock=FakeClock(start=NOW), theme=LIGHT,
                          exports=window_exports(store))
    w.show_errors = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


# ------------------------------------------------------------------------------ review window
def test_entries_hold_every_observation_event_and_alarm(store: SqlStore, recorded: RecordedSession,
                                                        qtbot: QtBot) -> None:
    w = window_for(store, recorded.session_id, qtbot)
    entries = w.entries.model.entries
    sid = recorded.session_id
    assert [e.kind for e in entries].count("event") == len(store.events(sid))
    assert [e.kind for e in entries].count("alarm") == len(store.alarms(sid))
    assert [e.kind for e in entries].count("observation") == len(recorded.notes)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert w.plot.observation_marker_count == len(recorded.notes)
    assert w.summary.phases.columnCount() == 5  # label column + four phases


def test_selecting_an_entry_moves_the_plot_there(store: SqlStore, recorded: RecordedSession,
                                                 qtbot: QtBot) -> None:
    w = window_for(store, recorded.session_id, qtbot)
    rows = w.entries.model.entries
    row = next(i for i, e in enumerate(rows) if e.what == "Booster given")
    x = w.data.elapsed_s(rows[row].at) / 60.0
    assert x == pytest.approx(60.0)
    w.entries.select_row(row)
    lo, hi = w.plot.visible_range()
    assert lo < x < hi and hi - lo == pytest.approx(30.0)  # the whole session was shown: zoom to 30 min
    assert w.plot.selection.isVisible() and w.plot.selection.value() == pytest.approx(x)
    region = w.plot.region.getRegion()
    assert region[0] == pytest.approx(lo) and region[1] == pytest.approx(hi)


def test_clicking_the_plot_selects_the_nearest_entry(store: SqlStore, recorded: RecordedSession,
                                                     qtbot: QtBot) -> None:
    w = window_for(store, recorded.session_id, qtbot)
    nausea = next(e for e in w.entries.model.entries if e.what == "Nausea")
    x = w.data.elapsed_s(nausea.at) / 60.0 + 0.2  # a little after it: nearest is still "nausea"
    w.plot.set_visible_range(x - 5, x + 5)
    qtbot.wait(10)
    vb = w.plot.hr_plot.getViewBox()
    scene = vb.mapViewToScene(QPointF(x, 80.0))
    pos = w.plot.view.mapFromScene(scene)
    with qtbot.waitSignal(w.plot.time_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(w.plot.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    assert blocker.args is not None
    assert blocker.args[0] == pytest.approx(nausea.at.timestamp() + 12, abs=3)
    selected = w.entries.selected_entry()
    assert selected is not None and selected.what == "Nausea"
    assert "History:" in w.entries.history.text()


def test_keyboard_zoom_pan_and_hover(store: SqlStore, recorded: RecordedSession, qtbot: QtBot) -> None:
    w = window_for(store, recorded.session_id, qtbot)
    full = w.plot.full_range()
    lo, hi = w.plot.visible_range()
    assert (lo, hi) == pytest.approx(full)
    view = w.plot.view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    lo1, hi1 = w.plot.visible_range()
    assert hi1 - lo1 == pytest.approx((hi - lo) / 2)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    lo2, _ = w.plot.visible_range()
    assert lo2 == pytest.approx(lo1 + (hi1 - lo1) / 4)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert w.plot.visible_range() == pytest.approx(full)
    text = w.plot.describe(40.0)
    dose = w.data.anchor + timedelta(minutes=40)
    assert text.startswith("T+0:40:00") and dose.astimezone().strftime("%H:%M:%S") in text and "HR " in text
    assert "no signal" in w.plot.describe(70.9)  # inside the 90-s link drop


def test_each_row_has_horizontal_grid_lines_at_its_axis_ticks_across_the_view(
        store: SqlStore, recorded: RecordedSession, qtbot: QtBot) -> None:
    """The y grid is drawn as items of each row's view (the left axis drew it slowly), at the
    ticks the axis shows, spanning the view however it is zoomed; the lanes row has none."""
    w = window_for(store, recorded.session_id, qtbot)
    qtbot.wait(50)
    for row in w.plot._plots:
        view, axis = row.getViewBox(), row.getAxis("left")
        if row is w.plot.lanes_plot:
            assert row.y_grid == []
            continue
        (x_lo, x_hi), (y_lo, y_hi) = view.viewRange()
        major = [v for v in axis.tickValues(y_lo, y_hi, view.height())[0][1] if y_lo <= v <= y_hi]
        assert major and list(row.y_grid[0].values()) == major
        xs, ys = row.y_grid[0].getData()
        assert xs.min() <= x_lo and xs.max() >= x_hi and sorted(set(ys)) == major
    w.plot.zoom(4.0)
    w.plot.pan(0.5)
    (x_lo, x_hi), _ = w.plot.hr_plot.getViewBox().viewRange()
    w.plot.zoom(0.25)
    w.plot.zoom(4.0)
    qtbot.wait(10)  # the lines follow on the next turn of the event loop

    def across() -> bool:
        xs, _ = w.plot.hr_plot.y_grid[0].getData()
        return bool(xs.min() <= x_lo and xs.max() >= x_hi)

    qtbot.waitUntil(across, timeout=1000)


def test_late_observation_and_correction_with_history(store_copy: SqlStore, recorded: RecordedSession,
                                                      qtbot: QtBot, worker: DbWorker) -> None:
    w = window_for(store_copy, recorded.session_id, qtbot, worker)
    rec = w.data.record
    assert rec.dose_at is not None
    when = rec.dose_at + timedelta(minutes=33)
    with qtbot.waitSignal(w.observations_changed, timeout=5000):
        w.add_observation(LateInput(ObservationKind.NOTE, "note", None, "Client asked for a blanket", when,
                                    "CD"))
    added = next(e for e in w.entries.model.entries if "blanket" in e.what + e.detail)
    assert added.added_later and "added later" in added.detail
    stored = [o for o in store_copy.observations(rec.session_id) if o.text == "Client asked for a blanket"]
    assert len(stored) == 1 and stored[0].added_later and stored[0].recorded_at == NOW
    assert w.plot.observation_marker_count == len(recorded.notes) + 1

    nausea = next(e for e in w.entries.model.entries if e.what == "Nausea")
    assert nausea.observation_id is not None
    with qtbot.waitSignal(w.observations_changed, timeout=5000):
        w.correct_observation(nausea.observation_id, LateInput(
            ObservationKind.TAG, "vomiting", None, "", nausea.at, "CD", reason="it was vomiting, not nausea"))
    corrected = next(e for e in w.entries.model.entries if e.observation_id == nausea.observation_id)
    assert corrected.what == "Vomiting" and corrected.edited and corrected.added_later
    revisions = [o for o in w.data.observations if o.observation_id == nausea.observation_id]
    history = observation_history_text(revisions)
    assert "rev 1" in history and "nausea" in history and "rev 2" in history and "vomiting" in history

    with qtbot.waitSignal(w.observations_changed, timeout=5000):
        w.correct_observation(nausea.observation_id, LateInput(
            ObservationKind.TAG, "vomiting", None, "", nausea.at, "CD", reason="wrong client", withdraw=True))
    withdrawn = next(e for e in w.entries.model.entries if e.observation_id == nausea.observation_id)
    assert withdrawn.deleted and "withdrawn: wrong client" in withdrawn.detail
    assert w.plot.observation_marker_count == len(recorded.notes)  # withdrawn: no marker


def test_late_input_is_validated(store: SqlStore, recorded: RecordedSession, qtbot: QtBot) -> None:
    rec = store.session(recorded.session_id)
    assert rec.ended_at is not None
    dialog = LateObservationDialog(rec, store.observations(recorded.session_id)[0])
    qtbot.addWidget(dialog)
    with pytest.raises(LateObservationError, match="reason"):
        dialog.read()
    dialog.reason.setText("typo")
    dialog.value.setText("abc")
    with pytest.raises(LateObservationError, match="number"):
        dialog.read()
    dialog.value.setText("")
    assert dialog.read().reason == "typo"
    # Save refused: the message says why, and goes as soon as the field is corrected
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.reason.clear()
    save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert "reason" in dialog.error.text() and dialog.isVisible()
    qtbot.keyClicks(dialog.reason, "t")
    assert dialog.error.text() == ""
    qtbot.keyClicks(dialog.value, "x")
    assert "number" in dialog.error.text(), "a new mistake is said at once"
    qtbot.keyClick(dialog.value, Qt.Key.Key_Backspace)
    assert dialog.error.text() == ""
    before = LateInput(ObservationKind.NOTE, "note", None, "x", rec.started_at - timedelta(minutes=5), "")
    with pytest.raises(LateObservationError, match="within the session"):
        add_late_observation(store, rec, FakeClock(start=NOW), before)


def test_csv_from_the_window_equals_the_cli(store: SqlStore, recorded: RecordedSession, qtbot: QtBot,
                                            worker: DbWorker, tmp_path: Path) -> None:
    w = window_for(store, recorded.session_id, qtbot, worker)
    from_window = tmp_path / "window.csv"
    with qtbot.waitSignal(w.export_finished, timeout=10000):
        w.export_to("csv", from_window)
    from_cli = tmp_path / "cli.csv"
    args = argparse.Namespace(db=str(recorded.path), session=str(recorded.session_id), output=str(from_cli),
                              deidentify=False, format="csv")
    assert cmd_export(args) == 0
    assert from_window.read_bytes() == from_cli.read_bytes()
    assert from_window.stat().st_size > 100_000
    deid = tmp_path / "deid.csv"
    with qtbot.waitSignal(w.export_finished, timeout=10000):
        w.export_to("csv", deid, deidentify=True)
    text = deid.read_text(encoding="utf-8")
    assert CLIENT not in text and "floating" not in text


def test_pdf_from_the_window(store: SqlStore, recorded: RecordedSession, qtbot: QtBot,
                             tmp_path: Path) -> None:
    w = window_for(store, recorded.session_id, qtbot)
    out = tmp_path / "w.pdf"
    with qtbot.waitSignal(w.export_finished, timeout=10000):
        w.export_to("report", out)
    assert out.read_bytes().startswith(b"%PDF")
    with qtbot.waitSignal(w.failed, timeout=2000):
        w.export_to("report", tmp_path / "missing" / "w.pdf")


# -------------------------------------------------------------------------------- session list
def _make_sessions(store: SqlStore) -> dict[str, int]:
    """Five sessions on different days and protocols; the last one left unfinished."""
    ids: dict[str, int] = {}
    plan = [("K-0001", "sublingual", 1, True), ("K-0002", "intranasal", 2, True),
            ("X-0100", "sublingual", 5, True), ("k-0003", "intramuscular", 9, True),
            ("K-0004", "sublingual", 12, False)]
    for code, proto, day, ended in plan:
        start = datetime(2026, 2, day, 9, 0, tzinfo=UTC)
        protocol = PRESETS[proto]
        sid = store.create_session(SessionSpec(code, protocol, 100.0), start)
        state = SessionState(protocol)
        events = [state.start(start), state.give_dose(start + timedelta(minutes=5), 100.0)]
        events += state.due_events(start + timedelta(minutes=30))
        if ended:
            events.append(state.end(start + timedelta(minutes=130), "done"))
        for e in events:
            store.append_event(sid, e)
        ids[code] = sid
    return ids


@pytest.fixture
def listing(tmp_path: Path, qtbot: QtBot) -> tuple[SessionListWidget, SqlStore, dict[str, int]]:
    store = SqlStore.open(tmp_path / "list.db")
    ids = _make_sessions(store)
    clock = FakeClock(start=datetime(2026, 2, 12, 10, 0, tzinfo=UTC))
    widget = SessionListWidget(store, worker=None, clock=clock, theme=LIGHT)
    widget.show_errors = False
    qtbot.addWidget(widget)
    widget.refresh()
    yield widget, store, ids
    store.close()


def codes(widget: SessionListWidget) -> list[str]:
    return [s.client_code for s in widget.visible_sessions()]


def test_list_shows_every_session_newest_first_with_unfinished_marked(listing: tuple) -> None:  # type: ignore[type-arg]
    widget, _store, ids = listing
    assert codes(widget) == ["K-0004", "k-0003", "X-0100", "K-0002", "K-0001"]
    model = widget.model
    row = next(i for i, s in enumerate(model.sessions) if s.session_id == ids["K-0004"])
    assert model.index(row, 9).data() == "UNFINISHED"
    assert model.index(row, 6).data() == Phase.EFFECT.value
    assert "1 unfinished" in widget.count.text()


def test_search_by_client_code(listing: tuple, qtbot: QtBot) -> None:  # type: ignore[type-arg]
    widget = listing[0]
    qtbot.keyClicks(widget.search, "k-000")
    assert codes(widget) == ["K-0004", "k-0003", "K-0002", "K-0001"]
    widget.search.setText("X-01")
    assert codes(widget) == ["X-0100"]
    assert widget.count.text().startswith("1 of 5 sessions")


def test_filter_by_date_range_and_protocol(listing: tuple) -> None:  # type: ignore[type-arg]
    widget = listing[0]
    widget.set_date_range(date(2026, 2, 2), date(2026, 2, 9))
    assert codes(widget) == ["k-0003", "X-0100", "K-0002"]
    widget.protocol.setCurrentIndex(widget.protocol.findData("sublingual"))
    assert codes(widget) == ["X-0100"]
    widget.set_date_range(None, None)
    assert codes(widget) == ["K-0004", "X-0100", "K-0001"]


def test_sort_by_column_keeps_the_selection(listing: tuple) -> None:  # type: ignore[type-arg]
    widget, _store, ids = listing
    widget.select_session(ids["X-0100"])
    widget.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # client code, any case
    assert codes(widget) == ["K-0001", "K-0002", "k-0003", "K-0004", "X-0100"]
    selected = widget.selected()
    assert selected is not None and selected.client_code == "X-0100"
    widget.table.sortByColumn(9, Qt.SortOrder.DescendingOrder)  # unfinished first
    assert codes(widget)[0] == "K-0004"
    widget.search.setText("k-")
    assert set(codes(widget)) == {"K-0001", "K-0002", "k-0003", "K-0004"}


def test_thousands_of_sessions_list_and_filter_quickly(listing: tuple) -> None:  # type: ignore[type-arg]
    widget = listing[0]
    base = widget.model.sessions[0]
    many = [dataclasses.replace(base, session_id=i, client_code=f"K-{i:05d}",
                                started_at=base.started_at - timedelta(hours=i)) for i in range(1, 5001)]
    started = time.perf_counter()
    widget.set_sessions(many)
    widget.search.setText("K-049")
    elapsed = time.perf_counter() - started
    assert codes(widget)[0] == "K-04900" and len(codes(widget)) == 100  # newest first
    assert elapsed < 2.0  # ~0.15 s here; generous for a loaded CI machine


def test_open_and_resume_signals(listing: tuple, qtbot: QtBot) -> None:  # type: ignore[type-arg]
    widget, _store, ids = listing
    assert widget.select_session(ids["K-0001"])
    assert not widget.buttons["resume"].isEnabled() and not widget.buttons["close"].isEnabled()
    with qtbot.waitSignal(widget.review_requested) as blocker:
        widget.buttons["open"].click()
    assert blocker.args == [ids["K-0001"]]
    widget.select_session(ids["K-0004"])
    assert widget.buttons["resume"].isEnabled()  # last activity 9:30 today, now 10:00
    with qtbot.waitSignal(widget.resume_requested) as blocker:
        widget.buttons["resume"].click()
    assert blocker.args == [ids["K-0004"]]
    later = datetime(2026, 2, 13, 10, 0, tzinfo=UTC)
    assert not widget.can_resume(widget.selected(), later)  # type: ignore[arg-type]


def test_close_unfinished_with_reason(listing: tuple) -> None:  # type: ignore[type-arg]
    widget, store, ids = listing
    sid = ids["K-0004"]
    widget.select_session(sid)
    widget.close_selected("power cut; client observed on paper until 11:30")
    record = store.session(sid)
    assert record.ended_at is not None
    assert record.end_reason == ("closed after an interruption: power cut; client observed on paper "
                                 "until 11:30")
    events = store.events(sid)
    assert events[-1].kind is EventKind.SESSION_ENDED
    state = SessionState.replay(record.spec.protocol, events)  # still a valid record
    assert state.is_ended and state.ended_at == record.ended_at
    assert "unfinished" not in widget.count.text()
    with pytest.raises(ValueError, match="already ended"):
        close_unfinished(store, sid, "again")
    with pytest.raises(ValueError, match="reason"):
        close_unfinished(store, ids["K-0001"], " ")


# ------------------------------------------------------------------------------ list window
def test_list_window_exports_and_opens_reviews(recorded: RecordedSession, store: SqlStore, qtbot: QtBot,
                                               worker: DbWorker, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from ui.session_browser import SessionListWindow

    window = SessionListWindow(store, worker=worker, clock=FakeClock(start=NOW), theme=LIGHT,
                               exports=window_exports(store))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.list.model.rowCount() == 1, timeout=5000)
    assert window.list.select_session(recorded.session_id)
    target = tmp_path / "from-list.csv"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.list.buttons["export:csv"].click()
    qtbot.waitUntil(lambda: worker.pending == 0 and target.exists(), timeout=10000)
    cli = tmp_path / "cli.csv"
    args = argparse.Namespace(db=str(recorded.path), session="latest", output=str(cli), deidentify=False,
                              format="csv")
    assert cmd_export(args) == 0
    assert target.read_bytes() == cli.read_bytes()

    pdf = tmp_path / "from-list"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(pdf), ""))
    window.list.buttons["export:report"].click()
    qtbot.waitUntil(lambda: worker.pending == 0 and pdf.with_suffix(".pdf").exists(), timeout=10000)
    assert pdf.with_suffix(".pdf").read_bytes().startswith(b"%PDF")

    opened: list[int] = []
    window.review_opened.connect(opened.append)
    with qtbot.waitSignal(window.review_opened, timeout=10000):
        window.list.buttons["open"].click()
        window.list.buttons["open"].click()  # pressed twice while the first is still loading
    review = window.reviews[recorded.session_id]
    assert review.data.session_id == recorded.session_id and review.isVisible()
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=5000)
    assert opened == [recorded.session_id], "one review window per session"
    review.close()
    window.list.buttons["open"].click()  # a closed review comes back, still one window
    assert review.isVisible() and len(window.reviews) == 1
    review.close()


def test_the_list_offers_one_export_button_per_format(tmp_path: Path, qtbot: QtBot) -> None:
    store = SqlStore.open(tmp_path / "formats.db")
    try:
        ids = _make_sessions(store)
        clock = FakeClock(start=datetime(2026, 2, 12, 10, 0, tzinfo=UTC))
        widget = SessionListWidget(store, worker=None, clock=clock, theme=LIGHT,
                                   export_formats=[("csv", "CSV"), ("report", "PDF report"), ("edf", "EDF+")])
        qtbot.addWidget(widget)
        widget.refresh()
        texts = [b.text() for b in widget.buttons.values()]
        assert texts[1:4] == ["Export CSV\u2026", "Export PDF report\u2026", "Export EDF+\u2026"]
        assert not widget.buttons["export:edf"].isEnabled()  # nothing selected yet
        widget.table.selectRow(0)
        assert widget.buttons["export:edf"].isEnabled()
        with qtbot.waitSignal(widget.export_requested) as blocker:
            qtbot.mouseClick(widget.buttons["export:edf"], Qt.MouseButton.LeftButton)
        assert blocker.args == [ids["K-0004"], "edf"]
    finally:
        store.close()


def test_zoomed_to_its_narrowest_around_the_dose_the_axis_still_counts_minutes(
        store: SqlStore, recorded: RecordedSession, qtbot: QtBot) -> None:
    """Half a minute around the dose spans values under 1: pyqtgraph's automatic SI prefix read them
    as milli-minutes and labelled the ticks -200 ... 300 (and rewrote every axis label on each
    change of range)."""
    w = window_for(store, recorded.session_id, qtbot)
    w.plot.set_visible_range(-0.2, 0.3)
    lo, hi = w.plot.visible_range()
    assert lo < 0 < hi <= 0.5
    axis = w.plot.lanes_plot.getAxis("bottom")
    view = w.plot.lanes_plot.getViewBox()
    for spacing, ticks in axis.tickValues(lo, hi, view.width()):
        labels = [float(s) for s in axis.tickStrings(ticks, axis.autoSIPrefixScale, spacing)]
        assert labels == pytest.approx(ticks, abs=spacing / 10) and all(-1 < v < 1 for v in labels)
    assert axis.labelString().startswith("<span") and "since dose" in axis.labelString()
    assert "(" not in axis.labelString().split(">", 1)[1].split("<")[0]  # no "(x0.001)" or "m" prefix
