"""What the recorder tells the outside world, its error type and its "leave as it was" marker.

Listeners are called after the recorder's locks are released, from whichever
thread made the change (a sensor thread, the ticker, a command caller), so an
implementation must be thread-safe and must not block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.types import (
    AlarmTransition,
    Observation,
    Reading,
    SensorInfo,
    SensorStatus,
    SessionEvent,
)

__all__ = ["UNSET", "RecorderError", "RecorderListener", "Unset"]


class RecorderError(RuntimeError):
    """A recorder command was used in a way that cannot work (e.g. no session running)."""


class RecorderListener(Protocol):
    """Hears what the recorder did. Called from non-GUI threads; must not block."""

    def reading_recorded(self, reading: Reading) -> None: ...

    def sensor_status_changed(self, status: SensorStatus) -> None: ...

    def sensor_info_received(self, info: SensorInfo) -> None: ...

    def event_recorded(self, event: SessionEvent) -> None: ...

    def observation_saved(self, observation: Observation) -> None: ...

    def alarms_changed(
        self, transitions: Sequence[AlarmTransition], active: Sequence[ActiveAlarm]
    ) -> None: ...

    def snapshot_updated(self, snapshot: SessionSnapshot) -> None: ...

    def error_occurred(self, message: str) -> None: ...


class Unset:
    """Marks an argument of an observation revision as 'leave as it was'.

    Used by :meth:`Recorder.edit_observation` and :func:`kapmonitor.recording.observations.revise`.
    """

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()
