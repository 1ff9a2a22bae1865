"""Ending a session: at the bedside, or afterwards for one an interruption left unfinished.

Either way the end is written the same way (:func:`ending_events`): the derived
events that fell due before the end (phase changes, checks) first, then
``session_ended``, so the record replays to the same state.

An unfinished session (the app crashed, the power went) is closed at its last
recorded activity, not now: nobody monitored it after that. Closing it needs a
reason, kept on the record as ``closed after an interruption: <reason>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from kapmonitor.clock import ensure_utc
from kapmonitor.ports import SessionStore
from kapmonitor.session import SessionState
from kapmonitor.types import SessionEvent

if TYPE_CHECKING:  # kapmonitor.discharge reads the summary, which imports this package
    from kapmonitor.discharge import Discharge

__all__ = ["CLOSED_PREFIX", "close_unfinished", "closing_events", "ending_events"]

CLOSED_PREFIX = "closed after an interruption: "
"""How the end reason of a session closed afterwards begins."""


def ending_events(state: SessionState, at: datetime, reason: str = "",
                  discharge: Discharge | None = None) -> list[SessionEvent]:
    """End ``state`` at ``at``: the derived events due by then, then ``session_ended``; all applied.

    ``discharge``: the clinician's structured answers, kept in the ``session_ended`` data.

    Raises:
        kapmonitor.session_model.SessionError: the state refuses the end (not started, already
            ended, ``at`` before its last event).
    """
    answers = discharge.to_data() if discharge is not None else None
    return [*state.due_events(at), state.end(at, reason, answers)]


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise ValueError("closing an unfinished session needs a reason (it is kept with the record)")
    return reason.strip()


def closing_events(state: SessionState, last_activity_at: datetime, reason: str) -> list[SessionEvent]:
    """The events that close an unfinished session (replayed into ``state``), applied to it.

    The end is the later of ``last_activity_at`` and the state's last event.

    Raises:
        ValueError: a blank reason, or the session has already ended.
    """
    why = _require_reason(reason)
    if state.ended_at is not None:
        raise ValueError(f"session already ended at {state.ended_at.isoformat()}")
    end_at = ensure_utc(last_activity_at)
    for event in state.events:
        end_at = max(end_at, event.at)
    return ending_events(state, end_at, CLOSED_PREFIX + why)


def close_unfinished(store: SessionStore, session_id: int, reason: str) -> SessionEvent:
    """Close an unfinished session in ``store`` (see :func:`closing_events`); returns its ``session_ended``.

    Each event is durable before the next is written.

    Raises:
        ValueError: a blank reason, or the session has already ended.
        KeyError: no such session.
    """
    _require_reason(reason)
    record = store.session(session_id)
    if record.ended_at is not None:
        raise ValueError(f"session {session_id} already ended at {record.ended_at.isoformat()}")
    summary = next(s for s in store.sessions() if s.session_id == session_id)
    state = SessionState.replay(record.spec.protocol, store.events(session_id))
    events = closing_events(state, summary.last_activity_at, reason)
    for event in events:
        store.append_event(session_id, event)
    return events[-1]
