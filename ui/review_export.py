"""How a window exports a session: what the formats read, asking where to, and running the export.

The formats are handed in by the composition root as one registry (:func:`ui.exports.window_exports`:
the database's formats, CSV, EDF+, FHIR and RR for Kubios, bound to the database, and the printable
report), so the windows, like this module, never import the database layer. A file a window writes
is what ``kapmonitor export`` writes. Every file is replaced atomically (the registry's
``write_file``), so a failed export never leaves half a file under the chosen name.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from kapmonitor.exporters import Exporter, ExportOptions, ExportRegistry
from kapmonitor.ports import SessionArchive
from ui.ops import Op
from ui.review_data import ReviewData, fmt_date, load_review
from ui.worker import DbWorker

__all__ = ["ReviewSession", "ask_deidentify", "ask_export_path", "run_export", "suggested_name"]


@dataclass(frozen=True, slots=True)
class ReviewSession:
    """One recorded session as the windows export it, with its review data once that is loaded.

    Attributes:
        archive: where the review data is read from (the report); the database formats are bound
            to their store by the composition root and use only :attr:`session_id`.
        session_id: the session.
        loaded: its review data, if already loaded (its summary's HRV may still be missing:
            :meth:`review` adds it).
    """

    archive: SessionArchive
    session_id: int
    loaded: ReviewData | None = None

    def review(self) -> ReviewData:
        """The review data, complete: the loaded one (with its HRV computed if it was left for later),
        else read from the archive (database work)."""
        if self.loaded is not None:
            return self.loaded.with_hrv()
        return load_review(self.archive, self.session_id)

    def ready_for(self, exporter: Exporter[ReviewSession]) -> ReviewSession:
        """This session with what ``exporter`` needs read and computed (do it on the worker)."""
        if exporter.paints and (self.loaded is None or self.loaded.report.hrv_pending):
            return replace(self, loaded=self.review())
        return self


def suggested_name(client_code: str, started_at: datetime, session_id: int, suffix: str,
                   *, deidentify: bool = False) -> str:
    """A file name such as ``K-0042_2026-03-02_s17.csv`` (no client code when de-identified)."""
    if deidentify:
        return f"session-deidentified{suffix}"
    return f"{client_code}_{fmt_date(started_at)}_s{session_id}{suffix}"


def ask_deidentify(parent: QWidget, exporter: Exporter[ReviewSession]) -> bool | None:
    """Ask whether to de-identify the export; None when the person cancels."""
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent, f"Export {exporter.title}", "De-identify the export (for research)?\n\nYes: random codes, "
        "shifted times, no free text. No: the full record for the chart.",
        buttons.Yes | buttons.No | buttons.Cancel, buttons.No)
    if answer == buttons.Cancel:
        return None
    return answer == buttons.Yes


def ask_export_path(parent: QWidget, exporter: Exporter[ReviewSession], name: str) -> Path | None:
    """Ask where to save, suggesting ``name``; the path ends in the format's suffix. None: cancelled."""
    kind = f"{exporter.suffix[1:].upper()} files (*{exporter.suffix})"
    path, _ = QFileDialog.getSaveFileName(parent, f"Export {exporter.title}", name, kind)
    if not path:
        return None
    return Path(path if path.lower().endswith(exporter.suffix) else path + exporter.suffix)


def run_export(exports: ExportRegistry[ReviewSession], exporter: Exporter[ReviewSession],
               session: ReviewSession, path: Path, options: ExportOptions, *, parent: QWidget | None,
               worker: DbWorker | None, on_done: Callable[[int], None],
               on_error: Callable[[BaseException], None] | None = None) -> None:
    """Write ``session`` as ``exporter``'s format to ``path`` through ``exports``, off the GUI thread.

    The database reads and the file writing run on ``worker`` (at once without one); a format
    that paints (the report) is painted on the GUI thread in between, into memory. ``on_done``
    gets the exporter's count (rows, pages); a failure goes to ``on_error`` or, by default, to a
    message naming the file and the reason.
    """
    what = f"Exporting the {exporter.title} to {path}"

    def op(fn: Callable[[], int]) -> Op[int]:
        job = Op(fn, parent=parent, what=what).success(on_done)
        return job if on_error is None else job.failure(on_error)

    if not exporter.paints:
        op(lambda: exports.export_file(exporter, session, path, options)).run(worker)
        return

    def paint(ready: ReviewSession) -> None:
        painted = io.BytesIO()
        count = exporter.write_to(ready, painted, options)
        content = painted.getvalue()

        def commit() -> int:
            exports.write_file(path, lambda out: out.write(content))
            return count

        op(commit).run(worker)

    load = Op(lambda: session.ready_for(exporter), parent=parent, what=what).success(paint)
    (load if on_error is None else load.failure(on_error)).run(worker)
