"""The "Past sessions" window: the session list, and the review windows it opens.

The composition root makes one :class:`SessionListWindow` and connects
:attr:`SessionListWindow.resume_requested` to its resume logic; everything else
(opening reviews, CSV and PDF exports with their file dialogs, closing unfinished
sessions) happens here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from db.store import SqlStore
from kapmonitor.clock import Clock
from ui.review_data import ReviewData, load_review
from ui.review_export import export_csv, export_pdf, suggested_name
from ui.review_window import ReviewWindow
from ui.session_list import SessionListWidget
from ui.theme import Theme
from ui.worker import DbWorker

__all__ = ["SessionListWindow"]

log = logging.getLogger(__name__)


class SessionListWindow(QMainWindow):
    """The session list in its own window.

    Signals:
        resume_requested(int): the user asked to resume this unfinished, recent session.
        review_opened(int): a review window was opened for this session.
    """

    resume_requested = Signal(int)
    review_opened = Signal(int)

    def __init__(self, store: SqlStore, *, worker: DbWorker | None, clock: Clock, theme: Theme,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._worker = worker
        self._clock = clock
        self._theme = theme
        self.reviews: dict[int, ReviewWindow] = {}
        self.setWindowTitle("kapmonitor \u2014 past sessions")
        self.list = SessionListWidget(store, worker=worker, clock=clock, theme=theme, parent=self)
        self.setCentralWidget(self.list)
        self.list.review_requested.connect(self.open_review)
        self.list.resume_requested.connect(self.resume_requested)
        self.list.export_csv_requested.connect(self._ask_csv)
        self.list.export_pdf_requested.connect(self._ask_pdf)
        self.resize(1200, 700)
        self.list.refresh()

    def open_review(self, session_id: int) -> None:
        """Open (or raise) the review window of ``session_id``."""
        window = self.reviews.get(session_id)
        if window is not None:
            window.raise_()
            window.activateWindow()
            return

        def show(window: ReviewWindow) -> None:
            self.reviews[session_id] = window
            window.observations_changed.connect(lambda _sid: self.list.refresh())
            window.destroyed.connect(lambda *_: self.reviews.pop(session_id, None))
            window.show()
            self.review_opened.emit(session_id)

        if self._worker is None:
            show(ReviewWindow.open(self._store, session_id, worker=None, clock=self._clock,
                                   theme=self._theme))
            return
        self._worker.run_in_worker(
            lambda: load_review(self._store, session_id),
            lambda data: show(ReviewWindow(data, store=self._store, worker=self._worker, clock=self._clock,
                                           theme=self._theme)),
            self._error)

    def _error(self, exc: BaseException) -> None:
        log.error("past sessions: %s", exc, exc_info=exc)
        QMessageBox.warning(self, "Could not finish", str(exc))

    def _ask_csv(self, session_id: int) -> None:
        s = next(x for x in self.list.model.sessions if x.session_id == session_id)
        answer = QMessageBox.question(
            self, "Export CSV", "De-identify the export (for research)?\n\nYes: random codes, shifted times, "
            "no free text. No: the full record for the chart.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Cancel:
            return
        deid = answer == QMessageBox.StandardButton.Yes
        name = suggested_name(s.client_code, s.started_at, session_id, ".csv", deidentify=deid)
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", name, "CSV files (*.csv)")
        if not path:
            return
        if self._worker is None:
            export_csv(self._store, session_id, Path(path), deidentify=deid)
        else:
            self._worker.run_in_worker(
                lambda: export_csv(self._store, session_id, Path(path), deidentify=deid), None, self._error)

    def _ask_pdf(self, session_id: int) -> None:
        s = next(x for x in self.list.model.sessions if x.session_id == session_id)
        name = suggested_name(s.client_code, s.started_at, session_id, ".pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Export PDF report", name, "PDF files (*.pdf)")
        if not path:
            return
        target = Path(path if path.lower().endswith(".pdf") else path + ".pdf")
        # The data loads on the worker; the PDF is painted on the GUI thread (Qt painting must be).
        if self._worker is None:
            export_pdf(self._store, session_id, target, generated_at=self._clock.now())
            return
        def write(data: ReviewData) -> None:
            try:
                export_pdf(self._store, session_id, target, generated_at=self._clock.now(), data=data)
            except Exception as exc:
                self._error(exc)

        self._worker.run_in_worker(lambda: load_review(self._store, session_id), write, self._error)
