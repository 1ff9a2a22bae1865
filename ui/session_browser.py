"""The "Past sessions" window: the session list, and the review windows it opens.

The composition root makes one :class:`SessionListWindow` and connects
:attr:`SessionListWindow.resume_requested` to its resume logic; everything else
(opening reviews, CSV and PDF exports with their file dialogs, closing unfinished
sessions) happens here.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMainWindow, QWidget

from kapmonitor.clock import Clock
from kapmonitor.exporters import ExportOptions, ExportRegistry
from kapmonitor.ports import SessionStore
from ui.ops import Op, show_error
from ui.review_data import load_review
from ui.review_export import (
    ReviewSession,
    ask_deidentify,
    ask_export_path,
    run_export,
    suggested_name,
)
from ui.review_window import ReviewWindow
from ui.session_list import SessionListWidget
from ui.theme import Theme
from ui.worker import DbWorker

__all__ = ["SessionListWindow"]

log = logging.getLogger(__name__)


class SessionListWindow(QMainWindow):
    """The session list in its own window.

    Args:
        exports: the export formats offered here and in the review windows it opens
            (:func:`ui.exports.window_exports`).

    Signals:
        resume_requested(int): the user asked to resume this unfinished, recent session.
        session_closed(int): an unfinished session was closed from the list.
        review_opened(int): a review window was opened for this session.
    """

    resume_requested = Signal(int)
    session_closed = Signal(int)
    review_opened = Signal(int)

    def __init__(self, store: SessionStore, *, worker: DbWorker | None, clock: Clock, theme: Theme,
                 exports: ExportRegistry[ReviewSession], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._exports = exports
        self._worker = worker
        self._clock = clock
        self._theme = theme
        self.reviews: dict[int, ReviewWindow] = {}
        # The review windows' HRV is computed on a thread of its own, never holding up the DB worker;
        # a computation still running when this window goes is let finish (its result is dropped).
        self._hrv_worker = hrv_worker = DbWorker(self) if worker is not None else None
        if hrv_worker is not None:
            self.destroyed.connect(lambda *_: hrv_worker.shutdown())
        self._opening: set[int] = set()
        self.setWindowTitle("kapmonitor \u2014 past sessions")
        self.list = SessionListWidget(store, worker=worker, clock=clock, theme=theme, parent=self,
                                      export_formats=[(e.name, e.title) for e in exports])
        self.setCentralWidget(self.list)
        self.list.review_requested.connect(self.open_review)
        self.list.resume_requested.connect(self.resume_requested)
        self.list.session_closed.connect(self.session_closed)
        self.list.export_requested.connect(lambda sid, name: self.ask_export(name, sid))
        self.resize(1200, 700)
        self.list.refresh()

    def open_review(self, session_id: int) -> None:
        """Open (or bring back) the review window of ``session_id``: one window per session.

        A second request while the first is still loading is ignored, so a double click (or the
        Open button pressed twice) never opens two windows on the same session. The window shows
        as soon as the session is loaded, its summary's HRV following (:mod:`ui.review_window`).
        """
        window = self.reviews.get(session_id)
        if window is not None:
            window.show()
            window.raise_()
            window.activateWindow()
            return
        if session_id in self._opening:
            return
        self._opening.add(session_id)

        def show(window: ReviewWindow) -> None:
            self._opening.discard(session_id)
            self.reviews[session_id] = window
            window.observations_changed.connect(lambda _sid: self.list.refresh())
            window.destroyed.connect(lambda *_: self.reviews.pop(session_id, None))
            window.show()
            self.review_opened.emit(session_id)

        def failed(exc: BaseException) -> None:
            self._opening.discard(session_id)
            show_error(self, f"Opening session {session_id}", exc)

        Op(lambda: load_review(self._store, session_id, hrv=False), parent=self,
           what=f"Opening session {session_id}").success(
            lambda data: show(ReviewWindow(data, store=self._store, worker=self._worker, clock=self._clock,
                                           theme=self._theme, exports=self._exports,
                                           hrv_worker=self._hrv_worker))).failure(
            failed).run(self._worker)

    def _error(self, exc: BaseException) -> None:
        show_error(self, "The export", exc)

    def ask_export(self, format_name: str, session_id: int) -> None:
        """Ask where (and, for a format that can, whether to de-identify), then export ``session_id``.

        Raises:
            UnknownFormatError: no format called ``format_name`` among the window's exports.
        """
        exporter = self._exports.get(format_name)
        s = next(x for x in self.list.model.sessions if x.session_id == session_id)
        deid = False
        if exporter.can_deidentify:
            answer = ask_deidentify(self, exporter)
            if answer is None:
                return
            deid = answer
        name = suggested_name(s.client_code, s.started_at, session_id, exporter.suffix, deidentify=deid)
        path = ask_export_path(self, exporter, name)
        if path is None:
            return
        options = ExportOptions(generated_at=self._clock.now(), deidentify=deid)
        session = ReviewSession(self._store, session_id)
        run_export(self._exports, exporter, session, path, options, parent=self, worker=self._worker,
                   on_done=lambda _count: None, on_error=self._error)
