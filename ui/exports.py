"""Every export format the windows and ``kapmonitor report`` offer, bound to the database.

Composition, like :mod:`ui.app`: the one module outside the command line and the self-test
that joins the database's formats (:data:`db.export.EXPORTERS`, the CSV) with the printable
report (:data:`ui.report.REPORT_EXPORTER`, which needs Qt). The composition root builds the
registry once and hands it to the windows, which never import the database layer.
"""

from __future__ import annotations

from db.export import EXPORTERS
from db.export.source import StoredSession
from db.store import SqlStore
from kapmonitor.exporters import ExportRegistry
from ui.report import REPORT_EXPORTER
from ui.review_export import ReviewSession

__all__ = ["window_exports"]


def window_exports(database: SqlStore) -> ExportRegistry[ReviewSession]:
    """Every export format, in menu order, the database's ones reading from ``database``."""

    def stored(session: ReviewSession) -> StoredSession:
        return StoredSession(database, session.session_id)

    return ExportRegistry([*(e.reading(stored) for e in EXPORTERS), REPORT_EXPORTER],
                          write_file=EXPORTERS.write_file)
