"""The per-phase summary as tables of text, shared by the review window and the PDF report.

:func:`phase_table` gives one column per phase (heart rate, time beyond each heart-rate
limit, HRV on the artifact-corrected RR intervals -- whole phase and medians of its 5-minute
windows -- with the share corrected and excluded, lowest SpO2, alarms), and :func:`hrv_note`
the line that names the correction and the spectral method behind those rows (``docs/hrv.md``
says what each figure is);
:func:`check_table` the vitals at each scheduled check with the blood-pressure change
from baseline; :func:`discharge_lines` when the session met its minimum observation and
its discharge checklist. :class:`SummaryView` shows the three in the review window.
The rules behind every figure are in :mod:`kapmonitor.summary`.

A report whose HRV is not computed yet (:attr:`~kapmonitor.summary.SessionReport.hrv_pending`:
the review window paints before it) says :data:`COMPUTING` in every HRV cell, never a figure
or a dash that could be read as "none"; :meth:`SummaryView.set_report` fills them in.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.hrv_periods import MAX_CORRECTED_SHARE, MIN_WINDOW_COVERAGE, WINDOW_S, PeriodHrv
from kapmonitor.hrv_spectral import METHOD as SPECTRAL_METHOD
from kapmonitor.summary import PhaseSummary, SessionReport
from ui.review_data import fmt_clock, fmt_elapsed, fmt_minutes
from ui.theme import set_role

__all__ = ["COMPUTING", "HRV_ROWS", "SummaryView", "Table", "check_table", "discharge_lines", "hrv_note",
           "phase_table"]

Table = tuple[list[str], list[list[str]]]
"""(header, rows) of text cells."""

_DASH = "\u2013"
COMPUTING = "computing\u2026"
"""What an HRV cell says while the HRV is being computed."""
_NOT_COMPUTED = "not computed"
HRV_ROWS = ("RMSSD / SDNN (ms)", "5-min RMSSD / SDNN (ms)", "5-min LF / HF (ms\u00b2) \u00b7 LF/HF",
            "SD1 / SD2 (ms)", "RR corrected / excluded")
"""The labels of the per-phase table's HRV rows, in their order."""


def _num(value: float | None, fmt: str = ".0f") -> str:
    return _DASH if value is None else format(value, fmt)


def _secs(seconds: float) -> str:
    if seconds <= 0:
        return "0"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _pair(a: float | None, b: float | None) -> str:
    return _DASH if a is None or b is None else f"{a:.0f} / {b:.0f}"


def _windows(p: PhaseSummary) -> PeriodHrv | None:
    """The phase's HRV when at least one 5-minute window counts, else None."""
    h = p.hrv_period
    return h if h is not None and h.windows_counted else None


def _window_time(p: PhaseSummary) -> str:
    h = _windows(p)
    if h is None:
        return _DASH
    return f"{_pair(h.median_rmssd_ms, h.median_sdnn_ms)} (n={h.windows_counted})"


def _window_spectrum(p: PhaseSummary) -> str:
    h = _windows(p)
    if h is None or h.median_lf_hf is None:
        return _DASH
    return f"{_pair(h.median_lf_ms2, h.median_hf_ms2)} · {h.median_lf_hf:.2f}"


def _poincare(p: PhaseSummary) -> str:
    pc = p.hrv_period.whole.poincare if p.hrv_period is not None else None
    return _DASH if pc is None else _pair(pc.sd1_ms, pc.sd2_ms)


def _corrected(p: PhaseSummary) -> str:
    h = p.hrv_period
    if h is None or not h.whole.rr_n:
        return _DASH
    w = h.whole
    return f"{w.corrected / w.rr_n * 100:.1f} / {w.excluded / w.rr_n * 100:.1f} % of {w.rr_n}"


def hrv_note(report: SessionReport) -> str:
    """The correction, the windows and the spectral method behind the HRV rows, in one paragraph."""
    return (f"HRV on RR intervals corrected by {report.hrv_correction}: missed beats split, extra beats "
            "merged, ectopic and long/short beats interpolated; intervals stored as unusable excluded. "
            f"Whole phase, and (5-min) medians over its n {WINDOW_S / 60:g}-minute windows that are "
            f"{MIN_WINDOW_COVERAGE:.0%} covered with at most {MAX_CORRECTED_SHARE:.0%} corrected. "
            f"Spectrum: {SPECTRAL_METHOD}.")


def phase_table(report: SessionReport) -> Table:
    """Rows of figures, one column per phase the session entered."""
    header = ["", *(p.phase.value.capitalize() for p in report.phases)]
    ps = report.phases
    rows = [
        ["From", *(fmt_clock(p.start) for p in ps)],
        ["Duration", *(fmt_minutes(p.duration_s) for p in ps)],
        ["HR min / mean / max (bpm)",
         *(f"{_num(p.hr_min)} / {_num(p.hr_mean)} / {_num(p.hr_max)}" if p.hr_n else _DASH for p in ps)],
    ]
    for rule in report.rules:
        limit = rule.threshold(report.hr_baseline)
        if limit is None:
            continue
        op = "\u2265" if rule.direction == "above" else "<"
        rows.append([f"Time HR {op} {limit:g} ({rule.label.lower()})",
                     *(_secs(p.time_beyond_s.get(rule.alarm_id, 0.0)) for p in ps)])
    if report.hrv_pending:
        rows += [[label, *(COMPUTING for _ in ps)] for label in HRV_ROWS]
    else:
        rows += [[label, *(cell(p) for p in ps)] for label, cell in zip(HRV_ROWS, (
            lambda p: _pair(p.hrv.rmssd_ms, p.hrv.sdnn_ms) if p.hrv else _DASH,
            _window_time, _window_spectrum, _poincare, _corrected), strict=True)]
    rows += [
        ["SpO\u2082 lowest (%)", *(_num(p.spo2_min) for p in ps)],
        ["Alarms raised", *(str(p.alarms_raised) for p in ps)],
    ]
    return header, rows


def check_table(report: SessionReport, anchor_s: float) -> Table:
    """Vitals at each scheduled check: time, BP and its change from baseline, HR, SpO2, state."""
    header = ["Check", "Time", "BP (mmHg)", "\u0394 from baseline", "HR", "SpO\u2082", "State"]
    rows = []
    for c in report.checks:
        when = _DASH
        if c.moment is not None:
            when = f"{fmt_clock(c.moment)} ({fmt_elapsed(c.moment.timestamp() - anchor_s)})"
        bp = _DASH if c.bp is None else f"{c.bp.systolic:.0f}/{c.bp.diastolic:.0f}"
        delta = _DASH
        if c.bp is not None and c.bp.delta_systolic is not None and c.bp.delta_diastolic is not None:
            delta = f"{c.bp.delta_systolic:+.0f}/{c.bp.delta_diastolic:+.0f}"
        state = c.state
        if c.late_by_s is not None:
            late_min = round(c.late_by_s / 60.0)
            state = (f"done {late_min} min late" if c.state == "done"
                     else f"NOT done ({late_min} min overdue at the end)")
        state += f": {c.note}" if c.note else ""
        rows.append([c.label, when, bp, delta, _num(c.heart_rate), _num(c.spo2), state])
    return header, rows


def discharge_lines(report: SessionReport) -> list[str]:
    """Minimum observation, discharge checklist, fit to leave and the discharge criteria, in words."""
    lines = []
    if report.min_observation_at is None:
        lines.append("Minimum observation: no dose was given.")
    elif report.min_observation_met_at is not None:
        lines.append(f"Minimum observation met at {fmt_clock(report.min_observation_met_at)}.")
    else:
        lines.append(f"Minimum observation NOT met: it ends at {fmt_clock(report.min_observation_at)}, "
                     f"the record stops at {fmt_clock(report.until)}.")
    if report.discharge_checks_done_at is not None:
        lines.append(f"Discharge checklist done at {fmt_clock(report.discharge_checks_done_at)}.")
    elif any(c.timing.value == "before_discharge" for c in report.checks):
        lines.append("Discharge checklist NOT done.")
    if report.fit_to_leave_at is not None:
        lines.append(f"Fit to leave from {fmt_clock(report.fit_to_leave_at)}.")
    for c in report.discharge:
        verdict = "not evaluated" if c.met is None else ("met" if c.met else "NOT met")
        lines.append(f"{c.label}: {verdict} ({c.detail}).")
    return lines


def _fill(table: QTableWidget, content: Table) -> None:
    header, rows = content
    table.setColumnCount(len(header))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels(header)
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeColumnsToContents()


def _table(parent: QWidget) -> QTableWidget:
    table = QTableWidget(parent)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _content_height(table: QTableWidget) -> int:
    """Height that shows every row of ``table`` and its horizontal scroll bar, no more."""
    return (table.horizontalHeader().height() + table.verticalHeader().length() + 2 * table.frameWidth()
            + table.horizontalScrollBar().sizeHint().height())


class SummaryView(QWidget):
    """The per-phase table with its HRV note, the checks table and the discharge lines.

    The checks table (a few rows) is only as tall as its rows; the per-phase table takes the rest
    of the height, so its rows down to the alarms are seen without scrolling on a usual screen.
    """

    def __init__(self, report: SessionReport, anchor_s: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = report
        self.phases = _table(self)
        self.hrv_note = QLabel(hrv_note(report), self)
        self.hrv_note.setWordWrap(True)
        set_role(self.hrv_note, "caption")
        self.checks = _table(self)
        self.discharge = QLabel(self)
        self.discharge.setWordWrap(True)
        set_role(self.discharge, "caption")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.phases, 1)
        layout.addWidget(self.hrv_note)
        layout.addWidget(self.checks)
        layout.addWidget(self.discharge)
        _fill(self.phases, phase_table(report))
        _fill(self.checks, check_table(report, anchor_s))
        self.checks.setMaximumHeight(_content_height(self.checks))
        self.discharge.setText("  ".join(discharge_lines(report)))

    @property
    def complete(self) -> bool:
        """Every figure is shown (False while the HRV rows say :data:`COMPUTING`)."""
        return not self.report.hrv_pending

    def set_report(self, report: SessionReport) -> None:
        """Show the same session's report with its HRV computed (the per-phase table is refilled)."""
        self.report = report
        _fill(self.phases, phase_table(report))

    def hrv_failed(self, reason: str) -> None:
        """The HRV could not be computed: its cells say so instead of :data:`COMPUTING`, the note why."""
        header, rows = phase_table(self.report)
        _fill(self.phases, (header, [[r[0], *(_NOT_COMPUTED if c == COMPUTING else c for c in r[1:])]
                                     for r in rows]))
        self.hrv_note.setText(f"HRV could not be computed: {reason}")
