"""Issue 12, the session report: no page of it is empty (holds only the footer), whatever its length,
and no page ends with a section title whose content is overleaf.

One recorded session with many observations (``tests/report12_session.py``); reports are made from
the first N of its observations, N from 0 to enough for three pages, one step at a time so that
every way the last page can fill is met. Each page is read back alone with ``pdftotext -f N -l N``.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from pytestqt.qtbot import QtBot
from report12_session import Recorded, record
from test_12_report import layout_text, pdf_info, write_report

from db.store import SqlStore
from ui.review_data import ReviewData, current_observations, load_review

_NOT_CONTENT = ("kapmonitor session report \u00b7", "Clock times are local", "artifact and no-contact",
                "so gaps never count")
"""Lines of the page footer and of the closing notes: a page holding only these is empty."""
_HEADINGS = ("Vitals at checks", "Per-phase summary", "Observations", "Alarm log")
"""Section titles: one at the foot of a page, its content overleaf, reads as an empty section."""


@pytest.fixture(scope="module")
def long_session(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("long12"), extra_notes=90)


def content_lines(page_text: str) -> list[str]:
    return [line for line in page_text.splitlines()
            if line.strip() and not any(marker in line for marker in _NOT_CONTENT)]


def test_no_page_holds_only_the_footer(long_session: Recorded, tmp_path: Path) -> None:
    with SqlStore.open(long_session.path) as store:
        full: ReviewData = load_review(store, long_session.session_id)
    history = full.observations
    count = len(current_observations(history))
    assert count > 90
    seen_pages: set[int] = set()
    for n in range(0, count + 1):
        keep = {o.observation_id for o in current_observations(history)[:n]}
        data = full.with_observations(tuple(o for o in history if o.observation_id in keep))
        path = tmp_path / f"r{n}.pdf"
        pages = write_report(data, path)
        seen_pages.add(pages)
        for page in range(1, pages + 1):
            lines = content_lines(layout_text(path, page))
            assert lines, f"{n} observations: page {page} of {pages} is empty"
            last = lines[-1].strip()
            assert last not in _HEADINGS, f"{n} observations: page {page} ends with {last!r}"
        assert int(pdf_info(path)["Pages"]) == pages
        path.unlink()
    assert min(seen_pages) <= 2 and max(seen_pages) >= 3, seen_pages


def test_blank_space_after_the_last_content_never_makes_a_page(tmp_path: Path, qtbot: QtBot) -> None:
    """The shared PDF helper prints only pages holding something: Qt's layout alone makes four here."""
    from ui.pdf_document import PdfInfo, render_pdf

    body = "<p>Only this line</p>" + "<p>&nbsp;</p>" * 120
    pdf, pages = render_pdf(body, PdfInfo("blank tail", "test"),
                            footer=lambda n, total: f"page {n} of {total}")
    path = tmp_path / "tail.pdf"
    path.write_bytes(pdf)
    assert pages == 1 and int(pdf_info(path)["Pages"]) == 1
    assert "Only this line" in layout_text(path, 1) and "page 1 of 1" in layout_text(path, 1)
