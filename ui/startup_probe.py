"""Start-up probe for ``benchmarks/startup.py``: with ``KAPMONITOR_STARTUP_PROBE=1`` the window says
on standard output when it is first painted and when a session can first be started in it.

It prints ``kapmonitor-probe first-paint`` when the window is first painted and
``kapmonitor-probe interactive`` when a session can be started in it (the database is open and the
start dialog, or the question whether to resume, is up: :func:`ready`); the benchmark
times them from the moment it started the process, exactly as it times a bare PySide6 window that
prints the same two lines. Without the variable nothing is installed.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

__all__ = ["ENV_VAR", "install"]

ENV_VAR = "KAPMONITOR_STARTUP_PROBE"


class _FirstPaint(QObject):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Paint:
            self._window.removeEventFilter(self)
            _say("first-paint")
        return False


def _say(what: str) -> None:
    sys.stdout.write(f"kapmonitor-probe {what}\n")
    sys.stdout.flush()


def install(window: QWidget) -> None:
    """With :data:`ENV_VAR` set: report ``window``'s first paint."""
    if os.environ.get(ENV_VAR):
        _FirstPaint(window)


def ready() -> None:
    """With :data:`ENV_VAR` set: report, at the next turn of the event loop, that a session can be
    started (called when the database is open and the start dialog or the resume question opens)."""
    if os.environ.get(ENV_VAR):
        QTimer.singleShot(0, lambda: _say("interactive"))
