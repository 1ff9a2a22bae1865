"""Logging set up as the app does it, for tests that read the log file, and taken down after."""

from __future__ import annotations

import logging


def remove_kapmonitor_handlers() -> None:
    """Take down what :func:`kapmonitor.logs.setup_logging` installed (the next test starts clean)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kapmonitor", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)
