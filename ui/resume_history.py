"""What a resumed session had recorded before the interruption, read off the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass, field

from kapmonitor.ports import StreamData
from kapmonitor.types import AlarmTransition, Observation

__all__ = ["ResumedHistory"]


@dataclass(frozen=True)
class ResumedHistory:
    """A resumed session's stored history, loaded on the DB worker (``ui.app.history_loader``).

    Attributes:
        streams: the streams reloaded into the plots.
        client_code: the session's client code.
        observations: every stored revision of every observation (corrections and deletions
            included), so the observation panel shows them as they were and "History…" still has
            every revision.
        alarms: the session's alarm log (every transition, oldest first) for the bedside alarm
            list and the plots' alarm marks.
    """

    streams: list[StreamData]
    client_code: str
    observations: list[Observation] = field(default_factory=list)
    alarms: list[AlarmTransition] = field(default_factory=list)
