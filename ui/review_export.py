"""File exports started from the session list and the review window (CSV and PDF).

The CSV is byte-for-byte what ``kapmonitor export`` writes (the same
:func:`db.export.export_session_csv`, UTF-8, ``newline=""``), replaced atomically so a
failed export never leaves half a file under the chosen name. Both functions block:
run them on the DB worker.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from db.export import export_session_csv
from db.store import SqlStore
from ui.report import ReportError, write_report_pdf
from ui.review_data import ReviewData, fmt_date, load_review

__all__ = ["ExportError", "export_csv", "export_pdf", "suggested_name"]


class ExportError(RuntimeError):
    """The file could not be written; the message names the file and the reason."""


def suggested_name(client_code: str, started_at: datetime, session_id: int, suffix: str,
                   *, deidentify: bool = False) -> str:
    """A file name such as ``K-0042_2026-03-02_s17.csv`` (no client code when de-identified)."""
    if deidentify:
        return f"session-deidentified{suffix}"
    return f"{client_code}_{fmt_date(started_at)}_s{session_id}{suffix}"


def export_csv(store: SqlStore, session_id: int, path: Path, *, deidentify: bool = False) -> int:
    """Write the session's CSV (``docs/csv-format.md``) to ``path``; return the rows written.

    Raises:
        ExportError: the file could not be written.
        KeyError: no such session.
    """
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            rows = export_session_csv(store, session_id, out, deidentify=deidentify)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return rows


def export_pdf(store: SqlStore, session_id: int, path: Path, *, generated_at: datetime,
               data: ReviewData | None = None) -> int:
    """Write the session's PDF report; return its page count. Needs a QApplication (any platform).

    Raises:
        ExportError: the file could not be written.
    """
    loaded = data if data is not None else load_review(store, session_id)
    try:
        return write_report_pdf(loaded, path, generated_at=generated_at)
    except ReportError as exc:
        raise ExportError(str(exc)) from exc
