"""SqlStore round trips, summaries, durability and threads, on SQLite and on PostgreSQL (``db_location``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Connection

from db.engine import create_engine_for
from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec, SessionStore
from kapmonitor.protocols import PRESETS
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Phase,
    Reading,
    ReadingFlag,
    SensorInfo,
    SensorKind,
    SessionEvent,
    Stream,
)

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(db_location: str) -> Iterator[SqlStore]:
    s = SqlStore.open(db_location, clock=FakeClock(T0), flush_interval_s=0.05)
    yield s
    s.close()


@contextmanager
def another_connection(location: str) -> Iterator[Connection]:
    """A connection of its own to the same database (as another process would have), autocommit."""
    engine = create_engine_for(location)
    try:
        with engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        engine.dispose()


def count(conn: Connection, sql: str) -> object:
    return conn.exec_driver_sql(sql).scalar()


def spec(code: str = "K-0042") -> SessionSpec:
    return SessionSpec(code, PRESETS["sublingual"], dose_amount=100.0, lot="L7",
                       clinician_initials="AB", app_version="0.1.0", settings={"hr_high": 130})


def obs(oid: str, rev: int, **kw: object) -> Observation:
    fields: dict[str, object] = dict(kind=ObservationKind.NOTE, name="note", occurred_at=at(600),
                                     recorded_at=at(610 + rev), text=f"rev {rev}")
    fields.update(kw)
    return Observation(observation_id=oid, revision=rev, **fields)  # type: ignore[arg-type]


def alarm(t: float, **kw: object) -> AlarmTransition:
    fields: dict[str, object] = dict(at=at(t), alarm_id="hr_high", label="Heart rate high",
                                     priority=AlarmPriority.MEDIUM, category=AlarmCategory.PHYSIOLOGICAL,
                                     state=AlarmState.ACTIVE, action="raised", stream=Stream.HEART_RATE,
                                     value=131.0, limit=130.0, detail="above limit for 10 s")
    fields.update(kw)
    return AlarmTransition(**fields)  # type: ignore[arg-type]


def test_satisfies_the_protocol(store: SqlStore) -> None:
    assert isinstance(store, SessionStore)


def test_session_round_trip(store: SqlStore) -> None:
    sid = store.create_session(spec(), at(0))
    rec = store.session(sid)
    assert rec.spec == spec()
    assert rec.started_at == at(0)
    assert rec.dose_at is None
    assert rec.ended_at is None
    store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, at(0)))
    store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, at(300), {"amount": 100.0, "unit": "mg"}))
    store.append_event(sid, SessionEvent(EventKind.BOOSTER_GIVEN, at(1800), {"amount": 25.0, "unit": "mg"}))
    store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, at(1900), {"amount": 1.0, "unit": "mg"}))
    store.end_session(sid, at(7200), "fit to leave")
    rec = store.session(sid)
    assert rec.dose_at == at(300), "the first dose anchors the session; later ones do not move it"
    assert rec.ended_at == at(7200)
    assert rec.end_reason == "fit to leave"
    kinds = [e.kind for e in store.events(sid)]
    assert kinds == [EventKind.SESSION_STARTED, EventKind.DOSE_GIVEN, EventKind.BOOSTER_GIVEN,
                     EventKind.DOSE_GIVEN, EventKind.SESSION_ENDED]
    assert store.events(sid)[1].data == {"amount": 100.0, "unit": "mg"}
    assert all(e.at.tzinfo is UTC for e in store.events(sid))
    with pytest.raises(KeyError):
        store.session(sid + 1)


def test_clients_are_shared_by_code(store: SqlStore) -> None:
    a = store.create_session(spec("K-1"), at(0))
    b = store.create_session(spec("K-1"), at(10))
    assert store.session(a).spec.client_code == store.session(b).spec.client_code == "K-1"
    with pytest.raises(ValueError, match="client code"):
        store.create_session(spec("  "), at(0))


def test_observation_revisions_and_deletion_are_appended(store: SqlStore) -> None:
    sid = store.create_session(spec(), at(0))
    store.save_observation(sid, obs("o1", 1))
    store.save_observation(sid, obs("o2", 1, kind=ObservationKind.SCALE, name="sedation", value=2.0))
    store.save_observation(sid, obs("o1", 2, text="edited"))
    store.save_observation(sid, obs("o1", 3, deleted=True, reason="wrong client", author="AB"))
    got = store.observations(sid)
    assert [(o.observation_id, o.revision) for o in got] == [("o1", 1), ("o2", 1), ("o1", 2), ("o1", 3)]
    assert got[0] == obs("o1", 1)
    assert got[1].value == 2.0
    assert got[1].kind is ObservationKind.SCALE
    assert got[3].deleted
    assert got[3].reason == "wrong client"
    with pytest.raises(ValueError, match="already stored"):
        store.save_observation(sid, obs("o1", 2, text="overwrite attempt"))
    assert store.observations(sid)[2].text == "edited"


def test_alarm_log_round_trip(store: SqlStore) -> None:
    sid = store.create_session(spec(), at(0))
    a1 = alarm(100)
    a2 = alarm(90, alarm_id="sensor_lost", label="Signal lost", priority=AlarmPriority.LOW,
               category=AlarmCategory.TECHNICAL, stream=None, value=None, limit=None, detail="")
    store.log_alarm(sid, a1)
    store.log_alarm(sid, a2)
    assert store.alarms(sid) == [a2, a1]


def test_sensors_are_recorded_and_updated(store: SqlStore) -> None:
    sid = store.create_session(spec(), at(0))
    info = SensorInfo("AA:BB:CC:DD:EE:FF", "Polar H10", (SensorKind.HEART_RATE,), manufacturer="Polar")
    store.save_sensor(sid, info)
    updated = SensorInfo("AA:BB:CC:DD:EE:FF", "Polar H10", (SensorKind.HEART_RATE,), manufacturer="Polar",
                         firmware="3.1", body_location="chest")
    store.save_sensor(sid, updated)
    assert store.sensors(sid) == [updated]


def test_settings_round_trip(store: SqlStore) -> None:
    assert store.get_setting("clinic") is None
    store.put_setting("clinic", {"alarms": {"hr_high": 130}, "tags": ["nausea"]})
    store.put_setting("clinic", {"alarms": {"hr_high": 125}, "tags": ["nausea", "crying"]})
    assert store.get_setting("clinic") == {"alarms": {"hr_high": 125}, "tags": ["nausea", "crying"]}
    with pytest.raises(ValueError, match="JSON"):
        store.put_setting("bad", {"x": float("nan")})


def test_readings_round_trip_sorted_as_arrays(store: SqlStore) -> None:
    sid = store.create_session(spec(), at(0))
    other = store.create_session(spec("K-2"), at(0))
    rng = np.random.default_rng(1)
    times = rng.permutation(500).astype(float) * 1.0 + 0.25
    hr = [Reading(Stream.HEART_RATE, 60.0 + i % 40, at(t), "s1",
                  ReadingFlag.ARTIFACT if i % 7 == 0 else ReadingFlag.NONE) for i, t in enumerate(times)]
    rr = [Reading(Stream.RR_INTERVAL, 800.0 + i, at(i * 0.8), "s1") for i in range(300)]
    store.add_readings(sid, hr[:200])
    store.add_readings(sid, hr[200:] + rr)
    store.add_readings(other, [Reading(Stream.HEART_RATE, 99.0, at(1), "s2")])
    store.flush()
    data = store.load_stream(sid, Stream.HEART_RATE)
    assert len(data) == 500
    assert data.t.dtype == np.float64
    assert data.value.dtype == np.float64
    assert data.flags.dtype == np.int32
    assert np.all(np.diff(data.t) > 0)
    expected = sorted(hr, key=lambda r: r.at)
    np.testing.assert_allclose(data.t, [r.at.timestamp() for r in expected], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(data.value, [r.value for r in expected])
    np.testing.assert_array_equal(data.flags, [int(r.flags) for r in expected])
    assert len(store.load_stream(sid, Stream.RR_INTERVAL)) == 300
    assert len(store.load_stream(sid, Stream.SPO2)) == 0
    assert len(store.load_stream(other, Stream.HEART_RATE)) == 1


def test_readings_refuse_bad_input_before_queueing(store: SqlStore) -> None:
    sid = store.create_session(spec(), at(0))
    with pytest.raises(ValueError, match="aware"):
        store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, datetime(2026, 1, 1), "s")])
    with pytest.raises(ValueError, match="finite"):
        store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, at(1), "s"),
                                 Reading(Stream.HEART_RATE, float("nan"), at(2), "s")])
    with pytest.raises(KeyError):
        store.add_readings(sid + 10, [Reading(Stream.HEART_RATE, 70.0, at(1), "s")])
    store.flush()
    assert len(store.load_stream(sid, Stream.HEART_RATE)) == 0


def test_sessions_summary_counts_and_phase(store: SqlStore) -> None:
    a = store.create_session(spec("K-A"), at(0))
    b = store.create_session(spec("K-B"), at(3600))
    c = store.create_session(spec("K-C"), at(7200))
    store.append_event(a, SessionEvent(EventKind.DOSE_GIVEN, at(60), {"amount": 100.0}))
    store.append_event(a, SessionEvent(EventKind.PHASE_CHANGED, at(660),
                                       {"phase": "effect", "from": "onset"}))
    store.append_event(a, SessionEvent(EventKind.PHASE_CHANGED, at(3360),
                                       {"phase": "integration", "from": "effect"}))
    store.end_session(a, at(3500), "done")
    store.append_event(b, SessionEvent(EventKind.DOSE_GIVEN, at(3700), {"amount": 50.0}))
    store.add_readings(a, [Reading(Stream.HEART_RATE, 70.0, at(i), "s") for i in range(30)])
    store.add_readings(b, [Reading(Stream.SPO2, 97.0, at(3600 + i), "s") for i in range(5)])
    store.save_observation(a, obs("x", 1))
    store.save_observation(a, obs("x", 2))
    store.log_alarm(b, alarm(3650))
    store.add_readings(c, [Reading(Stream.BATTERY, 80.0, at(7250), "s"),
                           Reading(Stream.SPO2, 97.0, at(7240), "s")])
    store.flush()
    got = store.sessions()
    assert [s.session_id for s in got] == [c, b, a]
    sa, sb, sc = got[2], got[1], got[0]
    assert (sa.reading_count, sa.observation_count, sa.alarm_count) == (30, 2, 0)
    assert (sb.reading_count, sb.observation_count, sb.alarm_count) == (5, 0, 1)
    assert (sc.reading_count, sc.observation_count, sc.alarm_count) == (2, 0, 0)
    assert sa.phase_reached is Phase.INTEGRATION
    assert sa.ended_at == at(3500)
    assert sb.phase_reached is Phase.ONSET
    assert sc.phase_reached is Phase.PREPARATION
    assert sa.last_activity_at == at(3500)
    assert sb.last_activity_at == at(3700)
    assert sc.last_activity_at == at(7250), "the latest reading of any stream counts as activity"
    assert sa.client_code == "K-A"
    assert sa.protocol_name == "sublingual"
    assert sa.route == "sublingual"
    latest = store.latest_unfinished()
    assert latest is not None
    assert latest.session_id == c
    store.end_session(c, at(7300))
    store.end_session(b, at(7300))
    assert store.latest_unfinished() is None


def test_observation_durable_for_another_connection(store: SqlStore, db_location: str) -> None:
    sid = store.create_session(spec(), at(0))
    with another_connection(db_location) as other:
        store.save_observation(sid, obs("o1", 1))
        assert count(other, "SELECT count(*) FROM observations") == 1
        store.log_alarm(sid, alarm(5))
        assert count(other, "SELECT count(*) FROM alarm_log") == 1
        store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, at(9)))
        assert count(other, "SELECT count(*) FROM sessions WHERE dose_at IS NOT NULL") == 1


def test_readings_reach_disk_within_a_second_without_flush(db_location: str) -> None:
    store = SqlStore.open(db_location)  # default flush interval
    try:
        with another_connection(db_location) as other:
            sid = store.create_session(spec(), at(0))
            store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, at(i), "s") for i in range(10)])
            queued = time.monotonic()
            seen: object = 0
            while time.monotonic() - queued < 1.0:
                seen = count(other, "SELECT count(*) FROM readings")
                if seen == 10:
                    break
                time.sleep(0.02)
            assert seen == 10, "readings were not committed within 1 s"
    finally:
        store.close()


def test_close_commits_queued_readings_and_refuses_later_use(db_location: str) -> None:
    store = SqlStore.open(db_location, flush_interval_s=1.0)
    sid = store.create_session(spec(), at(0))
    store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, at(i), "s") for i in range(50)])
    store.close()
    store.close()
    reopened = SqlStore.open(db_location)
    try:
        assert len(reopened.load_stream(sid, Stream.HEART_RATE)) == 50
    finally:
        reopened.close()
    with pytest.raises(Exception, match="closed"):
        store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, at(99), "s")])


def test_calls_from_several_threads(store: SqlStore) -> None:
    sid = store.create_session(spec(), at(0))
    errors: list[BaseException] = []

    def sensor() -> None:
        try:
            for i in range(200):
                store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, at(i), "s")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def therapist(n: int) -> None:
        try:
            for i in range(15):
                store.save_observation(sid, obs(f"t{n}-{i}", 1))
                store.log_alarm(sid, alarm(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sensor)] + [threading.Thread(target=therapist, args=(n,))
                                                    for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.flush()
    assert errors == []
    assert len(store.load_stream(sid, Stream.HEART_RATE)) == 200
    assert len(store.observations(sid)) == 45
    assert len(store.alarms(sid)) == 45
