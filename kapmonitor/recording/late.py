"""Late corrections: adding or correcting an observation after the session ended.

The revisions are built by :mod:`kapmonitor.recording.observations`, as at the
bedside, with ``late=True``: every revision written here has ``added_later`` and
``recorded_at`` = now (the injected clock), so the record shows what was written
at the bedside and what was written afterwards. The session must have ended: a
running session is corrected through its
:class:`~kapmonitor.recording.recorder.Recorder`.

:func:`add_late_observation` and :func:`correct_observation` write through the
store and block on it (the UI runs them on its database worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kapmonitor.clock import Clock
from kapmonitor.ports import SessionRecord, SessionStore
from kapmonitor.recording.listener import UNSET
from kapmonitor.recording.observations import (
    ObservationError,
    checked_name,
    checked_value,
    latest_revision,
    new_observation,
    revise,
)
from kapmonitor.types import Observation, ObservationKind

__all__ = ["LateInput", "LateObservationError", "add_late_observation", "check_late_input",
           "correct_observation"]


class LateObservationError(ObservationError):
    """A late observation was refused; the message says what to change."""


@dataclass(frozen=True, slots=True)
class LateInput:
    """What the therapist entered: an observation, or (with ``reason``) a correction of one."""

    kind: ObservationKind
    name: str
    value: float | None
    text: str
    occurred_at: datetime
    author: str
    reason: str = ""
    withdraw: bool = False


def check_late_input(record: SessionRecord, entry: LateInput, *, correcting: bool) -> None:
    """Refuse what cannot be written after the session.

    Raises:
        LateObservationError: the session has not ended, a blank name, a value that is not a
            finite number, a time outside the session, or a correction without a reason.
    """
    if record.ended_at is None:
        raise LateObservationError(
            f"session {record.session_id} has not ended: resume it to add observations, or close it first")
    try:
        checked_name(entry.name)
        checked_value(entry.value)
    except ObservationError as exc:
        raise LateObservationError(str(exc)) from None
    if not record.started_at <= entry.occurred_at <= record.ended_at:
        raise LateObservationError(
            f"the time must lie within the session ({record.started_at.astimezone():%H:%M} to "
            f"{record.ended_at.astimezone():%H:%M} local time)")
    if correcting and not entry.reason.strip():
        raise LateObservationError("a correction needs a reason (it is kept with the record)")


def add_late_observation(store: SessionStore, record: SessionRecord, clock: Clock,
                         entry: LateInput) -> Observation:
    """Save a new observation written after the session (revision 1, ``added_later``).

    Raises:
        LateObservationError: see :func:`check_late_input`.
    """
    check_late_input(record, entry, correcting=False)
    obs = new_observation(entry.kind, entry.name, occurred_at=entry.occurred_at, recorded_at=clock.now(),
                          value=entry.value, text=entry.text, author=entry.author.strip(),
                          reason=entry.reason, late=True)
    store.save_observation(record.session_id, obs)
    return obs


def correct_observation(store: SessionStore, record: SessionRecord, clock: Clock, observation_id: str,
                        entry: LateInput) -> Observation:
    """Save the next revision of ``observation_id``: a correction, or a withdrawal with ``withdraw``.

    Every field is taken from ``entry``; a blank author keeps the previous one.

    Raises:
        LateObservationError: see :func:`check_late_input`, or no such observation.
    """
    check_late_input(record, entry, correcting=True)
    latest = latest_revision(store.observations(record.session_id), observation_id)
    if latest is None:
        raise LateObservationError(f"session {record.session_id} has no observation {observation_id}")
    obs = revise(latest, recorded_at=clock.now(), late=True, reason=entry.reason.strip(), kind=entry.kind,
                 name=entry.name, value=entry.value, text=entry.text, occurred_at=entry.occurred_at,
                 author=entry.author.strip() or UNSET, deleted=entry.withdraw)
    store.save_observation(record.session_id, obs)
    return obs
