"""One logging set-up for the whole application, called once by the entry point.

Logs go to stderr and, when a directory is given, to a rotating file
``kapmonitor.log`` there (the user's log directory by default), so a clinic's
IT person can read what happened after the fact.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Final

__all__ = ["LOG_LEVELS", "setup_logging"]

LOG_LEVELS: Final = ("debug", "info", "warning", "error")

_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_STDERR_FORMAT: Final = "kapmonitor: %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "info", log_dir: Path | None = None) -> Path | None:
    """Configure the root logger; returns the log file path (None if file logging failed or was off).

    Raises:
        ValueError: for a level other than :data:`LOG_LEVELS`.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kapmonitor", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level.upper())
    stderr = logging.StreamHandler(sys.stderr)
    # Progress and results of the CLI go to stdout/stderr by print; stderr logging stays at
    # warning unless the user asked for more, so a terminal is not flooded.
    stderr.setLevel(logging.DEBUG if level == "debug" else max(logging.WARNING, root.level))
    stderr.setFormatter(logging.Formatter(_STDERR_FORMAT))
    stderr._kapmonitor = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    if log_dir is None:
        return None
    path = log_dir / "kapmonitor.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write the log file %s: %s", path, exc)
        return None
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler._kapmonitor = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    return path
