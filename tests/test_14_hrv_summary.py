"""Per-phase HRV of a recorded simulated session in the summary, the review window and the report.

The session (tests/review_data.py) is recorded with the real pipeline and the simulated strap,
which loses its link for 90 s at +70 min after the dose: the 5-minute window holding that gap
must not count, and the rows must show what the summary computed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from review_data import record_session

from db.store import SqlStore
from kapmonitor.hrv_artifacts import METHOD
from kapmonitor.hrv_spectral import METHOD as SPECTRAL_METHOD
from kapmonitor.types import Phase, Stream
from ui.report import report_html
from ui.review_data import ReviewData, load_review
from ui.review_summary import SummaryView, hrv_note, phase_table

HRV_ROWS = ["RMSSD / SDNN (ms)", "5-min RMSSD / SDNN (ms)", "5-min LF / HF (ms\u00b2) \u00b7 LF/HF",
            "SD1 / SD2 (ms)", "RR corrected / excluded"]
"""The HRV rows of the per-phase table, in their order."""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> ReviewData:
    recorded = record_session(tmp_path_factory.mktemp("hrv14"))
    with SqlStore.open(recorded.path) as store:
        return load_review(store, recorded.session_id)


def test_every_phase_has_windows_and_the_share_corrected(data: ReviewData) -> None:
    rr = data.streams[Stream.RR_INTERVAL]
    total = 0
    for p in data.report.phases:
        h = p.hrv_period
        assert h is not None and h.method == METHOD
        assert len(h.windows) == int(p.duration_s // 300)
        assert p.rr_n == h.whole.rr_n
        total += p.rr_n
        assert p.rr_flagged_share == pytest.approx((h.whole.corrected + h.whole.excluded) / p.rr_n)
        assert p.hrv is h.whole.time and p.hrv is not None
        assert h.whole.spectral is not None and h.whole.poincare is not None
        # the simulated strap sends a few ectopic beats; the correction finds some, never many
        assert 0 < h.whole.corrected < 0.05 * h.whole.rr_n
    # every stored interval before the end of the record belongs to exactly one phase
    assert total == np.count_nonzero(rr.t < data.report.until.timestamp())


def test_the_window_with_the_link_drop_does_not_count(data: ReviewData) -> None:
    dose = data.record.dose_at
    assert dose is not None
    drop = dose.timestamp() + 70 * 60  # review_data: the link drops 70 min after the dose, for 90 s
    integration = data.report.phase(Phase.INTEGRATION)
    assert integration is not None and integration.hrv_period is not None
    h = integration.hrv_period
    holding = [w for w in h.windows if w.start <= drop + 45 < w.end]
    assert len(holding) == 1 and not holding[0].counts
    assert any("NN intervals cover" in problem for problem in holding[0].problems)
    assert h.windows_counted == len(h.windows) - 1


def test_phase_table_shows_the_summary_figures(data: ReviewData) -> None:
    header, rows = phase_table(data.report)
    table = {row[0]: row[1:] for row in rows}
    effect_col = header.index("Effect") - 1
    effect = data.report.phase(Phase.EFFECT)
    assert effect is not None and effect.hrv is not None and effect.hrv_period is not None
    h = effect.hrv_period
    counted = [w for w in h.windows if w.counts]
    assert len(counted) == 9  # 45 minutes: nine windows, all whole
    median = [float(np.median([getattr(w.time, k) for w in counted if w.time]))
              for k in ("rmssd_ms", "sdnn_ms")]
    assert table["5-min RMSSD / SDNN (ms)"][effect_col] == f"{median[0]:.0f} / {median[1]:.0f} (n=9)"
    assert table["RMSSD / SDNN (ms)"][effect_col] == f"{effect.hrv.rmssd_ms:.0f} / {effect.hrv.sdnn_ms:.0f}"
    lf_hf = float(np.median([w.spectral.lf_hf for w in counted if w.spectral]))
    assert table["5-min LF / HF (ms\u00b2) \u00b7 LF/HF"][effect_col].endswith(f"\u00b7 {lf_hf:.2f}")
    poincare = h.whole.poincare
    assert poincare is not None
    assert table["SD1 / SD2 (ms)"][effect_col] == f"{poincare.sd1_ms:.0f} / {poincare.sd2_ms:.0f}"
    share = h.whole.corrected / h.whole.rr_n * 100
    assert table["RR corrected / excluded"][effect_col] == f"{share:.1f} / 0.0 % of {h.whole.rr_n}"
    # the HRV rows are a few, in one block, and every phase column is filled
    names = [row[0] for row in rows]
    start = names.index(HRV_ROWS[0])
    assert names[start:start + len(HRV_ROWS)] == HRV_ROWS
    assert all(cell != "\u2013" for name in HRV_ROWS for cell in table[name])


def test_the_note_names_the_correction_and_the_spectral_method(data: ReviewData) -> None:
    note = hrv_note(data.report)
    assert f"corrected by {METHOD}" in note
    assert "missed beats split, extra beats merged, ectopic and long/short beats interpolated" in note
    assert "medians over its n 5-minute windows that are 80% covered with at most 20% corrected" in note
    assert SPECTRAL_METHOD in note


def test_review_window_and_report_show_the_rows_and_the_note(data: ReviewData, qtbot: QtBot) -> None:
    view = SummaryView(data.report, data.anchor.timestamp())
    qtbot.addWidget(view)
    labels = [view.phases.item(r, 0).text() for r in range(view.phases.rowCount())]
    assert "5-min LF / HF (ms\u00b2) \u00b7 LF/HF" in labels and "RR corrected / excluded" in labels
    assert view.hrv_note.text() == hrv_note(data.report)
    html = report_html(data, datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert "5-min RMSSD / SDNN (ms)" in html and "SD1 / SD2 (ms)" in html
    assert "Lipponen &amp; Tarvainen 2019 (alpha 5.2, window 91)" in html


def test_docs_say_what_each_shown_figure_is() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "hrv.md").read_text(encoding="utf-8")
    for name in HRV_ROWS:
        assert f"**{name}**" in docs, name
