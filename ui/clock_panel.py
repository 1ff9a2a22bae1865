"""The session clock: time since dose, phase, what comes next, and the dose buttons.

Everything is computed from the latest :class:`~kapmonitor.session_model.SessionSnapshot`
and the injected clock's ``now()`` (elapsed time is computed from the dose time,
never counted from timer ticks), so a late or missed snapshot never freezes or
skews the clock. The panel asks for changes through signals; the window runs
them on the database worker:

* ``dose_requested(float minutes_ago)`` -- "Dose given" (key D) confirmed;
* ``booster_requested(float minutes_ago)`` -- "Booster given" (key B) confirmed;
* ``check_done_requested(str name)`` -- "Mark done" next to a due check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.protocols import TreatmentProtocol
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.types import Phase
from ui.dose_check import pre_dose_checks_due
from ui.theme import Theme, qcolor, set_role, set_state

__all__ = [
    "MIN_TYPE_SCALE",
    "PHASE_WORDS",
    "TYPE_PX",
    "ClockPanel",
    "DoseDialog",
    "ProgressBand",
    "format_clock",
]

PHASE_WORDS = {
    Phase.PREPARATION: "Preparation — before dosing",
    Phase.ONSET: "Onset",
    Phase.EFFECT: "Effect window",
    Phase.INTEGRATION: "Integration",
    Phase.ENDED: "Ended",
}
_SHORT = {Phase.PREPARATION: "Prep", Phase.ONSET: "Onset", Phase.EFFECT: "Effect window",
          Phase.INTEGRATION: "Integration"}
_PREP_FRACTION = 0.10


def format_clock(seconds: float) -> str:
    """``mm:ss`` under an hour, ``h:mm:ss`` from an hour; negative values get a minus sign."""
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes:02d}:{secs:02d}"


MAX_BACKDATE_MIN = 120
"""The furthest back a dose or booster can be dated in the confirmation."""


def backdate_limit_min(now: datetime, earliest: datetime | None) -> int:
    """Whole minutes a dose may be back-dated: never before ``earliest``, at most :data:`MAX_BACKDATE_MIN`.

    The session refuses a time earlier than its last recorded event (time cannot go
    backwards), so "N minutes ago" is offered only as far back as that event.
    """
    if earliest is None:
        return MAX_BACKDATE_MIN
    return max(0, min(MAX_BACKDATE_MIN, int((now - earliest).total_seconds() // 60)))


class DoseDialog(QDialog):
    """Short confirmation: "Dose given N minutes ago" (0 = now), Enter confirms.

    Args:
        title / question: the window title and the question asked.
        now: the session clock's time when the dialog opens.
        earliest: the last recorded session event (the dose cannot be dated before it);
            None when nothing limits it but :data:`MAX_BACKDATE_MIN`.
        checks_due: labels of checks due before dosing ("Vitals before dosing"): the dialog
            says they are not done and asks to give the dose anyway.
    """

    def __init__(self, title: str, question: str, parent: QWidget | None = None, *,
                 now: datetime | None = None, earliest: datetime | None = None,
                 checks_due: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        limit = backdate_limit_min(now, earliest) if now is not None else MAX_BACKDATE_MIN
        self.minutes = QSpinBox()
        self.minutes.setRange(0, limit)
        self.minutes.setSuffix(" minutes ago")
        self.minutes.setSpecialValueText("just now")
        self.minutes.setToolTip("If you press this late, set how many minutes ago it was given")
        label = QLabel(question)
        label.setWordWrap(True)
        self.limit_note = QLabel("")
        set_role(self.limit_note, "caption")
        self.limit_note.setWordWrap(True)
        if earliest is not None and limit < MAX_BACKDATE_MIN:
            at = earliest.astimezone().strftime("%H:%M")
            self.limit_note.setText(f"Can be back-dated up to {limit} min: the last recorded event "
                                    f"was at {at}." if limit else
                                    f"Cannot be back-dated: the last recorded event was at {at}.")
        else:
            self.limit_note.hide()
        std = QDialogButtonBox.StandardButton
        buttons = QDialogButtonBox(std.Ok | std.Cancel)
        buttons.button(std.Ok).setText("Confirm")
        self.due_note = QLabel("")
        self.due_note.setWordWrap(True)
        self.due_note.setStyleSheet("font-weight: bold;")
        if checks_due:
            self.due_note.setText(f"{' and '.join(checks_due)} not done yet. Give the dose anyway?")
            buttons.button(std.Ok).setText("Dose given anyway")
        else:
            self.due_note.hide()
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.due_note)
        layout.addWidget(label)
        row = QHBoxLayout()
        row.addWidget(QLabel("Given"))
        row.addWidget(self.minutes, 1)
        layout.addLayout(row)
        layout.addWidget(self.limit_note)
        layout.addWidget(buttons)
        self.minutes.setFocus()

    def minutes_ago(self) -> float:
        return float(self.minutes.value())


TYPE_PX = {"caption": 17, "clock": 100, "booster": 24, "phase": 50, "next": 48, "check": 26, "band": 17}
"""Pixel sizes of the panel's text at type scale 1.0 (a maximised window on a 1920x1080 screen).

The phase and the next event at 48-50 px have a cap height of about 35 px: about 9.7 mm on a 24"
1080p screen (0.277 mm per pixel), readable from two metres; still 9 mm under a taskbar and title bar.
"""

_BAR_PX = 28
"""Height of the progress band's bar at type scale 1.0."""

MIN_TYPE_SCALE = 0.55
"""The smallest type scale a window gives the panel (``ui.bedside_layout.type_scale_for``)."""

_UNSCALED_HEIGHT_PX = 70
"""The part of the panel's height that does not grow with the type: margins, spacing, the buttons."""


class ProgressBand(QWidget):
    """Preparation / onset / effect / integration as coloured segments with a "now" marker."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._protocol: TreatmentProtocol | None = None
        self._since_dose_s: float | None = None
        self._ended = False
        self._check_offsets: list[float] = []
        self.bar_px = _BAR_PX
        self._label_px = TYPE_PX["band"]
        self.set_type_scale(1.0)

    def set_type_scale(self, scale: float) -> None:
        """Bar and labels grow with the window's type (the bar is never thinner than 16 px)."""
        self.bar_px = max(16, round(_BAR_PX * scale))
        self._label_px = max(12, round(TYPE_PX["band"] * scale))
        self.setMinimumHeight(4 + self.bar_px + 4 + round(self._label_px * 1.3))
        self.update()

    def set_state(self, protocol: TreatmentProtocol | None, since_dose_s: float | None, ended: bool,
                  check_offsets_s: list[float]) -> None:
        before = (self._protocol, self._ended, self._check_offsets, self._marker_px())
        self._protocol, self._since_dose_s, self._ended = protocol, since_dose_s, ended
        self._check_offsets = check_offsets_s
        if (protocol, ended, check_offsets_s, self._marker_px()) != before:
            self.update()  # repaint only when something visible moved (the marker by a whole pixel)

    def _marker_px(self) -> int | None:
        fraction = self.marker_fraction()
        return None if fraction is None else round(fraction * self.width())

    def marker_fraction(self) -> float | None:
        """Where the "now" marker sits, 0..1 across the band (None without a protocol)."""
        if self._protocol is None:
            return None
        if self._since_dose_s is None:
            return _PREP_FRACTION * 0.85
        return _PREP_FRACTION + (1 - _PREP_FRACTION) * min(1.0, self._since_dose_s / self._span_s())

    def _span_s(self) -> float:
        assert self._protocol is not None
        span = max(self._protocol.min_observation_s, self._protocol.effect_end_s * 1.2)
        if self._since_dose_s is not None:
            span = max(span, self._since_dose_s * 1.05)
        return span

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._protocol is None:
            return
        t = self._theme
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = float(self.width()), float(self.height())
        bar_top, bar_h = 4.0, float(self.bar_px)
        span = self._span_s()
        after_w = w * (1 - _PREP_FRACTION)

        def x_at(offset_s: float) -> float:
            return w * _PREP_FRACTION + after_w * offset_s / span

        proto = self._protocol
        segments = [(Phase.PREPARATION, 0.0, w * _PREP_FRACTION),
                    (Phase.ONSET, x_at(0), x_at(proto.onset_s)),
                    (Phase.EFFECT, x_at(proto.onset_s), x_at(proto.effect_end_s)),
                    (Phase.INTEGRATION, x_at(proto.effect_end_s), w)]
        marker = (self.marker_fraction() or 0.0) * w
        font = painter.font()
        font.setPixelSize(self._label_px)
        painter.setFont(font)
        for phase, x0, x1 in segments:
            past = self._ended or x1 <= marker
            painter.fillRect(QRectF(x0, bar_top, max(0.0, x1 - x0 - 2), bar_h),
                             qcolor(t.phase[phase], 110 if past else 200))
            painter.setPen(qcolor(t.text_dim))
            if painter.fontMetrics().horizontalAdvance(_SHORT[phase]) > x1 - x0 - 4:
                continue
            painter.drawText(QRectF(x0 + 2, bar_top + bar_h + 3, x1 - x0, h - bar_h - 6),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, _SHORT[phase])
        min_obs_x = x_at(proto.min_observation_s)
        painter.setPen(QPen(qcolor(t.text_dim), 1, Qt.PenStyle.DashLine))
        painter.drawLine(int(min_obs_x), int(bar_top - 2), int(min_obs_x), int(bar_top + bar_h + 2))
        painter.setPen(QPen(qcolor(t.text), 2))
        tick = max(5.0, bar_h * 0.35)
        for off in self._check_offsets:
            x = x_at(off)
            painter.drawLine(int(x), int(bar_top + bar_h - tick), int(x), int(bar_top + bar_h))
        if not self._ended:
            painter.setPen(QPen(qcolor(t.text_strong), 4))
            painter.drawLine(int(marker), 0, int(marker), int(bar_top + bar_h + 4))
        painter.end()


class ClockPanel(QFrame):
    """Session clock and phase view, readable from across the room.

    From top to bottom: "since dose" (and the booster's own clock), the time since the
    dose, the phase (in its colour from the progress band), the next event ("Integration
    in 13:35"), the progress band, and the next or due check. The type follows
    :meth:`set_type_scale` (the window sets it from its size). A check still due
    beyond its grace period (the protocol's ``grace_min`` for that check) is escalated:
    "Check overdue 26 min: ...", in the medium-priority alarm colour (state ``"overdue"``;
    see :meth:`check_state`).

    Args:
        theme: colours.
        now: the injected clock's ``now()`` (UTC aware).
        refresh_hz: how often the displayed times are recomputed.
    """

    dose_requested = Signal(float)
    booster_requested = Signal(float)
    check_done_requested = Signal(str)

    def __init__(self, theme: Theme, now: Callable[[], datetime], *, refresh_hz: float = 2.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        set_role(self, "panel")
        self._theme = theme
        self._now = now
        self._snapshot: SessionSnapshot | None = None
        self._protocol: TreatmentProtocol | None = None
        self._check_button_enabled = True
        self._earliest_backdate: Callable[[], datetime | None] = lambda: None
        self._type_scale = 1.0
        self._shown_phase: Phase | None = None
        self._build()
        self.set_type_scale(1.0)  # the window sets its own scale from its size
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000.0 / refresh_hz)))
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    def _build(self) -> None:
        self.caption = QLabel("since dose")
        set_role(self.caption, "caption")
        self.clock = QLabel("––:––")
        set_role(self.clock, "clock")
        self.booster = QLabel("")
        set_role(self.booster, "clock-secondary")
        self.phase = QLabel("No session")
        set_role(self.phase, "phase")
        self.phase.setMinimumWidth(1)  # one line, fitted to the panel (_apply_type), never widening it
        self.next_phase = QLabel("")
        set_role(self.next_phase, "next-event")
        self.next_phase.setMinimumWidth(1)
        self.band = ProgressBand(self._theme)
        self.check = QLabel("")
        set_role(self.check, "check")
        self.check.setWordWrap(True)
        self.check_button = QPushButton("Mark done")
        self.check_button.setToolTip("Mark the due check as done (C)")
        self.check_button.clicked.connect(self._check_clicked)
        self.check_button.hide()
        self.dose_button = QPushButton("Dose given")
        set_role(self.dose_button, "primary")
        self.dose_button.setToolTip("Record the dose (D); you can say it was given some minutes ago")
        self.dose_button.clicked.connect(self.ask_dose)
        self.booster_button = QPushButton("Booster given")
        self.booster_button.setToolTip("Record a booster dose (B)")
        self.booster_button.clicked.connect(self.ask_booster)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 6, 14, 8)
        layout.setSpacing(2)
        head = QHBoxLayout()  # the buttons beside the caption keep the panel narrow on a laptop
        head.addWidget(self.caption, 0, Qt.AlignmentFlag.AlignBottom)
        head.addStretch(1)
        head.addWidget(self.booster_button)
        head.addWidget(self.dose_button)
        layout.addLayout(head)
        clock_row = QHBoxLayout()
        clock_row.addWidget(self.clock, 0, Qt.AlignmentFlag.AlignBottom)
        clock_row.addStretch(1)
        clock_row.addWidget(self.booster, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(clock_row)
        layout.addWidget(self.phase)
        layout.addWidget(self.next_phase)
        layout.addSpacing(4)
        layout.addWidget(self.band)
        row = QHBoxLayout()
        row.addWidget(self.check, 1)
        row.addWidget(self.check_button)
        layout.addLayout(row)
        layout.addStretch(1)

    # ------------------------------------------------------------------ inputs
    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def set_type_scale(self, scale: float) -> None:
        """Size the panel's text for the window: 1.0 is a maximised window on a 1920x1080 screen."""
        self._type_scale = scale
        self._apply_type()
        self.band.set_type_scale(scale)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._apply_type()

    def _apply_type(self) -> None:
        """Give each label its size; the phase and the next event shrink only if their line is too long.

        They stay on one line (a wrapped line was cut off in a short panel): on a narrow laptop
        window "Minimum observation in 1:02:00" gets smaller type rather than a second line.
        """
        for label, key in ((self.caption, "caption"), (self.clock, "clock"), (self.booster, "booster"),
                           (self.phase, "phase"), (self.next_phase, "next"), (self.check, "check")):
            px = self.type_px(key)
            if key in ("phase", "next"):
                px = self._fitted_px(label, px)
            sheet = f"font-size: {px}px;"
            if key == "phase":
                phase = self._shown_phase
                sheet += f" color: {self._theme.phase[phase] if phase is not None else self._theme.text_dim};"
            if label.styleSheet() != sheet:
                label.setStyleSheet(sheet)

    def _fitted_px(self, label: QLabel, px: int) -> int:
        """``px``, or less so that the label's text fits the panel's width on one line."""
        margins = self.layout().contentsMargins()
        room = self.contentsRect().width() - margins.left() - margins.right() - 4
        font = QFont(label.font())
        for _ in range(3):  # proportional, then a pixel or two for rounding
            font.setPixelSize(px)
            wide = QFontMetrics(font).horizontalAdvance(label.text())
            if room <= 0 or wide <= room or px <= 12:
                return px
            px = max(12, min(px - 1, int(px * room / wide)))
        return px

    def minimumSizeHint(self) -> QSize:
        """The height the panel needs at the smallest type, so the window's minimum does not follow the type.

        The type is chosen from the window's size, so a window made smaller gets smaller type
        before its content could be squeezed: with the minimum at the current (large) type, a
        maximised window on a 1080p screen could not be made as small as a laptop's screen.
        """
        hint = super().minimumSizeHint()
        ratio = MIN_TYPE_SCALE / max(self._type_scale, MIN_TYPE_SCALE)
        scaled = max(0, hint.height() - _UNSCALED_HEIGHT_PX)
        return QSize(hint.width(), min(hint.height(), _UNSCALED_HEIGHT_PX + round(scaled * ratio)))

    def type_px(self, key: str) -> int:
        """The pixel size now used for ``key`` (a :data:`TYPE_PX` key)."""
        return max(12, round(TYPE_PX[key] * self._type_scale))

    def phase_colour(self) -> str:
        """The colour the phase is shown in (``#rrggbb``; the band's colour for that phase)."""
        return self.phase.palette().color(self.phase.foregroundRole()).name()

    def check_state(self) -> str:
        """How the check line looks: ``"none"``, ``"pending"``, ``"due"`` or ``"overdue"`` (escalated)."""
        return str(self.check.property("state") or "none")

    def set_check_button_enabled(self, enabled: bool) -> None:
        """Offer "Mark done" for a due check here (off when another widget handles checks)."""
        self._check_button_enabled = enabled
        self.refresh()

    def set_earliest_backdate(self, earliest: Callable[[], datetime | None]) -> None:
        """Where the dose dialogs learn the last recorded event (the earliest time they may give)."""
        self._earliest_backdate = earliest

    def set_protocol(self, protocol: TreatmentProtocol | None) -> None:
        self._protocol = protocol
        self.refresh()

    @Slot(object)
    def set_snapshot(self, snapshot: SessionSnapshot) -> None:
        """Take a new snapshot; redraw now only if what it says changed (the timer moves the clock)."""
        old = self._snapshot
        self._snapshot = snapshot
        if old is None or _what_changed(old) != _what_changed(snapshot):
            self.refresh()

    @Slot()
    def ask_dose(self) -> None:
        """Confirm "Dose given" (with how long ago) and emit ``dose_requested``."""
        if not self.dose_button.isEnabled():
            return
        dialog = DoseDialog("Dose given", "Record the first dose? The session clock starts from it.", self,
                            now=self._now(), earliest=self._earliest_backdate(),
                            checks_due=pre_dose_checks_due(self._snapshot))
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        self.window().activateWindow()  # keys work again at once, whatever the window manager does
        if accepted:
            self.dose_requested.emit(dialog.minutes_ago())

    @Slot()
    def ask_booster(self) -> None:
        """Confirm "Booster given" and emit ``booster_requested``."""
        if not self.booster_button.isEnabled():
            return
        dialog = DoseDialog("Booster given", "Record a booster dose? The clock stays on the first dose.",
                            self, now=self._now(), earliest=self._earliest_backdate())
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        self.window().activateWindow()
        if accepted:
            self.booster_requested.emit(dialog.minutes_ago())

    @Slot()
    def _check_clicked(self) -> None:
        snap = self._snapshot
        if snap is not None and snap.next_check is not None and snap.next_check.state == "due":
            self.check_done_requested.emit(snap.next_check.name)

    # --------------------------------------------------------------- rendering
    def _show_phase(self, phase: Phase | None, text: str) -> None:
        changed = phase is not self._shown_phase or text != self.phase.text()
        self.phase.setText(text)
        self._shown_phase = phase
        if changed:
            self._apply_type()

    def _show_next_event(self, text: str) -> None:
        longer_or_shorter = len(text) != len(self.next_phase.text())
        self.next_phase.setText(text)
        if longer_or_shorter:  # a countdown keeps its width (tabular digits)
            self._apply_type()

    @Slot()
    def refresh(self) -> None:
        """Recompute every displayed time from the snapshot's anchors and the clock's now."""
        snap = self._snapshot
        if snap is None:
            self.clock.setText("––:––")
            self._show_phase(None, "No session")
            self._show_next_event("")
            self.booster.setText("")
            self.check.setText("")
            self.check_button.hide()
            self.dose_button.setEnabled(False)
            self.booster_button.setEnabled(False)
            self.band.set_state(None, None, False, [])
            return
        now = self._now()
        ended = snap.ended_at is not None
        ref = min(now, snap.ended_at) if snap.ended_at is not None else now
        drift = max(0.0, (now - snap.now).total_seconds())
        since_dose = (ref - snap.first_dose_at).total_seconds() if snap.first_dose_at else None
        self.caption.setText("since dose" if snap.first_dose_at else "no dose yet")
        if since_dose is None:
            prepared = (ref - snap.started_at).total_seconds() if snap.started_at else 0.0
            self.clock.setText("––:––")
            self.booster.setText(f"preparing for {format_clock(prepared)}")
        else:
            self.clock.setText(format_clock(since_dose))
            if snap.booster_count and snap.last_dose_at is not None:
                since_last = (ref - snap.last_dose_at).total_seconds()
                n = snap.booster_count
                self.booster.setText(f"since booster{'' if n == 1 else f' {n}'}: {format_clock(since_last)}")
            else:
                self.booster.setText("")
        self._show_phase(snap.phase, PHASE_WORDS[snap.phase])
        self._show_next_event(self._next_phase_text(snap, drift, since_dose))
        self._render_check(snap, drift)
        self.dose_button.setEnabled(not ended and snap.first_dose_at is None)
        self.dose_button.setVisible(snap.first_dose_at is None)
        self.booster_button.setEnabled(not ended and snap.first_dose_at is not None)
        self.booster_button.setVisible(snap.first_dose_at is not None)
        proto = self._protocol
        offsets = []
        if proto is not None:
            due = (c.due_offset_s(proto.min_observation_min) for c in proto.checks)
            offsets = [o for o in due if o is not None]
        self.band.set_state(proto, since_dose, ended, offsets)

    def _next_phase_text(self, snap: SessionSnapshot, drift: float, since_dose: float | None) -> str:
        if snap.ended_at is not None:
            return "Session ended"
        if snap.phase is Phase.PREPARATION:
            return "Onset starts with the dose (D)"
        if snap.next_phase is not None and snap.time_to_next_phase_s is not None:
            left = max(0.0, snap.time_to_next_phase_s - drift)
            return f"{PHASE_WORDS[snap.next_phase]} in {format_clock(left)}"
        if snap.min_observation_at is not None and since_dose is not None:
            if snap.min_observation_met:
                return "Minimum observation time reached"
            left = max(0.0, (snap.min_observation_at - snap.now).total_seconds() - drift)
            return f"Minimum observation in {format_clock(left)}"
        return ""

    def _render_check(self, snap: SessionSnapshot, drift: float) -> None:
        text, state = self._check_words(snap, drift)
        self.check.setText(text)
        set_state(self.check, state)
        indent = 14 if state == "overdue" else 0  # clear of the escalation bar (ui/theme.py)
        if self.check.contentsMargins().left() != indent:
            self.check.setContentsMargins(indent, 0, 0, 0)
        self.check_button.setVisible(state in ("due", "overdue") and self._check_button_enabled)

    def _check_words(self, snap: SessionSnapshot, drift: float) -> tuple[str, str]:
        """The check line and its state: none, pending, due, or overdue past the grace period."""
        check = snap.next_check
        if check is None:
            return ("No checks pending" if snap.ended_at is None else ""), "none"
        if check.state == "due":
            over = -(snap.time_to_next_check_s or 0.0) + drift
            if check.late_by_s(snap.now + timedelta(seconds=drift)) is not None:
                return f"Check overdue {int(over // 60)} min: {check.label}", "overdue"
            late = f" · due {int(over // 60)} min ago" if over >= 60 else ""
            return f"Check due: {check.label}{late}", "due"
        if snap.time_to_next_check_s is None:
            return f"Next check: {check.label} (after the dose)", "pending"
        left = max(0.0, snap.time_to_next_check_s - drift)
        return f"Next check: {check.label} in {format_clock(left)}", "pending"


def _what_changed(snap: SessionSnapshot) -> tuple[object, ...]:
    """The parts of a snapshot that change the panel other than the passing of time."""
    return (snap.phase, snap.first_dose_at, snap.last_dose_at, snap.ended_at, snap.booster_count,
            snap.next_check.name if snap.next_check else None,
            snap.next_check.state if snap.next_check else None, snap.min_observation_met)
