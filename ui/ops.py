"""Running work off the GUI thread: one helper for every window (Anki's ``CollectionOp``/``QueryOp``).

An :class:`Op` wraps blocking work (a database read, an export, a recorder command). It runs on
the one :class:`~ui.worker.DbWorker` thread, in submission order, and its result comes back on the
GUI thread to the success callback; a failure goes to the failure callback or, by default, is
logged and shown to the person in a non-blocking warning that names what could not be done::

    Op(lambda: archive.sessions(), parent=self, what="Loading the sessions").success(
        self.set_sessions).run(self._worker)

Without a worker (``run(None)``: tests, the report command) the work runs at once on the calling
thread and the same callbacks are called, so both paths behave alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from ui.worker import DbWorker

__all__ = ["Op", "show_error"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def show_error(parent: QWidget | None, what: str, exc: BaseException, *,
               title: str = "Could not finish") -> None:
    """Log ``exc`` and tell the person, without blocking the window, that ``what`` failed and why."""
    log.error("%s failed: %s", what, exc, exc_info=exc)
    box = QMessageBox(QMessageBox.Icon.Warning, title, f"{what} could not be finished:\n{exc}",
                      QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()


class Op(Generic[T]):
    """One piece of blocking work with its success and failure callbacks.

    Args:
        fn: the work; it runs on the worker thread and must not touch widgets.
        parent: the window a default error message belongs to.
        what: what the work does, in the person's words ("Saving the settings").
        title: the default error message's title.
    """

    def __init__(self, fn: Callable[[], T], *, parent: QWidget | None, what: str,
                 title: str = "Could not finish") -> None:
        self._fn = fn
        self._parent = parent
        self._what = what
        self._title = title
        self._on_success: Callable[[T], None] | None = None
        self._on_failure: Callable[[BaseException], None] | None = None

    def success(self, callback: Callable[[T], None]) -> Op[T]:
        """Call ``callback(result)`` on the GUI thread when the work succeeded."""
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[BaseException], None]) -> Op[T]:
        """Call ``callback(exc)`` on the GUI thread instead of the default error message."""
        self._on_failure = callback
        return self

    def _window_gone(self) -> bool:
        """The parent window was destroyed while the work ran (closed, a test torn down): its callbacks
        would touch deleted widgets, and there is nobody left to tell."""
        gone = self._parent is not None and not shiboken6.isValid(self._parent)
        if gone:
            log.debug("%s finished after its window was closed; the result is not shown", self._what)
        return gone

    def _failed(self, exc: BaseException) -> None:
        if self._window_gone():
            log.warning("%s failed after its window was closed: %s", self._what, exc)
            return
        if self._on_failure is not None:
            self._on_failure(exc)
        else:
            show_error(self._parent, self._what, exc, title=self._title)

    def _succeeded(self, result: T) -> None:
        if self._on_success is None or self._window_gone():
            return
        try:
            self._on_success(result)
        except Exception as exc:  # a failing callback is reported like failing work, never lost
            self._failed(exc)

    def run(self, worker: DbWorker | None) -> None:
        """Queue the work on ``worker`` (or, without one, run it now on this thread)."""
        if worker is None:
            try:
                result = self._fn()
            except Exception as exc:
                self._failed(exc)
                return
            self._succeeded(result)
            return
        worker.run_in_worker(self._fn, self._succeeded, self._failed)
