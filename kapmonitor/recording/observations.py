"""Observation revisions: how adding, correcting and withdrawing an observation is written.

Nothing is overwritten: a new observation is revision 1 of a fresh
``observation_id``; a correction is the next revision of the same id with the
changed fields; a withdrawal is a revision flagged ``deleted`` with a reason.
Every revision is stamped ``recorded_at`` (when it was written, on the caller's
clock) and keeps ``added_later`` once set; ``late=True`` sets it, for what is
written after the session ended.

Pure functions: the caller (the recorder at the bedside,
:mod:`kapmonitor.recording.late` after the session) saves what they return.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from kapmonitor.clock import ensure_utc
from kapmonitor.recording.listener import UNSET, Unset
from kapmonitor.types import Observation, ObservationKind, new_observation_id

__all__ = [
    "ObservationError",
    "checked_name",
    "checked_value",
    "latest_revision",
    "new_observation",
    "revise",
    "withdraw",
    "withdrawal_reason",
]


class ObservationError(ValueError):
    """An observation or a revision of one was refused; the message says what to change."""


def checked_name(name: str) -> str:
    """``name`` stripped; raises :class:`ObservationError` when blank."""
    if not name.strip():
        raise ObservationError("an observation needs a name (e.g. 'note', 'nausea', 'moaa_s')")
    return name.strip()


def checked_value(value: float | None) -> float | None:
    """``value`` itself; raises :class:`ObservationError` unless None or a finite number."""
    if value is not None and not math.isfinite(value):
        raise ObservationError(f"the value must be a finite number, got {value!r}")
    return value


def withdrawal_reason(reason: str) -> str:
    """``reason`` stripped; raises :class:`ObservationError` when blank (a withdrawal must say why)."""
    if not reason.strip():
        raise ObservationError("deleting an observation needs a reason")
    return reason.strip()


def new_observation(
    kind: ObservationKind,
    name: str,
    *,
    occurred_at: datetime,
    recorded_at: datetime,
    value: float | None = None,
    text: str = "",
    author: str = "",
    reason: str = "",
    late: bool = False,
    observation_id: str | None = None,
) -> Observation:
    """Revision 1 of a new observation (a fresh id unless ``observation_id`` is given).

    Raises:
        ObservationError: a blank name or a value that is not a finite number.
    """
    return Observation(
        observation_id=observation_id or new_observation_id(),
        revision=1,
        kind=kind,
        name=checked_name(name),
        occurred_at=ensure_utc(occurred_at),
        recorded_at=recorded_at,
        value=checked_value(value),
        text=text,
        author=author,
        reason=reason,
        added_later=late,
    )


def revise(
    previous: Observation,
    *,
    recorded_at: datetime,
    late: bool = False,
    reason: str = "",
    kind: ObservationKind | Unset = UNSET,
    name: str | Unset = UNSET,
    value: float | Unset | None = UNSET,
    text: str | Unset = UNSET,
    occurred_at: datetime | Unset = UNSET,
    author: str | Unset = UNSET,
    deleted: bool | Unset = UNSET,
) -> Observation:
    """The next revision of ``previous``: the given fields changed, the others (and ``deleted``) kept.

    ``reason`` is the revision's own (it replaces the previous one's).

    Raises:
        ObservationError: a blank name or a value that is not a finite number.
    """
    changes: dict[str, Any] = {"reason": reason}
    if not isinstance(kind, Unset):
        changes["kind"] = kind
    if not isinstance(name, Unset):
        changes["name"] = checked_name(name)
    if not isinstance(value, Unset):
        changes["value"] = checked_value(value)
    if not isinstance(text, Unset):
        changes["text"] = text
    if not isinstance(occurred_at, Unset):
        changes["occurred_at"] = ensure_utc(occurred_at)
    if not isinstance(author, Unset):
        changes["author"] = author
    if not isinstance(deleted, Unset):
        changes["deleted"] = deleted
    return replace(previous, revision=previous.revision + 1, recorded_at=recorded_at,
                   added_later=previous.added_later or late, **changes)


def withdraw(previous: Observation, reason: str, *, recorded_at: datetime, late: bool = False) -> Observation:
    """The next revision of ``previous``, flagged deleted, with ``reason`` (stripped).

    Raises:
        ObservationError: a blank reason (a withdrawal must say why).
    """
    why = withdrawal_reason(reason)
    return revise(previous, recorded_at=recorded_at, late=late, reason=why, deleted=True)


def latest_revision(revisions: Iterable[Observation], observation_id: str) -> Observation | None:
    """The highest revision of ``observation_id`` among ``revisions`` (None: no such observation)."""
    matching = [o for o in revisions if o.observation_id == observation_id]
    return max(matching, key=lambda o: o.revision) if matching else None
