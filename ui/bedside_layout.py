"""The bedside window's layout: which panel goes where, and how the side column takes its width.

::

    +--------------------------------------------------------------+
    | alarm banner                                                 |
    +-------------------------------------+------------------------+
    | clock panel        | vitals         | side column            |
    +-------------------------------------+ (observations,         |
    | live plots                          |  devices)              |
    +-------------------------------------+------------------------+
    | journal status (only while notes wait for the database)      |
    | session · client · protocol     saving…  Keys  Sensors  New  End |
    +--------------------------------------------------------------+

:class:`BedsideLayout` only builds and arranges widgets; what they do -- data,
commands, keys -- is wired by :class:`ui.main_window.BedsideWindow`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.clock import Clock
from ui.alarm_banner import AlarmBanner
from ui.clock_panel import MIN_TYPE_SCALE, ClockPanel
from ui.plots import LivePlots
from ui.theme import Theme, set_role
from ui.vitals_panel import VitalsPanel

__all__ = [
    "PLOTS_MIN_WIDTH_PX",
    "SIDE_MIN_WIDTH_PX",
    "TYPE_REFERENCE_PX",
    "BedsideLayout",
    "default_window_size",
    "type_scale_for",
]

PLOTS_MIN_WIDTH_PX = 560
"""The observation column takes its full width only when the plots keep at least this much."""

SIDE_MIN_WIDTH_PX = 480
"""Below its full width the observation column scrolls; it never gets narrower than this."""

TYPE_REFERENCE_PX = (1900, 1020)
"""The central area of a maximised window on a 1920x1080 screen: type scale 1.0 there."""

_TYPE_SCALE_RANGE = (MIN_TYPE_SCALE, 1.4)


def default_window_size(available: QSize) -> QSize:
    """The window's size when not maximised: 1440x900, or the screen's free area if that is smaller."""
    return QSize(min(1440, available.width()), min(900, available.height() - 32))


def type_scale_for(width: int, height: int) -> float:
    """How large the across-the-room text is for a central area of ``width`` x ``height`` pixels.

    1.0 at :data:`TYPE_REFERENCE_PX`; smaller windows get proportionally smaller type (a laptop is
    nearer the therapist), never below :data:`~ui.clock_panel.MIN_TYPE_SCALE`; large screens up to 1.4.
    """
    ref_w, ref_h = TYPE_REFERENCE_PX
    low, high = _TYPE_SCALE_RANGE
    return max(low, min(high, width / ref_w, height / ref_h))


PLOT_MIN_HEIGHTS_PX = (100, 36)
"""The heart-rate plot and each smaller plot are never squeezed below these (a 768-pixel screen)."""


def _let_plots_shrink(plots: LivePlots) -> None:
    """Let the plots give up height on a laptop screen; they share any extra room 6:2:2:2."""
    hr_min, other_min = PLOT_MIN_HEIGHTS_PX
    plots.hr_plot.setMinimumHeight(hr_min)
    for plot in (plots.spo2_plot, plots.rr_plot, plots.overview_plot):
        plot.setMinimumHeight(other_min)


class _SideScroll(QScrollArea):
    """The observation column: at least ``minimumWidth``; asks for ``preferred_width`` when there is room.

    Only the preferred width follows the window's width: a minimum that followed it would
    ratchet (the window could then never be made narrower again).
    """

    def __init__(self) -> None:
        super().__init__()
        self.preferred_width = 0

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(max(self.minimumWidth(), self.preferred_width), hint.height())


class BedsideLayout(QWidget):
    """The window's central widget: banner on top, clock/vitals/plots left, side column right, footer.

    Args:
        theme: colours.
        clock: the injected clock (banner "since", clock panel, vitals staleness, plot x axis).
        earliest_backdate: the last recorded session event (limits back-dating a dose).

    The panels are public attributes (``banner``, ``clock_panel``, ``vitals``, ``plots``,
    the journal status line, the footer labels and buttons) for the window to wire.
    """

    def __init__(self, theme: Theme, clock: Clock, earliest_backdate: Callable[[], datetime | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = AlarmBanner(theme, clock=clock)
        self.clock_panel = ClockPanel(theme, clock.now)
        self.clock_panel.set_earliest_backdate(earliest_backdate)
        self.clock_panel.setToolTip("Session clock. D: dose given, B: booster, C: check done")
        self.vitals = VitalsPanel(theme, clock.monotonic)
        self.plots = LivePlots(theme, lambda: clock.now().timestamp())
        _let_plots_shrink(self.plots)
        self.plots.setToolTip("Heart rate. + / − change the time window")
        self.session_label = QLabel("No session")
        set_role(self.session_label, "caption")
        self.saving_label = QLabel("")
        set_role(self.saving_label, "caption")
        self.journal_label = QLabel("")
        self.journal_label.setObjectName("journal-status")
        self.journal_label.setWordWrap(True)
        self.journal_label.setStyleSheet("font-size: 17px; font-weight: bold; padding: 2px 0;")
        set_role(self.journal_label, "status")
        self.journal_label.hide()
        self.new_button = QPushButton("New session…")
        self.new_button.setToolTip("Start a new session (Ctrl+N)")
        self.end_button = QPushButton("End session…")
        self.end_button.setToolTip("End the session (Ctrl+E)")
        self.end_button.setEnabled(False)
        self.help_button = QPushButton("Keys (F1)")
        self.sensors_button = QPushButton("Sensors… (S)")
        self.sensors_button.setToolTip("Find and connect sensors (S)")
        self._side_scroll: _SideScroll | None = None
        self._side_full_width = 0
        self.type_scale = 1.0
        self._arrange()

    def _arrange(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 6)
        outer.setSpacing(8)
        outer.addWidget(self.banner)
        body = QHBoxLayout()
        body.setSpacing(10)
        left = QVBoxLayout()
        left.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.clock_panel, 5)
        top.addWidget(self.vitals, 4)
        left.addLayout(top)
        left.addWidget(self.plots, 1)
        side_box = QWidget()
        self.side = QVBoxLayout(side_box)
        self.side.setContentsMargins(0, 0, 0, 0)
        self.side.setSpacing(8)
        body.addLayout(left, 1)
        body.addWidget(side_box, 0)
        outer.addLayout(body, 1)
        outer.addWidget(self.journal_label)
        footer = QHBoxLayout()
        footer.addWidget(self.session_label)
        footer.addStretch(1)
        footer.addWidget(self.saving_label)
        for button in (self.help_button, self.sensors_button, self.new_button, self.end_button):
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            footer.addWidget(button)
        outer.addLayout(footer)

    def add_side_widget(self, widget: QWidget, stretch: int = 1) -> None:
        """Place a panel (observations, devices) in the right-hand column."""
        self.side.addWidget(widget, stretch)

    def add_scrolling_side_panel(self, panel: QWidget) -> None:
        """Put the observation panel in the side column, scrolling rather than widening the window.

        Full width when the window allows; on a small laptop screen it scrolls instead of
        pushing the window wider than the screen.
        """
        scroll = self._side_scroll = _SideScroll()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        bar_w = scroll.verticalScrollBar().sizeHint().width()
        full_w = panel.minimumSizeHint().width() + bar_w
        scroll.setMinimumWidth(min(full_w, SIDE_MIN_WIDTH_PX))
        scroll.preferred_width = full_w
        self._side_full_width = full_w
        self.add_side_widget(scroll, 5)
        self._fit_side()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_type()
        self._fit_side()

    def _fit_type(self) -> None:
        """Scale the clock panel's type with the window (only when it changes visibly)."""
        scale = round(type_scale_for(self.width(), self.height()), 2)
        if abs(scale - self.type_scale) >= 0.02:
            self.type_scale = scale
            self.clock_panel.set_type_scale(scale)

    def _fit_side(self) -> None:
        scroll = self._side_scroll
        if scroll is None:
            return
        left = max(PLOTS_MIN_WIDTH_PX, self.clock_panel.minimumSizeHint().width()
                   + self.vitals.minimumSizeHint().width() + 8)
        room = self.width() - left - 40
        preferred = max(scroll.minimumWidth(), min(self._side_full_width, room))
        if preferred != scroll.preferred_width:
            scroll.preferred_width = preferred
            scroll.updateGeometry()
