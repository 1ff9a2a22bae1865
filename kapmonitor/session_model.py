"""Values, errors and small rules of the session state machine (:mod:`kapmonitor.session`).

The state machine's snapshot (:class:`SessionSnapshot`), a check's status, and the
errors it raises: every refused transition is a :class:`SessionError` subclass whose
message says what was attempted and why it is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kapmonitor.protocols import CheckTiming
from kapmonitor.types import EventValue, Phase

__all__ = [
    "CheckAlreadyResolvedError",
    "CheckStatus",
    "DoseAlreadyGivenError",
    "InconsistentEventError",
    "InvalidEventDataError",
    "NoDoseError",
    "SessionAlreadyStartedError",
    "SessionEndedError",
    "SessionError",
    "SessionNotStartedError",
    "SessionSnapshot",
    "TimeOrderError",
    "UnknownCheckError",
    "check_dose_data",
    "next_open_check",
]


class SessionError(RuntimeError):
    """An illegal session transition; the message says what was attempted and why it is refused."""


class SessionNotStartedError(SessionError):
    """Something other than ``start`` before the session was started."""


class SessionAlreadyStartedError(SessionError):
    """A second ``start``."""


class DoseAlreadyGivenError(SessionError):
    """A second first dose; further doses are boosters."""


class NoDoseError(SessionError):
    """Something that needs the first dose (a booster, an after-dose check) before it."""


class SessionEndedError(SessionError):
    """A dose, booster, check, resume or second end after the session ended."""


class UnknownCheckError(SessionError):
    """A check name the session's protocol does not define."""


class CheckAlreadyResolvedError(SessionError):
    """Completing or dismissing a check that is already done or dismissed."""


class TimeOrderError(SessionError):
    """An event earlier than one already recorded: time cannot go backwards."""


class InconsistentEventError(SessionError):
    """A stored derived event (phase change, check due) that the session clock does not predict."""


class InvalidEventDataError(SessionError, ValueError):
    """Bad event details: a non-positive dose amount, an empty unit, a dismissal without reason."""


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """Where one scheduled check stands.

    Attributes:
        due_at: when it falls due (None: after-dose check and no dose yet).
        state: ``"pending"`` (not yet due, or never came due before the end),
            ``"due"`` (due and not resolved, possibly overdue), ``"done"`` or ``"dismissed"``.
        done_at: when it was done or dismissed.
        reason: the dismissal reason ("" unless dismissed).
        note: the note given when it was done ("" unless done).
        grace_s: how long after ``due_at`` it may be done without being late.
    """

    name: str
    label: str
    timing: CheckTiming
    due_at: datetime | None
    state: str
    done_at: datetime | None
    reason: str
    note: str = ""
    grace_s: float = 600.0

    def late_by_s(self, now: datetime | None = None) -> float | None:
        """Seconds past ``due_at`` when it is (or was) late beyond its grace, else None.

        A done check is late if it was done more than ``grace_s`` after falling due; a check still
        due is late (overdue) at ``now`` once ``grace_s`` has passed. Pending, dismissed and undated
        checks are never late.
        """
        if self.due_at is None:
            return None
        if self.state == "done" and self.done_at is not None:
            moment = self.done_at
        elif self.state == "due" and now is not None:
            moment = now
        else:
            return None
        late_s = (moment - self.due_at).total_seconds()
        return late_s if late_s > self.grace_s else None


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """The session as the screen shows it at ``now``.

    Attributes:
        since_first_dose_s / since_last_dose_s: elapsed seconds from the first /
            latest dose to ``now`` (to the end, once ended); None before a dose.
        next_phase / time_to_next_phase_s: the phase that follows and seconds until
            it starts; the time is None when it waits on the therapist (dose, end).
        next_check / time_to_next_check_s: the next unresolved check (due ones
            first) and seconds until it is due (negative: overdue; None: no time
            yet). Both None once the session ended.
        min_observation_met: the minimum observation after the first dose was
            reached while the session ran.
        phase_bounds: ``(phase, start, end)`` for each phase entered by ``now``;
            ``end`` None for the current phase.
    """

    now: datetime
    phase: Phase
    started_at: datetime | None
    first_dose_at: datetime | None
    last_dose_at: datetime | None
    ended_at: datetime | None
    booster_count: int
    since_first_dose_s: float | None
    since_last_dose_s: float | None
    next_phase: Phase | None
    time_to_next_phase_s: float | None
    next_check: CheckStatus | None
    time_to_next_check_s: float | None
    checks: tuple[CheckStatus, ...]
    min_observation_met: bool
    min_observation_at: datetime | None
    phase_bounds: tuple[tuple[Phase, datetime, datetime | None], ...]


def check_dose_data(data: Mapping[str, EventValue]) -> None:
    amount = data.get("amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float)
                               or not math.isfinite(amount) or amount <= 0):
        raise InvalidEventDataError(f"dose amount must be a positive number or None, got {amount!r}")
    unit = data.get("unit", "mg")
    if not isinstance(unit, str) or not unit.strip():
        raise InvalidEventDataError(f"dose unit must be non-empty text such as 'mg', got {unit!r}")


def next_open_check(checks: tuple[CheckStatus, ...]) -> CheckStatus | None:
    """The next not-done check: due ones first (earliest first), then by due time, then undated."""
    open_checks = [(i, c) for i, c in enumerate(checks) if c.state in ("due", "pending")]
    if not open_checks:
        return None

    def key(item: tuple[int, CheckStatus]) -> tuple[int, float, int]:
        index, status = item
        rank = 0 if status.state == "due" else 1 if status.due_at is not None else 2
        return rank, status.due_at.timestamp() if status.due_at is not None else 0.0, index

    return min(open_checks, key=key)[1]
