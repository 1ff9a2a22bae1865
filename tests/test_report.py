"""The PDF session report: rendered for a recorded simulated session, read back with pdftotext.

The session is recorded into, and the report read from, a SQLite file and a PostgreSQL database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from pdf_tools import Loaded, poppler
from pg_cluster import PgCluster
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from review_data import CLIENT, CLINICIAN, DOSE_MG, LOT, RecordedSession, record_session

from db.export import EXPORTERS
from db.store import SqlStore
from kapmonitor.exporters import ExportError, ExportOptions, ExportRegistry
from kapmonitor.summary import SessionReport
from ui.exports import window_exports
from ui.report import REPORT_EXPORTER, report_html, report_plot_image
from ui.review_data import ReviewData, load_review
from ui.review_export import ReviewSession

GENERATED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OPTIONS = ExportOptions(generated_at=GENERATED)
REPORT = ExportRegistry([REPORT_EXPORTER], write_file=EXPORTERS.write_file)
"""The report alone, written like every export (the report needs no store)."""






def pdf_text(path: Path) -> str:
    out = subprocess.run([poppler("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    if request.param == "sqlite":
        return record_session(tmp_path_factory.getbasetemp() / "recorded")
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    cluster.start()
    return record_session(cluster.create_database())


@pytest.fixture(scope="module")
def data(recorded: RecordedSession) -> ReviewData:
    with SqlStore.open(recorded.path) as store:
        return load_review(store, recorded.session_id)


@pytest.fixture(scope="module")
def report_pdf(data: ReviewData, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    app = QApplication.instance() or QApplication([])
    assert app is not None
    path = tmp_path_factory.mktemp("report") / "session.pdf"
    pages = REPORT.export_file(REPORT_EXPORTER, Loaded(data), path, OPTIONS)
    return path, pages


def local(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


def test_report_has_the_header_values(report_pdf: tuple[Path, int], data: ReviewData) -> None:
    path, pages = report_pdf
    assert 1 <= pages <= 2
    text = pdf_text(path)
    report: SessionReport = data.report
    assert data.record.dose_at is not None and report.fit_to_leave_at is not None
    for expected in (f"client {CLIENT}", f"Client code {CLIENT}", f"Clinician {CLINICIAN}",
                     f"Dose {DOSE_MG:g} mg", f"Lot {LOT}", "Protocol sublingual",
                     f"Date {data.record.started_at.astimezone():%Y-%m-%d}",
                     f"Dose given {local(data.record.dose_at)}",
                     f"50 mg at {local(report.boosters[0])} (T+1:00)",
                     "Monitored 2 h 10 min after the first dose",
                     f"Session started {local(data.record.started_at)}",
                     f"Fit to leave {local(report.fit_to_leave_at)}",
                     "fit to leave"):
        assert expected in text, expected


def test_report_lists_every_observation_checks_and_alarms(report_pdf: tuple[Path, int], data: ReviewData,
                                                           recorded: RecordedSession) -> None:
    text = pdf_text(report_pdf[0])
    for note in recorded.notes:  # as written; a tag is shown by its label ("nausea" as "Nausea")
        assert " ".join(note.split()).lower() in text.lower(), note
    assert "Vitals at checks" in text and "164/96 +40/+18" in text
    assert "Per-phase summary" in text and "RMSSD / SDNN (ms)" in text
    assert "Systolic BP high" in text and "acknowledged" in text
    assert "Signal lost" in text
    assert "Minimum observation met at" in text


def test_report_embeds_the_plot_and_the_bundled_font(report_pdf: tuple[Path, int]) -> None:
    path = report_pdf[0]
    fonts = subprocess.run([poppler("pdffonts"), str(path)], capture_output=True, text=True,
                           check=True).stdout
    assert "DejaVuSans" in fonts
    images = subprocess.run([poppler("pdfimages"), "-list", str(path)], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert len(images) >= 3  # two header lines and at least the plot


def test_plot_image_is_the_whole_session(qtbot: QtBot, data: ReviewData) -> None:
    image = report_plot_image(data)
    assert image.devicePixelRatio() == 2.0
    assert image.width() == 1800
    # the trace is drawn: the plot is not a blank canvas (heart-rate green appears)
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20


def test_html_escapes_free_text(data: ReviewData) -> None:
    html = report_html(data, GENERATED)
    assert "Says &quot;I&#x27;m floating&quot;, calm" in html
    assert "<script" not in html


def test_unwritable_folder_is_a_clear_error(data: ReviewData, tmp_path: Path, qtbot: QtBot) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        REPORT.export_file(REPORT_EXPORTER, Loaded(data), tmp_path / "missing" / "r.pdf", OPTIONS)


def test_registry_lists_the_database_formats_and_the_report(recorded: RecordedSession) -> None:
    with SqlStore.open(recorded.path) as store:
        exports = window_exports(store)
    assert exports.names() == ("csv", "edf", "fhir", "rr", "report")
    assert exports.write_file is EXPORTERS.write_file, "one atomic write for every format"
    report = exports.get("report")
    assert report is REPORT_EXPORTER
    assert (report.suffix, report.counts, report.paints, report.can_deidentify) == (
        ".pdf", "pages", True, False)
    assert exports.get("csv").suffix == ".csv"


def test_report_cannot_be_deidentified(data: ReviewData, tmp_path: Path, qtbot: QtBot) -> None:
    with pytest.raises(ExportError, match="cannot be de-identified"):
        REPORT.export_file(REPORT_EXPORTER, Loaded(data), tmp_path / "r.pdf",
                    ExportOptions(generated_at=GENERATED, deidentify=True))
    assert list(tmp_path.iterdir()) == []


def test_failed_report_keeps_the_old_file(recorded: RecordedSession, tmp_path: Path, qtbot: QtBot,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Painting fails after the temporary file exists: the old report stays, nothing else is left."""
    target = tmp_path / "r.pdf"
    target.write_bytes(b"%PDF-old")

    def broken(*args: object) -> None:
        raise RuntimeError("no fonts")

    monkeypatch.setattr("ui.report.report_plot_image", broken)
    with SqlStore.open(recorded.path) as store, pytest.raises(RuntimeError, match="no fonts"):
        REPORT.export_file(REPORT_EXPORTER, ReviewSession(store, recorded.session_id), target, OPTIONS)
    assert target.read_bytes() == b"%PDF-old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.pdf"]


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return subprocess.run([sys.executable, "-m", "kapmonitor", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)


def test_cli_report_latest_headless(recorded: RecordedSession, tmp_path: Path) -> None:
    out = tmp_path / "latest.pdf"
    done = _cli(["--db", str(recorded.path), "report", "latest", "-o", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [
        f"kapmonitor: wrote the report of session {recorded.session_id} (2 pages) to {out}"]
    text = pdf_text(out)
    assert f"client {CLIENT}" in text and "Eyes closed, breathing slow and even" in text


@pytest.mark.parametrize("recorded", ["sqlite"], indirect=True)  # the CLI's wording, not the store's
def test_cli_report_errors_are_one_line_and_status_2(recorded: RecordedSession, tmp_path: Path) -> None:
    done = _cli(["--db", str(recorded.path), "report", "999", "-o", str(tmp_path / "x.pdf")], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["kapmonitor: error: no session 999 in the database "
                                                "(see 'kapmonitor sessions')"]
    done = _cli(["--db", str(recorded.path), "report", "1", "-o", str(tmp_path / "no" / "x.pdf")], tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "does not exist" in done.stderr
