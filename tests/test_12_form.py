"""The monitoring form filled from the record (issue 12): ``kapmonitor report SID --form monitoring``.

The sessions of :mod:`form12_session` (one with every field and the structured answers, one with
none) are written by the command line, in a process of its own, and read back with
``pdftotext -layout`` and ``pdfinfo`` (poppler-utils).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from form12_session import SETTING, SETTING_ID, Recorded, record
from pdf_tools import poppler

from kapmonitor import __version__

NOT_RECORDED_WORDS = "not recorded"
FOOTER = "Pre-filled copy for transcription from the kapmonitor record — not the official REMS submission"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("form") / "sessions.db")




def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return subprocess.run([sys.executable, "-m", "kapmonitor", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=90)


def _form(recorded: Recorded, session: int, out: Path) -> str:
    done = _cli(["--db", str(recorded.path), "report", str(session), "--form", "monitoring", "-o", str(out)],
                out.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [
        f"kapmonitor: wrote the monitoring form of session {session} (1 page) to {out}"]
    return subprocess.run([poppler("pdftotext"), "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout


def _line(text: str, label: str) -> str:
    """The one line of the page that starts with ``label`` (the label column), squeezed."""
    found = [" ".join(line.split()) for line in text.splitlines() if line.strip().startswith(label)]
    assert len(found) == 1, (label, found)
    return found[0]


def _answer(text: str, label: str, value: str) -> None:
    """``value`` is the answer in the row of ``label`` (the first line of the label, if it wraps)."""
    line = _line(text, label)
    assert line.startswith(f"{label} {value}"), (label, value, line)


def _plain(path: Path) -> str:
    """The page's text in reading order (a cell's wrapped lines together), squeezed."""
    out = subprocess.run([poppler("pdftotext"), str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    return " ".join(out.split())


def _info(path: Path) -> dict[str, str]:
    out = subprocess.run([poppler("pdfinfo"), str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def _local(moment: datetime, fmt: str = "%H:%M") -> str:
    return moment.astimezone().strftime(fmt)


@pytest.fixture(scope="module")
def full_form(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("full") / "form.pdf"
    return out, _form(recorded, recorded.full, out)


def test_every_field_holds_its_value_from_the_record(recorded: Recorded, full_form: tuple[Path, str]) -> None:
    _, text = full_form
    _answer(text, "Healthcare setting name", SETTING)
    _answer(text, "Healthcare setting identifier", SETTING_ID)
    _answer(text, "Monitoring clinician", "CD")
    _answer(text, "Patient (client code)", "K-0107")
    _answer(text, "Treatment date", _local(recorded.dose_at, "%Y-%m-%d"))
    _answer(text, "Dose administered", "84 mg")
    _answer(text, "Lot number", "L-5521")
    _answer(text, "Time of administration", _local(recorded.dose_at))
    _answer(text, "Vital signs acceptable before dosing", "☒ Yes ☐ No")
    _answer(text, "Blood pressure before dosing", "122/76 mmHg")
    _answer(text, "Blood pressure ~40 min after", "150/92 mmHg")
    _answer(text, "Blood pressure before discharge", "128/80 mmHg")
    _answer(text, "Vital signs acceptable at completion", "☒ Yes ☐ No")
    _answer(text, "Total minutes from first", "121 min")
    _answer(text, "Ready to leave: minutes after", "118 min")
    _answer(text, "Sedation", "☒ Yes ☐ No")
    _answer(text, "Dissociation", "☒ Yes ☐ No")
    _answer(text, "Respiratory depression", "☒ Yes ☐ No")
    _answer(text, "Adverse events", "☒ Yes ☐ No")
    _answer(text, "Serious adverse events", "☒ Yes ☐ No")
    _answer(text, "Judged fit to leave by", "EF")
    _answer(text, "Concomitant medications", "☒ Benzodiazepines ☐ Non-benzodiazepine sedative hypnotics")
    flat = _plain(full_form[0])
    assert "☒ Psychostimulants ☐ MAOIs ☐ Other ☐ None" in flat
    for answer in ("nausea, vomited once", "☒ Other serious or medically important event"):
        assert answer in flat, answer
    assert NOT_RECORDED_WORDS not in flat


def test_the_form_says_which_reading_and_when(recorded: Recorded, full_form: tuple[Path, str]) -> None:
    flat = _plain(full_form[0])
    assert f"taken {_local(recorded.bp_40_at)} (T+1:07) for the check “Blood pressure at +40 min”" in flat
    assert f"done {_local(recorded.bp_40_at)}, 27 min late" in flat
    assert "the last reading before the dose" in flat
    assert (f"first dose {_local(recorded.dose_at)} to the end of monitoring {_local(recorded.ended_at)}"
            in flat)
    assert f"ready to leave at {_local(recorded.ready_at)}" in flat
    # at completion: the checklist's SpO2 and BP items as answered, with what the record showed
    assert "☒ SpO₂ above 92 % on room air: supported (SpO₂ 97 % at" in flat
    assert "☒ Blood pressure within ±20 mmHg of baseline: supported (128/80 mmHg at" in flat
    assert "+6/+4 from 122/76" in flat
    before = _local(recorded.dose_at - timedelta(minutes=1))
    assert f"derived from the record: BP 122/76 mmHg at {before}, no alarm before the dose" in flat


def test_footer_and_document_info(full_form: tuple[Path, str]) -> None:
    path, text = full_form
    footer = [" ".join(line.split()) for line in text.splitlines() if "Pre-filled copy" in line]
    assert len(footer) == 1 and footer[0].startswith(FOOTER)
    assert f"generated {datetime.now().astimezone():%Y-%m-%d}" in footer[0] and footer[0].endswith(
        f"v{__version__} · p. 1/1")
    info = _info(path)
    assert info["Author"] == "CD"
    assert info["Title"].startswith("kapmonitor monitoring form — client K-0107 — ")
    assert info["Creator"].startswith("kapmonitor ")
    assert "not the official REMS submission" in info["Subject"]
    assert info["Pages"] == "1"


def test_a_session_ended_without_answers_says_not_recorded(recorded: Recorded, tmp_path: Path) -> None:
    path = tmp_path / "bare.pdf"
    text = _form(recorded, recorded.bare, path)
    for label in ("Healthcare setting name", "Healthcare setting identifier", "Monitoring clinician",
                  "Dose administered", "Lot number", "Blood pressure before dosing",
                  "Blood pressure ~40 min after", "Blood pressure before discharge",
                  "Concomitant medications", "Ready to leave: minutes after", "Judged fit to leave by"):
        _answer(text, label, NOT_RECORDED_WORDS)
    for label in ("Vital signs acceptable before dosing", "Vital signs acceptable at completion", "Sedation",
                  "Dissociation", "Respiratory depression", "Adverse events", "Serious adverse events"):
        _answer(text, label, f"☐ Yes ☐ No {NOT_RECORDED_WORDS}")
    _answer(text, "Patient (client code)", "K-0200")
    _answer(text, "Total minutes from first", "125 min")
    assert "the session was ended without the end-of-session answers" in _plain(path)
    assert "Author" not in _info(path)


def test_an_unknown_form_is_a_one_line_error(recorded: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "x.pdf"
    done = _cli(["--db", str(recorded.path), "report", "1", "--form", "rems", "-o", str(out)], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid choice: 'rems'" in lines[0] and "'monitoring'" in lines[0]
    assert not out.exists()
    done = _cli(["--db", str(recorded.path), "report", "999", "--form", "monitoring", "-o", str(out)],
                tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["kapmonitor: error: no session 999 in the database "
                                                "(see 'kapmonitor sessions')"]
