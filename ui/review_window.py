"""The review window: one recorded session, looked back at after the fact.

Left: the time line (:class:`~ui.review_plot.ReviewPlot`). Right, in two tabs: the
entries (observations, events, alarm transitions; :class:`~ui.review_entries.EntryList`)
and the per-phase summary (:class:`~ui.review_summary.SummaryView`). Selecting an entry moves the
plot to it; clicking the plot selects the nearest entry. The toolbar exports the CSV
and the PDF report and adds or corrects observations after the session (marked as
added later, with history; :mod:`ui.late_correction`).

Database work (exports, corrections) runs on the DB worker when one is given; the
window never waits on it. Opening is fast enough to load synchronously
(:meth:`ReviewWindow.open`, ~0.1 s for a 4-hour session, ``benchmarks/review_open.py``);
:func:`open_review_async` loads on the worker instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QWidget,
)

from db.store import SqlStore
from kapmonitor.clock import Clock
from ui.late_correction import LateInput, LateObservationDialog, add_late_observation, correct_observation
from ui.review_data import ReviewData, fmt_clock, fmt_date, fmt_minutes, load_review
from ui.review_entries import EntryList
from ui.review_export import export_csv, export_pdf, suggested_name
from ui.review_plot import ReviewPlot
from ui.review_summary import SummaryView
from ui.theme import Theme, set_role
from ui.worker import DbWorker

__all__ = ["ReviewWindow", "open_review_async"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class ReviewWindow(QMainWindow):
    """One session for review (see the module docstring).

    Args:
        data: the loaded session (:func:`ui.review_data.load_review`).
        store: where exports read from and corrections go.
        worker: the DB worker; None runs database work synchronously (tests, the CLI).
        clock: stamps corrections (``recorded_at``) and reports.

    Signals:
        observations_changed(int): a late observation or correction was saved (session id).
        export_finished(str): a file was written (its path).
        failed(str): an export or correction failed (the message, also shown in a dialog).
    """

    observations_changed = Signal(int)
    export_finished = Signal(str)
    failed = Signal(str)

    def __init__(self, data: ReviewData, *, store: SqlStore, worker: DbWorker | None, clock: Clock,
                 theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self._store = store
        self._worker = worker
        self._clock = clock
        self._theme = theme
        self.show_errors = True
        spec = data.record.spec
        self.setWindowTitle(f"Review \u2014 {spec.client_code}, {fmt_date(data.record.started_at)} "
                            f"(session {data.session_id})")
        self.plot = ReviewPlot(data, theme, self)
        self.summary = SummaryView(data.report, data.anchor.timestamp(), self)
        self.entries = EntryList(data, theme, self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.entries, "Notes, events and alarms")
        self.tabs.addTab(self.summary, "Summary by phase")
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.plot)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([840, 560])
        self.setCentralWidget(split)
        self._toolbar()
        state = "" if data.record.ended_at else "  \u2014  NOT ENDED (interrupted)"
        dose = "dose not entered" if spec.dose_amount is None else f"{spec.dose_amount:g} {spec.dose_unit}"
        dosed = f"dose given {fmt_clock(data.record.dose_at)}" if data.record.dose_at else "no dose given"
        self.status = QLabel(
            f"Client {spec.client_code}  \u00b7  {fmt_date(data.record.started_at)}  \u00b7  "
            f"{spec.protocol.name} {dose}  \u00b7  {dosed}  \u00b7  "
            f"clinician {spec.clinician_initials or '?'}  \u00b7  "
            f"monitored {fmt_minutes(data.report.monitoring_s)}{state}", self)
        set_role(self.status, "caption")
        self.statusBar().addWidget(self.status, 1)
        self.entries.entry_selected.connect(self.plot.center_on)
        self.plot.time_clicked.connect(self._plot_clicked)
        self.resize(1400, 880)

    @classmethod
    def open(cls, store: SqlStore, session_id: int, *, worker: DbWorker | None, clock: Clock, theme: Theme,
             parent: QWidget | None = None) -> ReviewWindow:
        """Load the session synchronously and make its window (not shown)."""
        return cls(load_review(store, session_id), store=store, worker=worker, clock=clock, theme=theme,
                   parent=parent)

    def _toolbar(self) -> None:
        bar = QToolBar("Review", self)
        bar.setMovable(False)
        self.addToolBar(bar)
        actions: list[tuple[str, str | QKeySequence.StandardKey | None, Callable[[], None]]] = [
            ("Export CSV\u2026", "Ctrl+E", self._ask_csv),
            ("Export PDF report\u2026", "Ctrl+P", self._ask_pdf),
            ("Add observation\u2026", "Ctrl+N", self._ask_add),
            ("Correct selected\u2026", "Ctrl+R", self._ask_correct),
            ("Zoom in", QKeySequence.StandardKey.ZoomIn, lambda: self.plot.zoom(2.0)),
            ("Zoom out", QKeySequence.StandardKey.ZoomOut, lambda: self.plot.zoom(0.5)),
            ("Whole session", "Ctrl+0", self.plot.show_all),
        ]
        for text, key, slot in actions:
            action = QAction(text, self)
            if key is not None:
                action.setShortcut(QKeySequence(key))
            action.triggered.connect(slot)
            bar.addAction(action)
        ended = self.data.record.ended_at is not None
        for action in bar.actions()[2:4]:
            action.setEnabled(ended)
            if not ended:
                action.setToolTip("The session has not ended: resume or close it before adding observations")

    # ----------------------------------------------------------------------- selection
    def _plot_clicked(self, epoch_s: float) -> None:
        entry = self.entries.select_nearest(epoch_s)
        if entry is not None:
            self.plot.center_on(entry.at.timestamp())

    # ------------------------------------------------------------------------- exports
    def _run(self, fn: Callable[[], T], on_done: Callable[[T], None]) -> None:
        if self._worker is None:
            try:
                result = fn()
            except Exception as exc:
                self._error(exc)
                return
            on_done(result)
            return
        self._worker.run_in_worker(fn, on_done, self._error)

    def _error(self, exc: BaseException) -> None:
        log.error("review action failed: %s", exc, exc_info=exc)
        self.failed.emit(str(exc))
        if self.show_errors:
            QMessageBox.warning(self, "Could not finish", str(exc))

    def export_csv_to(self, path: Path, *, deidentify: bool = False) -> None:
        """Write the CSV to ``path`` (on the worker); emits :attr:`export_finished`."""
        sid = self.data.session_id
        self._run(lambda: export_csv(self._store, sid, path, deidentify=deidentify),
                  lambda _rows: self.export_finished.emit(str(path)))

    def export_pdf_to(self, path: Path) -> None:
        """Write the PDF report to ``path``; emits :attr:`export_finished`.

        The report is painted on the GUI thread (Qt painting must be), from the data
        already loaded, so no database work is needed.
        """
        try:
            export_pdf(self._store, self.data.session_id, path, generated_at=self._clock.now(),
                       data=self.data)
        except Exception as exc:
            self._error(exc)
            return
        self.export_finished.emit(str(path))

    def _ask_csv(self) -> None:
        rec = self.data.record
        answer = QMessageBox.question(
            self, "Export CSV", "De-identify the export (for research)?\n\nYes: random codes, shifted times, "
            "no free text. No: the full record for the chart.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Cancel:
            return
        deid = answer == QMessageBox.StandardButton.Yes
        name = suggested_name(rec.spec.client_code, rec.started_at, rec.session_id, ".csv", deidentify=deid)
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", name, "CSV files (*.csv)")
        if path:
            self.export_csv_to(Path(path), deidentify=deid)

    def _ask_pdf(self) -> None:
        rec = self.data.record
        name = suggested_name(rec.spec.client_code, rec.started_at, rec.session_id, ".pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Export PDF report", name, "PDF files (*.pdf)")
        if path:
            self.export_pdf_to(Path(path if path.lower().endswith(".pdf") else path + ".pdf"))

    # ---------------------------------------------------------------- late corrections
    def add_observation(self, entry: LateInput) -> None:
        """Save a late observation, then refresh the list and the plot."""
        rec = self.data.record
        self._run(lambda: add_late_observation(self._store, rec, self._clock, entry),
                  lambda _o: self._reload())

    def correct_observation(self, observation_id: str, entry: LateInput) -> None:
        """Save a correction (or withdrawal) of ``observation_id``, then refresh."""
        rec = self.data.record
        self._run(lambda: correct_observation(self._store, rec, self._clock, observation_id, entry),
                  lambda _o: self._reload())

    def _reload(self) -> None:
        sid = self.data.session_id
        self._run(lambda: tuple(self._store.observations(sid)), self._observations_loaded)

    def _observations_loaded(self, history: tuple[object, ...]) -> None:
        from kapmonitor.types import Observation

        self.data = self.data.with_observations(tuple(o for o in history if isinstance(o, Observation)))
        self.entries.set_data(self.data)
        self.plot.set_data(self.data)
        self.observations_changed.emit(self.data.session_id)

    def _ask_add(self) -> None:
        dialog = LateObservationDialog(self.data.record, parent=self)
        if dialog.exec() and dialog.entry is not None:
            self.add_observation(dialog.entry)

    def _ask_correct(self) -> None:
        entry = self.entries.selected_entry()
        if entry is None or entry.observation_id is None:
            QMessageBox.information(self, "Correct observation", "Select an observation in the list first.")
            return
        previous = max((o for o in self.data.observations if o.observation_id == entry.observation_id),
                       key=lambda o: o.revision)
        dialog = LateObservationDialog(self.data.record, previous, parent=self)
        if dialog.exec() and dialog.entry is not None:
            self.correct_observation(entry.observation_id, dialog.entry)


def open_review_async(store: SqlStore, session_id: int, *, worker: DbWorker, clock: Clock, theme: Theme,
                      on_open: Callable[[ReviewWindow], None],
                      on_error: Callable[[BaseException], None] | None = None) -> None:
    """Load the session on the worker, then build its window on the GUI thread and pass it to ``on_open``."""
    def opened(data: ReviewData) -> None:
        on_open(ReviewWindow(data, store=store, worker=worker, clock=clock, theme=theme))

    worker.run_in_worker(lambda: load_review(store, session_id), opened, on_error)
