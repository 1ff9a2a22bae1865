"""Logging set up as the app does it, for tests that read the log file, and taken down after."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kapmonitor.logs import setup_logging


def remove_kapmonitor_handlers() -> None:
    """Take down what :func:`kapmonitor.logs.setup_logging` installed (the next test starts clean)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kapmonitor", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)


@pytest.fixture
def logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Path]:
    """Logging set up as the app does it, at debug level, into ``tmp_path/logs``; its file's path.

    Used through ``pytest_plugins`` in conftest.py, so the test files that read logs share one fixture.
    """
    caplog.set_level(logging.DEBUG)
    path = setup_logging(level="debug", log_dir=tmp_path / "logs")
    assert path is not None
    try:
        yield path
    finally:
        remove_kapmonitor_handlers()
