"""Injectable clocks.

Nothing in kapmonitor reads the system time directly: every component takes a
:class:`Clock`. A clock gives two readings:

* ``now()`` -- timezone-aware UTC wall time, for storage and display;
* ``monotonic()`` -- seconds on a monotonic scale, for durations and timeouts.

Both move at the same *rate*: 1.0 for the real clock, ``speed`` for a
:class:`ScaledClock` (demos and accelerated tests), and only when told for a
:class:`FakeClock` (unit tests).
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "ScaledClock", "SystemClock", "ensure_utc"]


def ensure_utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime.

    Raises:
        ValueError: if ``moment`` is naive; a naive time cannot be placed on
            the session's time line without guessing its zone.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; pass an aware time")
    return moment.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """Source of wall time (UTC) and monotonic time."""

    @property
    def rate(self) -> float:
        """Clock seconds that pass per real second (0.0 for a fake clock)."""
        ...

    def now(self) -> datetime:
        """Current wall time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale; only differences are meaningful."""
        ...

    def real_seconds(self, clock_seconds: float) -> float:
        """How many real seconds to wait for ``clock_seconds`` of clock time to pass."""
        ...


class SystemClock:
    """The machine's clock: UTC wall time and ``time.monotonic``."""

    @property
    def rate(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def real_seconds(self, clock_seconds: float) -> float:
        return max(0.0, clock_seconds)


class ScaledClock:
    """A clock that runs ``speed`` times faster than real time.

    Wall time starts at ``start`` (default: the real time at construction)
    and advances ``speed`` clock seconds per real monotonic second, so a two
    hour session passes in a minute at ``speed=120``. Elapsed time is always
    computed from the real monotonic clock, never counted from ticks.
    """

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if not speed > 0 or speed != speed or speed == float("inf"):
            raise ValueError(f"clock speed must be a positive finite number, got {speed!r}")
        self._speed = float(speed)
        self._start_wall = ensure_utc(start) if start is not None else datetime.now(UTC)
        self._start_real = time.monotonic()

    @property
    def rate(self) -> float:
        return self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def monotonic(self) -> float:
        return (time.monotonic() - self._start_real) * self._speed

    def now(self) -> datetime:
        return self._start_wall + timedelta(seconds=self.monotonic())

    def real_seconds(self, clock_seconds: float) -> float:
        return max(0.0, clock_seconds) / self._speed


class FakeClock:
    """A clock that moves only when told; for deterministic tests.

    ``advance`` is thread-safe so a test may move time while another thread
    reads it.
    """

    def __init__(self, start: datetime | None = None, monotonic_start: float = 1000.0) -> None:
        self._wall = ensure_utc(start) if start is not None else datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        self._mono = float(monotonic_start)
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return 0.0

    def now(self) -> datetime:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def real_seconds(self, clock_seconds: float) -> float:
        return 0.0

    def advance(self, seconds: float) -> None:
        """Move both wall and monotonic time forward by ``seconds`` (>= 0)."""
        if not math.isfinite(seconds):
            raise ValueError(f"a clock advances by a finite number of seconds, got {seconds!r}")
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        with self._lock:
            self._wall += timedelta(seconds=seconds)
            self._mono += seconds

    def set_wall(self, moment: datetime) -> None:
        """Jump the wall clock (e.g. an NTP correction); monotonic time is unaffected."""
        with self._lock:
            self._wall = ensure_utc(moment)
