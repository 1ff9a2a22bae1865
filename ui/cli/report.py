"""``kapmonitor report SESSION|latest [--form session|monitoring] -o FILE.pdf``: a PDF without the window.

``--form session`` (the default) writes the session report (:mod:`ui.report`); ``--form monitoring``
the patient monitoring form pre-filled from the record (:mod:`ui.monitoring_form`).

Works headless: on Linux without a display it selects Qt's offscreen platform itself.
Prints one line on success; on error one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kapmonitor.cli import EXIT_OK, UsageError

__all__ = ["cmd_report"]


def _headless_if_needed() -> None:
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report (or, with ``--form monitoring``, the monitoring form) of ``args.session``
    ('latest' or an id) to ``args.output``.

    Raises:
        UsageError: no such session, an unreadable database or an unwritable file (exit status 2).
    """
    _headless_if_needed()
    from PySide6.QtWidgets import QApplication

    from kapmonitor.clock import SystemClock
    from kapmonitor.exporters import ExportError, ExportOptions
    from kapmonitor.summary import SummaryError
    from ui.cli.stores import open_store, resolve_session
    from ui.exports import window_exports
    from ui.monitoring_form import MONITORING_FORM_EXPORTER
    from ui.review_export import ReviewSession

    app = QApplication.instance() or QApplication(["kapmonitor"])
    assert app is not None
    clock = SystemClock()
    path = Path(args.output)
    form = getattr(args, "form", "session")
    what = "monitoring form" if form == "monitoring" else "report"
    with open_store(args, clock=clock) as store:
        session_id = resolve_session(store, args.session)
        try:
            exports = window_exports(store)
            exporter = MONITORING_FORM_EXPORTER if form == "monitoring" else exports.get("report")
            session = ReviewSession(store, session_id).ready_for(exporter)
            pages = exports.export_file(exporter, session, path, ExportOptions(generated_at=clock.now()))
        except (ExportError, SummaryError) as exc:
            raise UsageError(str(exc)) from exc
    print(f"kapmonitor: wrote the {what} of session {session_id} ({pages} page{'s' if pages != 1 else ''}) "
          f"to {path}")
    return EXIT_OK
