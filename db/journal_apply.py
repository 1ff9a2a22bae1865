"""Applying a batch of journal entries to the database in one transaction.

The one writer thread (:mod:`db.journal_writer`) calls :func:`apply_batch`
with entries in sequence order. In ONE transaction it inserts the readings
(``executemany`` on the driver, PITFALLS #5) and advances their sessions'
counters, inserts the events (setting the session's dose and end times),
observation revisions, alarm-log rows and sensor details, and sets the
journal's mark to the batch's last sequence number. A failure rolls all of it
back, so the batch is simply retried later; a success can never be applied a
second time because entries at or below the mark are skipped on replay.

Sensor packets arrive as :data:`~kapmonitor.journal.ReadingRows`, already the
database's rows (converted once on the recording thread), flattened: the
batch's packets are chained and zipped back into row tuples at C level and
inserted with one ``executemany``, with no per-reading Python work here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, insert, select, tuple_, update

from db.models import (
    AlarmLogRow,
    JournalMarkRow,
    ObservationRow,
    SensorRow,
    SessionEventRow,
    SessionRow,
)
from db.sqltypes import to_epoch_ms
from db.writer import COUNTER_SQL, INSERT_COLUMNS, ReadingRowTuple, placeholders, session_totals
from kapmonitor.journal import AnyEntry, ReadingBatch, ReadingRows, kind_of
from kapmonitor.types import AlarmTransition, EventKind, Observation, SensorInfo, SessionEvent

__all__ = ["applied_seq", "apply_batch"]

log = logging.getLogger(__name__)

_SESSION_OF = itemgetter(1)

# What every batch runs, as plain SQL like the readings' insert: built as SQLAlchemy statements they
# cost more than the rest of a one-second batch together (the writer applies two a second while a
# session records; benchmarks/peer_openhrv.py).
_KNOWN_SQL = f"SELECT id FROM {SessionRow.__tablename__} WHERE id IN ({{marks}})"
_MARK_SQL = f"UPDATE {JournalMarkRow.__tablename__} SET applied_seq = {{ph}} WHERE journal_id = {{ph}}"


def applied_seq(conn: Connection, journal_id: str) -> int:
    """The highest sequence number of ``journal_id`` already in the database (0: none)."""
    found = conn.scalar(select(JournalMarkRow.applied_seq).where(JournalMarkRow.journal_id == journal_id))
    return int(found) if found is not None else 0


def _add_packets(rows: list[ReadingRowTuple], packets: list[ReadingRows]) -> None:
    """Append the rows of ``packets`` (flattened, :data:`~kapmonitor.journal.ReadingRows`) to ``rows``
    and empty ``packets``: one chain over all of them, zipped 6 by 6, all in C."""
    if packets:
        it = chain.from_iterable(packets)
        rows.extend(cast("zip[ReadingRowTuple]", zip(it, it, it, it, it, it, strict=True)))
        packets.clear()


def apply_batch(conn: Connection, journal_id: str, entries: Sequence[AnyEntry]) -> int:
    """Apply ``entries`` (sequence order) inside the caller's transaction; returns the new mark.

    Entries for a session the database does not have (it was replaced or restored
    from an older backup) are skipped and logged: they stay in the journal file.
    """
    if not entries:
        return applied_seq(conn, journal_id)
    wanted = tuple(set(map(_SESSION_OF, entries)))
    known = {int(row[0]) for row in conn.exec_driver_sql(
        _KNOWN_SQL.format(marks=placeholders(conn, len(wanted))), wanted)}
    readings: list[ReadingRowTuple] = []
    events: list[dict[str, Any]] = []
    observations: list[Observation] = []
    obs_sessions: dict[tuple[str, int], int] = {}
    alarms: list[dict[str, Any]] = []
    sensors: dict[tuple[int, str], SensorInfo] = {}
    doses: dict[int, Any] = {}
    ends: dict[int, tuple[Any, str]] = {}
    packets: list[ReadingRows] = []
    add_packet = packets.append
    for entry in entries:
        seq, sid, item = entry
        if sid not in known:
            log.error("journal entry %d (%s) belongs to session %d, which the database does not have; "
                      "it is kept in the journal file only", seq, kind_of(item), sid)
            continue
        if type(item) is tuple:  # ReadingRows of session sid (kapmonitor.journal.reading_rows)
            add_packet(item)
        elif isinstance(item, ReadingBatch):  # a line of an earlier version's journal
            _add_packets(readings, packets)  # rows in journal order
            readings.extend((sid, r.stream.value, to_epoch_ms(r.at), float(r.value), r.sensor_id,
                             int(r.flags)) for r in item.readings)
        elif isinstance(item, SessionEvent):
            events.append({"session_id": sid, "kind": item.kind.value, "at": item.at,
                           "data": dict(item.data)})
            if item.kind is EventKind.DOSE_GIVEN and sid not in doses:
                doses[sid] = item.at
            elif item.kind is EventKind.SESSION_ENDED:
                ends[sid] = (item.at, str(item.data.get("reason") or ""))
        elif isinstance(item, Observation):
            observations.append(item)
            obs_sessions[(item.observation_id, item.revision)] = sid
        elif isinstance(item, AlarmTransition):
            t = item
            alarms.append({"session_id": sid, "at": t.at, "alarm_id": t.alarm_id, "label": t.label,
                           "priority": t.priority.value, "category": t.category.value, "state": t.state.value,
                           "action": t.action, "stream": None if t.stream is None else t.stream.value,
                           "value": t.value, "limit_value": t.limit, "detail": t.detail})
        elif isinstance(item, SensorInfo):
            sensors[(sid, item.sensor_id)] = item
    _add_packets(readings, packets)
    if readings:
        _insert_readings(conn, readings)
    if events:
        conn.execute(insert(SessionEventRow), events)
        for sid, at in doses.items():
            conn.execute(update(SessionRow).where(SessionRow.id == sid, SessionRow.dose_at.is_(None))
                         .values(dose_at=at))
        for sid, (at, reason) in ends.items():
            conn.execute(update(SessionRow).where(SessionRow.id == sid)
                         .values(ended_at=at, end_reason=reason))
    if observations:
        _insert_observations(conn, observations, obs_sessions)
    if alarms:
        conn.execute(insert(AlarmLogRow), alarms)
    for (sid, _), info in sensors.items():
        _upsert_sensor(conn, sid, info)
    mark = entries[-1][0]
    done = conn.exec_driver_sql(_MARK_SQL.format(ph=placeholders(conn, 1)), (mark, journal_id))
    if done.rowcount == 0:
        conn.execute(insert(JournalMarkRow).values(journal_id=journal_id, applied_seq=mark))
    return mark


def _insert_readings(conn: Connection, rows: list[ReadingRowTuple]) -> None:
    sql = f"INSERT INTO readings ({INSERT_COLUMNS}) VALUES ({placeholders(conn, 6)})"
    conn.exec_driver_sql(sql, rows)
    counters = [(n, latest, latest, sid) for sid, (n, latest) in session_totals(rows).items()]
    conn.exec_driver_sql(COUNTER_SQL.format(ph=placeholders(conn, 1)), counters)


def _insert_observations(conn: Connection, observations: list[Observation],
                         sessions: dict[tuple[str, int], int]) -> None:
    keys = list(sessions)
    found = conn.execute(select(ObservationRow.observation_id, ObservationRow.revision)
                         .where(tuple_(ObservationRow.observation_id, ObservationRow.revision).in_(keys)))
    stored = {(str(obs_id), int(revision)) for obs_id, revision in found}
    rows: list[dict[str, Any]] = []
    for o in observations:
        key = (o.observation_id, o.revision)
        if key in stored:
            log.warning("observation %s revision %d is already stored; not stored twice", *key)
            continue
        stored.add(key)
        rows.append({"session_id": sessions[key], "observation_id": o.observation_id, "revision": o.revision,
                     "kind": o.kind.value, "name": o.name, "value": o.value, "text": o.text,
                     "author": o.author, "deleted": o.deleted, "reason": o.reason,
                     "added_later": o.added_later, "occurred_at": o.occurred_at,
                     "recorded_at": o.recorded_at})
    if rows:
        conn.execute(insert(ObservationRow), rows)


def _upsert_sensor(conn: Connection, session_id: int, info: SensorInfo) -> None:
    fields = {"name": info.name, "kinds": [k.value for k in info.kinds], "model": info.model,
              "manufacturer": info.manufacturer, "serial": info.serial, "firmware": info.firmware,
              "body_location": info.body_location}
    done = conn.execute(update(SensorRow).where(SensorRow.session_id == session_id,
                                                SensorRow.sensor_id == info.sensor_id).values(**fields))
    if done.rowcount == 0:
        conn.execute(insert(SensorRow).values(session_id=session_id, sensor_id=info.sensor_id, **fields))

