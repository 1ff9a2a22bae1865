"""The recorder's ticker: one daemon thread calling a step function at a fixed real interval.

The step does the work (the recorder's :meth:`~kapmonitor.recording.recorder.Recorder.tick`:
phase changes, checks falling due, alarm delays and timeouts) and returns whether
to go on. A step that raises is reported through ``on_error`` and the ticker keeps
going, so a transient store error never stops the session's clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Ticker"]

log = logging.getLogger(__name__)


class Ticker:
    """Calls ``step`` every ``interval_s`` real seconds until stopped or ``step`` returns False.

    Args:
        step: one tick; returns False when there is nothing more to tick (the session ended).
        on_error: told of an exception a step raised (after it is logged); must not raise.
        name: the thread's name.
    """

    def __init__(self, step: Callable[[], bool], on_error: Callable[[Exception], None], *,
                 name: str = "kapmonitor-recorder") -> None:
        self._step = step
        self._on_error = on_error
        self._name = name
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, interval_s: float) -> None:
        """Start ticking every ``interval_s`` real seconds; nothing happens while it already ticks."""
        if self.running:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval_s, self._stop), name=self._name,
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop after the step in progress, without waiting for it."""
        self._stop.set()

    def join(self, timeout_s: float) -> None:
        """Stop, and wait ``timeout_s`` at most for the thread to end (not when called from it)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout_s)
        self._thread = None

    def _loop(self, interval_s: float, stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            try:
                go_on = self._step()
            except Exception as exc:
                log.exception("%s: tick failed", self._name)
                self._on_error(exc)
                continue
            if not go_on:
                break
