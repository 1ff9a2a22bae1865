"""The session state machine: phases, doses, scheduled checks, and replay.

A session lives as an ordered list of :class:`~kapmonitor.types.SessionEvent`.
Commands (:meth:`SessionState.start`, :meth:`~SessionState.give_dose`, ...)
validate, apply and *return* the event the caller must persist; the derived
events (phase changes, checks falling due) come from
:meth:`SessionState.due_events`, which the recorder calls on every tick.
Folding the stored list back with :meth:`SessionState.replay` rebuilds exactly
the same state, which is how an interrupted session resumes with its clock
intact. Nothing here reads the system time: every method takes the moment.

Phase model (CLINICAL.md): ``preparation`` (started, no dose) -> ``onset``
(first dose .. +onset) -> ``effect`` (.. +onset +effect window) ->
``integration`` (until ended) -> ``ended``. Boosters never move the clock,
which stays anchored to the first dose.

Ordering rules:

* A command's time may not be earlier than any event already applied
  (including derived events), else :class:`~kapmonitor.session_model.TimeOrderError`.
* Derived events are stamped at their *exact* due time, which may be earlier
  than the last command (the tick that finds them comes later). When a stored
  derived event is applied it must match what the state predicts (phase, time
  within :data:`STAMP_TOLERANCE`), else :class:`~kapmonitor.session_model.InconsistentEventError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from kapmonitor.clock import ensure_utc
from kapmonitor.logs import describe_values
from kapmonitor.phases import PhaseChange, next_phase, phase_at, phase_bounds, phase_changes
from kapmonitor.protocols import CheckTiming, ScheduledCheck, TreatmentProtocol
from kapmonitor.session_model import (
    CheckAlreadyResolvedError,
    CheckStatus,
    DoseAlreadyGivenError,
    InconsistentEventError,
    InvalidEventDataError,
    NoDoseError,
    SessionAlreadyStartedError,
    SessionEndedError,
    SessionNotStartedError,
    SessionSnapshot,
    TimeOrderError,
    UnknownCheckError,
    check_dose_data,
    next_open_check,
)
from kapmonitor.types import EventKind, EventValue, Phase, SessionEvent

__all__ = ["STAMP_TOLERANCE", "SessionState"]

logger = logging.getLogger(__name__)

STAMP_TOLERANCE = timedelta(milliseconds=1)
"""How far a stored derived event's time may sit from the predicted time (storage rounding)."""

_SENSOR_KINDS = frozenset({EventKind.SENSOR_CONNECTED, EventKind.SENSOR_RECONNECTING,
                           EventKind.SENSOR_LOST, EventKind.SENSOR_DISCONNECTED,
                           EventKind.CLOCK_STEPPED, EventKind.SESSION_TAKEN_OVER})
"""Events recorded for the record that do not change the session (the sensors' link, clock steps, a
take-over by another room)."""
_DERIVED_KINDS = frozenset({EventKind.PHASE_CHANGED, EventKind.CHECK_DUE})


class SessionState:
    """The state of one session, built by folding its events in order.

    Args:
        protocol: the (validated) treatment protocol fixing phase timings and checks.
    """

    def __init__(self, protocol: TreatmentProtocol) -> None:
        protocol.validate()
        self._protocol = protocol
        self._checks: dict[str, ScheduledCheck] = {c.name: c for c in protocol.checks}
        self._events: list[SessionEvent] = []
        self._watermark: datetime | None = None
        self._started_at: datetime | None = None
        self._first_dose_at: datetime | None = None
        self._last_dose_at: datetime | None = None
        self._booster_count = 0
        self._ended_at: datetime | None = None
        self._end_reason = ""
        self._resumed_at: list[datetime] = []
        self._done: dict[str, tuple[datetime, str]] = {}
        self._dismissed: dict[str, tuple[datetime, str]] = {}
        self._phases_announced: set[Phase] = set()
        self._checks_announced: set[str] = set()

    # ----------------------------------------------------------------- properties
    @property
    def protocol(self) -> TreatmentProtocol:
        return self._protocol

    @property
    def started_at(self) -> datetime | None:
        return self._started_at

    @property
    def first_dose_at(self) -> datetime | None:
        return self._first_dose_at

    @property
    def last_dose_at(self) -> datetime | None:
        """Time of the latest dose or booster."""
        return self._last_dose_at

    @property
    def ended_at(self) -> datetime | None:
        return self._ended_at

    @property
    def end_reason(self) -> str:
        return self._end_reason

    @property
    def booster_count(self) -> int:
        return self._booster_count

    @property
    def resumed_at(self) -> tuple[datetime, ...]:
        """Times the session was resumed after an interruption."""
        return tuple(self._resumed_at)

    @property
    def phase_reached(self) -> Phase:
        """The furthest phase entered before any end (``preparation`` for an abandoned session)."""
        changes = [after for _, _, after in self._transitions() if after is not Phase.ENDED]
        return changes[-1] if changes else Phase.PREPARATION

    @property
    def is_started(self) -> bool:
        return self._started_at is not None

    @property
    def is_ended(self) -> bool:
        return self._ended_at is not None

    @property
    def events(self) -> tuple[SessionEvent, ...]:
        """The applied events that affect the state, in order (sensor events are not kept)."""
        return tuple(self._events)

    # ------------------------------------------------------------------- commands
    def start(self, at: datetime) -> SessionEvent:
        """Start the session (phase ``preparation``)."""
        return self._command(EventKind.SESSION_STARTED, at, {})

    def give_dose(self, at: datetime, amount: float | None = None, unit: str = "mg") -> SessionEvent:
        """Record the first dose (T0): the session clock is anchored here."""
        return self._command(EventKind.DOSE_GIVEN, at, {"amount": amount, "unit": unit})

    def give_booster(self, at: datetime, amount: float | None = None, unit: str = "mg") -> SessionEvent:
        """Record a booster dose; phases stay anchored to the first dose."""
        return self._command(EventKind.BOOSTER_GIVEN, at, {"amount": amount, "unit": unit})

    def complete_check(self, name: str, at: datetime, note: str = "") -> SessionEvent:
        """Mark a scheduled check done (it may be done before it falls due)."""
        return self._command(EventKind.CHECK_DONE, at, {"check": name, "note": note})

    def dismiss_check(self, name: str, at: datetime, reason: str) -> SessionEvent:
        """Dismiss a scheduled check; ``reason`` (non-empty) goes on the record."""
        return self._command(EventKind.CHECK_DISMISSED, at, {"check": name, "reason": reason})

    def resume(self, at: datetime) -> SessionEvent:
        """Record that an interrupted session was picked up again."""
        return self._command(EventKind.SESSION_RESUMED, at, {})

    def end(self, at: datetime, reason: str = "",
            answers: Mapping[str, EventValue] | None = None) -> SessionEvent:
        """End the session (allowed before a dose: the session was abandoned).

        ``answers``: more details of the end kept in its data, e.g. the structured discharge
        (:meth:`kapmonitor.discharge.Discharge.to_data`, ``discharge.*`` keys).
        """
        return self._command(EventKind.SESSION_ENDED, at, {**(answers or {}), "reason": reason})

    def _command(self, kind: EventKind, at: datetime, data: Mapping[str, EventValue]) -> SessionEvent:
        event = SessionEvent(kind, ensure_utc(at), dict(data))
        self.apply(event)
        logger.info("session %s at %s %s", kind.value, event.at.isoformat(), describe_values(data))
        return event

    # ------------------------------------------------------------- derived events
    def due_events(self, now: datetime) -> list[SessionEvent]:
        """Apply and return the derived events that have come due by ``now``.

        ``PHASE_CHANGED`` events (data ``{"phase", "from"}``) are stamped at the
        exact boundary, ``CHECK_DUE`` (data ``{"check"}``) at the exact due
        time; both in time order. The change to ``ended`` is stamped at the end;
        no boundary at or after the end is announced, nor a check that is resolved
        or would fall due at or after the end. Calling again returns nothing new.
        """
        now = ensure_utc(now)
        pending: list[tuple[datetime, int, SessionEvent]] = []
        for at, before, after in self._transitions():
            if at <= now and after not in self._phases_announced:
                data: dict[str, EventValue] = {"phase": after.value, "from": before.value}
                pending.append((at, 0, SessionEvent(EventKind.PHASE_CHANGED, at, data)))
        for index, check in enumerate(self._protocol.checks):
            due = self._due_at(check)
            if (due is not None and due <= now and check.name not in self._checks_announced
                    and not self._resolved(check.name)
                    and (self._ended_at is None or due < self._ended_at)):
                event = SessionEvent(EventKind.CHECK_DUE, due, {"check": check.name})
                pending.append((due, 1 + index, event))
        pending.sort(key=lambda item: (item[0], item[1]))
        events = [event for _, _, event in pending]
        for event in events:
            self.apply(event)
        return events

    # ---------------------------------------------------------------------- apply
    def apply(self, event: SessionEvent) -> None:
        """Fold one stored or new event into the state, validating it first.

        Sensor and clock-step events are accepted and ignored (they do not change the session).

        Raises:
            SessionError: a subclass naming the illegal transition.
            ValueError: the event time is naive.
        """
        kind = EventKind(event.kind)  # a plain string read back from storage becomes the enum
        if kind in _SENSOR_KINDS:
            return
        at = ensure_utc(event.at)
        if kind in _DERIVED_KINDS:
            self._apply_derived(kind, event, at)
        else:
            self._apply_command(kind, event, at)
        self._events.append(event)
        if self._watermark is None or at > self._watermark:
            self._watermark = at

    @classmethod
    def replay(cls, protocol: TreatmentProtocol, events: Iterable[SessionEvent]) -> SessionState:
        """Rebuild a session from its stored events, in stored order."""
        state = cls(protocol)
        for event in events:
            state.apply(event)
        return state

    def _apply_command(self, kind: EventKind, event: SessionEvent, at: datetime) -> None:
        what = kind.value.replace("_", " ")
        if kind is EventKind.SESSION_STARTED:
            if self._started_at is not None:
                raise SessionAlreadyStartedError(
                    f"the session was already started at {self._started_at.isoformat()}; it starts once")
        elif self._started_at is None:
            raise SessionNotStartedError(f"cannot record {what} at {at.isoformat()}: the session has "
                                         "not been started")
        elif self._ended_at is not None:
            raise SessionEndedError(f"cannot record {what} at {at.isoformat()}: the session ended at "
                                    f"{self._ended_at.isoformat()}")
        if self._watermark is not None and at < self._watermark:
            raise TimeOrderError(f"{what} at {at.isoformat()} is earlier than the last recorded event "
                                 f"({self._watermark.isoformat()}); time cannot go backwards")
        if kind is EventKind.SESSION_STARTED:
            self._started_at = at
        elif kind is EventKind.DOSE_GIVEN:
            if self._first_dose_at is not None:
                raise DoseAlreadyGivenError(f"the first dose was given at {self._first_dose_at.isoformat()}; "
                                            "record further doses with give_booster")
            check_dose_data(event.data)
            self._first_dose_at = self._last_dose_at = at
        elif kind is EventKind.BOOSTER_GIVEN:
            if self._first_dose_at is None:
                raise NoDoseError(f"booster at {at.isoformat()} before the first dose; give the first dose "
                                  "with give_dose")
            check_dose_data(event.data)
            self._last_dose_at = at
            self._booster_count += 1
        elif kind in (EventKind.CHECK_DONE, EventKind.CHECK_DISMISSED):
            self._resolve_check(kind, event, at)
        elif kind is EventKind.SESSION_RESUMED:
            self._resumed_at.append(at)
        else:
            assert kind is EventKind.SESSION_ENDED, kind
            self._ended_at = at
            self._end_reason = str(event.data.get("reason") or "")

    def _resolve_check(self, kind: EventKind, event: SessionEvent, at: datetime) -> None:
        check = self._known_check(event.data.get("check"))
        if self._resolved(check.name):
            done = self._done.get(check.name) or self._dismissed[check.name]
            how = "done" if check.name in self._done else "dismissed"
            raise CheckAlreadyResolvedError(
                f"check {check.name!r} was already {how} at {done[0].isoformat()}")
        if kind is EventKind.CHECK_DONE:
            if check.timing is not CheckTiming.PRE_DOSE and self._first_dose_at is None:
                raise NoDoseError(f"check {check.name!r} ({check.label}) belongs after the dose; "
                                  "no dose has been given yet")
            self._done[check.name] = (at, str(event.data.get("note") or ""))
        else:
            reason = event.data.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise InvalidEventDataError(
                    f"dismissing check {check.name!r} needs a reason (non-empty text)")
            self._dismissed[check.name] = (at, reason)

    def _apply_derived(self, kind: EventKind, event: SessionEvent, at: datetime) -> None:
        if kind is EventKind.PHASE_CHANGED:
            expected = {after.value: (when, before) for when, before, after in self._transitions()}
            phase = event.data.get("phase")
            if not isinstance(phase, str) or phase not in expected:
                raise InconsistentEventError(
                    f"phase change to {phase!r} at {at.isoformat()} does not follow from the session's "
                    f"doses and end (expected phases: {', '.join(expected) or 'none yet'})")
            when, before = expected[phase]
            if Phase(phase) in self._phases_announced:
                raise InconsistentEventError(f"phase change to {phase!r} was already recorded")
            if abs(at - when) > STAMP_TOLERANCE or event.data.get("from") != before.value:
                raise InconsistentEventError(
                    f"phase change {event.data.get('from')!r} -> {phase!r} at {at.isoformat()} disagrees "
                    f"with the session clock ({before.value!r} -> {phase!r} at {when.isoformat()})")
            self._phases_announced.add(Phase(phase))
            return
        check = self._known_check(event.data.get("check"))
        due = self._due_at(check)
        if check.name in self._checks_announced or self._resolved(check.name):
            raise InconsistentEventError(f"check {check.name!r} was already announced or resolved")
        if due is None or abs(at - due) > STAMP_TOLERANCE or (self._ended_at is not None
                                                              and due >= self._ended_at):
            raise InconsistentEventError(
                f"check {check.name!r} due at {at.isoformat()} disagrees with the session clock "
                f"(due at {due.isoformat() if due else 'an unknown time'})")
        self._checks_announced.add(check.name)

    # ------------------------------------------------------------------- queries
    def phase_at(self, moment: datetime) -> Phase:
        """The phase at ``moment`` as far as the events so far tell (before start: preparation)."""
        moment = ensure_utc(moment)
        return phase_at(self._transitions(), moment)

    def snapshot(self, now: datetime) -> SessionSnapshot:
        """Everything the screen needs at ``now``, computed (never counted) from the event times.

        Elapsed times and the minimum observation stop at the end of the session.
        """
        now = ensure_utc(now)
        ref = now if self._ended_at is None else min(now, self._ended_at)
        phase = self.phase_at(now)
        checks = tuple(self._check_status(c, now) for c in self._protocol.checks)
        min_obs_at = self._after_first_dose(self._protocol.min_observation_s)
        next_check = None if self._ended_at is not None else next_open_check(checks)
        following, following_at = next_phase(self._protocol, phase, self._first_dose_at)
        return SessionSnapshot(
            now=now, phase=phase, started_at=self._started_at, first_dose_at=self._first_dose_at,
            last_dose_at=self._last_dose_at, ended_at=self._ended_at, booster_count=self._booster_count,
            since_first_dose_s=_seconds(ref, self._first_dose_at),
            since_last_dose_s=_seconds(ref, self._last_dose_at),
            next_phase=following, time_to_next_phase_s=_seconds(following_at, now),
            next_check=next_check,
            time_to_next_check_s=None if next_check is None else _seconds(next_check.due_at, now),
            checks=checks,
            min_observation_met=min_obs_at is not None and ref >= min_obs_at,
            min_observation_at=min_obs_at,
            phase_bounds=phase_bounds(self._started_at, self._transitions(), now),
        )

    # ------------------------------------------------------------------ helpers
    def _after_first_dose(self, seconds: float) -> datetime | None:
        if self._first_dose_at is None:
            return None
        return self._first_dose_at + timedelta(seconds=seconds)

    def _transitions(self) -> list[PhaseChange]:
        return phase_changes(self._protocol, self._started_at, self._first_dose_at, self._ended_at)

    def _due_at(self, check: ScheduledCheck) -> datetime | None:
        if check.timing is CheckTiming.PRE_DOSE:
            return self._started_at
        offset = check.due_offset_s(self._protocol.min_observation_min)
        assert offset is not None
        return self._after_first_dose(offset)

    def _resolved(self, name: str) -> bool:
        return name in self._done or name in self._dismissed

    def _known_check(self, name: object) -> ScheduledCheck:
        if not isinstance(name, str) or name not in self._checks:
            known = ", ".join(self._checks) or "none"
            raise UnknownCheckError(f"unknown check {name!r} for protocol {self._protocol.name!r}; "
                                    f"known checks: {known}")
        return self._checks[name]

    def _check_status(self, check: ScheduledCheck, now: datetime) -> CheckStatus:
        due = self._due_at(check)
        done_at, reason, note = None, "", ""
        if check.name in self._done:
            state = "done"
            done_at, note = self._done[check.name]
        elif check.name in self._dismissed:
            state = "dismissed"
            done_at, reason = self._dismissed[check.name]
        elif due is not None and due <= now and (self._ended_at is None or due < self._ended_at):
            state = "due"
        else:
            state = "pending"
        return CheckStatus(name=check.name, label=check.label, timing=check.timing, due_at=due,
                           state=state, done_at=done_at, reason=reason, note=note,
                           grace_s=check.grace_min * 60.0)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()
