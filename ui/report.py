"""The printable session report: one or two A4 pages for the chart, written with Qt's own PDF writer.

Content: a header (client code, date, clinician, protocol, dose and lot, times of dose
and boosters, total monitoring time, time fit to leave), the heart-rate plot with phase
bands, limit lines, alarm spans and numbered observation markers, the vitals at each
scheduled check (baseline, +40 min, discharge) with the change from baseline, the
per-phase summary, the discharge lines, the observation list (numbers match the plot)
and the alarm log.

How it is made: an HTML :class:`QTextDocument` printed to a :class:`QPdfWriter` (A4),
so text is real text (``pdftotext`` extracts it) and pages break by themselves. The
plot is a pyqtgraph widget rendered to an image at twice its size (PITFALLS #12:
raster, not vectors, for a plot in a PDF). The document uses the bundled DejaVu font
registered by :func:`ui.theme.register_fonts` (PITFALLS #11: on a machine without
fonts the PDF would otherwise have no text). Needs a ``QApplication`` (offscreen is
fine); :mod:`ui.cli.report` makes one.

The PDF is made in memory and handed over as bytes; it is the ``report`` export format
(:data:`REPORT_EXPORTER`, listed by :func:`ui.exports.window_exports`), so the file is
written, like every export, by the registry's one atomic write (:mod:`db.export.atomic`).
"""

from __future__ import annotations

import html
import logging
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QSizeF, Qt, QUrl
from PySide6.QtGui import QFont, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument
from PySide6.QtWidgets import QApplication

from kapmonitor import __version__
from kapmonitor.exporters import Exporter, ExportError, ExportOptions
from kapmonitor.review_series import usable_mask
from kapmonitor.types import AlarmPriority, EventKind, Phase, Stream
from ui.review_canvas import GAP_S, with_gaps
from ui.review_data import ReviewData, current_observations, fmt_clock, fmt_date, fmt_elapsed, fmt_minutes
from ui.review_entries import describe_observation
from ui.review_summary import Table, check_table, discharge_lines, phase_table
from ui.theme import LIGHT, Theme, qcolor, register_fonts

__all__ = ["REPORT_EXPORTER", "ReportSource", "render_report_pdf", "report_html", "report_plot_image",
           "write_report"]

log = logging.getLogger(__name__)

PLOT_SIZE = (900, 300)
"""Logical size (px at 96 dpi) of the plot image in the report."""
_PLOT_URL = QUrl("kapmonitor://report/plot.png")


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


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(content: Table, *, first_bold: bool = True) -> str:
    header, rows = content
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=k' if (i == 0 and first_bold) else ''}>{_e(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table class=grid cellspacing=0 cellpadding=2><tr>{head}</tr>{body}</table>"


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
    return [
        ("Client code", spec.client_code), ("Date", fmt_date(rec.started_at)),
        ("Clinician", spec.clinician_initials or "not entered"),
        ("Protocol", f"{spec.protocol.name} ({spec.protocol.route.label})"),
        ("Dose", dose), ("Lot", spec.lot or "not entered"),
        ("Dose given", fmt_clock(rec.dose_at) if rec.dose_at else "no dose recorded"),
        ("Boosters", "; ".join(boosters) or "none"),
        ("Session", f"{fmt_clock(rec.started_at)} to {ended}"),
        ("Total monitoring", fmt_minutes(rep.monitoring_s)),
        ("Fit to leave", fmt_clock(rep.fit_to_leave_at) if rep.fit_to_leave_at else "not reached"),
        ("Session number", str(rec.session_id)),
    ]


def report_html(data: ReviewData, generated_at: datetime) -> str:
    """The report as HTML for :class:`QTextDocument` (the plot is the resource ``_PLOT_URL``)."""
    pairs = _header(data)
    rows = "".join(
        "<tr>" + "".join(f"<td class=k>{_e(k)}</td><td>{_e(v)}</td>" for k, v in pairs[i:i + 2]) + "</tr>"
        for i in range(0, len(pairs), 2))
    observations = [o for o in current_observations(data.observations)]
    obs_rows: list[list[str]] = []
    number = 0
    for o in observations:
        what, detail = describe_observation(o)
        label = ""
        if not o.deleted:
            number += 1
            label = str(number)
        obs_rows.append([label, fmt_elapsed(data.elapsed_s(o.occurred_at)), fmt_clock(o.occurred_at),
                         o.kind.value, what, detail])
    alarm_rows = []
    for s in data.report.alarm_spans:
        worst = ""
        if s.peak_value is not None and s.limit is not None and s.category.value == "physiological":
            worst = f"{s.peak_value:g} (limit {s.limit:g})"
        duration = "still active" if s.open_ended else _duration(s.end - s.start)
        actions = ", ".join(f"{a.replace('_', ' ')} {fmt_clock(t)}" for t, a in s.actions)
        alarm_rows.append([fmt_clock(s.start, seconds=True), fmt_elapsed(data.elapsed_s(s.start)), duration,
                           s.label, s.priority.value, worst, actions])
    tz = generated_at.astimezone().strftime("%Z (UTC%z)")
    parts = [
        "<style>body{font-size:8.5pt;} h1{font-size:13pt;margin:0;} h2{font-size:10pt;margin-top:8px;"
        "margin-bottom:2px;} td,th{font-size:8pt;} table.grid th{background:#e6eaee;text-align:left;}"
        "table.grid td{border-bottom:1px solid #d5dbe0;} td.k{font-weight:bold;color:#36414b;}</style>",
        f"<h1>KAP session report \u2014 client {_e(data.record.spec.client_code)}</h1>",
        f"<table cellspacing=0 cellpadding=2 width=100%>{rows}</table>",
        f"<p><img src=\"{_PLOT_URL.toString()}\" width={PLOT_SIZE[0] * 0.77:.0f} "
        f"height={PLOT_SIZE[1] * 0.77:.0f}><br>"
        "<small>Heart rate; phase bands; dashed lines: limits; vertical lines: doses (solid) and numbered "
        "observations (dotted); bars at the bottom: alarms (red high, amber medium, blue low); "
        "breaks: signal lost.</small></p>",
        "<h2>Vitals at checks</h2>", _table(check_table(data.report, data.anchor.timestamp())),
        "<h2>Per-phase summary</h2>", _table(phase_table(data.report)),
        "<p>" + "<br>".join(_e(line) for line in discharge_lines(data.report)) + "</p>",
        "<h2>Observations</h2>",
        _table((["#", "Time", "Clock", "Kind", "Observation", "Details"], obs_rows), first_bold=False)
        if obs_rows else "<p>None recorded.</p>",
        "<h2>Alarm log</h2>",
        _table((["Start", "Time", "Duration", "Alarm", "Priority", "Worst value", "Actions"], alarm_rows),
               first_bold=False) if alarm_rows else "<p>No alarms.</p>",
        f"<p><small>Clock times are local, {_e(tz)}; T+h:mm is time since the first dose. Generated "
        f"{_e(generated_at.astimezone().strftime('%Y-%m-%d %H:%M'))} by kapmonitor {_e(__version__)}. "
        "Rules behind the "
        "figures: artifact and no-contact readings excluded; time beyond a limit counts each reading for at "
        "most 5 s, so gaps never count.</small></p>",
    ]
    return "".join(parts)


def render_report_pdf(data: ReviewData, *, generated_at: datetime) -> tuple[bytes, int]:
    """The report as the bytes of a PDF file, and its number of pages.

    Paints, so it runs on the GUI thread with a ``QApplication``; it writes no file.

    Raises:
        ExportError: Qt's PDF writer produced nothing.
    """
    families = register_fonts()
    family = families[0] if families else "DejaVu Sans"
    doc = QTextDocument()
    font = QFont(family)
    font.setPointSizeF(8.5)
    # No ligatures: text copied or extracted from the PDF must read "fit", not U+FB01.
    font.setStyleStrategy(QFont.StyleStrategy.PreferNoShaping)
    doc.setDefaultFont(font)
    doc.addResource(QTextDocument.ResourceType.ImageResource, _PLOT_URL, report_plot_image(data))
    doc.setHtml(report_html(data, generated_at))
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(f"KAP session report {data.record.spec.client_code} {fmt_date(data.record.started_at)}")
    writer.setCreator(f"kapmonitor {__version__}")
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter))
    writer.setResolution(300)
    rect = writer.pageLayout().paintRectPixels(96)
    doc.setPageSize(QSizeF(rect.width(), rect.height()))
    pages = int(doc.pageCount())
    doc.print_(writer)
    del writer  # finishes the PDF
    pdf = bytes(buffer.data().data())
    buffer.close()
    if not pdf.startswith(b"%PDF"):
        raise ExportError(f"the PDF report of session {data.session_id} could not be made: "
                          "Qt's PDF writer produced nothing")
    return pdf, pages


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
    description="the printable session report for the chart (PDF, A4, one or two pages)",
)
