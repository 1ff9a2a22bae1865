"""Session exports from the database: the formats, and the one way their files are written.

:data:`EXPORTERS` lists the formats that need only the database -- the CSV, EDF+, FHIR R4 and the
RR intervals for Kubios (``docs/export-formats.md``); the composition root adds
the printable report, which needs Qt, for the windows and ``kapmonitor report``
(:func:`ui.exports.window_exports`). A new format is one module in this package with its
``write`` function and one row in :data:`EXPORTERS`.

A format's module is imported when its file is first written, not with the list: EDF+ needs edfio
and numpy, FHIR and RR numpy, and ``kapmonitor export`` (the CSV by default) should not wait for
what another format needs (issue 16).

Every export file is written through :func:`db.export.atomic.write_atomically` (the
registry's ``write_file``): a failed export leaves no part of a file under the chosen name.
"""

from __future__ import annotations

from typing import BinaryIO

from db.export.atomic import write_atomically
from db.export.source import StoredSession
from kapmonitor.exporters import Exporter, ExportOptions, ExportRegistry

__all__ = ["EXPORTERS"]


def _csv(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    from db.export.csv import write_csv

    return write_csv(session, out, options)


def _edf(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    from db.export.edf import write_edf

    return write_edf(session, out, options)


def _fhir(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    from db.export.fhir import write_fhir

    return write_fhir(session, out, options)


def _rr(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    from db.export.rr import write_rr

    return write_rr(session, out, options)


EXPORTERS: ExportRegistry[StoredSession] = ExportRegistry([
    Exporter(
        name="csv", title="CSV", suffix=".csv", write=_csv, counts="rows", can_deidentify=True,
        description="the session's own fields, then every reading, event, observation and alarm in time "
                    "order, for analysis (docs/csv-format.md)"),
    Exporter(
        name="edf", title="EDF+", suffix=".edf", write=_edf, counts="signals", can_deidentify=True,
        description="heart rate, SpO2 and blood pressure as 1 Hz signals, every RR interval, event, "
                    "observation and alarm as an annotation, for EDF readers (docs/export-formats.md)"),
    Exporter(
        name="fhir", title="FHIR R4", suffix=".json", write=_fhir, counts="resources", can_deidentify=True,
        description="a FHIR R4 Bundle: heart rate and SpO2 per interval, each blood pressure, the doses and "
                    "the observations, for health records (docs/export-formats.md)"),
    Exporter(
        name="rr", title="RR for Kubios", suffix=".txt", write=_rr, counts="intervals", can_deidentify=True,
        description="every RR interval as recorded, in ms, one per line, as Kubios HRV imports it "
                    "(docs/export-formats.md)"),
], write_file=write_atomically)
"""The formats the database can write by itself, by name; ``EXPORTERS.export_file`` writes one."""
