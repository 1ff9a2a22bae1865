"""Privacy at rest, end to end through the command line: record, export, report.

A headless session is recorded with a note typed on stdin, then exported as CSV and as the
PDF report, all under a permissive umask. The log (at debug level) holds no word of the note
nor the client code; the log folder and file, and both exports, are owner-only.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from log_capture import remove_kapmonitor_handlers

from ui.main import main

CLIENT = "K-ZQXCLI"
NOTE = "zqx-cli-note-she-spoke-about-the-accident"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A umask of 022 and the user's log folder under ``tmp_path``; returns that log folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    old = os.umask(0o022)
    try:
        yield tmp_path / "state" / "kapmonitor" / "log"
    finally:
        os.umask(old)
        remove_kapmonitor_handlers()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_record_export_and_report_keep_the_log_and_the_files_private(
    tmp_path: Path, permissive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "k.db"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{NOTE}\n"))
    assert main(["--db", str(db), "--log-level", "debug", "record", "--speed", "1200",
                 "--baseline-minutes", "1", "--minutes", "45", "--seed", "3", "--client", CLIENT,
                 "--dose-mg", "150"]) == 0
    out = tmp_path / "out"
    out.mkdir()
    csv_file, pdf_file = out / "session.csv", out / "session.pdf"
    assert main(["--db", str(db), "--log-level", "debug", "export", "latest", "-o", str(csv_file)]) == 0
    assert main(["--db", str(db), "--log-level", "debug", "report", "latest", "-o", str(pdf_file)]) == 0
    assert NOTE in csv_file.read_text(encoding="utf-8"), "the note is in the export, where it belongs"
    assert pdf_file.read_bytes().startswith(b"%PDF")
    assert {p.name: _mode(p) for p in out.iterdir()} == {"session.csv": 0o600, "session.pdf": 0o600}

    log_file = permissive / "kapmonitor.log"
    assert _mode(permissive) == 0o700
    assert _mode(log_file) == 0o600
    text = log_file.read_text(encoding="utf-8")
    assert "session dose_given" in text, "the log did record the session"
    assert NOTE not in text
    assert CLIENT not in text
