"""Colours, type and the Qt style sheet of the bedside window.

The default theme is dark and low-glare: the room is dim, the client may be
dissociated, and the screen must not light the room or pull the eye. Text is
muted; only the numbers that matter (heart rate, time since dose) are large and
bright. Nothing moves or blinks except a real alarm (``ui/alarm_banner.py``).
A light theme exists for daylight rooms and for printing-like review.

Widgets never hard-code colours: they read them from :class:`Theme` (passed in,
no globals) or select a style-sheet rule with :func:`set_role` /
:func:`set_state` (dynamic properties ``role`` and ``state``).

The bundled DejaVu Sans font (``ui/assets/fonts``, free Bitstream Vera licence,
see the LICENSE file beside it) is registered by :func:`register_fonts`, so a
machine with no fonts installed still shows text (PITFALLS #11).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from kapmonitor.types import AlarmPriority, Phase

__all__ = [
    "DARK",
    "FONT_FILES",
    "LIGHT",
    "Theme",
    "apply_theme",
    "fitted_dialog_size",
    "qcolor",
    "register_fonts",
    "set_role",
    "set_state",
    "theme_by_name",
]

log = logging.getLogger(__name__)

FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
"""Font files shipped as package data in ``ui/assets/fonts``."""

_FALLBACK_FAMILY = "DejaVu Sans"


@dataclass(frozen=True, slots=True)
class Theme:
    """One complete colour scheme; every colour is a ``#rrggbb`` string.

    Attributes:
        window: the window background (deep, near-black blue-grey when dark).
        surface: panels drawn on the window.
        border: thin separators between panels.
        text: ordinary (muted) text.
        text_strong: the few numbers that matter.
        text_dim: captions and units.
        stale: a value that is no longer live (greyed).
        accent: focus rings and the "now" marker.
        phase: fill colour per session phase (bands, progress bar).
        alarm: colour per alarm priority (high red, medium amber, low cyan).
        heart_rate / spo2 / rr: plot traces.
        threshold: alarm-limit lines on the plot.
        observation: observation markers on the plot.
        band_alpha: opacity (0-255) of phase bands behind the traces.
    """

    name: str
    window: str
    surface: str
    surface_raised: str
    border: str
    text: str
    text_strong: str
    text_dim: str
    stale: str
    accent: str
    button: str
    button_text: str
    phase: dict[Phase, str] = field(default_factory=dict)
    alarm: dict[AlarmPriority, str] = field(default_factory=dict)
    heart_rate: str = "#6fbf8f"
    spo2: str = "#6fb3d2"
    rr: str = "#a898d8"
    threshold: str = "#b07a4a"
    observation: str = "#9aa7b3"
    band_alpha: int = 40
    ok: str = "#6fbf8f"

    @property
    def is_dark(self) -> bool:
        return QColor(self.window).lightness() < 128


DARK = Theme(
    name="dark",
    window="#0d1217",
    surface="#131a21",
    surface_raised="#1a232c",
    border="#243039",
    text="#aeb8c2",
    text_strong="#dfe6ec",
    text_dim="#6f7c88",
    stale="#4f5963",
    accent="#7fa7c9",
    button="#1c2630",
    button_text="#c2ccd6",
    phase={
        Phase.PREPARATION: "#5d6b78",
        Phase.ONSET: "#8a78c0",
        Phase.EFFECT: "#4f80b8",
        Phase.INTEGRATION: "#5a9e83",
        Phase.ENDED: "#3d4852",
    },
    alarm={
        AlarmPriority.HIGH: "#e0474c",
        AlarmPriority.MEDIUM: "#e3ad34",
        AlarmPriority.LOW: "#58b4c6",
    },
    heart_rate="#74c493",
    spo2="#6fb3d2",
    rr="#a898d8",
    threshold="#a86f45",
    observation="#8e9aa6",
    band_alpha=34,
    ok="#6fb58a",
)

LIGHT = Theme(
    name="light",
    window="#eef1f4",
    surface="#ffffff",
    surface_raised="#f5f7f9",
    border="#cfd6dd",
    text="#36414b",
    text_strong="#10171d",
    text_dim="#6b7782",
    stale="#a3acb5",
    accent="#2f6ea5",
    button="#e3e8ed",
    button_text="#1f2a33",
    phase={
        Phase.PREPARATION: "#8795a3",
        Phase.ONSET: "#7a63c0",
        Phase.EFFECT: "#3c75b8",
        Phase.INTEGRATION: "#3f9474",
        Phase.ENDED: "#b5bec7",
    },
    alarm={
        AlarmPriority.HIGH: "#c8262c",
        AlarmPriority.MEDIUM: "#c98a00",
        AlarmPriority.LOW: "#1f8ea3",
    },
    heart_rate="#1d8a4e",
    spo2="#1f7bb0",
    rr="#6a55b8",
    threshold="#b5652a",
    observation="#5d6b78",
    band_alpha=40,
    ok="#1d8a4e",
)

_THEMES = {DARK.name: DARK, LIGHT.name: LIGHT}


def theme_by_name(name: str) -> Theme:
    """Return the theme called ``name`` ("dark" or "light").

    Raises:
        ValueError: for any other name.
    """
    try:
        return _THEMES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(_THEMES)}") from None


def qcolor(hex_colour: str, alpha: int = 255) -> QColor:
    """A ``QColor`` from ``#rrggbb`` with the given alpha (0-255)."""
    colour = QColor(hex_colour)
    colour.setAlpha(alpha)
    return colour


def _fonts_dir() -> Path:
    return Path(str(resources.files("ui").joinpath("assets", "fonts")))


def register_fonts() -> list[str]:
    """Register the bundled fonts with Qt; return the families now available.

    Safe to call more than once (Qt deduplicates). Needs a ``QGuiApplication``.
    A missing or unreadable font file is logged, not raised: the platform's
    fonts (if any) remain usable.
    """
    families: list[str] = []
    for file_name in FONT_FILES:
        path = _fonts_dir() / file_name
        font_id = QFontDatabase.addApplicationFont(str(path))
        if font_id < 0:
            log.warning("could not register bundled font %s", path)
            continue
        for family in QFontDatabase.applicationFontFamilies(font_id):
            if family not in families:
                families.append(family)
    return families


def _stylesheet(t: Theme, family: str) -> str:
    """The application style sheet; selectors use the ``role``/``state`` dynamic properties."""
    hi, med, low = (t.alarm[p] for p in (AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW))
    return f"""
* {{ font-family: "{family}"; }}
QMainWindow, QDialog {{ background: {t.window}; color: {t.text}; }}
QWidget {{ color: {t.text}; font-size: 14px; }}
QToolTip {{ background: {t.surface_raised}; color: {t.text_strong}; border: 1px solid {t.border}; }}
QFrame[role="panel"] {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 6px; }}
QLabel[role="caption"] {{ color: {t.text_dim}; font-size: 13px; }}
QLabel[role="unit"] {{ color: {t.text_dim}; font-size: 15px; }}
QLabel[role="clock"] {{ color: {t.text_strong}; font-size: 54px; font-weight: bold; }}
QLabel[role="clock-secondary"] {{ color: {t.text}; font-size: 20px; }}
QLabel[role="phase"] {{ color: {t.text_strong}; font-size: 22px; font-weight: bold; }}
QLabel[role="vital"] {{ color: {t.text_strong}; font-size: 72px; font-weight: bold; }}
QLabel[role="vital-small"] {{ color: {t.text_strong}; font-size: 34px; font-weight: bold; }}
QLabel[role="trend"] {{ color: {t.text}; font-size: 34px; }}
QLabel[role="vital"][state="stale"], QLabel[role="vital-small"][state="stale"],
QLabel[role="trend"][state="stale"] {{ color: {t.stale}; }}
QLabel[role="stale-note"] {{ color: {t.text_dim}; font-size: 14px; }}
QLabel[role="status"] {{ color: {t.text}; font-size: 14px; }}
QLabel[role="status"][state="ok"] {{ color: {t.ok}; }}
QLabel[role="status"][state="warn"] {{ color: {med}; }}
QLabel[role="status"][state="lost"] {{ color: {hi}; }}
QLabel[role="status"][state="idle"] {{ color: {t.text_dim}; }}
QLabel[role="check"] {{ color: {t.text}; font-size: 16px; }}
QLabel[role="check"][state="due"] {{ color: {low}; font-weight: bold; }}
QLabel[role="check"][state="overdue"] {{ color: {med}; font-weight: bold; background: {t.surface_raised};
    border-left: 8px solid {med}; padding: 2px 0 2px 8px; }}
QLabel[role="next-event"] {{ color: {t.text_strong}; }}
QLabel[role="error"] {{ color: {med}; font-size: 14px; }}
QLabel[role="priority"][priority="high"] {{ color: {hi}; }}
QLabel[role="priority"][priority="medium"] {{ color: {med}; }}
QLabel[role="priority"][priority="low"] {{ color: {low}; }}
QPushButton {{ background: {t.button}; color: {t.button_text}; border: 1px solid {t.border};
    border-radius: 5px; padding: 7px 14px; font-size: 15px; }}
QPushButton:hover {{ border-color: {t.accent}; }}
QPushButton:focus {{ border: 2px solid {t.accent}; }}
QPushButton:disabled {{ color: {t.stale}; }}
QPushButton[role="primary"] {{ font-size: 17px; font-weight: bold; padding: 10px 18px; }}
QLineEdit, QPlainTextEdit, QTextEdit, QSpinBox, QDoubleSpinBox, QComboBox, QListWidget {{
    background: {t.surface_raised}; color: {t.text_strong}; border: 1px solid {t.border};
    border-radius: 4px; padding: 4px; selection-background-color: {t.accent}; }}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QComboBox:focus {{ border: 1px solid {t.accent}; }}
QProgressBar {{ background: {t.surface_raised}; border: 1px solid {t.border}; border-radius: 3px; }}
QScrollBar:vertical {{ background: {t.surface}; width: 10px; }}
QScrollBar::handle:vertical {{ background: {t.border}; border-radius: 4px; }}
QFrame[role="alarm-high"] {{ background: {hi}; }}
QFrame[role="alarm-medium"] {{ background: {med}; }}
QFrame[role="alarm-low"] {{ background: {low}; }}
"""


def _palette(t: Theme) -> QPalette:
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor(t.window))
    pal.setColor(QPalette.ColorRole.WindowText, QColor(t.text))
    pal.setColor(QPalette.ColorRole.Base, QColor(t.surface_raised))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor(t.surface))
    pal.setColor(QPalette.ColorRole.Text, QColor(t.text_strong))
    pal.setColor(QPalette.ColorRole.Button, QColor(t.button))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor(t.button_text))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(t.accent))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor(t.window))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor(t.surface_raised))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor(t.text_strong))
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor(t.text_dim))
    for group in (QPalette.ColorGroup.Disabled,):
        pal.setColor(group, QPalette.ColorRole.WindowText, QColor(t.stale))
        pal.setColor(group, QPalette.ColorRole.Text, QColor(t.stale))
        pal.setColor(group, QPalette.ColorRole.ButtonText, QColor(t.stale))
    return pal


def apply_theme(app: QApplication, theme: Theme) -> str:
    """Register fonts and apply ``theme`` to the whole application.

    Sets the Qt palette, the style sheet, the default font and pyqtgraph's
    default background/foreground (plots made afterwards pick them up; live
    plots also take the theme explicitly). Returns the font family used.
    """
    families = register_fonts()
    family = families[0] if families else _FALLBACK_FAMILY
    app.setStyle("Fusion")
    app.setPalette(_palette(theme))
    font = QFont(family)
    font.setPixelSize(14)
    app.setFont(font)
    app.setStyleSheet(_stylesheet(theme, family))
    pg.setConfigOptions(background=theme.window, foreground=theme.text, antialias=True)
    return family


DIALOG_SCREEN_MARGIN_PX = 80
"""Room a dialog leaves on its screen for the title bar and a taskbar."""


def fitted_dialog_size(dialog: QWidget, width: int, height: int) -> QSize:
    """``width`` x ``height``, shrunk to fit the free area of the dialog's screen (a 1366x768 laptop).

    The dialog must scroll its content to make use of it: its buttons then stay on screen.
    """
    screen = dialog.screen().availableGeometry()
    return QSize(min(width, screen.width() - 20), min(height, screen.height() - DIALOG_SCREEN_MARGIN_PX))


def set_role(widget: QWidget, role: str) -> None:
    """Give ``widget`` a style-sheet role (e.g. ``"vital"``, ``"caption"``, ``"panel"``)."""
    widget.setProperty("role", role)
    _repolish(widget)


def set_state(widget: QWidget, state: str) -> None:
    """Set the ``state`` property (e.g. ``"stale"``, ``"ok"``, ``"lost"``) and re-apply style.

    Does nothing when the state is unchanged, so calling it every frame is cheap.
    """
    if widget.property("state") == state:
        return
    widget.setProperty("state", state)
    _repolish(widget)


def _repolish(widget: QWidget) -> None:
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()
