"""The review window: one recorded session, looked back at after the fact.

Left: the time line (:class:`~ui.review_plot.ReviewPlot`). Right, in two tabs: the
entries (observations, events, alarm transitions; :class:`~ui.review_entries.EntryList`)
and the per-phase summary (:class:`~ui.review_summary.SummaryView`). Selecting an entry moves the
plot to it; clicking the plot selects the nearest entry. The toolbar exports the session
in each format it is given (:func:`ui.exports.window_exports`: CSV, EDF+, FHIR, RR for Kubios and
the PDF report), writes the monitoring form filled from the record (:mod:`ui.monitoring_form`),
and adds or corrects observations after the session (marked as added later, with history;
:mod:`ui.late_correction`).

Database work (exports, corrections) runs on the DB worker when one is given; the
window never waits on it. :meth:`ReviewWindow.follow_live` reloads a session that is still being
recorded every few seconds (the central station's live timeline, ``ui/station_window.py``).

Opening paints first and completes after: the session list and :func:`open_review_async` load the
session without the per-phase HRV (``load_review(..., hrv=False)``: the HRV is most of a long
session's load), and the window, once its plot has painted, computes it off the GUI thread
(on ``hrv_worker``: its own thread, so a long session never holds up what the DB worker
commits) while the HRV rows of the summary say "computing…"; :attr:`ReviewWindow.summary_completed`
says when they are filled (``benchmarks/review_open.py`` times both). An export started before
then computes the HRV itself. :meth:`ReviewWindow.open` loads everything synchronously.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QWidget,
)

from kapmonitor.clock import Clock
from kapmonitor.exporters import Exporter, ExportOptions, ExportRegistry
from kapmonitor.ports import SessionStore
from kapmonitor.recording.late import LateInput, add_late_observation, correct_observation
from kapmonitor.summary import SessionReport
from ui.late_correction import LateObservationDialog
from ui.monitoring_form import MONITORING_FORM_EXPORTER
from ui.ops import Op, show_error
from ui.review_data import ReviewData, fmt_clock, fmt_date, fmt_minutes, load_review
from ui.review_entries import EntryList
from ui.review_export import (
    ReviewSession,
    ask_deidentify,
    ask_export_path,
    run_export,
    suggested_name,
)
from ui.review_plot import ReviewPlot
from ui.review_summary import SummaryView
from ui.theme import Theme, set_role
from ui.worker import DbWorker

__all__ = ["ReviewWindow", "open_review_async"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_EXPORT_KEYS = {"csv": "Ctrl+E", "report": "Ctrl+P"}
"""Shortcuts of the export actions, by format name (other formats have none)."""


class ReviewWindow(QMainWindow):
    """One session for review (see the module docstring).

    Args:
        data: the loaded session (:func:`ui.review_data.load_review`).
        store: where exports read from and corrections go.
        worker: the DB worker; None runs database work synchronously (tests, the CLI).
        clock: stamps corrections (``recorded_at``) and reports.
        exports: the export formats the toolbar offers (:func:`ui.exports.window_exports`).
        hrv_worker: where the summary's HRV is computed after the first paint when ``data`` was
            loaded without it (None: on ``worker``; both None: at once, in the constructor).

    Signals:
        observations_changed(int): a late observation or correction was saved (session id).
        export_finished(str): a file was written (its path).
        failed(str): an export or correction failed (the message, also shown in a dialog).
        refreshed(int): a live session was reloaded (:meth:`follow_live`; session id).
        summary_completed(int): the summary's HRV, computed after the window painted, is shown
            (session id; never emitted for data loaded with its HRV).
    """

    observations_changed = Signal(int)
    export_finished = Signal(str)
    failed = Signal(str)
    refreshed = Signal(int)
    summary_completed = Signal(int)

    def __init__(self, data: ReviewData, *, store: SessionStore, worker: DbWorker | None, clock: Clock,
                 theme: Theme, exports: ExportRegistry[ReviewSession], parent: QWidget | None = None,
                 hrv_worker: DbWorker | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self._store = store
        self._exports = exports
        self._worker = worker
        self._hrv_worker = hrv_worker if hrv_worker is not None else worker
        self._hrv_for: SessionReport | None = None  # the report whose HRV is being computed
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
        self._split = split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.plot)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([840, 560])
        self.setCentralWidget(split)
        self._toolbar()
        self.status = QLabel(_status_text(data), self)
        set_role(self.status, "caption")
        self.statusBar().addWidget(self.status, 1)
        self.entries.entry_selected.connect(self._center_plot)
        self.plot.time_clicked.connect(self._plot_clicked)
        self._live_timer: QTimer | None = None
        self._refreshing = False
        self.resize(1400, 880)
        if data.report.hrv_pending:
            if self._hrv_worker is None:
                self.compute_hrv()
            else:
                self._first_paint = _FirstPaint(self.plot.view.viewport(), self.compute_hrv)

    @classmethod
    def open(cls, store: SessionStore, session_id: int, *, worker: DbWorker | None, clock: Clock,
             theme: Theme, exports: ExportRegistry[ReviewSession],
             parent: QWidget | None = None) -> ReviewWindow:
        """Load the session synchronously and make its window (not shown)."""
        return cls(load_review(store, session_id), store=store, worker=worker, clock=clock, theme=theme,
                   exports=exports, parent=parent)

    # ------------------------------------------------------------------ HRV after paint
    def compute_hrv(self) -> None:
        """Compute the summary's per-phase HRV if it is missing, off the GUI thread (see the module
        docstring); called after the first paint, or by anyone who needs it sooner."""
        report = self.data.report
        if not report.hrv_pending or self._hrv_for is report:
            return
        self._hrv_for = report
        data = self.data
        Op(data.with_hrv, parent=self, what="Computing the HRV of the summary").success(
            self._hrv_computed).failure(self._hrv_failed).run(self._hrv_worker)

    def _hrv_computed(self, done: ReviewData) -> None:
        if self.data.report is not self._hrv_for:  # reloaded meanwhile: that data is newer
            return
        self._hrv_for = None
        self.data = self.data.with_report(done.report)
        self.summary.set_report(done.report)
        self.summary_completed.emit(self.data.session_id)

    def _hrv_failed(self, exc: BaseException) -> None:
        if self.data.report is self._hrv_for:
            self._hrv_for = None
            self.summary.hrv_failed(str(exc))
        log.error("session %d: the HRV of the summary could not be computed", self.data.session_id,
                  exc_info=exc)

    def _toolbar(self) -> None:
        bar = QToolBar("Review", self)
        bar.setMovable(False)
        self.addToolBar(bar)
        def ask(exporter: Exporter[ReviewSession]) -> Callable[[], None]:
            return lambda: self._ask_export(exporter)

        actions: list[tuple[str, str | QKeySequence.StandardKey | None, Callable[[], None]]] = [
            *((f"Export {e.title}\u2026", _EXPORT_KEYS.get(e.name), ask(e)) for e in self._exports),
            (f"{MONITORING_FORM_EXPORTER.title}\u2026", None, self._ask_form),
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
        first_late = len(self._exports) + 1  # after the exports and the monitoring form
        for action in bar.actions()[first_late:first_late + 2]:
            action.setEnabled(ended)
            if not ended:
                action.setToolTip("The session has not ended: resume or close it before adding observations")

    # ------------------------------------------------------------------- live timeline
    def follow_live(self, interval_s: float) -> None:
        """Reload the session every ``interval_s`` until it has ended (a session still being recorded).

        The plot keeps a zoomed view; a view of the whole session grows with it. Emits
        :attr:`refreshed` after each reload.
        """
        if self._live_timer is None:
            self._live_timer = QTimer(self)
            self._live_timer.timeout.connect(self.refresh)
        self._live_timer.start(max(200, int(interval_s * 1000)))

    def stop_following(self) -> None:
        if self._live_timer is not None:
            self._live_timer.stop()

    @property
    def following(self) -> bool:
        return self._live_timer is not None and self._live_timer.isActive()

    def refresh(self) -> None:
        """Reload the whole session on the worker and show it (skipped while a reload runs)."""
        if self._refreshing:
            return
        self._refreshing = True
        sid = self.data.session_id
        Op(lambda: load_review(self._store, sid), parent=self, what="Refreshing the session") \
            .success(self._refreshed).failure(self._refresh_failed).run(self._worker)

    def _refresh_failed(self, exc: BaseException) -> None:
        self._refreshing = False
        log.warning("refreshing session %d failed: %s", self.data.session_id, exc)

    def _refreshed(self, data: ReviewData) -> None:
        self._refreshing = False
        old = self.plot
        (x0, x1), whole = old.hr_plot.viewRange()[0], old.hr_plot.getViewBox().state["limits"]["xLimits"]
        zoomed = whole[1] is not None and x1 < whole[1] - 0.05
        self.data = data
        self.plot = ReviewPlot(data, self._theme, self)
        self._split.replaceWidget(0, self.plot)
        old.deleteLater()
        self.plot.time_clicked.connect(self._plot_clicked)
        if zoomed:
            self.plot.hr_plot.setXRange(x0, x1, padding=0)
        self.entries.set_data(data)
        tab = self.tabs.currentIndex()
        summary = SummaryView(data.report, data.anchor.timestamp(), self)
        self.tabs.removeTab(1)
        self.summary.deleteLater()
        self.summary = summary
        self.tabs.insertTab(1, summary, "Summary by phase")
        self.tabs.setCurrentIndex(tab)
        self.compute_hrv()
        self.status.setText(_status_text(data))
        if data.record.ended_at is not None:
            self.stop_following()
        self.refreshed.emit(data.session_id)

    def _center_plot(self, epoch_s: float) -> None:
        self.plot.center_on(epoch_s)

    # ----------------------------------------------------------------------- selection
    def _plot_clicked(self, epoch_s: float) -> None:
        entry = self.entries.select_nearest(epoch_s)
        if entry is not None:
            self.plot.center_on(entry.at.timestamp())

    # ------------------------------------------------------------------------- exports
    def _run(self, fn: Callable[[], T], on_done: Callable[[T], None]) -> None:
        Op(fn, parent=self, what="The review action").success(on_done).failure(self._error).run(self._worker)

    def _error(self, exc: BaseException) -> None:
        self.failed.emit(str(exc))
        if self.show_errors:
            show_error(self, "The review action", exc)
        else:
            log.error("review action failed: %s", exc, exc_info=exc)

    def export_to(self, format_name: str, path: Path, *, deidentify: bool = False) -> None:
        """Write the session as the format called ``format_name`` (one of the window's exports) to ``path``.

        The database work runs on the worker; a format that paints (the report) is painted here,
        from the data already loaded. Emits :attr:`export_finished` or :attr:`failed`.

        Raises:
            UnknownFormatError: no format of that name.
        """
        exporter = self._exports.get(format_name)
        session = ReviewSession(self._store, self.data.session_id, loaded=self.data)
        options = ExportOptions(generated_at=self._clock.now(), deidentify=deidentify)
        run_export(self._exports, exporter, session, path, options, parent=self, worker=self._worker,
                   on_done=lambda _count: self.export_finished.emit(str(path)), on_error=self._error)

    def export_form_to(self, path: Path) -> None:
        """Write the monitoring form filled from the record (:mod:`ui.monitoring_form`) to ``path``.

        Like the report: painted here from the data already loaded, the file written on the worker.
        Emits :attr:`export_finished` or :attr:`failed`.
        """
        exporter = MONITORING_FORM_EXPORTER
        session = ReviewSession(self._store, self.data.session_id, loaded=self.data)
        run_export(self._exports, exporter, session, path, ExportOptions(generated_at=self._clock.now()),
                   parent=self, worker=self._worker,
                   on_done=lambda _count: self.export_finished.emit(str(path)), on_error=self._error)

    def _ask_form(self) -> None:
        rec = self.data.record
        name = suggested_name(rec.spec.client_code, rec.started_at, rec.session_id,
                              f"_monitoring-form{MONITORING_FORM_EXPORTER.suffix}")
        path = ask_export_path(self, MONITORING_FORM_EXPORTER, name)
        if path is not None:
            self.export_form_to(path)

    def _ask_export(self, exporter: Exporter[ReviewSession]) -> None:
        rec = self.data.record
        deid = False
        if exporter.can_deidentify:
            answer = ask_deidentify(self, exporter)
            if answer is None:
                return
            deid = answer
        name = suggested_name(rec.spec.client_code, rec.started_at, rec.session_id, exporter.suffix,
                              deidentify=deid)
        path = ask_export_path(self, exporter, name)
        if path is not None:
            self.export_to(exporter.name, path, deidentify=deid)

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


class _FirstPaint(QObject):
    """Calls ``then`` once, from the event loop, after ``widget`` has painted for the first time."""

    def __init__(self, widget: QWidget, then: Callable[[], None]) -> None:
        super().__init__(widget)
        self._then = then
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self, self._then)
        return False


def _status_text(data: ReviewData) -> str:
    spec = data.record.spec
    state = "" if data.record.ended_at else "  \u2014  NOT ENDED (interrupted)"
    dose = "dose not entered" if spec.dose_amount is None else f"{spec.dose_amount:g} {spec.dose_unit}"
    dosed = f"dose given {fmt_clock(data.record.dose_at)}" if data.record.dose_at else "no dose given"
    after_dose = data.report.monitored_after_dose_s
    monitored = (f"monitored {fmt_minutes(after_dose)} after the first dose" if after_dose is not None
                 else f"recorded {fmt_minutes(data.report.monitoring_s)}")
    return (f"Client {spec.client_code}  \u00b7  {fmt_date(data.record.started_at)}  \u00b7  "
            f"{spec.protocol.name} {dose}  \u00b7  {dosed}  \u00b7  "
            f"clinician {spec.clinician_initials or '?'}  \u00b7  {monitored}{state}")


def open_review_async(store: SessionStore, session_id: int, *, worker: DbWorker, clock: Clock, theme: Theme,
                      exports: ExportRegistry[ReviewSession], on_open: Callable[[ReviewWindow], None],
                      on_error: Callable[[BaseException], None] | None = None) -> None:
    """Load the session on the worker, then build its window on the GUI thread and pass it to ``on_open``.

    The window paints before the summary's HRV is computed (on ``worker``, after the first paint).
    """
    def opened(data: ReviewData) -> None:
        on_open(ReviewWindow(data, store=store, worker=worker, clock=clock, theme=theme, exports=exports))

    op = Op(lambda: load_review(store, session_id, hrv=False), parent=None,
            what=f"Opening session {session_id}")
    op.success(opened)
    if on_error is not None:
        op.failure(on_error)
    op.run(worker)
