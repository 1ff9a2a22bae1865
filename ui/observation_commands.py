"""The observation panel's link to the recorder: every committing call goes through the DB worker.

:class:`ObservationCommands` turns what the therapist did (a note, a tag, a
score, hand-entered vitals, a check done or dismissed, an edit, a deletion)
into Recorder calls run by ``DbWorker.run_in_worker`` -- one worker, in
order, never on the GUI thread -- and reports back on the GUI thread:
``on_saved(result)`` only after the durable commit, ``on_failed(message)``
with words the therapist can act on. Widgets never call the recorder directly.

A new observation carries its identity and time from the moment it was
entered (:meth:`ObservationCommands.stamp`, ``kapmonitor.types.new_observation_id``):
when it could not be saved -- ``StoreError``, e.g. even the journal's disk is
full; nothing was recorded -- :meth:`ObservationCommands.add` reports it to
``on_not_saved(message)`` when given, and the caller retries with the same
``observation_id`` and ``occurred_at``: the recorder then keeps one
observation, entered when the therapist entered it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from kapmonitor.clock import Clock
from kapmonitor.ports import StoreError
from kapmonitor.recording import RecorderError
from kapmonitor.types import Observation, ObservationKind, SessionEvent

__all__ = ["ObservationCommands", "ObservationRecorder", "RunInWorker", "error_text"]

log = logging.getLogger(__name__)

T = TypeVar("T")
RunInWorker = Callable[
    [Callable[[], Any], Callable[[Any], None] | None, Callable[[BaseException], None] | None], None
]
"""``DbWorker.run_in_worker``: ``(fn, on_done, on_error)``."""


class ObservationRecorder(Protocol):
    """The part of ``kapmonitor.recording.Recorder`` the observation UI uses."""

    @property
    def clock(self) -> Clock: ...

    @property
    def session_id(self) -> int | None: ...

    def add_observation(
        self,
        kind: ObservationKind,
        name: str,
        *,
        value: float | None = ...,
        text: str = ...,
        occurred_at: datetime | None = ...,
        author: str = ...,
        observation_id: str | None = ...,
    ) -> Observation: ...

    def edit_observation(
        self,
        observation_id: str,
        *,
        value: Any = ...,
        text: Any = ...,
        name: Any = ...,
        occurred_at: Any = ...,
        reason: str = ...,
    ) -> Observation: ...

    def delete_observation(self, observation_id: str, reason: str) -> Observation: ...

    def record_manual_vitals(
        self,
        *,
        systolic: float | None = ...,
        diastolic: float | None = ...,
        spo2: float | None = ...,
        heart_rate: float | None = ...,
        occurred_at: datetime | None = ...,
        author: str = ...,
    ) -> Observation: ...

    def complete_check(self, name: str, note: str = ...) -> SessionEvent: ...

    def dismiss_check(self, name: str, reason: str) -> SessionEvent: ...


def error_text(exc: BaseException) -> str:
    """A one-line message for the therapist (the exception's own message, which says what to do)."""
    text = str(exc).strip() or type(exc).__name__
    return text[0].upper() + text[1:]


class ObservationCommands:
    """Runs observation commands on the DB worker; see the module docstring.

    Args:
        recorder: the session's recorder.
        run_in_worker: ``DbWorker.run_in_worker``.
        clock: the app's clock (used when the recorder has no session clock of its own;
            "N minutes ago" is counted back from the session clock's ``now()``).
        author: clinician initials stored with each observation.
    """

    def __init__(
        self, recorder: ObservationRecorder, run_in_worker: RunInWorker, clock: Clock, author: str = ""
    ) -> None:
        self._recorder = recorder
        self._run = run_in_worker
        self._clock = clock
        self.author = author

    def _now(self) -> datetime:
        clock = getattr(self._recorder, "clock", None)
        return (clock if clock is not None else self._clock).now()

    def occurred_at(self, minutes_ago: int) -> datetime | None:
        """None for "now" (the recorder stamps it), else the session's now minus ``minutes_ago``."""
        if minutes_ago <= 0:
            return None
        return self._now() - timedelta(minutes=minutes_ago)

    def stamp(self, minutes_ago: int = 0) -> datetime:
        """When an entry made now happened: the session's now, less ``minutes_ago``.

        Taken once when the therapist enters something, so a retry keeps the time it was entered.
        """
        return self._now() - timedelta(minutes=max(0, minutes_ago))

    @property
    def session_id(self) -> int | None:
        """The recorder's session now (None: none running)."""
        return getattr(self._recorder, "session_id", None)

    def _submit(
        self,
        fn: Callable[[], T],
        on_saved: Callable[[T], None] | None,
        on_failed: Callable[[str], None] | None,
        what: str,
        on_not_saved: Callable[[str], None] | None = None,
    ) -> None:
        def failed(exc: BaseException) -> None:
            if on_not_saved is not None and isinstance(exc, StoreError):
                log.warning("%s not saved yet (kept, to be retried): %s", what, exc)
                on_not_saved(error_text(exc))
                return
            log.error("%s was not saved: %s", what, exc, exc_info=exc)
            if on_failed is not None:
                on_failed(error_text(exc))

        self._run(fn, on_saved, failed)

    def add(
        self,
        kind: ObservationKind,
        name: str,
        *,
        value: float | None = None,
        text: str = "",
        minutes_ago: int = 0,
        occurred_at: datetime | None = None,
        observation_id: str | None = None,
        session_id: int | None = None,
        on_saved: Callable[[Observation], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        on_not_saved: Callable[[str], None] | None = None,
    ) -> None:
        """Save a new observation (note, tag, scale score).

        Args:
            occurred_at: when it happened (default: ``minutes_ago`` before now; "now" is stamped
                by the recorder).
            observation_id: its identity (a retry passes the one of the first attempt).
            session_id: the session it was entered in; if another session is running by the
                time it is saved (a retry), it is refused rather than filed under the wrong client.
            on_not_saved: called instead of ``on_failed`` when it could not be saved
                (``StoreError``: nothing recorded); the caller keeps it and tries again.
        """
        at = occurred_at if occurred_at is not None else self.occurred_at(minutes_ago)
        rec, author = self._recorder, self.author

        def save() -> Observation:
            if session_id is not None and rec.session_id != session_id:
                raise RecorderError(f"it was entered in session {session_id}, which is no longer the "
                                    "open session; add it to that session's record from Past sessions")
            return rec.add_observation(kind, name, value=value, text=text, occurred_at=at, author=author,
                                       observation_id=observation_id)

        self._submit(save, on_saved, on_failed, kind.value, on_not_saved)  # a tag's name may be typed

    def edit(
        self,
        observation_id: str,
        *,
        text: str | None = None,
        value: float | None = None,
        set_value: bool = False,
        occurred_at: datetime | None = None,
        reason: str = "",
        on_saved: Callable[[Observation], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        """Save a corrected revision; only the given fields change (``set_value`` to change ``value``)."""
        kwargs: dict[str, Any] = {"reason": reason}
        if text is not None:
            kwargs["text"] = text
        if set_value:
            kwargs["value"] = value
        if occurred_at is not None:
            kwargs["occurred_at"] = occurred_at
        rec = self._recorder
        self._submit(
            lambda: rec.edit_observation(observation_id, **kwargs),
            on_saved,
            on_failed,
            f"edit of {observation_id}",
        )

    def delete(
        self,
        observation_id: str,
        reason: str,
        *,
        on_saved: Callable[[Observation], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        rec = self._recorder
        self._submit(
            lambda: rec.delete_observation(observation_id, reason),
            on_saved,
            on_failed,
            f"deletion of {observation_id}",
        )

    def vitals(
        self,
        *,
        systolic: float | None,
        diastolic: float | None,
        spo2: float | None,
        heart_rate: float | None,
        minutes_ago: int = 0,
        occurred_at: datetime | None = None,
        on_saved: Callable[[Observation], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        """Save hand-entered vitals (MANUAL readings the alarms see, plus a VITAL observation).

        ``occurred_at`` (default: ``minutes_ago`` before now) lets a retry keep the time of entry.
        """
        at = occurred_at if occurred_at is not None else self.occurred_at(minutes_ago)
        rec, author = self._recorder, self.author
        self._submit(
            lambda: rec.record_manual_vitals(
                systolic=systolic,
                diastolic=diastolic,
                spo2=spo2,
                heart_rate=heart_rate,
                occurred_at=at,
                author=author,
            ),
            on_saved,
            on_failed,
            "manual vitals",
        )

    def complete_check(
        self,
        name: str,
        note: str = "",
        *,
        on_saved: Callable[[SessionEvent], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        rec = self._recorder
        self._submit(lambda: rec.complete_check(name, note), on_saved, on_failed, f"check {name!r}")

    def dismiss_check(
        self,
        name: str,
        reason: str,
        *,
        on_saved: Callable[[SessionEvent], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        rec = self._recorder
        self._submit(lambda: rec.dismiss_check(name, reason), on_saved, on_failed, f"dismissal of {name!r}")
