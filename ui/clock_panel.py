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

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QPainter, QPaintEvent, QPen
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
from ui.theme import Theme, qcolor, set_role, set_state

__all__ = ["PHASE_WORDS", "ClockPanel", "DoseDialog", "ProgressBand", "format_clock"]

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
    """

    def __init__(self, title: str, question: str, parent: QWidget | None = None, *,
                 now: datetime | None = None, earliest: datetime | None = None) -> None:
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
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
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


class ProgressBand(QWidget):
    """Preparation / onset / effect / integration as coloured segments with a "now" marker."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._protocol: TreatmentProtocol | None = None
        self._since_dose_s: float | None = None
        self._ended = False
        self._check_offsets: list[float] = []
        self.setMinimumHeight(46)

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
        bar_top, bar_h = 4.0, 14.0
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
        font.setPixelSize(12)
        painter.setFont(font)
        for phase, x0, x1 in segments:
            past = self._ended or x1 <= marker
            painter.fillRect(QRectF(x0, bar_top, max(0.0, x1 - x0 - 2), bar_h),
                             qcolor(t.phase[phase], 110 if past else 200))
            painter.setPen(qcolor(t.text_dim))
            if painter.fontMetrics().horizontalAdvance(_SHORT[phase]) > x1 - x0 - 4:
                continue
            painter.drawText(QRectF(x0 + 2, bar_top + bar_h + 2, x1 - x0, h - bar_h - 6),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, _SHORT[phase])
        min_obs_x = x_at(proto.min_observation_s)
        painter.setPen(QPen(qcolor(t.text_dim), 1, Qt.PenStyle.DashLine))
        painter.drawLine(int(min_obs_x), int(bar_top - 2), int(min_obs_x), int(bar_top + bar_h + 2))
        painter.setPen(QPen(qcolor(t.text), 1))
        for off in self._check_offsets:
            x = x_at(off)
            painter.drawLine(int(x), int(bar_top + bar_h - 5), int(x), int(bar_top + bar_h))
        if not self._ended:
            painter.setPen(QPen(qcolor(t.text_strong), 3))
            painter.drawLine(int(marker), 0, int(marker), int(bar_top + bar_h + 4))
        painter.end()


class ClockPanel(QFrame):
    """Session clock and phase view.

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
        self._build()
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
        self.next_phase = QLabel("")
        set_role(self.next_phase, "clock-secondary")
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
        layout.setContentsMargins(14, 8, 14, 10)
        layout.setSpacing(4)
        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self.caption)
        left.addWidget(self.clock)
        left.addWidget(self.booster)
        top.addLayout(left)
        top.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.phase, 0, Qt.AlignmentFlag.AlignRight)
        right.addWidget(self.next_phase, 0, Qt.AlignmentFlag.AlignRight)
        right.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.booster_button)
        buttons.addWidget(self.dose_button)
        right.addLayout(buttons)
        top.addLayout(right)
        layout.addLayout(top)
        layout.addWidget(self.band)
        row = QHBoxLayout()
        row.addWidget(self.check, 1)
        row.addWidget(self.check_button)
        layout.addLayout(row)

    # ------------------------------------------------------------------ inputs
    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

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
                            now=self._now(), earliest=self._earliest_backdate())
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
    @Slot()
    def refresh(self) -> None:
        """Recompute every displayed time from the snapshot's anchors and the clock's now."""
        snap = self._snapshot
        if snap is None:
            self.clock.setText("––:––")
            self.phase.setText("No session")
            self.next_phase.setText("")
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
        self.phase.setText(PHASE_WORDS[snap.phase])
        self.next_phase.setText(self._next_phase_text(snap, drift, since_dose))
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
            return "Onset starts when the dose is given (D)"
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
        check = snap.next_check
        if check is None:
            self.check.setText("No checks pending" if snap.ended_at is None else "")
            set_state(self.check, "none")
            self.check_button.hide()
            return
        if check.state == "due":
            over = -(snap.time_to_next_check_s or 0.0) + drift
            late = f" · due {int(over // 60)} min ago" if over >= 60 else ""
            self.check.setText(f"Check due: {check.label}{late}")
            set_state(self.check, "due")
            self.check_button.setVisible(self._check_button_enabled)
            return
        set_state(self.check, "pending")
        self.check_button.hide()
        if snap.time_to_next_check_s is None:
            self.check.setText(f"Next check: {check.label} (after the dose)")
        else:
            left = max(0.0, snap.time_to_next_check_s - drift)
            self.check.setText(f"Next check: {check.label} in {format_clock(left)}")


def _what_changed(snap: SessionSnapshot) -> tuple[object, ...]:
    """The parts of a snapshot that change the panel other than the passing of time."""
    return (snap.phase, snap.first_dose_at, snap.last_dose_at, snap.ended_at, snap.booster_count,
            snap.next_check.name if snap.next_check else None,
            snap.next_check.state if snap.next_check else None, snap.min_observation_met)
