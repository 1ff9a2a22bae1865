"""The application icon, shipped as package data in ``ui/assets/icons``.

The PNG and SVG files are drawn by ``packaging/make_icons.py`` (which also
writes the Windows ``.ico`` and macOS ``.icns`` for the installers) and
committed; this module only finds them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from PySide6.QtGui import QIcon

__all__ = ["ICON_NAME", "ICON_SIZES", "app_icon", "icon_path", "icons_dir"]

ICON_NAME = "kapmonitor"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
"""Pixel sizes of the bundled PNG icons (``kapmonitor-<size>.png``)."""


def icons_dir() -> Path:
    """The directory holding the bundled icons."""
    return Path(str(resources.files("ui").joinpath("assets", "icons")))


def icon_path(size: int) -> Path:
    """The bundled PNG icon of ``size`` pixels (one of :data:`ICON_SIZES`).

    Raises:
        ValueError: no icon of that size is bundled.
    """
    if size not in ICON_SIZES:
        raise ValueError(f"no {size}px icon; bundled sizes are {', '.join(map(str, ICON_SIZES))}")
    return icons_dir() / f"{ICON_NAME}-{size}.png"


def app_icon() -> QIcon:
    """The window icon with every bundled size (for ``QApplication.setWindowIcon``)."""
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(icon_path(size)))
    return icon
