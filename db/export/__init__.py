"""Session exports from the database: the formats, and the one way their files are written.

:data:`EXPORTERS` lists the formats that need only the database -- the CSV, EDF+, FHIR R4 and the
RR intervals for Kubios (``docs/export-formats.md``); the composition root adds
the printable report, which needs Qt, for the windows and ``kapmonitor report``
(:func:`ui.exports.window_exports`). A new format is one module in this package defining an
:class:`~kapmonitor.exporters.Exporter` and one row in :data:`EXPORTERS`.

Every export file is written through :func:`db.export.atomic.write_atomically` (the
registry's ``write_file``): a failed export leaves no part of a file under the chosen name.
"""

from __future__ import annotations

from db.export.atomic import write_atomically
from db.export.csv import CSV_EXPORTER
from db.export.edf import EDF_EXPORTER
from db.export.fhir import FHIR_EXPORTER
from db.export.rr import RR_EXPORTER
from db.export.source import StoredSession
from kapmonitor.exporters import ExportRegistry

__all__ = ["EXPORTERS"]

EXPORTERS: ExportRegistry[StoredSession] = ExportRegistry([
    CSV_EXPORTER,
    EDF_EXPORTER,
    FHIR_EXPORTER,
    RR_EXPORTER,
], write_file=write_atomically)
"""The formats the database can write by itself, by name; ``EXPORTERS.export_file`` writes one."""
