"""The observation panel's link to the recorder: every committing call goes through the DB worker.

:class:`ObservationCommands` turns what the therapist did (a note, a tag, a
score, hand-entered vitals, a check done or dismissed, an edit, a deletion)
into Recorder calls run by ``DbWorker.run_in_worker`` -- one worker, in
order, never on the GUI thread -- and reports back on the GUI thread:
``on_saved(result)`` only after the durable commit, ``on_failed(message)``
with words the therapist can act on. Widgets never call the recorder directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from kapmonitor.clock import Clock
from kapmonitor.types import Observation, ObservationKind, SessionEvent

__all__ = ["ObservationCommands", "ObservationRecorder", "RunInWorker", "error_text"]

log = logging.getLogger(__name__)

T = TypeVar("T")
RunInWorker = Callable[
    [Callable[[], Any], Callable[[Any], None] | None, Callable[[BaseException], None] | None], None
]
"""``DbWorker.run_in_worker``: ``(fn, on_done, on_error)``."""


class ObservationRecorder(Protocol):
    """The part of ``kapmonitor.recorder.Recorder`` the observation UI uses."""

    def add_observation(
        self,
        kind: ObservationKind,
        name: str,
        *,
        value: float | None = ...,
        text: str = ...,
        occurred_at: datetime | None = ...,
        author: str = ...,
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
        clock: the session clock ("N minutes ago" is counted back from its ``now()``).
        author: clinician initials stored with each observation.
    """

    def __init__(
        self, recorder: ObservationRecorder, run_in_worker: RunInWorker, clock: Clock, author: str = ""
    ) -> None:
        self._recorder = recorder
        self._run = run_in_worker
        self._clock = clock
        self.author = author

    def occurred_at(self, minutes_ago: int) -> datetime | None:
        """None for "now" (the recorder stamps it), else the clock's now minus ``minutes_ago``."""
        if minutes_ago <= 0:
            return None
        return self._clock.now() - timedelta(minutes=minutes_ago)

    def _submit(
        self,
        fn: Callable[[], T],
        on_saved: Callable[[T], None] | None,
        on_failed: Callable[[str], None] | None,
        what: str,
    ) -> None:
        def failed(exc: BaseException) -> None:
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
        on_saved: Callable[[Observation], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        """Save a new observation (note, tag, scale score)."""
        at = self.occurred_at(minutes_ago)
        rec, author = self._recorder, self.author
        self._submit(
            lambda: rec.add_observation(kind, name, value=value, text=text, occurred_at=at, author=author),
            on_saved,
            on_failed,
            f"{kind.value} {name!r}",
        )

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
        on_saved: Callable[[Observation], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        """Save hand-entered vitals (MANUAL readings the alarms see, plus a VITAL observation)."""
        at = self.occurred_at(minutes_ago)
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
