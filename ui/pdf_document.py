"""Printable A4 documents for the chart: HTML laid out by Qt, painted page by page into a PDF.

Shared by every PDF kapmonitor makes (the session report, :mod:`ui.report`; a form filled
from the session can use the same pieces): :func:`escape`, :func:`html_table` and
:func:`pairs_table` write the content as HTML for :class:`QTextDocument`; :data:`BASE_CSS`
styles it; :func:`render_pdf` lays it out on A4 pages and paints them with a footer on each,
and :class:`PdfInfo` says what the file's document information (``pdfinfo``) holds.

Why paint page by page rather than :meth:`QTextDocument.print_`: each page gets a footer
that names the document and says "page n of N" (a page that comes loose from the chart
still says whose it is), a section heading never ends a page
(:func:`keep_headings_with_next`), and a page with nothing on it is never printed. The content ends
in an empty block after a last table; when that block alone flows onto a new page,
``print_`` printed a page holding only the footer text. :func:`content_pages` counts the
pages that hold something.

Text stays text (``pdftotext`` extracts it), in the bundled DejaVu font
(:func:`ui.theme.register_fonts`, PITFALLS #11). Qt's writer cannot set a Subject and
writes an empty Author rather than none, so :func:`with_document_info` rewrites the
document information dictionary as an incremental update (PDF 1.7, 7.5.6): the bytes Qt
wrote stay as they are and a new dictionary, cross-reference section and trailer follow.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QPointF, QRectF, QSizeF, Qt, QUrl, qVersion
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFont,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPalette,
    QPdfWriter,
    QTextBlock,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)

from kapmonitor import __version__
from kapmonitor.exporters import ExportError
from ui.theme import register_fonts

__all__ = ["BASE_CSS", "PdfInfo", "content_pages", "escape", "html_table", "keep_headings_with_next",
           "pairs_table", "render_pdf", "with_document_info"]

Table = tuple[list[str], list[list[str]]]
"""(header, rows) of text cells, as :mod:`ui.review_summary` makes them."""

BASE_CSS = (
    "body{font-size:8.5pt;} h1{font-size:13pt;margin:0;} h2{font-size:10pt;margin-top:8px;margin-bottom:2px;}"
    " td,th{font-size:8pt;} table.grid th{background:#e6eaee;text-align:left;}"
    " table.grid td{border-bottom:1px solid #d5dbe0;} td.k{font-weight:bold;color:#36414b;}"
)
"""The house style: small, dense, black on white; grid tables with a shaded header row."""

MARGIN_MM = 12.0
FOOTER_MM = 7.0
"""Height kept free at the bottom of each page for the footer line."""
FONT_PT = 8.5
RESOLUTION_DPI = 300


@dataclass(frozen=True, slots=True)
class PdfInfo:
    """The document information of a PDF (what ``pdfinfo`` shows).

    ``author`` is the clinician's initials as entered; empty means none was entered and the
    file then has no Author at all (never a made-up one).
    """

    title: str
    subject: str
    author: str = ""
    creator: str = f"kapmonitor {__version__}"


def escape(text: object) -> str:
    """``text`` as HTML text (free text typed by the therapist is never markup)."""
    return html.escape(str(text))


def _cell(text: str) -> str:
    """A cell's text as HTML: each line of it on a line of its own."""
    return "<br>".join(escape(line) for line in text.split("\n"))


def html_table(content: Table, *, first_bold: bool = True) -> str:
    """A grid table; its header row repeats at the top of each page the table runs onto.

    A newline in a cell starts a new line in it (e.g. one alarm action a line).
    """
    header, rows = content
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=k' if (i == 0 and first_bold) else ''}>{_cell(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table class=grid cellspacing=0 cellpadding=2><thead><tr>{head}</tr></thead>{body}</table>"


def pairs_table(pairs: Sequence[tuple[str, str]], per_row: int = 2) -> str:
    """Label/value pairs, ``per_row`` pairs side by side (a document's header block)."""
    rows = "".join(
        "<tr>" + "".join(f"<td class=k>{escape(k)}</td><td>{escape(v)}</td>"
                         for k, v in pairs[i:i + per_row]) + "</tr>"
        for i in range(0, len(pairs), per_row))
    return f"<table cellspacing=0 cellpadding=2 width=100%>{rows}</table>"


def content_pages(doc: QTextDocument) -> int:
    """How many of ``doc``'s laid-out pages hold something (text, an image, a table cell's text).

    Trailing pages that hold only empty blocks (the block Qt keeps after a last table, an
    empty paragraph) are not counted; at least one page is.
    """
    layout = doc.documentLayout()
    page_h = doc.pageSize().height()
    bottom = 0.0
    block = doc.begin()
    while block.isValid():
        if block.text().strip():
            bottom = max(bottom, layout.blockBoundingRect(block).bottom())
        block = block.next()
    if page_h <= 0 or bottom <= 0:
        return 1
    return max(1, min(int(doc.pageCount()), math.ceil(bottom / page_h - 1e-6)))


def _follower(block: QTextBlock) -> QTextBlock | None:
    """What a heading must stay with: the next block with text, or a table's first body row."""
    after = block.next()
    while after.isValid() and not after.text().strip():
        after = after.next()
    if not after.isValid():
        return None
    table = QTextCursor(after).currentTable()
    if table is not None:
        header_rows = table.format().headerRowCount()
        if table.rows() > header_rows:
            return table.cellAt(header_rows, 0).firstCursorPosition().block()
    return after


def keep_headings_with_next(doc: QTextDocument) -> None:
    """Move each heading that would end a page onto the next one, with what it heads.

    A section title alone at the bottom of a page ("Alarm log", its table overleaf) reads as
    an empty section. Qt has no keep-with-next, so a heading whose follower (:func:`_follower`)
    is laid out on a later page gets a page break before it, and the layout is redone.
    """
    layout = doc.documentLayout()
    page_h = doc.pageSize().height()
    if page_h <= 0:
        return

    def page_of(block: QTextBlock) -> int:
        return int(layout.blockBoundingRect(block).top() // page_h)

    for _ in range(doc.blockCount()):
        block = doc.begin()
        while block.isValid():
            fmt = block.blockFormat()
            follower = _follower(block) if fmt.headingLevel() > 0 else None
            if follower is not None and fmt.pageBreakPolicy() == QTextFormat.PageBreakFlag.PageBreak_Auto \
                    and page_of(follower) > page_of(block):
                fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
                QTextCursor(block).setBlockFormat(fmt)
                break
            block = block.next()
        else:
            return


def _source_dpi() -> float:
    """The DPI the document is laid out at (its fonts' pixel sizes): the screen's, as Qt uses."""
    screen = QGuiApplication.primaryScreen()
    return float(screen.logicalDotsPerInchY()) if screen is not None else 96.0


def render_pdf(body_html: str, info: PdfInfo, *, footer: Callable[[int, int], str],
               images: Mapping[QUrl, QImage] | None = None) -> tuple[bytes, int]:
    """Lay ``body_html`` out on A4 pages and paint them into a PDF; return its bytes and page count.

    Args:
        body_html: the content (style it with :data:`BASE_CSS`); it may refer to ``images`` by URL.
        info: the document information (see :func:`with_document_info`).
        footer: the footer line of page ``n`` of ``total`` (1-based), e.g. the document's name.

    Paints, so it runs on the GUI thread with a ``QApplication``; it writes no file.

    Raises:
        ExportError: Qt's PDF writer produced nothing.
    """
    families = register_fonts()
    family = families[0] if families else "DejaVu Sans"
    font = QFont(family)
    font.setPointSizeF(FONT_PT)
    # No ligatures: text copied or extracted from the PDF must read "fit", not U+FB01.
    font.setStyleStrategy(QFont.StyleStrategy.PreferNoShaping)
    doc = QTextDocument()
    doc.setDefaultFont(font)
    for url, image in (images or {}).items():
        doc.addResource(QTextDocument.ResourceType.ImageResource, url, image)
    doc.setHtml(body_html)

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(info.title)
    writer.setCreator(info.creator)
    if info.author:
        writer.setAuthor(info.author)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
                                     QPageLayout.Unit.Millimeter))
    writer.setResolution(RESOLUTION_DPI)
    dpi = _source_dpi()
    paint = writer.pageLayout().paintRectPixels(round(dpi))
    footer_h = FOOTER_MM / 25.4 * dpi
    page = QSizeF(paint.width(), paint.height() - footer_h)
    doc.setPageSize(page)
    keep_headings_with_next(doc)
    pages = content_pages(doc)

    footer_font = QFont(font)
    footer_font.setPointSizeF(7.0)
    painter = QPainter(writer)
    try:
        # The document is laid out in the screen's pixels; the page is painted in the writer's.
        scale = writer.resolution() / dpi
        layout = doc.documentLayout()
        for n in range(1, pages + 1):
            if n > 1:
                writer.newPage()
            painter.save()
            painter.scale(scale, scale)
            view = QRectF(0, (n - 1) * page.height(), page.width(), page.height())
            painter.translate(0, -view.top())
            painter.setClipRect(view)
            context = QAbstractTextDocumentLayout.PaintContext()
            context.clip = view
            context.palette.setColor(QPalette.ColorRole.Text, Qt.GlobalColor.black)
            layout.draw(painter, context)
            painter.restore()
            painter.setFont(footer_font)  # in points: sized by the writer's resolution
            painter.setPen(Qt.GlobalColor.darkGray)
            width, line_y = page.width() * scale, (page.height() + footer_h * 0.25) * scale
            painter.drawLine(QPointF(0, line_y), QPointF(width, line_y))
            align = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            painter.drawText(QRectF(0, line_y, width, footer_h * 0.75 * scale), align, footer(n, pages))
    finally:
        painter.end()
    del writer  # finishes the PDF
    pdf = bytes(buffer.data().data())
    buffer.close()
    if not pdf.startswith(b"%PDF"):
        raise ExportError(f"the PDF {info.title!r} could not be made: Qt's PDF writer produced nothing")
    return with_document_info(pdf, info), pages


# ------------------------------------------------------------------------------ document information
def _pdf_text(text: str) -> bytes:
    """A PDF text string: UTF-16BE with its byte order mark, as a hex string (nothing to escape)."""
    return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().upper().encode("ascii") + b">"


def with_document_info(pdf: bytes, info: PdfInfo) -> bytes:
    """``pdf`` with its document information set to ``info`` (an incremental update, see module doc).

    Keeps the creation date Qt wrote. Raises :class:`ExportError` if ``pdf`` does not end in a
    classic cross-reference table and trailer (which Qt's writer always writes).
    """
    start = pdf.rfind(b"trailer")
    trailer = re.match(rb"(?s)trailer\s*(.*?)startxref\s+(\d+)\s+%%EOF", pdf[start:]) if start >= 0 else None
    if trailer is None:
        raise ExportError("the PDF has no trailer: its document information cannot be set")
    fields = trailer.group(1)
    size = re.search(rb"/Size\s+(\d+)", fields)
    root = re.search(rb"/Root\s+(\d+\s+\d+\s+R)", fields)
    info_ref = re.search(rb"/Info\s+(\d+)\s+(\d+)\s+R", fields)
    ids = re.search(rb"/ID\s*\[[^\]]*\]", fields)
    if size is None or root is None:
        raise ExportError("the PDF trailer has no /Size or /Root: its document information cannot be set")
    if info_ref is not None:
        number, generation = int(info_ref.group(1)), int(info_ref.group(2))
    else:
        number, generation = int(size.group(1)), 0
    created = re.search(rb"/CreationDate\s*\((D:[0-9Z+'\-]*)\)", pdf)
    entries = [b"/Title " + _pdf_text(info.title), b"/Subject " + _pdf_text(info.subject)]
    if info.author:
        entries.append(b"/Author " + _pdf_text(info.author))
    entries += [b"/Creator " + _pdf_text(info.creator), b"/Producer " + _pdf_text(f"Qt {qVersion()}")]
    if created is not None:
        entries += [b"/CreationDate (" + created.group(1) + b")", b"/ModDate (" + created.group(1) + b")"]
    head = pdf if pdf.endswith(b"\n") else pdf + b"\n"
    obj_at = len(head)
    obj = f"{number} {generation} obj\n<<\n".encode() + b"\n".join(entries) + b"\n>>\nendobj\n"
    xref_at = obj_at + len(obj)
    new_size = max(int(size.group(1)), number + 1)
    # each cross-reference entry is exactly 20 bytes: offset, generation, "n", space, newline
    entry = f"{obj_at:010d} {generation:05d} n \n"
    trailer_fields = (f"/Size {new_size} /Root ".encode() + root.group(1)
                      + f" /Info {number} {generation} R /Prev {trailer.group(2).decode()}".encode()
                      + (b" " + ids.group(0) if ids is not None else b""))
    tail = (f"xref\n{number} 1\n{entry}trailer\n<< ".encode() + trailer_fields
            + f" >>\nstartxref\n{xref_at}\n%%EOF\n".encode())
    return head + obj + tail
