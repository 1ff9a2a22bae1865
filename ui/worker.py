"""One worker thread for everything that commits to the database.

The GUI thread never waits on the database (STYLE.md rule 6). Recorder calls
that commit durably (``add_observation``, ``give_dose``, ``complete_check``,
``acknowledge_alarm``...) are handed to :meth:`DbWorker.run_in_worker`, which
runs them one at a time, in submission order, on a single thread, and then
calls ``on_done(result)`` or ``on_error(exc)`` back on the GUI thread (the
pattern of Anki's ``CollectionOp`` + ``taskman``).

Only a job number crosses threads in the Qt signal (``Signal(int)``); the
result stays in a dictionary guarded by a lock, so no Python object is
smuggled through a signal typed ``object``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

__all__ = ["DbWorker"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class _Job:
    on_done: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    result: Any = None
    error: BaseException | None = None


class DbWorker(QObject):
    """Serialises blocking work on one thread and reports back on the GUI thread.

    Create it in the GUI thread (it must live there for the callbacks to
    arrive there). Call :meth:`shutdown` before the application quits.

    Signals:
        job_finished(int): internal; the job number whose result is ready.
        busy_changed(bool): True while at least one job is queued or running
            (the window may show a quiet "saving…" hint).
    """

    job_finished = Signal(int)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kapmonitor-db")
        self._jobs: dict[int, _Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending = 0
        self._closed = False
        self.job_finished.connect(self._deliver)

    @property
    def pending(self) -> int:
        """Jobs submitted whose callbacks have not yet run."""
        return self._pending

    def run_in_worker(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Run ``fn()`` on the worker thread, then a callback on the GUI thread.

        Args:
            fn: the blocking work (usually a bound Recorder method via a lambda).
            on_done: called with ``fn``'s return value, on the GUI thread.
            on_error: called with the exception ``fn`` raised, on the GUI thread.
                Without it the error is logged (never swallowed silently).

        Raises:
            RuntimeError: after :meth:`shutdown`.
        """
        if self._closed:
            raise RuntimeError("the database worker has been shut down; no more work can be queued")
        job_id = next(self._ids)
        with self._lock:
            self._jobs[job_id] = _Job(on_done=on_done, on_error=on_error)
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        future = self._executor.submit(fn)
        future.add_done_callback(functools.partial(self._finished_in_thread, job_id))

    def _finished_in_thread(self, job_id: int, future: Future[Any]) -> None:
        with self._lock:
            job = self._jobs[job_id]
            exc = future.exception()
            if exc is None:
                job.result = future.result()
            else:
                job.error = exc
        self.job_finished.emit(job_id)

    @Slot(int)
    def _deliver(self, job_id: int) -> None:
        with self._lock:
            job = self._jobs.pop(job_id)
        self._pending -= 1
        try:
            if job.error is not None:
                if job.on_error is not None:
                    job.on_error(job.error)
                else:
                    log.error("database work failed", exc_info=job.error)
            elif job.on_done is not None:
                job.on_done(job.result)
        finally:
            if self._pending == 0:
                self.busy_changed.emit(False)

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new work and (by default) wait for queued work to finish.

        Callbacks of jobs that finish after this point are still delivered if
        the Qt event loop keeps running.
        """
        self._closed = True
        self._executor.shutdown(wait=wait)
