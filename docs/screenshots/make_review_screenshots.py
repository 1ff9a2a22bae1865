"""Make the review screenshots: session list, review window and page 1 of the PDF report.

Records simulated sessions with the real pipeline (``tests/review_data.py``) into a
temporary database, opens the windows offscreen with the bundled font and the light
theme, and saves ``session-list.png``, ``review.png`` and ``report-page1.png`` (the PDF
page rendered by ``pdftoppm``, poppler-utils) beside this script.

Run: ``.venv/bin/python docs/screenshots/make_review_screenshots.py`` (about 30 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from PySide6.QtWidgets import QApplication  # noqa: E402
from review_data import START, record_session  # noqa: E402

from db.store import SqlStore  # noqa: E402
from kapmonitor.clock import FakeClock  # noqa: E402
from kapmonitor.exporters import ExportOptions  # noqa: E402
from ui.exports import window_exports  # noqa: E402
from ui.review_export import ReviewSession  # noqa: E402
from ui.review_window import ReviewWindow  # noqa: E402
from ui.session_list import SessionListWidget  # noqa: E402
from ui.theme import LIGHT, apply_theme  # noqa: E402


def main() -> None:
    app = QApplication.instance() or QApplication(["screenshots"])
    assert isinstance(app, QApplication)
    apply_theme(app, LIGHT)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        others = [("K-0017", -13, 3, "sublingual"), ("K-0031", -9, 4, "intranasal"),
                  ("K-0042", -7, 5, "sublingual"), ("K-0008", -6, 6, "intramuscular"),
                  ("K-0017", -2, 8, "sublingual")]
        for client, days, seed, protocol in others:
            record_session(folder, client=client, start=START + timedelta(days=days, hours=days % 3),
                           seed=seed, protocol=protocol)
        main_session = record_session(folder)
        record_session(folder, client="K-0050", start=START + timedelta(hours=4), seed=9, end=False)
        clock = FakeClock(start=START + timedelta(hours=7))
        store = SqlStore.open(main_session.path)
        try:
            listing = SessionListWidget(store, worker=None, clock=clock, theme=LIGHT)
            listing.setWindowTitle("kapmonitor \u2014 past sessions")
            listing.resize(1180, 420)
            listing.refresh()
            listing.select_session(main_session.session_id)
            listing.show()
            app.processEvents()
            listing.grab().save(str(HERE / "session-list.png"))

            exports = window_exports(store)
            review = ReviewWindow.open(store, main_session.session_id, worker=None, clock=clock, theme=LIGHT,
                                       exports=exports)
            review.resize(1500, 900)
            review.show()
            app.processEvents()
            rows = review.entries.model.entries
            review.entries.select_row(next(i for i, e in enumerate(rows) if e.what == "Check done"
                                           and "+40" in e.detail))
            review.plot.set_visible_range(-5, 65)
            review.plot.hover_label.setText(review.plot.describe(41.5))
            app.processEvents()
            review.grab().save(str(HERE / "review.png"))

            pdf = folder / "report.pdf"
            generated = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
            exports.export_file(exports.get("report"), ReviewSession(store, main_session.session_id), pdf,
                                ExportOptions(generated_at=generated))
            subprocess.run(["pdftoppm", "-r", "90", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                            str(HERE / "report-page1")], check=True)
        finally:
            store.close()
    print(f"wrote session-list.png, review.png, report-page1.png to {HERE}")


if __name__ == "__main__":
    main()
