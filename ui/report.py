"""The printable session report: A4 pages for the chart, written with Qt's own PDF writer.

Content: a header (client code, date, clinician, protocol, dose and lot, session start and
end, times of dose and boosters, the time monitored after the first dose -- what the
monitoring form counts -- and the time fit to leave), the heart-rate plot with phase bands,
limit lines, alarm spans and numbered observation markers, the vitals at each scheduled
check (baseline, +40 min, discharge) with the change from baseline and how late a late
check was done, the per-phase summary (with its HRV rows and the line naming the artifact
correction and spectral method, :func:`ui.review_summary.hrv_note`), the discharge lines, the
observation list (numbers match the plot; worded as the bedside words them,
:func:`ui.observation_timeline.describe`,
with the session's own scales) and the alarm log (every action of every alarm condition,
:func:`alarm_log_rows`). Each page's footer names the client, the date and the session and
says "page n of N"; the PDF's Title, Author (the clinician's initials, absent when none were
entered), Subject and Creator are set (:func:`report_info`).

How it is made: HTML laid out and painted page by page by :func:`ui.pdf_document.render_pdf`
(the helpers any other kapmonitor PDF shares), so text is real text (``pdftotext`` extracts
it), a table's header row repeats on the next page, and no page is printed with nothing on
it. The plot is a pyqtgraph widget rendered to an image at twice its size (PITFALLS #12:
raster, not vectors, for a plot in a PDF). Needs a ``QApplication`` (offscreen is fine);
:mod:`ui.cli.report` makes one.

The PDF is made in memory and handed over as bytes; it is the ``report`` export format
(:data:`REPORT_EXPORTER`, listed by :func:`ui.exports.window_exports`), so the file is
written, like every export, by the registry's one atomic write (:mod:`db.export.atomic`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QFont, QImage, QPainter
from PySide6.QtWidgets import QApplication

from kapmonitor import __version__
from kapmonitor.clock import ensure_utc
from kapmonitor.discharge import Support
from kapmonitor.exporters import Exporter, ExportOptions
from kapmonitor.review_series import usable_mask
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Phase,
    Stream,
)
from ui.pdf_document import BASE_CSS, PdfInfo, escape, html_table, pairs_table, render_pdf
from ui.review_canvas import GAP_S, with_gaps
from ui.review_data import (
    ReviewData,
    current_observations,
    fmt_clock,
    fmt_date,
    fmt_elapsed,
    fmt_minutes,
    session_settings,
)
from ui.review_entries import describe_observation
from ui.review_summary import check_table, discharge_lines, hrv_note, phase_table
from ui.theme import LIGHT, Theme, qcolor

__all__ = ["REPORT_EXPORTER", "ReportSource", "alarm_log_rows", "observation_rows", "render_report_pdf",
           "report_html", "report_info", "report_plot_image", "write_report"]

log = logging.getLogger(__name__)

PLOT_SIZE = (900, 300)
"""Logical size (px at 96 dpi) of the plot image in the report."""
_PLOT_URL = QUrl("kapmonitor://report/plot.png")
_DASH = "\u2013"


class ReportSource(Protocol):
    """What the report is made from: a session whose review data is loaded, or can be."""

    def review(self) -> ReviewData:
        """The session's review data (loads it if it is not loaded: database work)."""
        ...


def report_plot_image(data: ReviewData, theme: Theme = LIGHT, size: tuple[int, int] = PLOT_SIZE) -> QImage:
    """The heart-rate plot of the whole session as an image (device pixel ratio 2)."""
    anchor = data.anchor.timestamp()
    widget = pg.PlotWidget(background="#ffffff")
    widget.resize(*size)
    plot = widget.getPlotItem()
    plot.hideButtons()
    font = QFont()
    font.setPixelSize(11)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(qcolor(theme.border))
        axis.setTextPen(qcolor(theme.text))
        axis.setTickFont(font)
    plot.setLabel("left", "Heart rate (bpm)", color=theme.text)
    plot.setLabel("bottom", "minutes since dose" if data.record.dose_at else "minutes since start",
                  color=theme.text)
    plot.showGrid(x=True, y=True, alpha=0.15)
    x0 = (data.record.started_at.timestamp() - anchor) / 60.0
    x1 = max((data.last_activity.timestamp() - anchor) / 60.0, x0 + 1)
    hr = data.streams.get(Stream.HEART_RATE)
    y_lo, y_hi = 40.0, 150.0
    if hr is not None and len(hr):
        ok = usable_mask(hr)
        x, y = with_gaps((hr.t[ok] - anchor) / 60.0, hr.value[ok], GAP_S / 60.0)
        curve = plot.plot(x, y, pen=pg.mkPen(qcolor(theme.heart_rate), width=1.2), connect="finite")
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        if ok.any():
            y_lo = min(y_lo, float(np.percentile(hr.value[ok], 0.5)) - 5)
            y_hi = max(y_hi, float(np.percentile(hr.value[ok], 99.5)) + 5)
    plot.setXRange(x0, x1, padding=0)
    plot.setYRange(y_lo - 12, y_hi, padding=0)
    for phase in data.report.phases:
        p0 = (phase.start.timestamp() - anchor) / 60.0
        p1 = (phase.end.timestamp() - anchor) / 60.0
        band = pg.LinearRegionItem((p0, p1), movable=False, pen=pg.mkPen(None),
                                   brush=qcolor(theme.phase[Phase(phase.phase)], 45))
        band.setZValue(-20)
        plot.addItem(band)
        label = pg.TextItem(phase.phase.value, color=qcolor(theme.text_dim), anchor=(0, 0))
        label.setFont(font)
        # short phases sit side by side: alternate the label height so names never overlap
        label.setPos(p0, y_hi - (y_hi - y_lo) * 0.07 * (phase.phase.order % 2))
        plot.addItem(label)
    for rule in data.rules:
        limit = rule.threshold(data.report.hr_baseline)
        if rule.enabled and rule.stream is Stream.HEART_RATE and limit is not None and limit < y_hi:
            plot.addItem(pg.InfiniteLine(pos=limit, angle=0, pen=pg.mkPen(qcolor(theme.threshold),
                                                                          style=Qt.PenStyle.DashLine)))
    for span in data.report.alarm_spans:
        s0 = (span.start.timestamp() - anchor) / 60.0
        s1 = max((span.end.timestamp() - anchor) / 60.0, s0 + 0.5)
        colour = qcolor(theme.alarm[AlarmPriority(span.priority)], 220)
        bar = pg.BarGraphItem(x0=[s0], width=[s1 - s0], y=[y_lo - 9], height=5, brush=colour, pen=None)
        plot.addItem(bar)
    for e in data.events:
        if e.kind in (EventKind.DOSE_GIVEN, EventKind.BOOSTER_GIVEN):
            xe = (e.at.timestamp() - anchor) / 60.0
            plot.addItem(pg.InfiniteLine(pos=xe, angle=90, pen=pg.mkPen(qcolor(theme.accent), width=1.5)))
    observations = [o for o in current_observations(data.observations) if not o.deleted]
    for number, o in enumerate(observations, start=1):
        xo = (o.occurred_at.timestamp() - anchor) / 60.0
        plot.addItem(pg.InfiniteLine(pos=xo, angle=90, pen=pg.mkPen(qcolor(theme.observation, 160),
                                                                    style=Qt.PenStyle.DotLine)))
        tag = pg.TextItem(str(number), color=qcolor(theme.text_strong), anchor=(0.5, 1))
        tag.setFont(font)
        tag.setPos(xo, y_lo - 3 + (number % 2) * 5)
        plot.addItem(tag)
    # Lay the widget out at its final size without putting it on a screen, so the axes, the
    # downsampling and the clipping are computed for the size it is rendered at.
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.show()
    QApplication.processEvents()
    image = QImage(size[0] * 2, size[1] * 2, QImage.Format.Format_ARGB32)
    image.fill(qcolor("#ffffff"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        widget.render(painter)
    finally:
        painter.end()
    image.setDevicePixelRatio(2.0)
    widget.close()
    widget.deleteLater()
    return image


def _duration(delta: timedelta) -> str:
    seconds = max(delta.total_seconds(), 0.0)
    return f"{seconds:.0f} s" if seconds < 60 else fmt_minutes(seconds)


def _header(data: ReviewData) -> list[tuple[str, str]]:
    spec, rec, rep = data.record.spec, data.record, data.report
    dose = f"{spec.dose_amount:g} {spec.dose_unit}" if spec.dose_amount is not None else "not entered"
    boosters = []
    for e in data.events:
        if e.kind is EventKind.BOOSTER_GIVEN:
            amount = e.data.get("amount")
            text = f"{amount:g} {e.data.get('unit') or 'mg'} " if isinstance(amount, int | float) else ""
            boosters.append(f"{text}at {fmt_clock(e.at)} ({fmt_elapsed(data.elapsed_s(e.at))})")
    ended = (f"{fmt_clock(rec.ended_at)}" + (f" ({rec.end_reason})" if rec.end_reason else "")
             if rec.ended_at else f"NOT ENDED (record stops {fmt_clock(data.last_activity)})")
    if rep.monitored_after_dose_s is not None:
        monitored = ("Monitored", f"{fmt_minutes(rep.monitored_after_dose_s)} after the first dose")
    else:
        monitored = ("Monitored", f"no dose given; {fmt_minutes(rep.monitoring_s)} from the session start")
    return [
        ("Client code", spec.client_code), ("Date", fmt_date(rec.started_at)),
        ("Clinician", spec.clinician_initials or "not entered"),
        ("Protocol", f"{spec.protocol.name} ({spec.protocol.route.label})"),
        ("Dose", dose), ("Lot", spec.lot or "not entered"),
        ("Session started", fmt_clock(rec.started_at)), ("Session ended", ended),
        ("Dose given", fmt_clock(rec.dose_at) if rec.dose_at else "no dose recorded"),
        ("Boosters", "; ".join(boosters) or "none"),
        monitored,
        ("Fit to leave", fmt_clock(rep.fit_to_leave_at) if rep.fit_to_leave_at else "not reached"),
        ("Session number", str(rec.session_id)),
    ]


def _action(t: AlarmTransition) -> str:
    """One alarm-log action in words: ``condition cleared (latched) 09:15:30``."""
    words = t.action.replace("_", " ")
    if t.action == "condition_cleared" and t.state is AlarmState.LATCHED:
        words += " (latched)"
    if t.detail and t.action not in ("condition_cleared", "escalated", "acknowledged"):
        words += f" ({t.detail})"
    return f"{words} {fmt_clock(t.at, seconds=True)}"


def alarm_log_rows(data: ReviewData) -> list[list[str]]:
    """The alarm log: one row per alarm condition with every action of the log on it.

    Each ``raised`` opens a row; every later transition of that alarm until it is raised again
    is an action on the row (escalated, audio paused, condition cleared and whether it latched,
    acknowledged, resolved, limit changed), one a line, so the rows carry every transition the alarm log
    (and the CSV) holds. A transition of an alarm not raised in this record gets a row of its
    own. Start, duration and worst value are the alarm span's (:func:`kapmonitor.review_series.
    alarm_spans`: from raised to the condition clearing).
    """
    spans = {(s.alarm_id, s.start): s for s in data.report.alarm_spans}
    rows: list[tuple[datetime, list[str]]] = []
    open_rows: dict[str, list[str]] = {}
    for t in data.alarms:
        at = ensure_utc(t.at)
        if t.action == "raised":
            span = spans.get((t.alarm_id, at))
            worst = ""
            if span is not None and span.peak_value is not None and span.limit is not None and \
                    span.category is AlarmCategory.PHYSIOLOGICAL:
                worst = f"{span.peak_value:g} (limit {span.limit:g})"
            duration = _DASH if span is None else ("still active" if span.open_ended
                                                   else _duration(span.end - span.start))
            row = [fmt_clock(at, seconds=True), fmt_elapsed(data.elapsed_s(at)), duration, t.label,
                   t.priority.value, worst, ""]
            open_rows[t.alarm_id] = row
            rows.append((at, row))
            continue
        row = open_rows.get(t.alarm_id) or []
        if not row:
            row = [fmt_clock(at, seconds=True), fmt_elapsed(data.elapsed_s(at)), _DASH, t.label,
                   t.priority.value, "", ""]
            rows.append((at, row))
        row[-1] = "\n".join(filter(None, (row[-1], _action(t))))
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


def observation_rows(data: ReviewData) -> list[list[str]]:
    """Every observation (its current revision), numbered as on the plot; worded as the bedside words it."""
    settings = session_settings(data.record)
    rows: list[list[str]] = []
    number = 0
    for o in current_observations(data.observations):
        what, detail = describe_observation(o, settings)
        label = ""
        if not o.deleted:
            number += 1
            label = str(number)
        rows.append([label, fmt_elapsed(data.elapsed_s(o.occurred_at)), fmt_clock(o.occurred_at),
                     o.kind.value, what, detail])
    return rows


def report_html(data: ReviewData, generated_at: datetime) -> str:
    """The report as HTML for :class:`QTextDocument` (the plot is the resource ``_PLOT_URL``)."""
    obs_rows = observation_rows(data)
    alarm_rows = alarm_log_rows(data)
    tz = generated_at.astimezone().strftime("%Z (UTC%z)")
    parts = [
        f"<style>{BASE_CSS}</style>",
        f"<h1>KAP session report \u2014 client {escape(data.record.spec.client_code)}</h1>",
        pairs_table(_header(data)),
        f"<p><small>Clock times are local, {escape(tz)}; T+h:mm is time since the first dose.</small></p>",
        f"<p><img src=\"{_PLOT_URL.toString()}\" width={PLOT_SIZE[0] * 0.77:.0f} "
        f"height={PLOT_SIZE[1] * 0.77:.0f}><br>"
        "<small>Heart rate; phase bands; dashed lines: limits; vertical lines: doses (solid) and numbered "
        "observations (dotted); bars at the bottom: alarms (red high, amber medium, blue low); "
        "breaks: signal lost.</small></p>",
        "<h2>Vitals at checks</h2>", html_table(check_table(data.report, data.anchor.timestamp())),
        "<h2>Per-phase summary</h2>", html_table(phase_table(data.report)),
        "<p><small>Rules behind the figures: artifact and no-contact readings excluded; time beyond a limit "
        "counts each reading for at most 5 s, so gaps never count; vitals at a check are those taken "
        f"within 15 min of it.</small></p><p><small>{escape(hrv_note(data.report))}</small></p>",
        "<p>" + "<br>".join(escape(line) for line in discharge_lines(data.report)) + "</p>",
        _discharge_html(data),
        "<h2>Observations</h2>",
        html_table((["#", "Time", "Clock", "Kind", "Observation", "Details"], obs_rows), first_bold=False)
        if obs_rows else "<p>None recorded.</p>",
        "<h2>Alarm log</h2>",
        html_table((["Start", "Time", "Duration", "Alarm", "Priority", "Worst value", "Actions"], alarm_rows),
                   first_bold=False) if alarm_rows else "<p>No alarms.</p>",
    ]
    return "".join(parts)


_SUPPORT_WORDS = {Support.SUPPORTED: "supports it", Support.CONTRADICTED: "contradicts it",
                  Support.NO_DATA: "has no data for it", Support.CLINICIAN: "cannot say"}


def _discharge_html(data: ReviewData) -> str:
    """The discharge checklist as the clinician answered it at the end, item by item."""
    answers = data.discharge
    if answers is None:
        return ("<h2>Discharge</h2><p>No discharge answers were recorded with the end of this session "
                "(ended without a dose, closed after an interruption, or recorded before they existed).</p>")
    lines = []
    if answers.ready_to_leave_at is not None:
        ready = f"Ready to leave at {fmt_clock(answers.ready_to_leave_at)}"
        if data.record.dose_at is not None:
            minutes = (answers.ready_to_leave_at - data.record.dose_at).total_seconds() / 60
            ready += f" ({minutes:.0f} min after the first dose)"
        lines.append(ready)
    lines.append(f"Judged fit to leave by {answers.fit_to_leave_by or 'not recorded'}")
    rows = [[item.label, "met" if item.met else "NOT met",
             f"{item.evidence} (the record {_SUPPORT_WORDS[item.support]})" if item.evidence
             else f"the record {_SUPPORT_WORDS[item.support]}", item.reason]
            for item in answers.items]
    table = html_table((["Item", "Answer", "What the record showed", "Reason"], rows)) if rows else ""
    return ("<h2>Discharge (as answered at the end)</h2><p>" + "<br>".join(escape(x) for x in lines) + "</p>"
            + table + "<p><small>Adverse events, sedation, dissociation, respiratory depression and "
            "medications: see the monitoring form (kapmonitor report --form monitoring).</small></p>")


def report_info(data: ReviewData) -> PdfInfo:
    """The PDF's document information: title with client and date, the clinician as author."""
    spec = data.record.spec
    date = fmt_date(data.record.started_at)
    return PdfInfo(
        title=f"kapmonitor session report \u2014 client {spec.client_code} \u2014 {date}",
        subject=f"KAP session monitoring record, session {data.session_id} ({spec.protocol.route.label}): "
                "heart rate, vitals at checks, observations and alarm log",
        author=spec.clinician_initials.strip(),
    )


def render_report_pdf(data: ReviewData, *, generated_at: datetime) -> tuple[bytes, int]:
    """The report as the bytes of a PDF file, and its number of pages.

    Paints, so it runs on the GUI thread with a ``QApplication``; it writes no file.

    Raises:
        ExportError: Qt's PDF writer produced nothing.
    """
    info = report_info(data)
    made = generated_at.astimezone().strftime("%Y-%m-%d %H:%M")
    name = (f"kapmonitor session report \u00b7 client {data.record.spec.client_code} \u00b7 "
            f"{fmt_date(data.record.started_at)} \u00b7 session {data.session_id} \u00b7 generated {made} "
            f"by kapmonitor {__version__}")
    return render_pdf(report_html(data, generated_at), info, images={_PLOT_URL: report_plot_image(data)},
                      footer=lambda n, total: f"{name} \u00b7 page {n} of {total}")


def write_report(source: ReportSource, out: BinaryIO, options: ExportOptions) -> int:
    """The ``report`` format: the printable report as PDF to ``out``; return the number of pages.

    Paints (see :func:`render_report_pdf`); the whole PDF is made before its first byte is written.
    """
    data = source.review()
    pdf, pages = render_report_pdf(data, generated_at=options.generated_at)
    out.write(pdf)
    log.info("wrote the report of session %d (%d pages, %d bytes)", data.session_id, pages, len(pdf))
    return pages


REPORT_EXPORTER: Exporter[ReportSource] = Exporter(
    name="report", title="PDF report", suffix=".pdf", write=write_report, counts="pages", paints=True,
    description="the printable session report for the chart (PDF, A4)",
)
