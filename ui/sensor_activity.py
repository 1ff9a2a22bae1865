"""What each sensor's data is doing, in words: "connected — no data for 12 s".

A link that says "connected" is not a sensor that delivers. :class:`SensorActivity` remembers, per
sensor, its last link status and when (on the injected monotonic clock) it last delivered a value
and a *usable* one (:func:`kapmonitor.streams.usable`), and describes it the way the therapist needs
it: connected and receiving, connected but silent for how long, or connected but delivering nothing
usable (no skin contact). The vitals panel and the Sensors dialog each show :meth:`describe`; both
re-ask on a timer, so a silence is counted up live. Plain Python: no Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kapmonitor import streams
from kapmonitor.types import ReadingFlag, SensorInfo, SensorState, SensorStatus, Stream
from kapmonitor.vitals import MANUAL_SENSOR_ID

__all__ = ["SILENT_AFTER_S", "SIMULATED_ADDRESS", "SensorActivity", "SensorLine", "address_of", "format_age"]

SIMULATED_ADDRESS = "simulated"
"""The Sensors dialog's row for the simulated sensor (every simulated sensor id starts with it)."""


def address_of(sensor_id: str) -> str:
    """The row a sensor belongs to: its BLE address, or :data:`SIMULATED_ADDRESS`.

    A reconnected sensor may come back under a new id (a simulated one does); it is still the
    same row, the same device to the therapist.
    """
    return SIMULATED_ADDRESS if sensor_id.startswith(SIMULATED_ADDRESS) else sensor_id

SILENT_AFTER_S = 5.0
"""Seconds without a value from a connected sensor before it is described as silent."""

_STATE_WORDS = {
    SensorState.CONNECTING: ("connecting…", "warn"),
    SensorState.CONNECTED: ("connected", "ok"),
    SensorState.RECONNECTING: ("reconnecting…", "warn"),
    SensorState.LOST: ("signal lost", "lost"),
    SensorState.DISCONNECTED: ("disconnected", "idle"),
}

LEVEL_RANK = {"ok": 0, "idle": 1, "warn": 2, "lost": 3}
"""How worrying a level is (the panel shows the worst of its sensors)."""


def format_age(seconds: float) -> str:
    """A short age for a human: ``14 s``, ``3 min``, ``1 h 05 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min"


@dataclass(frozen=True, slots=True)
class SensorLine:
    """One sensor described: its state in words (``"connected — no data for 12 s"``), and a level
    (``ok``, ``idle``, ``warn``, ``lost``) for the colour."""

    sensor_id: str
    name: str
    words: str
    level: str


@dataclass(slots=True)
class _Seen:
    status: SensorStatus | None = None
    status_at: float = 0.0
    any_at: float | None = None
    usable_at: float | None = None
    no_contact: bool = False


class SensorActivity:
    """Per-sensor link state and data flow, described on demand against ``monotonic``.

    Args:
        monotonic: the injected clock's monotonic seconds.
        silent_after_s: a connected sensor silent for longer than this is described as such.

    Feed it :meth:`reading` (every value with its sensor, stream and flags; manual entries are
    ignored), :meth:`status` and :meth:`info`.
    """

    def __init__(self, monotonic: Callable[[], float], silent_after_s: float = SILENT_AFTER_S) -> None:
        self._mono = monotonic
        self._silent_after_s = silent_after_s
        self._seen: dict[str, _Seen] = {}
        self._names: dict[str, str] = {}

    def reading(self, sensor_id: str, stream: Stream, value: float, flags: ReadingFlag | int) -> None:
        """A value arrived from ``sensor_id``."""
        if not sensor_id or sensor_id == MANUAL_SENSOR_ID or ReadingFlag(flags) & ReadingFlag.MANUAL:
            return
        seen = self._seen.setdefault(sensor_id, _Seen())
        now = self._mono()
        seen.any_at = now
        checked = streams.checked_flags(stream, value, flags)
        if stream is not Stream.BATTERY:
            seen.no_contact = bool(checked & ReadingFlag.NO_CONTACT)
            if streams.usable(stream, checked):
                seen.usable_at = now

    def status(self, status: SensorStatus) -> None:
        """The link state of ``status.sensor_id`` changed (a new connection starts the silence count)."""
        seen = self._seen.setdefault(status.sensor_id, _Seen())
        if seen.status is None or seen.status.state is not status.state:
            seen.status_at = self._mono()
        seen.status = status

    def info(self, info: SensorInfo) -> None:
        self._names[info.sensor_id] = info.name

    def forget(self, sensor_id: str) -> None:
        """Stop describing a sensor (it was removed)."""
        self._seen.pop(sensor_id, None)

    def ids(self) -> list[str]:
        """Sensors with a known link state, in the order they were first seen."""
        return [sid for sid, seen in self._seen.items() if seen.status is not None]

    def replaced(self, sensor_id: str) -> bool:
        """True when ``sensor_id`` is disconnected and another link of the same device is not.

        After Reconnect the old link's "disconnected" says nothing the therapist needs: the new
        link of the same device is the one to describe.
        """
        seen = self._seen.get(sensor_id)
        if seen is None or seen.status is None or seen.status.state is not SensorState.DISCONNECTED:
            return False
        row = address_of(sensor_id)
        return any(other != sensor_id and address_of(other) == row and o.status is not None
                   and o.status.state is not SensorState.DISCONNECTED
                   for other, o in self._seen.items())

    def status_of(self, sensor_id: str) -> SensorStatus | None:
        """The last link status of ``sensor_id`` (None if none arrived)."""
        seen = self._seen.get(sensor_id)
        return seen.status if seen is not None else None

    def name(self, sensor_id: str) -> str:
        return self._names.get(sensor_id, sensor_id)

    def silent_for_s(self, sensor_id: str) -> float | None:
        """Seconds since a connected sensor last delivered (or connected); None when not connected."""
        seen = self._seen.get(sensor_id)
        if seen is None or seen.status is None or seen.status.state is not SensorState.CONNECTED:
            return None
        since = seen.status_at if seen.any_at is None else max(seen.any_at, seen.status_at)
        return self._mono() - since

    def describe(self, sensor_id: str) -> SensorLine | None:
        """The sensor's state in words, or None if no status is known for it."""
        seen = self._seen.get(sensor_id)
        if seen is None or seen.status is None:
            return None
        words, level = _STATE_WORDS[seen.status.state]
        if seen.status.state is SensorState.CONNECTED:
            now = self._mono()
            silent = self.silent_for_s(sensor_id)
            assert silent is not None
            if silent > self._silent_after_s:
                words, level = f"connected — no data for {format_age(silent)}", "warn"
            elif seen.any_at is not None:
                usable_since = seen.usable_at if seen.usable_at is not None else seen.status_at
                unusable_s = now - max(usable_since, seen.status_at)
                if unusable_s > self._silent_after_s:
                    why = " (no skin contact)" if seen.no_contact else ""
                    words = f"connected — no usable data for {format_age(unusable_s)}{why}"
                    level = "warn"
                else:
                    words = "connected — receiving data"
        return SensorLine(sensor_id, self.name(sensor_id), words, level)
