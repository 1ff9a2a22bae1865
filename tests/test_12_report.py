"""Issue 12, the session report: a record a clinic can file, read back from the real PDF.

The session (``tests/report12_session.py``) is recorded with the real recorder into a real
SQLite store; the report is written through the export registry's atomic write and read back
with poppler's ``pdftotext -layout`` and ``pdfinfo``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from pdf_tools import Loaded, poppler
from PySide6.QtWidgets import QApplication
from report12_session import CLIENT, CLINICIAN, LOT, Recorded, record

from db.export import EXPORTERS
from db.store import SqlStore
from kapmonitor import __version__
from kapmonitor.exporters import ExportOptions, ExportRegistry
from kapmonitor.settings import ClinicSettings
from kapmonitor.types import AlarmState, AlarmTransition, ObservationKind
from ui.observation_timeline import describe
from ui.report import REPORT_EXPORTER
from ui.review_data import ReviewData, current_observations, fmt_clock, load_review

GENERATED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
OPTIONS = ExportOptions(generated_at=GENERATED)
REPORT = ExportRegistry([REPORT_EXPORTER], write_file=EXPORTERS.write_file)



def layout_text(path: Path, page: int | None = None) -> str:
    """``pdftotext -layout`` of the file, or of one page of it."""
    pages = ["-f", str(page), "-l", str(page)] if page is not None else []
    return subprocess.run([poppler("pdftotext"), "-layout", *pages, str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def flat(text: str) -> str:
    """Whitespace collapsed, so a phrase can be found whatever the column spacing."""
    return " ".join(text.split())


def pdf_info(path: Path) -> dict[str, str]:
    done = subprocess.run([poppler("pdfinfo"), str(path)], capture_output=True, text=True, check=True)
    assert not done.stderr, done.stderr  # poppler complains of a damaged cross-reference table here
    info = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def write_report(data: ReviewData, path: Path) -> int:
    app = QApplication.instance() or QApplication([])
    assert app is not None
    return REPORT.export_file(REPORT_EXPORTER, Loaded(data), path, OPTIONS)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("session12"))


@pytest.fixture(scope="module")
def data(recorded: Recorded) -> ReviewData:
    with SqlStore.open(recorded.path) as store:
        return load_review(store, recorded.session_id)


@pytest.fixture(scope="module")
def pdf(data: ReviewData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report12") / "session.pdf"
    write_report(data, path)
    return path


@pytest.fixture(scope="module")
def text(pdf: Path) -> str:
    return flat(layout_text(pdf))


# ----------------------------------------------------------------------------- 1. monitoring time
def test_monitoring_is_counted_from_the_first_dose_and_the_session_start_is_still_shown(
        text: str, data: ReviewData) -> None:
    assert data.record.dose_at is not None
    # the session started 6 min before the dose and ended 2 h 01 min after it
    assert "Monitored 2 h 01 min after the first dose" in text
    assert "Total monitoring 2 h 07 min" not in text
    assert f"Session started {fmt_clock(data.record.started_at)}" in text
    assert f"Dose given {fmt_clock(data.record.dose_at)}" in text


# ----------------------------------------------------------------------------- 2. late check
def test_a_check_done_27_minutes_late_shows_its_lateness(pdf: Path) -> None:
    rows = [line for line in layout_text(pdf).splitlines() if "Blood pressure at +40 min" in line]
    assert len(rows) == 1
    assert "184/112" in rows[0] and "done 27 min late" in rows[0]


# ----------------------------------------------------------------------------- 3. scale wording
def test_scales_read_as_the_bedside_shows_them(text: str, data: ReviewData) -> None:
    settings = ClinicSettings.defaults()
    scales = [o for o in current_observations(data.observations) if o.kind is ObservationKind.SCALE]
    assert [(o.name, o.value) for o in scales] == [("moaa_s", 4), ("rass", 3), ("rass", -2),
                                                   ("dissociation", 1)]
    for o in scales:
        assert flat(describe(o, settings)) in text, describe(o, settings)
    assert "MOAA/S sedation 4 \u2014 Lethargic response to name in normal tone" in text
    assert "RASS agitation-sedation +3 \u2014 Very agitated" in text
    assert "RASS agitation-sedation -2 \u2014 Light sedation" in text
    for raw in ("moaa_s", "rass 3", "dissociation 1"):
        assert raw not in text


# ----------------------------------------------------------------------------- 4. alarm actions
def _alarm_log(text: str) -> str:
    start = text.index("Alarm log")
    return text[start:]


def test_alarm_log_lists_every_transition_the_store_holds(text: str, recorded: Recorded) -> None:
    with SqlStore.open(recorded.path) as store:
        transitions = list(store.alarms(recorded.session_id))
    actions = {t.action for t in transitions}
    assert {"raised", "escalated", "condition_cleared", "acknowledged"} <= actions
    assert any(t.state.value == "latched" for t in transitions)
    log = _alarm_log(text)

    def words(t: AlarmTransition) -> str:
        latched = " (latched)" if t.action == "condition_cleared" and t.state is AlarmState.LATCHED else ""
        return f"{t.action.replace('_', ' ')}{latched} {fmt_clock(t.at, seconds=True)}"

    wanted = Counter(words(t) for t in transitions if t.action != "raised")
    for action, n in wanted.items():
        assert log.count(action) >= n, f"{action!r}: {log.count(action)} of {n} in the alarm log"
    assert "condition cleared (latched)" in log


# ----------------------------------------------------------------------------- 6. SpO2 at discharge
def test_discharge_spo2_is_the_reading_the_checks_table_shows(pdf: Path, text: str) -> None:
    lines = layout_text(pdf).splitlines()
    row = next(line for line in lines if line.strip().startswith("Vitals before discharge"))
    assert re.search(r"\b97\b", row), row
    assert "SpO\u2082 > 92 %: met (97 %" in text
    assert "not evaluated" not in text


# ----------------------------------------------------------------------------- 7. document info
def test_pdf_info_names_the_record_and_its_clinician(pdf: Path) -> None:
    info = pdf_info(pdf)
    assert info["Title"] == f"kapmonitor session report \u2014 client {CLIENT} \u2014 2026-03-04"
    assert info["Author"] == CLINICIAN
    assert "KAP session" in info["Subject"] and LOT not in info["Subject"]
    assert info["Creator"] == f"kapmonitor {__version__}"


def test_pdf_without_a_clinician_has_no_author(tmp_path: Path) -> None:
    recorded = record(tmp_path, clinician="")
    with SqlStore.open(recorded.path) as store:
        data = load_review(store, recorded.session_id)
    path = tmp_path / "anonymous.pdf"
    write_report(data, path)
    info = pdf_info(path)
    assert info.get("Author", "") == ""
    assert info["Title"].startswith("kapmonitor session report")
    assert "Clinician not entered" in flat(layout_text(path))


def test_the_report_lists_the_discharge_checklist_as_answered(tmp_path: Path) -> None:
    """Each item as the clinician answered it, with what the record showed and the reason given."""
    import form12_session

    sessions = form12_session.record(tmp_path / "form.db")
    with SqlStore.open(sessions.path) as store:
        answered = load_review(store, sessions.full)
        bare = load_review(store, sessions.bare)
    assert answered.discharge is not None
    out = tmp_path / "answered.pdf"
    write_report(answered, out)
    text = flat(layout_text(out))
    assert "Discharge (as answered at the end)" in text
    assert f"Ready to leave at {fmt_clock(sessions.ready_at)}" in text
    assert f"Judged fit to leave by {answered.discharge.fit_to_leave_by}" in text
    plain = flat(subprocess.run([poppler("pdftotext"), str(out), "-"], capture_output=True, text=True,
                                check=True).stdout)  # reading order: a wrapped cell reads on
    for item in answered.discharge.items:
        assert item.label in plain
    spo2 = next(i for i in answered.discharge.items if i.name == "spo2_room_air")
    assert flat(spo2.evidence) in plain
    out_bare = tmp_path / "bare.pdf"
    write_report(bare, out_bare)
    assert "No discharge answers were recorded" in flat(layout_text(out_bare))
