"""The phase time line of a session, as pure functions of its anchoring times.

CLINICAL.md default model: ``preparation`` (started, no dose) -> ``onset``
(first dose .. +onset) -> ``effect`` (.. +onset +effect window) ->
``integration`` (until ended) -> ``ended``. A phase boundary at or after the
end never happens: a session ended during onset has no later phase changes.
Everything here is computed from the times given, so the same times always
give the same answer (the basis of replay).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kapmonitor.protocols import TreatmentProtocol
from kapmonitor.types import Phase

__all__ = ["PhaseChange", "next_phase", "phase_at", "phase_bounds", "phase_changes"]

PhaseChange = tuple[datetime, Phase, Phase]
"""``(at, from_phase, to_phase)``."""


def phase_changes(protocol: TreatmentProtocol, started_at: datetime | None,
                  first_dose_at: datetime | None, ended_at: datetime | None) -> list[PhaseChange]:
    """Every phase change the given times imply, in time order (none before a start)."""
    if started_at is None:
        return []
    timeline: list[tuple[datetime, Phase]] = [(started_at, Phase.PREPARATION)]
    if first_dose_at is not None:
        for offset_s, phase in ((0.0, Phase.ONSET), (protocol.onset_s, Phase.EFFECT),
                                (protocol.effect_end_s, Phase.INTEGRATION)):
            at = first_dose_at + timedelta(seconds=offset_s)
            if ended_at is None or at < ended_at:
                timeline.append((at, phase))
    if ended_at is not None:
        timeline.append((ended_at, Phase.ENDED))
    return [(at, timeline[i][1], phase) for i, (at, phase) in enumerate(timeline[1:])]


def phase_at(changes: list[PhaseChange], moment: datetime) -> Phase:
    """The phase at ``moment`` given the changes (``preparation`` before the first change)."""
    phase = Phase.PREPARATION
    for at, _, after in changes:
        if at <= moment:
            phase = after
    return phase


def phase_bounds(started_at: datetime | None, changes: list[PhaseChange],
                 now: datetime) -> tuple[tuple[Phase, datetime, datetime | None], ...]:
    """``(phase, start, end)`` for each phase entered by ``now``; ``end`` None for the current one.

    Zero-length phases (a dose given at the very moment of start) are left out.
    """
    if started_at is None or now < started_at:
        return ()
    starts = [(started_at, Phase.PREPARATION)]
    starts += [(at, after) for at, _, after in changes if at <= now]
    bounds: list[tuple[Phase, datetime, datetime | None]] = []
    for i, (at, phase) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else None
        if end != at:
            bounds.append((phase, at, end))
    return tuple(bounds)


def next_phase(protocol: TreatmentProtocol, phase: Phase,
               first_dose_at: datetime | None) -> tuple[Phase | None, datetime | None]:
    """The phase after ``phase`` and when it starts (None when it waits on the therapist)."""
    if phase is Phase.PREPARATION:
        return Phase.ONSET, None
    if phase is Phase.INTEGRATION:
        return Phase.ENDED, None
    if phase is Phase.ENDED or first_dose_at is None:
        return None, None
    if phase is Phase.ONSET:
        return Phase.EFFECT, first_dose_at + timedelta(seconds=protocol.onset_s)
    return Phase.INTEGRATION, first_dose_at + timedelta(seconds=protocol.effect_end_s)
