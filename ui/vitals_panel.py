"""The current vital signs, large, with staleness that cannot be missed.

A frozen last value must never be shown as live (CLINICAL.md). Each tile
remembers when (monotonic clock) its stream last delivered; a timer re-checks
every quarter second, and the moment a stream is older than its limit the
number turns grey and says "no data 14 s". After ``blank_after_s`` the number
is replaced by a dash. A value that is not usable (:func:`kapmonitor.streams.usable`:
no skin contact, a disturbed signal, nonsense such as heart rate 0) never fills a tile:
the last usable value turns grey at once and the note says why ("no skin contact").
Sensor link, battery and skin contact are always shown, and what the data does
(:class:`~ui.sensor_activity.SensorActivity`: "connected — no data for 12 s").

Trend arrow: least-squares slope of heart rate over the last ``trend_window_s``
(default 2 min), shown as ↑ / ↓ when the fitted change over that window is at
least ``trend_threshold_bpm`` (default 5 bpm), → otherwise, blank with too
little data.

Manual heart rate / SpO2 entries are spot checks, not live signals: they are
drawn on the plot and listed on the timeline but never fill the live tiles.
Blood pressure (manual or from a cuff) shows its age ("12 min ago").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from kapmonitor import streams
from kapmonitor.types import ReadingFlag, SensorInfo, SensorStatus, Stream
from ui.sensor_activity import LEVEL_RANK, SensorActivity, format_age
from ui.theme import Theme, set_role, set_state

__all__ = ["VitalsPanel", "format_age", "trend_arrow"]

_UNUSABLE_WORDS = ((ReadingFlag.NO_CONTACT, "no skin contact"), (ReadingFlag.ARTIFACT, "disturbed signal"),
                   (ReadingFlag.IMPLAUSIBLE, "impossible value"))


def _unusable_reason(flags: ReadingFlag) -> str:
    for flag, words in _UNUSABLE_WORDS:
        if flags & flag:
            return words
    return "value not usable"


def trend_arrow(samples: deque[tuple[float, float]], now: float, window_s: float, threshold: float) -> str:
    """↑, ↓ or → from a least-squares fit of ``(t, value)`` samples within ``window_s`` of ``now``.

    Returns "" when the window holds fewer than 10 samples or spans less than half the window.
    """
    pts = [(t, v) for t, v in samples if now - t <= window_s]
    if len(pts) < 10 or pts[-1][0] - pts[0][0] < window_s / 2:
        return ""
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var == 0:
        return "→"
    slope = sum((t - mt) * (v - mv) for t, v in pts) / var
    change = slope * window_s
    if change >= threshold:
        return "↑"
    if change <= -threshold:
        return "↓"
    return "→"


@dataclass(slots=True)
class _Latest:
    value: float
    at_mono: float


@dataclass(slots=True)
class _Unusable:
    reason: str
    at_mono: float


class _Tile(QFrame):
    """One vital: caption, big number, unit, and a line for staleness/age."""

    def __init__(self, caption: str, unit: str, role: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        set_role(self, "panel")
        self.caption = QLabel(caption)
        set_role(self.caption, "caption")
        self.value = QLabel("––")
        set_role(self.value, role)
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.unit = QLabel(unit)
        set_role(self.unit, "unit")
        self.trend = QLabel("")
        set_role(self.trend, "trend")
        self.note = QLabel("")
        set_role(self.note, "stale-note")
        grid = QGridLayout(self)
        grid.setContentsMargins(12, 6, 12, 6)
        grid.setVerticalSpacing(0)
        grid.addWidget(self.caption, 0, 0, 1, 3)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.value)
        row.addWidget(self.trend)
        grid.addLayout(row, 1, 0, 1, 2)
        grid.addWidget(self.unit, 1, 2, Qt.AlignmentFlag.AlignBottom)
        grid.addWidget(self.note, 2, 0, 1, 3)

    def show_value(self, text: str, *, stale: bool, note: str) -> None:
        if self.value.text() != text:
            self.value.setText(text)
        state = "stale" if stale else "live"
        set_state(self.value, state)
        set_state(self.trend, state)
        if self.note.text() != note:
            self.note.setText(note)


class VitalsPanel(QFrame):
    """Heart rate (with trend), SpO2, last blood pressure and sensor status.

    Args:
        theme: colours (the stale grey comes from the style sheet).
        monotonic: the injected clock's monotonic seconds (staleness is measured on it).
        hr_stale_s / spo2_stale_s: seconds without data before a value is marked stale.
        blank_after_s: seconds without data before the number is replaced by a dash.
        refresh_hz: how often staleness is re-evaluated.
    """

    def __init__(self, theme: Theme, monotonic: Callable[[], float], *, hr_stale_s: float = 5.0,
                 spo2_stale_s: float = 10.0, blank_after_s: float = 120.0, trend_window_s: float = 120.0,
                 trend_threshold_bpm: float = 5.0, refresh_hz: float = 4.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._mono = monotonic
        self._stale_s = {Stream.HEART_RATE: hr_stale_s, Stream.SPO2: spo2_stale_s}
        self._blank_after_s = blank_after_s
        self._trend_window_s = trend_window_s
        self._trend_threshold = trend_threshold_bpm
        self._latest: dict[Stream, _Latest] = {}
        self._unusable: dict[Stream, _Unusable] = {}
        self._hr_samples: deque[tuple[float, float]] = deque()
        self._bp: tuple[float, float, float] | None = None  # systolic, diastolic, at_mono
        self._bp_parts: dict[Stream, tuple[float, float]] = {}  # stream -> (value, t_epoch)
        self._baseline: float | None = None
        self._sensors: dict[str, SensorStatus] = {}
        self.sensor_activity = SensorActivity(monotonic)
        """What each sensor's data does (shared with the Sensors dialog)."""
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000.0 / refresh_hz)))
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    def _build(self) -> None:
        self.hr_tile = _Tile("Heart rate", "bpm", "vital")
        self.spo2_tile = _Tile("SpO\u2082", "%", "vital-small")
        self.bp_tile = _Tile("Blood pressure", "mmHg", "vital-small")
        self.sensor_label = QLabel("No sensor connected")
        set_role(self.sensor_label, "status")
        set_state(self.sensor_label, "idle")
        self.sensor_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.hr_tile, 3)
        small = QHBoxLayout()
        small.addWidget(self.spo2_tile)
        small.addWidget(self.bp_tile)
        layout.addLayout(small, 2)
        layout.addWidget(self.sensor_label)

    # ------------------------------------------------------------------ inputs
    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @Slot(str, float, float, int, str)
    def add_reading(self, stream: str, value: float, t_epoch: float, flags: int, sensor_id: str = "") -> None:
        """Take one reading (the bridge's ``reading_arrived`` signature)."""
        try:
            kind = Stream(stream)
        except ValueError:
            return
        checked = streams.checked_flags(kind, value, flags)
        self.sensor_activity.reading(sensor_id, kind, value, checked)
        is_usable = streams.usable(kind, checked)
        now = self._mono()
        if kind in (Stream.BP_SYSTOLIC, Stream.BP_DIASTOLIC):
            if not is_usable:
                return  # stored, never shown
            self._bp_parts[kind] = (value, t_epoch)
            sys_, dia = self._bp_parts.get(Stream.BP_SYSTOLIC), self._bp_parts.get(Stream.BP_DIASTOLIC)
            if sys_ is not None and dia is not None and abs(sys_[1] - dia[1]) < 1.0:
                self._bp = (sys_[0], dia[0], now)
            self.refresh()
            return
        if flags & ReadingFlag.MANUAL:
            return
        if kind is Stream.PULSE_RATE:
            if not self.is_stale(Stream.HEART_RATE):
                return  # a chest strap is the better source while it is live
            kind = Stream.HEART_RATE
        if kind not in self._stale_s:
            return
        if not is_usable or not math.isfinite(value):
            self._unusable[kind] = _Unusable(_unusable_reason(checked), now)
            self.refresh()
            return
        self._unusable.pop(kind, None)
        self._latest[kind] = _Latest(value, now)
        if kind is Stream.HEART_RATE:
            self._hr_samples.append((now, value))
            while self._hr_samples and now - self._hr_samples[0][0] > self._trend_window_s:
                self._hr_samples.popleft()
        self.refresh()

    def set_baseline(self, heart_rate: float | None) -> None:
        """Show the frozen pre-dose baseline under the heart rate (None: not known yet)."""
        self._baseline = heart_rate
        self.refresh()

    @Slot(SensorStatus)
    def set_sensor_status(self, status: SensorStatus) -> None:
        self._sensors[status.sensor_id] = status
        self.sensor_activity.status(status)
        self._render_sensors()

    @Slot(SensorInfo)
    def set_sensor_info(self, info: SensorInfo) -> None:
        self.sensor_activity.info(info)
        self._render_sensors()

    # --------------------------------------------------------------- rendering
    def is_stale(self, stream: Stream) -> bool:
        """True when ``stream`` has no usable data, its last value is older than its limit, or what
        arrives now is not usable."""
        latest = self._latest.get(stream)
        now = self._mono()
        return (latest is None or now - latest.at_mono > self._stale_s[stream]
                or self._unusable_now(stream, now) is not None)

    def _unusable_now(self, stream: Stream, now: float) -> _Unusable | None:
        """The latest unusable value, if it came after the last usable one and is still recent."""
        bad = self._unusable.get(stream)
        latest = self._latest.get(stream)
        if bad is None or (latest is not None and latest.at_mono > bad.at_mono):
            return None
        return bad if now - bad.at_mono <= self._stale_s[stream] else None

    @Slot()
    def refresh(self) -> None:
        """Re-evaluate staleness and ages against the monotonic clock."""
        now = self._mono()
        self._render_stream(self.hr_tile, Stream.HEART_RATE, now)
        self._render_stream(self.spo2_tile, Stream.SPO2, now)
        arrow = trend_arrow(self._hr_samples, now, self._trend_window_s, self._trend_threshold)
        if self.is_stale(Stream.HEART_RATE):
            arrow = ""
        if self.hr_tile.trend.text() != arrow:
            self.hr_tile.trend.setText(arrow)
        if self._bp is None:
            self.bp_tile.show_value("––", stale=True, note="not measured yet")
        else:
            sys_, dia, at = self._bp
            self.bp_tile.show_value(f"{sys_:.0f}/{dia:.0f}", stale=False, note=f"{format_age(now - at)} ago")
        self._render_sensors()

    def _render_stream(self, tile: _Tile, stream: Stream, now: float) -> None:
        latest = self._latest.get(stream)
        extra = ""
        if stream is Stream.HEART_RATE and self._baseline is not None:
            extra = f"baseline {self._baseline:.0f}"
        bad = self._unusable_now(stream, now)
        if bad is not None:
            blank = latest is None or now - latest.at_mono > self._blank_after_s
            text = "––" if blank or latest is None else f"{latest.value:.0f}"
            note = bad.reason
            if latest is not None:
                note += f" · last {format_age(now - latest.at_mono)} ago"
            tile.show_value(text, stale=True, note=note + (f" · {extra}" if extra else ""))
            return
        if latest is None:
            tile.show_value("––", stale=True, note=("no data" + (f" · {extra}" if extra else "")))
            return
        age = now - latest.at_mono
        if age <= self._stale_s[stream]:
            tile.show_value(f"{latest.value:.0f}", stale=False, note=extra)
            return
        text = "––" if age > self._blank_after_s else f"{latest.value:.0f}"
        note = f"no data {format_age(age)}" + (f" · {extra}" if extra else "")
        tile.show_value(text, stale=True, note=note)

    def _render_sensors(self) -> None:
        if not self._sensors:
            if self.sensor_label.text() != "No sensor connected":
                self.sensor_label.setText("No sensor connected")
                set_state(self.sensor_label, "idle")
            return
        lines = []
        worst = "ok"
        for sensor_id, st in self._sensors.items():
            if self.sensor_activity.replaced(sensor_id):
                continue  # reconnected: the new link of the same device is described instead
            line = self.sensor_activity.describe(sensor_id)
            assert line is not None  # every status went to the activity too
            level = line.level
            parts = [f"{line.name}: {line.words}"]
            if st.battery_pct is not None:
                parts.append(f"battery {st.battery_pct} %")
            if st.contact is False:
                parts.append("no skin contact")
                level = "warn" if level == "ok" else level
            elif st.contact is True:
                parts.append("contact ok")
            if st.detail:
                parts.append(st.detail)
            lines.append(" · ".join(parts))
            worst = max(worst, level, key=lambda s: LEVEL_RANK[s])
        text = "\n".join(lines)
        if self.sensor_label.text() != text:
            self.sensor_label.setText(text)
        if self.sensor_label.property("state") != worst:
            set_state(self.sensor_label, worst)
