"""The central station's read of the clinic database (``db.station``), on SQLite and PostgreSQL.

Sessions are written by real stores of distinct rooms on one database, with leases as the store
takes them (``create_session(lease_holder=...)``, ``renew``); the station reads them back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from db.station import StationReader, station_rooms
from db.store import SqlStore
from kapmonitor.ports import JournalStatus, SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.station import room_json
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Phase,
    Reading,
    ReadingFlag,
    SensorInfo,
    SensorKind,
    SessionEvent,
    Stream,
)

_CUFF = ReadingFlag.SENSOR_TIMESTAMP


def _alarm(at: datetime, state: AlarmState, action: str, priority: AlarmPriority = AlarmPriority.HIGH,
           alarm_id: str = "spo2_low", value: float | None = 86.0) -> AlarmTransition:
    return AlarmTransition(at=at, alarm_id=alarm_id, label="SpO\u2082 low", priority=priority,
                           category=AlarmCategory.PHYSIOLOGICAL, state=state, action=action,
                           stream=Stream.SPO2, value=value, limit=90.0)


def _record_room(location: str, room: str, client: str, *, dosed_min_ago: float | None,
                 lease_s: float = 30.0) -> tuple[SqlStore, int]:
    store = SqlStore.open(location, room=room, lease_s=lease_s)
    now = datetime.now(UTC)
    started = now - timedelta(minutes=(dosed_min_ago or 0) + 5)
    sid = store.create_session(SessionSpec(client, PRESETS["sublingual"], dose_amount=100.0), started,
                               lease_holder=f"holder-{room}")
    store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, started))
    store.save_sensor(sid, SensorInfo("ble:AA", "Polar H10", (SensorKind.HEART_RATE,)))
    store.append_event(sid, SessionEvent(EventKind.SENSOR_CONNECTED, started, {"sensor_id": "ble:AA"}))
    if dosed_min_ago is not None:
        store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, now - timedelta(minutes=dosed_min_ago),
                                             {"amount": 100.0, "unit": "mg"}))
    return store, sid


def test_station_reads_each_rooms_live_session(db_location: str) -> None:
    a, sid_a = _record_room(db_location, "Room A", "K-0001", dosed_min_ago=50.0)
    b, sid_b = _record_room(db_location, "Room B", "K-0002", dosed_min_ago=None)
    ended, sid_e = _record_room(db_location, "Room C", "K-0003", dosed_min_ago=20.0)
    silent, sid_s = _record_room(db_location, "Room D", "K-0004", dosed_min_ago=5.0, lease_s=0.3)
    try:
        now = datetime.now(UTC)
        dose_a = now - timedelta(minutes=50)
        a.add_readings(sid_a, [
            Reading(Stream.HEART_RATE, 71.0, now - timedelta(seconds=6), "ble:AA"),
            Reading(Stream.HEART_RATE, 74.0, now - timedelta(seconds=3), "ble:AA"),
            Reading(Stream.SPO2, 86.0, now - timedelta(seconds=2), "oxi:1"),
            Reading(Stream.BP_SYSTOLIC, 152.0, now - timedelta(minutes=4), "cuff", _CUFF),
            Reading(Stream.BP_DIASTOLIC, 91.0, now - timedelta(minutes=4), "cuff", _CUFF),
        ])
        a.flush()
        a.log_alarm(sid_a, _alarm(now - timedelta(seconds=2), AlarmState.ACTIVE, "raised"))
        a.log_alarm(sid_a, _alarm(now - timedelta(seconds=60), AlarmState.ACTIVE, "raised",
                                  AlarmPriority.LOW, "hr_drift"))
        a.log_alarm(sid_a, _alarm(now - timedelta(seconds=30), AlarmState.RESOLVED, "condition_cleared",
                                  AlarmPriority.LOW, "hr_drift"))
        a.append_event(sid_a, SessionEvent(EventKind.CHECK_DUE, dose_a + timedelta(minutes=40),
                                           {"check": "vitals_40_min"}))
        a.append_event(sid_a, SessionEvent(EventKind.SENSOR_LOST, now - timedelta(seconds=20),
                                           {"sensor_id": "ble:AA", "detail": "no data for 10 s"}))
        assert a.renew(sid_a, "holder-Room A", JournalStatus(observations=2, error="database is locked"))
        b.add_readings(sid_b, [Reading(Stream.HEART_RATE, 0.0, now - timedelta(seconds=1), "ble:AA",
                                       ReadingFlag.NO_CONTACT | ReadingFlag.IMPLAUSIBLE)])
        b.flush()
        ended.end_session(sid_e, now - timedelta(seconds=1), "done")
        time.sleep(0.4)  # Room D stops renewing: its 0.3 s lease expires

        rooms = station_rooms(a)
        assert [(r.room, r.session_id) for r in rooms] == [
            ("Room A", sid_a), ("Room B", sid_b), ("Room D", sid_s)]
        room_a, room_b, room_d = rooms

        assert room_a.live and room_a.client_code == "K-0001" and room_a.phase is Phase.EFFECT
        assert room_a.since_dose_s is not None and abs(room_a.since_dose_s - 3000) < 30
        assert room_a.heart_rate is not None and room_a.heart_rate.value == 74.0
        assert 2.5 < room_a.age_s(room_a.heart_rate.at) < 30
        assert room_a.spo2 is not None and room_a.spo2.value == 86.0
        bp = room_a.blood_pressure
        assert bp is not None and (bp.systolic, bp.diastolic) == (152.0, 91.0)
        assert [(x.alarm_id, x.priority, x.state) for x in room_a.alarms] == [
            ("spo2_low", AlarmPriority.HIGH, AlarmState.ACTIVE)]
        assert room_a.highest_priority is AlarmPriority.HIGH
        assert [c.name for c in room_a.checks_due] == ["vitals_40_min"]
        assert room_a.checks_due[0].label == "Blood pressure at +40 min"
        assert [(s.name, s.state and s.state.value, s.detail) for s in room_a.sensors] == [
            ("Polar H10", "lost", "no data for 10 s")]
        assert room_a.waiting == 2
        assert room_a.waiting_detail.startswith("2 notes are waiting for the database")

        assert room_b.live and room_b.phase is Phase.PREPARATION and room_b.since_dose_s is None
        assert room_b.heart_rate is not None and not room_b.heart_rate.usable
        assert room_b.heart_rate.unusable_reason == "impossible value"
        assert room_json(room_b)["heart_rate"]["value"] is None
        assert room_b.alarms == () and room_b.checks_due == ()

        assert not room_d.live and room_d.silent_for_s >= 0.35
        assert room_json(room_d)["silent_for_s"] >= 0.3
    finally:
        for store in (a, b, ended, silent):
            store.close()


def test_poll_follows_changes_and_reads_only_what_moved(db_location: str) -> None:
    store, sid = _record_room(db_location, "Room A", "K-0009", dosed_min_ago=45.0)
    try:
        reader = StationReader(store.engine)
        now = datetime.now(UTC)
        store.log_alarm(sid, _alarm(now, AlarmState.ACTIVE, "raised"))
        store.append_event(sid, SessionEvent(EventKind.CHECK_DUE, now - timedelta(minutes=5),
                                             {"check": "vitals_40_min"}))
        first = reader.rooms()[0]
        assert [x.state for x in first.alarms] == [AlarmState.ACTIVE] and first.checks_due
        assert first.heart_rate is None

        store.log_alarm(sid, _alarm(now + timedelta(seconds=1), AlarmState.ACKNOWLEDGED, "acknowledged"))
        store.append_event(sid, SessionEvent(EventKind.CHECK_DONE, now, {"check": "vitals_40_min"}))
        store.add_readings(sid, [Reading(Stream.HEART_RATE, 90.0, now, "ble:AA")])
        store.flush()
        second = reader.rooms()[0]
        assert [(x.state, x.raised_at) for x in second.alarms] == [(AlarmState.ACKNOWLEDGED, now)]
        assert second.checks_due == ()
        assert second.heart_rate is not None and second.heart_rate.value == 90.0

        store.log_alarm(sid, _alarm(now + timedelta(seconds=2), AlarmState.RESOLVED, "resolved"))
        third = reader.rooms()[0]
        assert third.alarms == () and third.heart_rate == second.heart_rate

        store.end_session(sid, now + timedelta(seconds=3), "done")
        assert reader.rooms() == []
    finally:
        store.close()
