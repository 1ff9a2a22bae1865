"""The alarm records the engine keeps: the mutable internal one and the snapshot the UI shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kapmonitor.types import AlarmCategory, AlarmPriority, AlarmState, AlarmTransition, Stream

__all__ = ["ActiveAlarm", "AlarmRecord"]



@dataclass(frozen=True)
class ActiveAlarm:
    """An alarm as the UI shows it (a snapshot; resolved alarms are not listed).

    Attributes:
        since: UTC wall time the alarm was raised.
        value: the latest value while the condition is present (the last one seen when it cleared).
        limit: the effective limit crossed (baseline-relative limits resolved to absolute values).
        audio_on: the alarm should sound (False when acknowledged or audio-paused).
        condition_present: False only for a latched high alarm whose condition has cleared.
        escalated: unacknowledged for ``escalate_after_s``; the UI raises the volume.
        sensor_id: the sensor a technical alarm is about (for "no data", the sensor that fed the
            stream).
        raised_value: the value when the alarm was raised (or raised again after latching);
            ``value`` moves on with later readings, this never does.
        paused_until_s: while audio-paused, the engine clock's monotonic time the pause ends.
        audio_pause_s: how long a press of "pause audio" silences the bedside (clinic setting).
    """

    alarm_id: str
    label: str
    priority: AlarmPriority
    category: AlarmCategory
    state: AlarmState
    since: datetime
    value: float | None
    limit: float | None
    stream: Stream | None
    audio_on: bool
    condition_present: bool
    escalated: bool
    sensor_id: str | None = None
    raised_value: float | None = None
    paused_until_s: float | None = None
    audio_pause_s: float = 120.0


@dataclass
class AlarmRecord:
    """One unresolved alarm inside the engine (mutable; never handed out)."""

    alarm_id: str
    label: str
    priority: AlarmPriority
    category: AlarmCategory
    stream: Stream | None
    sensor_id: str | None
    since: datetime
    audible_since: float
    value: float | None
    limit: float | None
    condition_present: bool = True
    acknowledged: bool = False
    paused_until: float | None = None
    escalated: bool = False
    sequence: int = 0
    """Raise order; sorts "oldest first" even if the wall clock is corrected meanwhile."""
    raised_value: float | None = None
    """The value when raised (set by the engine when it raises the alarm, and again on a re-raise)."""

    @property
    def state(self) -> AlarmState:
        if not self.condition_present:
            return AlarmState.LATCHED
        if self.acknowledged:
            return AlarmState.ACKNOWLEDGED
        if self.paused_until is not None:
            return AlarmState.AUDIO_PAUSED
        return AlarmState.ACTIVE

    @property
    def audio_on(self) -> bool:
        return not self.acknowledged and self.paused_until is None

    def sort_key(self) -> tuple[int, int, str]:
        return (self.priority.rank, self.sequence, self.alarm_id)

    def snapshot(self, audio_pause_s: float = 120.0) -> ActiveAlarm:
        return ActiveAlarm(
            self.alarm_id,
            self.label,
            self.priority,
            self.category,
            self.state,
            self.since,
            self.value,
            self.limit,
            self.stream,
            self.audio_on,
            self.condition_present,
            self.escalated,
            self.sensor_id,
            self.raised_value if self.raised_value is not None else self.value,
            self.paused_until,
            audio_pause_s,
        )

    def transition(
        self, at: datetime, action: str, detail: str = "", state: AlarmState | None = None
    ) -> AlarmTransition:
        """The alarm-log row for ``action``; ``state`` overrides the current state (e.g. RESOLVED)."""
        return AlarmTransition(
            at=at,
            alarm_id=self.alarm_id,
            label=self.label,
            priority=self.priority,
            category=self.category,
            state=state or self.state,
            action=action,
            stream=self.stream,
            value=self.value,
            limit=self.limit,
            detail=detail,
        )
