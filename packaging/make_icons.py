"""Draw the kapmonitor icon with Qt and write every format the packages need.

Run from the repository root after changing the design, then commit the output::

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py

Writes:

* ``ui/assets/icons/kapmonitor-<size>.png`` (16 ... 512) and ``kapmonitor.svg``
  (package data: the window icon, the Linux ``.desktop`` icon);
* ``packaging/windows/kapmonitor.ico`` (PNG-compressed entries, Windows Vista and later);
* ``packaging/macos/kapmonitor.icns`` (PNG-compressed entries, macOS 10.7 and later).

The design is deliberately calm: a dark rounded square in the window's colours,
a session ring in the phase colours (onset, effect, integration) and a soft
heart-rate line. Nothing bright, nothing red.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QLinearGradient, QPainter, QPainterPath, QPen
from PySide6.QtSvg import QSvgGenerator

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "ui" / "assets" / "icons"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = ((b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256),
              (b"ic09", 512), (b"ic10", 1024))

# Colours from ui/theme.py (dark theme).
BG_TOP, BG_BOTTOM, BORDER = "#1f2a35", "#0d1217", "#2c3a46"
ONSET, EFFECT, INTEGRATION = "#8a78c0", "#4f80b8", "#5a9e83"
TRACK, HEART = "#243039", "#74c493"


def draw(painter: QPainter, size: float) -> None:
    """Paint the icon into a ``size`` x ``size`` square."""
    s = size
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    margin = s * 0.04
    box = QRectF(margin, margin, s - 2 * margin, s - 2 * margin)
    gradient = QLinearGradient(box.topLeft(), box.bottomLeft())
    gradient.setColorAt(0.0, QColor(BG_TOP))
    gradient.setColorAt(1.0, QColor(BG_BOTTOM))
    painter.setPen(QPen(QColor(BORDER), max(1.0, s * 0.012)))
    painter.setBrush(gradient)
    painter.drawRoundedRect(box, s * 0.2, s * 0.2)

    # Session ring: a quiet track with the three phases over most of the circle.
    ring_w = s * (0.085 if s >= 48 else 0.11)
    inset = s * 0.2
    ring = QRectF(inset, inset, s - 2 * inset, s - 2 * inset)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(TRACK), ring_w, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
    painter.drawEllipse(ring)
    start = 90 * 16  # 12 o'clock, angles in 1/16 degree, counter-clockwise positive
    for colour, span_deg in ((ONSET, 40), (EFFECT, 160), (INTEGRATION, 100)):
        painter.setPen(QPen(QColor(colour), ring_w, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        painter.drawArc(ring, start, -span_deg * 16)
        start -= span_deg * 16

    # Heart-rate line across the middle: flat, one gentle beat, flat.
    y = s * 0.54
    points = [(0.22, 0.0), (0.40, 0.0), (0.45, -0.05), (0.50, 0.13), (0.56, -0.20), (0.61, 0.04),
              (0.65, 0.0), (0.78, 0.0)]
    path = QPainterPath(QPointF(s * points[0][0], y))
    for x, dy in points[1:]:
        path.lineTo(QPointF(s * x, y + s * dy))
    pen = QPen(QColor(HEART), max(1.2, s * 0.045), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
               Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.drawPath(path)


def render(size: int) -> QImage:
    """The icon as a premultiplied ARGB image of ``size`` pixels."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    draw(painter, float(size))
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("Qt could not encode a PNG")
    buffer.close()
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """A Windows ICO holding one PNG-compressed entry per size."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    entries, blobs = b"", b""
    offset = 6 + 16 * len(pngs)
    for size, blob in sorted(pngs.items()):
        dim = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset + len(blobs))
        blobs += blob
    return header + entries + blobs


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """A macOS ICNS holding PNG-compressed entries."""
    chunks = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks


def write_svg(path: Path, size: int = 512) -> None:
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(size, size))
    generator.setViewBox(QRectF(0, 0, size, size))
    generator.setTitle("kapmonitor")
    generator.setDescription("kapmonitor application icon")
    painter = QPainter(generator)
    draw(painter, float(size))
    painter.end()


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    assert app is not None
    ICONS.mkdir(parents=True, exist_ok=True)
    pngs = {size: png_bytes(render(size)) for size in sorted({*PNG_SIZES, *ICO_SIZES, 1024})}
    for size in PNG_SIZES:
        (ICONS / f"kapmonitor-{size}.png").write_bytes(pngs[size])
    write_svg(ICONS / "kapmonitor.svg")
    windows, macos = ROOT / "packaging" / "windows", ROOT / "packaging" / "macos"
    windows.mkdir(exist_ok=True)
    (windows / "kapmonitor.ico").write_bytes(ico_bytes({s: pngs[s] for s in ICO_SIZES}))
    macos.mkdir(exist_ok=True)
    (macos / "kapmonitor.icns").write_bytes(icns_bytes(pngs))
    print(f"wrote {len(PNG_SIZES)} PNGs and the SVG to {ICONS}, kapmonitor.ico and kapmonitor.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
