"""The alarm banner (the bedside alarm list it opens is :mod:`ui.alarm_list`).

:class:`AlarmBanner` shows one alarm per problem (:mod:`kapmonitor.alarm_problems`): the most
urgent problem's alarm -- its label, the value that raised it against the limit (technical alarms
in their own words and units, :mod:`kapmonitor.alarm_words`), since when -- with the other alarms
of the same vital or sensor listed under it ("Also: ..."); a "+N other alarms" button that opens
the bedside alarm list; and the two actions, *Acknowledge* (key ``A``: the whole problem, and the
bedside is quiet for the clinic's pause length) and *Pause audio* (key ``P``: every alarm's
sound, for that length; the button names the length and counts down while the pause runs).
When no alarm is active it shows a calm "No alarms" line and nothing moves.

The colour is always the shown alarm's priority: it is restyled on every change of the shown
alarm, whatever the flash phase.

Visual indication follows IEC 60601-1-8 practice (CLINICAL.md):

========================  ==========================================================
alarm                     banner
========================  ==========================================================
high, unacknowledged      red, flashing at 2 Hz (standard: 1.4-2.8 Hz), 50 % duty
medium, unacknowledged    yellow, flashing at 0.5 Hz (standard: 0.4-0.8 Hz), 50 % duty
low                       yellow-cyan (the theme's low colour), steady
audio paused              still flashing: pausing silences sound only (IEC "audio
                          paused" does not change the visual signal)
acknowledged              steady in the priority colour, marked "acknowledged": the
                          therapist has seen it; a steady light keeps it visible
                          without pulling the eye in a dim room
latched (high, cleared)   keeps flashing until acknowledged, marked "condition ended"
========================  ==========================================================

The flash phase is computed from real monotonic time (``QElapsedTimer`` by
default; injectable for tests) -- never from counted timer ticks -- so a
stalled event loop cannot change the rate, and the demo clock's speed-up
never speeds up the flashing. The repaint timer runs only while something
flashes.

Text is shown in both flash phases (lit: dark text on the priority colour;
unlit: priority-coloured text on the panel colour), so the alarm is readable
at any instant.

A long alarm label is cut with "…" to the width available (the whole text in the
tooltip), so the bedside window still fits a 1366 x 768 laptop screen with an
alarm showing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from PySide6.QtCore import QElapsedTimer, QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.alarm_problems import AlarmProblem, group_alarms
from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.alarm_words import describe_alarm
from kapmonitor.clock import Clock, SystemClock
from kapmonitor.types import AlarmCategory, AlarmPriority, AlarmState, AlarmTransition, Stream
from ui.alarm_list import AlarmListPopup
from ui.theme import DARK, Theme

__all__ = ["FLASH_HZ", "AlarmBanner", "BannerAlarm", "flash_lit", "format_pause", "format_since"]


log = logging.getLogger(__name__)

FLASH_HZ: dict[AlarmPriority, float] = {AlarmPriority.HIGH: 2.0, AlarmPriority.MEDIUM: 0.5}
"""Flash frequency per priority; priorities not listed are steady."""

_RANK = {AlarmPriority.HIGH: 3, AlarmPriority.MEDIUM: 2, AlarmPriority.LOW: 1}
_FLASHING_STATES = frozenset({AlarmState.ACTIVE, AlarmState.AUDIO_PAUSED, AlarmState.LATCHED})
_REPAINT_MS = 40
_TEXT_REFRESH_MS = 500
_PRIORITY_WORD = {AlarmPriority.HIGH: "HIGH", AlarmPriority.MEDIUM: "MEDIUM", AlarmPriority.LOW: "LOW"}


class BannerAlarm(Protocol):
    """What the banner reads from an active alarm (``kapmonitor.alarm_record.ActiveAlarm`` fits)."""

    @property
    def alarm_id(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def priority(self) -> AlarmPriority: ...
    @property
    def state(self) -> AlarmState: ...
    @property
    def stream(self) -> Stream | None: ...
    @property
    def value(self) -> float | None: ...
    @property
    def limit(self) -> float | None: ...
    @property
    def since(self) -> datetime: ...
    @property
    def category(self) -> AlarmCategory: ...
    @property
    def raised_value(self) -> float | None: ...


def flash_lit(priority: AlarmPriority, state: AlarmState, elapsed_s: float) -> bool:
    """Whether the banner is in its lit phase ``elapsed_s`` real seconds after the alarm appeared.

    Steady alarms (low, acknowledged, resolved) are always lit; flashing ones are lit for the
    first half of every period, starting lit at 0.
    """
    hz = FLASH_HZ.get(priority)
    if hz is None or state not in _FLASHING_STATES:
        return True
    return (max(0.0, elapsed_s) * hz) % 1.0 < 0.5


def format_since(since: datetime, now: datetime) -> str:
    """``since 14:02:11 (3 min)`` in local time; the elapsed part from ``now``."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    elapsed = "just now" if minutes == 0 else f"{minutes} min"
    return f"since {since.astimezone().strftime('%H:%M:%S')} ({elapsed})"


def format_pause(seconds: float) -> str:
    """``30 s``, ``2 min``, ``1 min 30 s`` for a pause length."""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min" + (f" {secs} s" if secs else "")


def most_urgent(problems: Sequence[AlarmProblem]) -> AlarmProblem | None:
    """Unacknowledged before acknowledged, then by priority, then the most recent."""
    if not problems:
        return None
    return max(
        problems,
        key=lambda p: (not p.acknowledged, _RANK[p.priority], p.head.since.timestamp()),
    )


class _ElidedLabel(QLabel):
    """One line of text cut with "…" to the width it is given; the whole text in the tooltip.

    Its minimum width is small, so a long alarm label never makes the window wider than the
    screen (a 1366 px laptop); :meth:`full_text` is what was set.
    """

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        self._full = text
        self._elide()

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("MEDIUM   …"), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, self.width()))
        if shown != super().text():
            super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")


_TITLE_PX, _DETAIL_PX, _ALSO_PX = 28, 18, 16
"""Type sizes of the alarm's title, detail and "Also:" lines (pixels)."""


def _alarm_text_height(base: QFont) -> int:
    """The height the banner needs to show an alarm's three lines whole (title, detail, "Also:").

    Kept as the banner's minimum in every state, so that a tight window never cuts the text and
    the layout does not jump when the first alarm arrives.
    """
    def line(px: int, bold: bool = False) -> int:
        font = QFont(base)
        font.setPixelSize(px)
        font.setBold(bold)
        return QFontMetrics(font).height()

    spacing, margins, border = 0, 2 * 4, 2 * 3
    return line(_TITLE_PX, bold=True) + line(_DETAIL_PX) + line(_ALSO_PX) + spacing + margins + border


class AlarmBanner(QFrame):
    """A full-width strip showing the most urgent active alarm (see the module docstring).

    Args:
        theme: colours (``ui.theme``).
        clock: session clock for the "since ... (N min)" text (wall time).
        monotonic: real monotonic seconds for the flash phase (default ``QElapsedTimer``).

    Signals:
        acknowledge_requested(str alarm_id): the therapist acknowledged the shown alarm (the
            engine acknowledges its whole problem and quiets the rest of the bedside).
        pause_requested(str alarm_id): the therapist paused the bedside's alarm sound while
            this alarm was shown (the engine pauses every alarm).
    """

    acknowledge_requested = Signal(str)
    pause_requested = Signal(str)

    def __init__(
        self,
        theme: Theme = DARK,
        parent: QWidget | None = None,
        *,
        clock: Clock | None = None,
        monotonic: Callable[[], float] | None = None,
        pause_s: float = 120.0,
    ) -> None:
        super().__init__(parent)
        self._theme = theme
        self._clock = clock or SystemClock()
        self._elapsed = QElapsedTimer()
        self._elapsed.start()
        self._monotonic: Callable[[], float] = monotonic or self._real_seconds
        self._alarms: tuple[ActiveAlarm, ...] = ()
        self._problems: list[AlarmProblem] = []
        self._problem: AlarmProblem | None = None
        self._shown: ActiveAlarm | None = None
        self._pause_s = pause_s
        self._first_seen_s: dict[str, float] = {}
        self._lit = True
        self.setObjectName("alarmBanner")
        self.setMinimumHeight(_alarm_text_height(self.font()))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        self._title = _ElidedLabel("No alarms")
        self._title.setObjectName("alarmTitle")
        self._detail = _ElidedLabel("")
        self._detail.setObjectName("alarmDetail")
        self._also = _ElidedLabel("")
        self._also.setObjectName("alarmAlso")
        self._also.setVisible(False)
        self.others_button = QPushButton("")
        self.others_button.setObjectName("alarmOthers")
        self.others_button.setFlat(True)
        self.others_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.others_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.others_button.setToolTip("Open the bedside alarm list")
        self.others_button.setVisible(False)
        self.others_button.clicked.connect(self.open_alarm_list)
        self.alarm_list = AlarmListPopup(theme, self)
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self._title)
        text.addWidget(self._detail)
        text.addWidget(self._also)
        self.ack_button = QPushButton("Acknowledge  (A)")
        self.pause_button = QPushButton()
        for b in (self.ack_button, self.pause_button):
            b.setMinimumSize(170, 56)
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.set_pause_seconds(pause_s)
        row = QHBoxLayout(self)
        row.setContentsMargins(18, 4, 12, 4)
        row.addLayout(text, 1)
        row.addWidget(self.others_button)
        row.addWidget(self.ack_button)
        row.addWidget(self.pause_button)
        self.ack_button.clicked.connect(self._acknowledge)
        self.pause_button.clicked.connect(self._pause)
        # Keys A and P are the bedside's (ui.bedside_keys): they press these buttons.
        self._timer = QTimer(self)
        self._timer.setInterval(_REPAINT_MS)
        self._timer.timeout.connect(self._refresh)
        self._text_timer = QTimer(self)  # keeps "since … (N min)" current while an alarm is shown
        self._text_timer.setInterval(_TEXT_REFRESH_MS)
        self._text_timer.timeout.connect(self._update_detail)
        self._render()

    # --- public API --------------------------------------------------------------------------

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._render()

    def set_pause_seconds(self, seconds: float) -> None:
        """The pause length to name before alarms say it (each alarm carries the clinic's)."""
        self._pause_s = seconds
        self._update_pause_button()

    def set_alarms(self, active: Sequence[ActiveAlarm]) -> None:
        """Show the current active alarms (call on every ``alarms_arrived``)."""
        self._alarms = tuple(a for a in active if a.state is not AlarmState.RESOLVED)
        now_s = self._monotonic()
        ids = {a.alarm_id for a in self._alarms}
        self._first_seen_s = {k: v for k, v in self._first_seen_s.items() if k in ids}
        for a in self._alarms:
            self._first_seen_s.setdefault(a.alarm_id, now_s)
        if self._alarms:
            self._pause_s = self._alarms[0].audio_pause_s
        self._problems = group_alarms(self._alarms)
        self._problem = most_urgent(self._problems)
        self._shown = self._problem.head if self._problem is not None else None
        self._render()
        if self.alarm_list.isVisible():
            self._fill_alarm_list()

    def add_transitions(self, transitions: Sequence[AlarmTransition]) -> None:
        """Add new alarm-log rows to the bedside alarm list (call on every ``alarms_arrived``)."""
        self.alarm_list.log.add_transitions(transitions)

    def set_transitions(self, transitions: Sequence[AlarmTransition]) -> None:
        """Replace the alarm log shown in the list (e.g. after resuming), oldest first."""
        self.alarm_list.log.set_transitions(transitions)

    def restore_history(self, stored: Sequence[AlarmTransition]) -> None:
        """A resumed session's stored alarm log, under what this run has added (shown once)."""
        self.alarm_list.log.restore_history(stored)

    def open_alarm_list(self) -> None:
        """Open the bedside alarm list under the banner (the "+N other alarms" button)."""
        self._fill_alarm_list()
        width = max(self.width(), 640)
        self.alarm_list.resize(min(width, 1100), 520)
        self.alarm_list.move(self.mapToGlobal(self.rect().bottomLeft()))
        self.alarm_list.show()
        self.alarm_list.close_button.setFocus()

    @property
    def shown_alarm_id(self) -> str | None:
        return self._shown.alarm_id if self._shown is not None else None

    @property
    def shown_problem(self) -> AlarmProblem | None:
        return self._problem

    @property
    def also_text(self) -> str:
        """The other alarms of the shown problem ("Also: ..."), empty when there are none."""
        return self._also.full_text()

    @property
    def pause_text(self) -> str:
        return self.pause_button.text()

    @property
    def pause_left_s(self) -> float | None:
        """Seconds left of the bedside audio pause, or None when none runs."""
        ends = [a.paused_until_s for a in self._alarms if a.paused_until_s is not None]
        if not ends:
            return None
        left = max(ends) - self._clock.monotonic()
        return left if left > 0 else None

    @property
    def is_flashing(self) -> bool:
        a = self._shown
        return a is not None and a.priority in FLASH_HZ and a.state in _FLASHING_STATES

    @property
    def is_lit(self) -> bool:
        """Whether the banner is in its lit phase right now (always True when steady)."""
        return self._lit

    @property
    def title_text(self) -> str:
        """The whole title (the label may show it cut with "…" on a narrow window)."""
        return self._title.full_text()

    @property
    def detail_text(self) -> str:
        return self._detail.full_text()

    @property
    def others_text(self) -> str:
        return self.others_button.text() if self.others_button.isVisibleTo(self) else ""

    # --- internals ---------------------------------------------------------------------------

    def _real_seconds(self) -> float:
        return self._elapsed.nsecsElapsed() / 1e9

    def _acknowledge(self) -> None:
        if self._shown is not None and self._problem is not None and not self._problem.acknowledged:
            self.acknowledge_requested.emit(self._shown.alarm_id)

    def _pause(self) -> None:
        if self._shown is not None and self._can_pause():
            self.pause_requested.emit(self._shown.alarm_id)

    def _can_pause(self) -> bool:
        """Something medium or high is sounding (low alarms chime once and are not paused)."""
        return any(a.audio_on and a.priority is not AlarmPriority.LOW for a in self._alarms)

    def _update_pause_button(self) -> None:
        left = self.pause_left_s
        if left is not None:
            minutes, secs = divmod(int(left + 0.999), 60)
            text = f"Audio paused {minutes}:{secs:02d}  (P)"
        else:
            text = f"Pause audio {format_pause(self._pause_s)}  (P)"
        if text != self.pause_button.text():
            self.pause_button.setText(text)
        self.pause_button.setEnabled(self._shown is not None and self._can_pause())

    def _fill_alarm_list(self) -> None:
        self.alarm_list.current.set_problems(self._problems, self._clock.now())

    def _refresh(self) -> None:
        """Recompute the flash phase from real time; restyle only when it changed."""
        a = self._shown
        lit = True
        if a is not None:
            lit = flash_lit(a.priority, a.state, self._monotonic() - self._first_seen_s.get(a.alarm_id, 0.0))
        if lit != self._lit:
            self._lit = lit
            self._apply_style()

    def _render(self) -> None:
        a = self._shown
        if a is None:
            self._title.setText("No alarms")
            self._detail.setText("")
            self._also.setText("")
            self._also.setVisible(False)
            self.others_button.setVisible(False)
            self.ack_button.setVisible(False)
            self.pause_button.setVisible(False)
            self._timer.stop()
            self._text_timer.stop()
            self._lit = True
            self._apply_style()
            return
        self._title.setText(f"{_PRIORITY_WORD[a.priority]}   {a.label}")
        self._update_detail()
        if not self._text_timer.isActive():
            self._text_timer.start()
        problem = self._problem
        also = ", ".join(o.label for o in problem.others) if problem is not None else ""
        self._also.setText(f"Also: {also}" if also else "")
        self._also.setVisible(bool(also))
        others = len(self._problems) - 1
        self.others_button.setText(f"+{others} other alarm{'s' if others != 1 else ''}")
        self.others_button.setVisible(others > 0)
        self.ack_button.setVisible(True)
        self.ack_button.setEnabled(problem is not None and not problem.acknowledged)
        self.pause_button.setVisible(True)
        self._update_pause_button()
        if self.is_flashing:
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()
        elapsed = self._monotonic() - self._first_seen_s.get(a.alarm_id, 0.0)
        self._lit = flash_lit(a.priority, a.state, elapsed)
        self._apply_style()  # always: the colour follows the alarm shown now, never the last one

    def _update_detail(self) -> None:
        a = self._shown
        if a is None:
            return
        self._update_pause_button()
        state_note = {
            AlarmState.ACKNOWLEDGED: " · acknowledged",
            AlarmState.AUDIO_PAUSED: " · audio paused",
            AlarmState.LATCHED: " · condition ended — acknowledge to clear",
        }.get(a.state, "")
        value = describe_alarm(a, self._clock.now())
        since = format_since(a.since, self._clock.now())
        text = " · ".join(p for p in (value, since) if p) + state_note
        if text != self._detail.full_text():
            self._detail.setText(text)

    def _set_sheet(self, sheet: str) -> None:
        """Restyle only when the style changes: a style sheet re-polishes the whole banner, and
        alarm updates arrive many times a second at a fast clock (the self-test)."""
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)

    def _apply_style(self) -> None:
        t = self._theme
        a = self._shown
        if a is None:
            self._set_sheet(
                f"QFrame#alarmBanner {{ background: {t.surface}; border: 1px solid {t.border};"
                f" border-radius: 6px; }}"
                f"QLabel#alarmTitle {{ color: {t.text_dim}; font-size: 22px; }}"
            )
            return
        colour = t.alarm[a.priority]
        if self._lit:
            bg, fg, border = colour, t.window, colour
        else:
            bg, fg, border = t.surface, colour, colour
        self._set_sheet(
            f"QFrame#alarmBanner {{ background: {bg}; border: 3px solid {border}; border-radius: 6px; }}"
            f"QLabel#alarmTitle {{ color: {fg}; font-size: {_TITLE_PX}px; font-weight: bold;"
            f" background: transparent; }}"
            f"QLabel#alarmDetail {{ color: {fg}; font-size: {_DETAIL_PX}px; background: transparent; }}"
            f"QLabel#alarmAlso {{ color: {fg}; font-size: {_ALSO_PX}px; background: transparent; }}"
            f"QPushButton#alarmOthers {{ color: {fg}; font-size: 18px; background: transparent;"
            f" border: none; text-decoration: underline; }}"
            f"QPushButton {{ font-size: 17px; }}"
        )
