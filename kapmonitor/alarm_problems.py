"""Alarms grouped per problem: one alarm per vital (or per sensor) at its highest priority.

Patient monitors show one alarm condition per problem (CLINICAL.md "Alarms"): a blood pressure of
192/112 is one problem, "blood pressure very high", not four alarms (systolic very high and high,
diastolic very high and high) to acknowledge one by one; a sensor that drops off is one problem
(signal lost, no heart rate data, no SpO2 data), not three. The engine still raises and logs every
rule on its own -- grouping is how alarms are shown and acknowledged, never a loss of recorded
facts.

* Physiological alarms group by vital: blood pressure (systolic, diastolic, mean), heart rate
  (heart rate, pulse rate, RR), SpO2. A stream outside these groups is a problem of its own.
* Technical alarms group by sensor (``sensor_id``); one without a sensor is a problem of its own.

Within a problem the *head* is the alarm shown: highest priority, then one still to be
acknowledged, then the oldest. Problems sort like alarms: highest priority first, then oldest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.types import AlarmCategory, AlarmPriority, AlarmState, Stream

__all__ = ["VITALS", "AlarmProblem", "Groupable", "group_alarms", "problem_key"]

VITALS: Final[dict[Stream, str]] = {
    Stream.BP_SYSTOLIC: "blood pressure",
    Stream.BP_DIASTOLIC: "blood pressure",
    Stream.BP_MEAN: "blood pressure",
    Stream.HEART_RATE: "heart rate",
    Stream.PULSE_RATE: "heart rate",
    Stream.RR_INTERVAL: "heart rate",
    Stream.SPO2: "SpO2",
}
"""The vital each stream measures; alarms on streams of one vital are one problem."""



class Groupable(Protocol):
    """What :func:`problem_key` reads (the engine's records and ``ActiveAlarm`` fit)."""

    @property
    def alarm_id(self) -> str: ...
    @property
    def category(self) -> AlarmCategory: ...
    @property
    def stream(self) -> Stream | None: ...
    @property
    def sensor_id(self) -> str | None: ...


def problem_key(alarm: Groupable) -> str:
    """``vital:blood pressure``, ``sensor:<id>`` or ``alarm:<id>`` (a problem of its own)."""
    if alarm.category is AlarmCategory.TECHNICAL:
        return f"sensor:{alarm.sensor_id}" if alarm.sensor_id else f"alarm:{alarm.alarm_id}"
    vital = VITALS.get(alarm.stream) if alarm.stream is not None else None
    return f"vital:{vital}" if vital else f"alarm:{alarm.alarm_id}"


def _head_key(alarm: ActiveAlarm) -> tuple[int, bool, float]:
    return (alarm.priority.rank, alarm.state is AlarmState.ACKNOWLEDGED, alarm.since.timestamp())


@dataclass(frozen=True)
class AlarmProblem:
    """One problem: the alarm shown (``head``) and the other alarms of the same vital or sensor.

    ``others`` are in head order (highest priority first); acknowledging the problem acts on
    all of :attr:`alarms`.
    """

    key: str
    head: ActiveAlarm
    others: tuple[ActiveAlarm, ...] = ()

    @property
    def alarms(self) -> tuple[ActiveAlarm, ...]:
        return (self.head, *self.others)

    @property
    def priority(self) -> AlarmPriority:
        return self.head.priority

    @property
    def state(self) -> AlarmState:
        """The head's state: the problem is as acknowledged, paused or latched as its head."""
        return self.head.state

    @property
    def acknowledged(self) -> bool:
        return all(a.state is AlarmState.ACKNOWLEDGED for a in self.alarms)

    @property
    def audible(self) -> bool:
        return any(a.audio_on for a in self.alarms)


def group_alarms(alarms: Sequence[ActiveAlarm]) -> list[AlarmProblem]:
    """The problems among ``alarms`` (resolved ones left out), highest priority, then oldest first."""
    groups: dict[str, list[ActiveAlarm]] = {}
    for alarm in alarms:
        if alarm.state is not AlarmState.RESOLVED:
            groups.setdefault(problem_key(alarm), []).append(alarm)
    problems = []
    for key, members in groups.items():
        ordered = sorted(members, key=_head_key)
        problems.append(AlarmProblem(key, ordered[0], tuple(ordered[1:])))
    problems.sort(key=lambda p: (p.priority.rank, p.head.since.timestamp()))
    return problems
