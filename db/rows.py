"""Row -> domain record conversions (small, pure, shared by the store and the export)."""

from __future__ import annotations

import logging

from db.models import AlarmLogRow, ObservationRow, SensorRow, SessionEventRow, SessionRow
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import TreatmentProtocol
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    SensorInfo,
    SensorKind,
    SessionEvent,
    Stream,
)

__all__ = ["alarm_from_row", "event_from_row", "observation_from_row", "sensor_from_row", "spec_from_row"]

log = logging.getLogger(__name__)


def spec_from_row(row: SessionRow, client_code: str) -> SessionSpec:
    return SessionSpec(
        client_code=client_code, protocol=TreatmentProtocol.from_dict(row.protocol),
        dose_amount=row.dose_amount, dose_unit=row.dose_unit, lot=row.lot,
        clinician_initials=row.clinician_initials, app_version=row.app_version, settings=dict(row.settings),
    )


def event_from_row(row: SessionEventRow) -> SessionEvent | None:
    """The event, or None (logged) for a kind this version does not know (written by a newer app)."""
    try:
        kind = EventKind(row.kind)
    except ValueError:
        log.warning("skipping session event %d of unknown kind %r", row.id, row.kind)
        return None
    return SessionEvent(kind=kind, at=row.at, data=dict(row.data))


def observation_from_row(row: ObservationRow) -> Observation:
    return Observation(
        observation_id=row.observation_id, revision=row.revision, kind=ObservationKind(row.kind),
        name=row.name, occurred_at=row.occurred_at, recorded_at=row.recorded_at, value=row.value,
        text=row.text, author=row.author, deleted=row.deleted, reason=row.reason, added_later=row.added_later,
    )


def alarm_from_row(row: AlarmLogRow) -> AlarmTransition:
    return AlarmTransition(
        at=row.at, alarm_id=row.alarm_id, label=row.label, priority=AlarmPriority(row.priority),
        category=AlarmCategory(row.category), state=AlarmState(row.state), action=row.action,
        stream=None if row.stream is None else Stream(row.stream), value=row.value, limit=row.limit_value,
        detail=row.detail,
    )


def sensor_from_row(row: SensorRow) -> SensorInfo:
    return SensorInfo(
        sensor_id=row.sensor_id, name=row.name, kinds=tuple(SensorKind(k) for k in row.kinds),
        manufacturer=row.manufacturer, model=row.model, serial=row.serial, firmware=row.firmware,
        body_location=row.body_location,
    )
