"""The central station's read of the clinic database: every room's live session, by an indexed poll.

:func:`station_rooms` reads once; :class:`StationReader` is the poller the station keeps, which
remembers per session what it read last time so an unchanged part costs nothing:

* one listing query per poll: every session with ``ended_at`` NULL whose lease was renewed in
  the last :data:`LIVE_WINDOW` (``session_leases.expires_at`` index), with its lease, client,
  reading counters and the newest alarm-log and event ids (correlated ``max(id)`` per session);
* for a session whose ``reading_count``/``last_reading_ms`` moved: the latest heart rate, SpO2
  and blood pressure, one ``ORDER BY t_ms DESC LIMIT 1`` each on the ``(session_id, stream,
  t_ms)`` index -- never a scan of the readings;
* for a session whose newest alarm-log id moved: only the new transitions (``id >`` the last one
  seen), folded into the latest state per ``alarm_id``;
* for a session whose newest event id moved: only the new check and sensor events, folded into
  the checks due (``check_due`` without a later ``check_done``/``check_dismissed``) and each
  sensor's last link state, and the session's sensors again.

So 16 rooms recording at 1 Hz cost one listing and about 64 small indexed queries a second. Why
a poll and not PostgreSQL ``LISTEN/NOTIFY``: see ``docs/station.md``.

Times: ``now`` is the database server's clock (PostgreSQL ``clock_timestamp()``; SQLite, one
machine: this computer's), the same clock the leases are written with (``db.leases``).
Read-only: nothing here writes, claims a lease or migrates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from db.engine import describe_location
from db.errors import store_error
from db.models import (
    AlarmLogRow,
    ClientRow,
    ReadingRow,
    SensorRow,
    SessionEventRow,
    SessionLeaseRow,
    SessionRow,
)
from db.sqltypes import from_epoch_ms
from db.store import SqlStore
from kapmonitor.clock import ensure_utc
from kapmonitor.phases import phase_at, phase_changes
from kapmonitor.protocols import ProtocolError, TreatmentProtocol
from kapmonitor.station import (
    BloodPressure,
    CheckDue,
    RoomStatus,
    SensorLink,
    StationAlarm,
    StationUpdate,
    VitalValue,
)
from kapmonitor.types import AlarmPriority, AlarmState, EventKind, Phase, SensorState, Stream

__all__ = ["LIVE_WINDOW", "StationReader", "server_now", "station_rooms"]

LIVE_WINDOW: Final = timedelta(hours=12)
"""A session whose room has not renewed its lease for this long is no longer shown (left behind)."""

_CHECK_KINDS: Final = (EventKind.CHECK_DUE.value, EventKind.CHECK_DONE.value, EventKind.CHECK_DISMISSED.value)
_LINK_STATES: Final = {
    EventKind.SENSOR_CONNECTED.value: SensorState.CONNECTED,
    EventKind.SENSOR_RECONNECTING.value: SensorState.RECONNECTING,
    EventKind.SENSOR_LOST.value: SensorState.LOST,
    EventKind.SENSOR_DISCONNECTED.value: SensorState.DISCONNECTED,
}
_EVENT_KINDS: Final = (*_CHECK_KINDS, *_LINK_STATES)


def server_now(conn: Connection) -> datetime:
    """The database server's time: PostgreSQL's clock; SQLite (this machine) this computer's."""
    if conn.dialect.name == "postgresql":
        value = conn.scalar(select(func.clock_timestamp()))
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
    return datetime.now(UTC)


@dataclass(slots=True)
class _Seen:
    """What the reader remembers of one session between polls."""

    protocol: TreatmentProtocol | None = None
    reading_key: tuple[int, int | None] | None = None
    heart_rate: VitalValue | None = None
    spo2: VitalValue | None = None
    blood_pressure: BloodPressure | None = None
    last_alarm_id: int = 0
    alarms: dict[str, StationAlarm] = field(default_factory=dict)
    last_event_id: int = 0
    checks_due: dict[str, datetime] = field(default_factory=dict)
    links: dict[str, tuple[SensorState, datetime, str]] = field(default_factory=dict)
    sensor_names: dict[str, str] = field(default_factory=dict)


def _latest(conn: Connection, session_id: int, stream: Stream) -> tuple[int, float, int] | None:
    row = conn.execute(
        select(ReadingRow.t_ms, ReadingRow.value, ReadingRow.flags)
        .where(ReadingRow.session_id == session_id, ReadingRow.stream == stream.value)
        .order_by(ReadingRow.t_ms.desc()).limit(1)).first()
    return None if row is None else (int(row[0]), float(row[1]), int(row[2]))


def _vital(found: tuple[int, float, int] | None) -> VitalValue | None:
    return None if found is None else VitalValue(found[1], from_epoch_ms(found[0]), found[2])


def _read_vitals(conn: Connection, session_id: int, seen: _Seen) -> None:
    heart = _latest(conn, session_id, Stream.HEART_RATE) or _latest(conn, session_id, Stream.PULSE_RATE)
    seen.heart_rate = _vital(heart)
    seen.spo2 = _vital(_latest(conn, session_id, Stream.SPO2))
    systolic = _latest(conn, session_id, Stream.BP_SYSTOLIC)
    if systolic is None:
        seen.blood_pressure = None
        return
    t_ms, value, flags = systolic
    diastolic = conn.execute(
        select(ReadingRow.value, ReadingRow.flags)
        .where(ReadingRow.session_id == session_id, ReadingRow.stream == Stream.BP_DIASTOLIC.value,
               ReadingRow.t_ms == t_ms).limit(1)).first()
    seen.blood_pressure = BloodPressure(
        systolic=value, diastolic=None if diastolic is None else float(diastolic[0]),
        at=from_epoch_ms(t_ms), flags=flags | (0 if diastolic is None else int(diastolic[1])))


def _read_alarms(conn: Connection, session_id: int, seen: _Seen) -> None:
    rows = conn.execute(
        select(AlarmLogRow.id, AlarmLogRow.at, AlarmLogRow.alarm_id, AlarmLogRow.label, AlarmLogRow.priority,
               AlarmLogRow.state, AlarmLogRow.action, AlarmLogRow.value)
        .where(AlarmLogRow.session_id == session_id, AlarmLogRow.id > seen.last_alarm_id)
        .order_by(AlarmLogRow.id))
    for row_id, at, alarm_id, label, priority, state, action, value in rows:
        seen.last_alarm_id = max(seen.last_alarm_id, int(row_id))
        try:
            prio, st = AlarmPriority(priority), AlarmState(state)
        except ValueError:  # written by a newer app: show it as high rather than hide it
            prio, st = AlarmPriority.HIGH, AlarmState.ACTIVE
        if st is AlarmState.RESOLVED:
            seen.alarms.pop(alarm_id, None)
            continue
        before = seen.alarms.get(alarm_id)
        raised = at if before is None or action == "raised" else before.raised_at
        seen.alarms[alarm_id] = StationAlarm(alarm_id, label, prio, st, raised,
                                             None if value is None else float(value))


def _read_events(conn: Connection, session_id: int, seen: _Seen) -> None:
    rows = conn.execute(
        select(SessionEventRow.id, SessionEventRow.kind, SessionEventRow.at, SessionEventRow.data)
        .where(SessionEventRow.session_id == session_id, SessionEventRow.id > seen.last_event_id,
               SessionEventRow.kind.in_(_EVENT_KINDS))
        .order_by(SessionEventRow.id))
    for row_id, kind, at, data in rows:
        seen.last_event_id = max(seen.last_event_id, int(row_id))
        details: dict[str, Any] = data if isinstance(data, dict) else {}
        if kind in _LINK_STATES:
            sensor_id = str(details.get("sensor_id", ""))
            seen.links[sensor_id] = (_LINK_STATES[kind], at, str(details.get("detail", "")))
            continue
        name = str(details.get("check", ""))
        if kind == EventKind.CHECK_DUE.value:
            seen.checks_due[name] = at
        else:
            seen.checks_due.pop(name, None)
    for sensor_id, name in conn.execute(
            select(SensorRow.sensor_id, SensorRow.name).where(SensorRow.session_id == session_id)
            .order_by(SensorRow.id)):
        seen.sensor_names[sensor_id] = name


def _read_protocol(conn: Connection, session_id: int) -> TreatmentProtocol | None:
    stored = conn.scalar(select(SessionRow.protocol).where(SessionRow.id == session_id))
    try:
        return TreatmentProtocol.from_dict(stored) if isinstance(stored, dict) else None
    except ProtocolError:
        return None


def _phase(protocol: TreatmentProtocol | None, started_at: datetime, dose_at: datetime | None,
           now: datetime) -> Phase:
    if protocol is None:
        return Phase.PREPARATION if dose_at is None else Phase.ONSET
    return phase_at(phase_changes(protocol, started_at, dose_at, None), now)


def _checks(protocol: TreatmentProtocol | None, due: dict[str, datetime]) -> tuple[CheckDue, ...]:
    known = {} if protocol is None else {c.name: c for c in protocol.checks}
    out = []
    for name, at in sorted(due.items(), key=lambda item: item[1]):
        check = known.get(name)
        out.append(CheckDue(name, check.label if check else name.replace("_", " "), at,
                            check.grace_min * 60.0 if check else 600.0))
    return tuple(out)


def _sensors(seen: _Seen) -> tuple[SensorLink, ...]:
    ids = list(seen.sensor_names) + [s for s in seen.links if s not in seen.sensor_names]
    links = []
    for sensor_id in ids:
        state, at, detail = seen.links.get(sensor_id, (None, None, ""))
        links.append(SensorLink(sensor_id, seen.sensor_names.get(sensor_id, sensor_id), state, at, detail))
    return tuple(links)


class StationReader:
    """The station's poller on one database (read-only); call :meth:`rooms` every interval.

    Not thread-safe: one poller per thread (the station's worker, or the ``--json`` loop).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._where = describe_location(engine.url)
        self._seen: dict[int, _Seen] = {}

    def poll(self, now: datetime | None = None) -> StationUpdate:
        """Every live or silent session, by room then session id, at the server's time (or ``now``).

        Raises:
            StoreError: the database cannot be read (unreachable, locked, damaged), in its words.
        """
        try:
            with self._engine.connect() as conn:
                at = ensure_utc(now) if now is not None else server_now(conn)
                return StationUpdate(at, tuple(self._poll(conn, at)))
        except SQLAlchemyError as exc:
            raise store_error(exc, self._where) from exc

    def rooms(self, now: datetime | None = None) -> list[RoomStatus]:
        """:meth:`poll`'s rooms."""
        return list(self.poll(now).rooms)

    def _poll(self, conn: Connection, now: datetime) -> list[RoomStatus]:
        newest_alarm = (select(func.max(AlarmLogRow.id)).where(AlarmLogRow.session_id == SessionRow.id)
                        .scalar_subquery())
        newest_event = (select(func.max(SessionEventRow.id))
                        .where(SessionEventRow.session_id == SessionRow.id).scalar_subquery())
        since = now - LIVE_WINDOW
        lease = SessionLeaseRow
        listing = conn.execute(
            select(lease.session_id, lease.room, lease.renewed_at, lease.expires_at, lease.waiting,
                   lease.waiting_detail, ClientRow.code, SessionRow.protocol_name, SessionRow.started_at,
                   SessionRow.dose_at, SessionRow.reading_count, SessionRow.last_reading_ms,
                   newest_alarm, newest_event)
            .join(SessionRow, SessionRow.id == lease.session_id)
            .join(ClientRow, ClientRow.id == SessionRow.client_id)
            .where(lease.expires_at > since, lease.renewed_at > since, SessionRow.ended_at.is_(None))
            .order_by(lease.room, lease.session_id)).all()
        rooms: list[RoomStatus] = []
        for (session_id, room, renewed_at, expires_at, waiting, waiting_detail, code, protocol_name,
             started_at, dose_at, reading_count, last_reading_ms, alarm_id, event_id) in listing:
            seen = self._seen.get(session_id)
            if seen is None:
                seen = self._seen[session_id] = _Seen(protocol=_read_protocol(conn, session_id))
            reading_key = (int(reading_count or 0), last_reading_ms)
            if reading_key != seen.reading_key:
                _read_vitals(conn, session_id, seen)
                seen.reading_key = reading_key
            if alarm_id is not None and alarm_id > seen.last_alarm_id:
                _read_alarms(conn, session_id, seen)
            if event_id is not None and event_id > seen.last_event_id:
                _read_events(conn, session_id, seen)
            alarms = sorted(seen.alarms.values(), key=lambda a: (a.priority.rank, a.raised_at))
            rooms.append(RoomStatus(
                room=room, session_id=session_id, client_code=code, protocol_name=protocol_name,
                started_at=started_at, dose_at=dose_at,
                phase=_phase(seen.protocol, started_at, dose_at, now), now=now,
                renewed_at=renewed_at, expires_at=expires_at,
                heart_rate=seen.heart_rate, spo2=seen.spo2, blood_pressure=seen.blood_pressure,
                alarms=tuple(alarms), checks_due=_checks(seen.protocol, seen.checks_due),
                sensors=_sensors(seen), waiting=int(waiting or 0), waiting_detail=waiting_detail or ""))
        shown = {r.session_id for r in rooms}
        for gone in [sid for sid in self._seen if sid not in shown]:
            del self._seen[gone]
        return rooms


def station_rooms(source: Engine | SqlStore, now: datetime | None = None) -> list[RoomStatus]:
    """One read of every room's live or silent session (see :class:`StationReader` to poll)."""
    engine = source.engine if isinstance(source, SqlStore) else source
    return StationReader(engine).rooms(now)
