"""Row -> domain record conversions (small, pure, shared by the store, the SQLite reader and the export),
and the one way both take a driver cursor (:func:`cursor_of`).

The converters take anything with the columns' attributes: the ORM rows of :class:`db.store.SqlStore`
or the plain tuples of :class:`db.sqlite_read.SqliteReader`, so both read a session into the same
records. Nothing here imports SQLAlchemy or numpy at import time: ``kapmonitor sessions`` and the CSV
export load neither (issue 16).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from db.errors import store_error
from kapmonitor.ports import SessionRecord, SessionSpec, SessionSummary, StreamData
from kapmonitor.protocols import TreatmentProtocol
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Phase,
    SensorInfo,
    SensorKind,
    SessionEvent,
    Stream,
)

__all__ = [
    "EPOCH", "alarm_from_row", "cursor_of", "event_from_row", "from_epoch_ms", "observation_from_row",
    "phase_ranks", "record_from_row", "sensor_from_row", "spec_from_row", "stream_from_rows", "stream_sql",
    "summary_from_values", "to_epoch_ms",
]

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_HALF_MS = timedelta(microseconds=500)
_PHASES = list(Phase)


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch for an aware datetime, rounded half up (``readings.t_ms``).

    Raises:
        ValueError: if ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; pass an aware UTC time")
    return (moment - EPOCH + _HALF_MS) // _MS


def from_epoch_ms(t_ms: int) -> datetime:
    """The aware UTC datetime of an epoch-millisecond count."""
    return EPOCH + timedelta(milliseconds=t_ms)


class SessionColumns(Protocol):
    """The ``sessions`` columns a session record is made of."""

    @property
    def id(self) -> int: ...
    @property
    def protocol(self) -> dict[str, Any]: ...
    @property
    def dose_amount(self) -> float | None: ...
    @property
    def dose_unit(self) -> str: ...
    @property
    def lot(self) -> str: ...
    @property
    def clinician_initials(self) -> str: ...
    @property
    def app_version(self) -> str: ...
    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def dose_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def end_reason(self) -> str: ...


class EventColumns(Protocol):
    """The ``session_events`` columns."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...


class ObservationColumns(Protocol):
    """The ``observations`` columns."""

    @property
    def observation_id(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def value(self) -> float | None: ...
    @property
    def text(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def added_later(self) -> bool: ...


class AlarmColumns(Protocol):
    """The ``alarm_log`` columns."""

    @property
    def at(self) -> datetime: ...
    @property
    def alarm_id(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def stream(self) -> str | None: ...
    @property
    def value(self) -> float | None: ...
    @property
    def limit_value(self) -> float | None: ...
    @property
    def detail(self) -> str: ...


class SensorColumns(Protocol):
    """The ``sensors`` columns."""

    @property
    def sensor_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kinds(self) -> list[str]: ...
    @property
    def manufacturer(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def serial(self) -> str | None: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def body_location(self) -> str | None: ...


def spec_from_row(row: SessionColumns, client_code: str) -> SessionSpec:
    return SessionSpec(
        client_code=client_code, protocol=TreatmentProtocol.from_dict(row.protocol),
        dose_amount=row.dose_amount, dose_unit=row.dose_unit, lot=row.lot,
        clinician_initials=row.clinician_initials, app_version=row.app_version, settings=dict(row.settings),
    )


def record_from_row(row: SessionColumns, client_code: str) -> SessionRecord:
    return SessionRecord(session_id=row.id, spec=spec_from_row(row, client_code), started_at=row.started_at,
                         dose_at=row.dose_at, ended_at=row.ended_at, end_reason=row.end_reason)


def event_from_row(row: EventColumns) -> SessionEvent | None:
    """The event, or None (logged) for a kind this version does not know (written by a newer app)."""
    try:
        kind = EventKind(row.kind)
    except ValueError:
        log.warning("skipping session event %d of unknown kind %r", row.id, row.kind)
        return None
    return SessionEvent(kind=kind, at=row.at, data=dict(row.data))


def observation_from_row(row: ObservationColumns) -> Observation:
    return Observation(
        observation_id=row.observation_id, revision=row.revision, kind=ObservationKind(row.kind),
        name=row.name, occurred_at=row.occurred_at, recorded_at=row.recorded_at, value=row.value,
        text=row.text, author=row.author, deleted=row.deleted, reason=row.reason, added_later=row.added_later,
    )


def alarm_from_row(row: AlarmColumns) -> AlarmTransition:
    return AlarmTransition(
        at=row.at, alarm_id=row.alarm_id, label=row.label, priority=AlarmPriority(row.priority),
        category=AlarmCategory(row.category), state=AlarmState(row.state), action=row.action,
        stream=None if row.stream is None else Stream(row.stream), value=row.value, limit=row.limit_value,
        detail=row.detail,
    )


def sensor_from_row(row: SensorColumns) -> SensorInfo:
    return SensorInfo(
        sensor_id=row.sensor_id, name=row.name, kinds=tuple(SensorKind(k) for k in row.kinds),
        manufacturer=row.manufacturer, model=row.model, serial=row.serial, firmware=row.firmware,
        body_location=row.body_location,
    )


def phase_ranks() -> list[tuple[EventKind, Phase | None, int]]:
    """``(event kind, the phase it names or None, its rank)``: how far each event shows a session got
    (``dose_given``: at least onset); the session list takes the highest of its events (0: none)."""
    ranks: list[tuple[EventKind, Phase | None, int]] = [
        (EventKind.PHASE_CHANGED, p, p.order) for p in Phase if p is not Phase.ENDED]
    return [*ranks, (EventKind.DOSE_GIVEN, None, Phase.ONSET.order)]


def summary_from_values(values: Sequence[Any]) -> SessionSummary:
    """One line of the session list from its columns (times already aware UTC), in this order: id, client
    code, protocol name, route, dose amount and unit, started, dose and end times, readings, observations
    and the last one's time, alarms and the last one's time, the last event's time, the highest
    :func:`phase_ranks` rank and the last reading's ``t_ms`` (:mod:`db.summaries`, :mod:`db.sqlite_read`)."""
    (sid, code, proto, route, dose, unit, started, dose_at, ended,
     n_read, n_obs, last_obs, n_alarm, last_alarm, last_event, rank, last_read) = values
    moments: list[datetime] = [started]
    moments += [m for m in (last_obs, last_alarm, last_event, ended) if m is not None]
    if last_read is not None:
        moments.append(from_epoch_ms(int(last_read)))
    return SessionSummary(
        session_id=sid, client_code=code, protocol_name=proto, route=route,
        dose_amount=dose, dose_unit=unit, started_at=started, dose_at=dose_at, ended_at=ended,
        last_activity_at=max(moments),
        phase_reached=_PHASES[int(rank or 0)],
        reading_count=int(n_read or 0), observation_count=int(n_obs or 0),
        alarm_count=int(n_alarm or 0),
    )


@contextmanager
def cursor_of(conn: Any, error: type[Exception], where: str) -> Iterator[Any]:
    """A cursor of the DBAPI connection ``conn``, closed after use; the driver's ``error`` (its
    ``Error`` class) raised meanwhile becomes the :class:`~kapmonitor.ports.StoreError` sentence for
    the database at ``where``."""
    try:
        cursor = conn.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    except error as exc:
        raise store_error(exc, where) from exc


def stream_sql(placeholder: str) -> str:
    """The query of one stream of one session (parameters: session id, stream name), time order,
    ties in write order; ``placeholder`` is the driver's parameter marker (``?`` or ``%s``)."""
    return (f"SELECT t_ms, value, flags FROM readings WHERE session_id = {placeholder} "
            f"AND stream = {placeholder} ORDER BY t_ms, id")


def stream_from_rows(rows: Iterable[tuple[int, float, int]], stream: Stream) -> StreamData:
    """The rows of :func:`stream_sql` as numpy arrays, built with ``np.fromiter`` straight from the
    cursor (PITFALLS #5); numpy is imported here, by the formats that read streams, not by the others."""
    import numpy as np

    arr = np.fromiter(rows, dtype=np.dtype([("t", np.int64), ("v", np.float64), ("f", np.int32)]))
    return StreamData(
        stream=stream,
        t=arr["t"] / 1000.0,
        value=np.ascontiguousarray(arr["v"]),
        flags=np.ascontiguousarray(arr["f"]),
    )
