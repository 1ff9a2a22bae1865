"""The alarm banner (the session's alarm list is :mod:`ui.alarm_list`).

:class:`AlarmBanner` shows the most urgent active alarm: its label, the value
against the limit, and since when; a count of the other alarms; and the two
actions, *Acknowledge* (key ``A``) and *Pause audio* (key ``P``). When no alarm
is active it shows a calm "No alarms" line and nothing moves.

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
from PySide6.QtGui import QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.clock import Clock, SystemClock
from kapmonitor.streams import STREAM_UNITS
from kapmonitor.types import AlarmPriority, AlarmState, Stream
from ui.alarm_list import format_value
from ui.theme import DARK, Theme

__all__ = ["FLASH_HZ", "AlarmBanner", "BannerAlarm", "flash_lit", "format_since"]


log = logging.getLogger(__name__)

FLASH_HZ: dict[AlarmPriority, float] = {AlarmPriority.HIGH: 2.0, AlarmPriority.MEDIUM: 0.5}
"""Flash frequency per priority; priorities not listed are steady."""

_RANK = {AlarmPriority.HIGH: 3, AlarmPriority.MEDIUM: 2, AlarmPriority.LOW: 1}
_FLASHING_STATES = frozenset({AlarmState.ACTIVE, AlarmState.AUDIO_PAUSED, AlarmState.LATCHED})
_REPAINT_MS = 40
_TEXT_REFRESH_MS = 2000
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


def describe_value(alarm: BannerAlarm) -> str:
    """``152 bpm when raised · limit 140 bpm`` (whichever parts are known).

    The engine reports the value that raised the alarm (alarm updates come with transitions,
    not with every reading), so the banner says so rather than passing it off as live; the
    live value is on the vitals panel.
    """
    unit = STREAM_UNITS.get(alarm.stream, "") if alarm.stream is not None else ""
    sep = "" if unit == "%" else " "
    parts = []
    if alarm.value is not None:
        parts.append(f"{format_value(alarm.value)}{sep}{unit} when raised".strip())
    if alarm.limit is not None:
        parts.append(f"limit {format_value(alarm.limit)}{sep}{unit}".strip())
    return " · ".join(parts)


def most_urgent(alarms: Sequence[BannerAlarm]) -> BannerAlarm | None:
    """Unacknowledged before acknowledged, then by priority, then the most recent."""
    if not alarms:
        return None
    return max(
        alarms, key=lambda a: (a.state is not AlarmState.ACKNOWLEDGED, _RANK[a.priority], a.since.timestamp())
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


class AlarmBanner(QFrame):
    """A full-width strip showing the most urgent active alarm (see the module docstring).

    Args:
        theme: colours (``ui.theme``).
        clock: session clock for the "since ... (N min)" text (wall time).
        monotonic: real monotonic seconds for the flash phase (default ``QElapsedTimer``).

    Signals:
        acknowledge_requested(str alarm_id): the therapist acknowledged the shown alarm.
        pause_requested(str alarm_id): the therapist paused the audio of the shown alarm.
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
        self._alarms: tuple[BannerAlarm, ...] = ()
        self._shown: BannerAlarm | None = None
        self._first_seen_s: dict[str, float] = {}
        self._lit = True
        self.setObjectName("alarmBanner")
        self.setMinimumHeight(84)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        self._title = _ElidedLabel("No alarms")
        self._title.setObjectName("alarmTitle")
        self._detail = _ElidedLabel("")
        self._detail.setObjectName("alarmDetail")
        self._others = QLabel("")
        self._others.setObjectName("alarmOthers")
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self._title)
        text.addWidget(self._detail)
        self.ack_button = QPushButton("Acknowledge  (A)")
        self.pause_button = QPushButton()
        for b in (self.ack_button, self.pause_button):
            b.setMinimumSize(170, 56)
            b.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.set_pause_seconds(pause_s)
        row = QHBoxLayout(self)
        row.setContentsMargins(18, 8, 12, 8)
        row.addLayout(text, 1)
        row.addWidget(self._others)
        row.addWidget(self.ack_button)
        row.addWidget(self.pause_button)
        self.ack_button.clicked.connect(self._acknowledge)
        self.pause_button.clicked.connect(self._pause)
        # Plain letters: a focused text field consumes printable keys first, so typing "a" in a
        # note never acknowledges an alarm.
        for key, slot in (("A", self._acknowledge), ("P", self._pause)):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
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
        minutes = seconds / 60.0
        text = f"{minutes:g} min" if minutes >= 1 else f"{seconds:g} s"
        self.pause_button.setText(f"Pause audio {text}  (P)")

    def set_alarms(self, active: Sequence[BannerAlarm]) -> None:
        """Show the current active alarms (call on every ``alarms_arrived``)."""
        self._alarms = tuple(a for a in active if a.state is not AlarmState.RESOLVED)
        now_s = self._monotonic()
        ids = {a.alarm_id for a in self._alarms}
        self._first_seen_s = {k: v for k, v in self._first_seen_s.items() if k in ids}
        for a in self._alarms:
            self._first_seen_s.setdefault(a.alarm_id, now_s)
        self._shown = most_urgent(self._alarms)
        self._render()

    @property
    def shown_alarm_id(self) -> str | None:
        return self._shown.alarm_id if self._shown is not None else None

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
        return self._others.text()

    # --- internals ---------------------------------------------------------------------------

    def _real_seconds(self) -> float:
        return self._elapsed.nsecsElapsed() / 1e9

    def _acknowledge(self) -> None:
        if self._shown is not None and self._shown.state is not AlarmState.ACKNOWLEDGED:
            self.acknowledge_requested.emit(self._shown.alarm_id)

    def _pause(self) -> None:
        if self._shown is not None and self._shown.state in _FLASHING_STATES:
            self.pause_requested.emit(self._shown.alarm_id)

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
            self._others.setText("")
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
        others = len(self._alarms) - 1
        self._others.setText(f"+{others} other alarm{'s' if others != 1 else ''}" if others else "")
        self.ack_button.setVisible(True)
        self.ack_button.setEnabled(a.state is not AlarmState.ACKNOWLEDGED)
        self.pause_button.setVisible(True)
        self.pause_button.setEnabled(a.state in _FLASHING_STATES)
        if self.is_flashing:
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()
        self._lit = not self._lit  # force a restyle in _refresh
        self._refresh()

    def _update_detail(self) -> None:
        a = self._shown
        if a is None:
            return
        state_note = {
            AlarmState.ACKNOWLEDGED: " · acknowledged",
            AlarmState.AUDIO_PAUSED: " · audio paused",
            AlarmState.LATCHED: " · condition ended — acknowledge to clear",
        }.get(a.state, "")
        value = describe_value(a)
        since = format_since(a.since, self._clock.now())
        text = " · ".join(p for p in (value, since) if p) + state_note
        if text != self._detail.full_text():
            self._detail.setText(text)

    def _apply_style(self) -> None:
        t = self._theme
        a = self._shown
        if a is None:
            self.setStyleSheet(
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
        self.setStyleSheet(
            f"QFrame#alarmBanner {{ background: {bg}; border: 3px solid {border}; border-radius: 6px; }}"
            f"QLabel#alarmTitle {{ color: {fg}; font-size: 30px; font-weight: bold;"
            f" background: transparent; }}"
            f"QLabel#alarmDetail {{ color: {fg}; font-size: 20px; background: transparent; }}"
            f"QLabel#alarmOthers {{ color: {fg}; font-size: 18px; background: transparent; }}"
            f"QPushButton {{ font-size: 17px; }}"
        )
