"""The session's clock: wall time that never goes backwards, with wall-clock steps detected.

A session's record must read forwards in time whatever the computer's clock
does: an NTP step back, a laptop whose clock was corrected, a session recorded
on a fast training clock and resumed at normal speed. :class:`SessionClock`
wraps the injected :class:`~kapmonitor.clock.Clock` and gives

* ``now()`` = the base wall time plus an *offset* (normally exactly zero), and
  never earlier than any time it has given before;
* step detection: between two readings, the base wall time should move as
  much as its monotonic time does; when it moves by more than
  :func:`step_threshold_s` more or less, that is a step. A step back raises the
  offset by its size (the session carries on smoothly, ahead of the wall
  clock); a step forward first uses up any offset, then the session follows the
  wall clock forward. Each step is kept as a :class:`ClockStep` for the
  recorder to record as a ``clock_stepped`` event.
* a floor: a resumed session starts no earlier than the last thing recorded.

Sensors stamp readings with the base clock; :meth:`SessionClock.to_session`
moves such a time onto the session's time line (adds the offset).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from kapmonitor.clock import Clock, ensure_utc

__all__ = ["ClockStep", "SessionClock", "step_threshold_s"]

_TOLERANCE_S = 2.0
"""A wall-clock move this far (clock seconds) out of step with monotonic time is a step."""
_JITTER_REAL_S = 0.05
"""Real seconds of scheduling jitter between reading the wall and the monotonic clock."""


def step_threshold_s(rate: float) -> float:
    """Clock seconds of disagreement between wall and monotonic time that count as a step."""
    return _TOLERANCE_S + _JITTER_REAL_S * max(rate, 1.0)


@dataclass(frozen=True, slots=True)
class ClockStep:
    """The wall clock moved ``step_s`` seconds out of step (negative: backwards).

    Attributes:
        at: session time of the step.
        step_s: how far the base wall clock jumped beyond (or short of) elapsed time.
        offset_s: the session clock's offset from the base wall clock afterwards.
        reason: in words, for the record.
    """

    at: datetime
    step_s: float
    offset_s: float
    reason: str


class SessionClock:
    """A :class:`~kapmonitor.clock.Clock` for one session (see the module docstring). Thread-safe.

    Args:
        base: the injected clock.
        floor: the session must not go back before this time (the last thing recorded,
            when resuming); a base clock behind it becomes an offset and a step.
    """

    def __init__(self, base: Clock, floor: datetime | None = None) -> None:
        self._base = base
        self._lock = threading.Lock()
        self._threshold = step_threshold_s(base.rate)
        wall, mono = base.now(), base.monotonic()
        self._prev = (wall, mono)
        self._offset = timedelta(0)
        self._steps: list[ClockStep] = []
        if floor is not None:
            floor = ensure_utc(floor)
            if floor > wall:
                self._offset = floor - wall
                self._steps.append(ClockStep(
                    floor, -self._offset.total_seconds(), self._offset.total_seconds(),
                    "this computer's clock is behind the session's record (a clock corrected since, or a "
                    "session recorded on a faster clock); the session continues from its last record"))
        self._last = wall + self._offset

    @property
    def base(self) -> Clock:
        return self._base

    @property
    def rate(self) -> float:
        return self._base.rate

    def monotonic(self) -> float:
        return self._base.monotonic()

    def real_seconds(self, clock_seconds: float) -> float:
        return self._base.real_seconds(clock_seconds)

    @property
    def offset(self) -> timedelta:
        """Session time minus base wall time (zero unless the clock stepped back or lags the record)."""
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        with self._lock:
            wall, mono = self._base.now(), self._base.monotonic()
            prev_wall, prev_mono = self._prev
            self._prev = (wall, mono)
            step = (wall - prev_wall).total_seconds() - (mono - prev_mono)
            if abs(step) > self._threshold:
                self._stepped(step, wall)
            moment = wall + self._offset
            if moment < self._last:
                moment = self._last
            self._last = moment
            return moment

    def _stepped(self, step: float, wall: datetime) -> None:
        if step < 0:
            self._offset += timedelta(seconds=-step)
            reason = "the computer's clock was set back; the session's time carries on"
        else:
            self._offset = max(timedelta(0), self._offset - timedelta(seconds=step))
            reason = "the computer's clock was set forward"
        self._steps.append(ClockStep(max(wall + self._offset, self._last), step,
                                     self._offset.total_seconds(), reason))

    def to_session(self, base_time: datetime) -> datetime:
        """A time stamped by the base clock (a sensor's), on the session's time line."""
        with self._lock:
            return base_time + self._offset

    def take_steps(self) -> list[ClockStep]:
        """The steps detected since the last call (for the recorder to record)."""
        with self._lock:
            steps, self._steps = self._steps, []
            return steps
