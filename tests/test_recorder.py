"""The recorder wiring sensors to the session state, the alarm engine and the store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from db.store import SqlStore
from devices.simulated import SimulatedSensor
from devices.simulated_faults import Fault
from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock, ScaledClock
from kapmonitor.ports import SessionSpec, StoreError
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder, RecorderError
from kapmonitor.session_model import SessionError, SessionSnapshot
from kapmonitor.types import (
    AlarmPriority,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Phase,
    Reading,
    ReadingFlag,
    SensorInfo,
    SensorState,
    SensorStatus,
    SessionEvent,
    Stream,
)


class ScriptedSensor:
    """A test sensor that delivers exactly what the test tells it to."""

    def __init__(self, sensor_id: str = "strap:1") -> None:
        self._id = sensor_id
        self.sink: Recorder | None = None
        self.stopped = False
        self.dose_times: list[object] = []

    @property
    def sensor_id(self) -> str:
        return self._id

    def start(self, sink: Recorder) -> None:  # type: ignore[override]
        self.sink = sink

    def stop(self) -> None:
        self.stopped = True

    def request_blood_pressure(self) -> bool:
        return False

    def dose_given(self, at: object) -> None:
        self.dose_times.append(at)


class Listener:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[SessionEvent] = []
        self.observations: list[Observation] = []
        self.transitions: list[AlarmTransition] = []
        self.active: list[ActiveAlarm] = []
        self.snapshots: list[SessionSnapshot] = []
        self.statuses: list[SensorStatus] = []
        self.infos: list[SensorInfo] = []
        self.errors: list[str] = []

    def reading_recorded(self, reading: Reading) -> None:
        self.readings.append(reading)

    def sensor_status_changed(self, status: SensorStatus) -> None:
        self.statuses.append(status)

    def sensor_info_received(self, info: SensorInfo) -> None:
        self.infos.append(info)

    def event_recorded(self, event: SessionEvent) -> None:
        self.events.append(event)

    def observation_saved(self, observation: Observation) -> None:
        self.observations.append(observation)

    def alarms_changed(self, transitions: Sequence[AlarmTransition], active: Sequence[ActiveAlarm]) -> None:
        self.transitions.extend(transitions)
        self.active = list(active)

    def snapshot_updated(self, snapshot: SessionSnapshot) -> None:
        self.snapshots.append(snapshot)

    def error_occurred(self, message: str) -> None:
        self.errors.append(message)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore.open(tmp_path / "rec.db")
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _spec(code: str = "K-001") -> SessionSpec:
    return SessionSpec(client_code=code, protocol=PRESETS["sublingual"], dose_amount=150.0)


def _recorder(store: SqlStore, clock: FakeClock) -> tuple[Recorder, Listener]:
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    listener = Listener()
    rec.add_listener(listener)
    return rec, listener


def _hr(
    clock: FakeClock, bpm: float, sensor: str = "strap:1", flags: ReadingFlag = ReadingFlag.NONE
) -> Reading:
    return Reading(Stream.HEART_RATE, bpm, clock.now(), sensor, flags)


def _feed(rec: Recorder, clock: FakeClock, bpm: float, seconds: int) -> None:
    for _ in range(seconds):
        clock.advance(1)
        rec.reading_received(_hr(clock, bpm))
        rec.tick()


def test_a_whole_session_is_recorded_with_phases_and_checks(store: SqlStore, clock: FakeClock) -> None:
    rec, heard = _recorder(store, clock)
    sid = rec.start_session(_spec())
    sensor = ScriptedSensor()
    rec.attach_sensor(sensor)
    assert sensor.sink is rec
    rec.status_changed(SensorStatus("strap:1", SensorState.CONNECTED, clock.now(), battery_pct=80))
    _feed(rec, clock, 70, 120)
    rec.complete_check("vitals_pre_dose")
    dose = rec.give_dose(amount=150)
    assert sensor.dose_times == [dose.at]
    assert rec.baseline(Stream.HEART_RATE) == 70
    for minutes in (5, 10, 50, 60):
        clock.advance(60 * minutes - 1)
        _feed(rec, clock, 72, 1)
    snap = rec.snapshot()
    assert snap is not None
    assert snap.phase is Phase.INTEGRATION
    store.flush()
    end = rec.end_session("client fit to leave")
    assert sensor.stopped
    assert end.kind is EventKind.SESSION_ENDED

    kinds = [e.kind for e in store.events(sid)]
    assert kinds[0] is EventKind.SESSION_STARTED
    assert EventKind.SENSOR_CONNECTED in kinds
    phases = [e.data["phase"] for e in store.events(sid) if e.kind is EventKind.PHASE_CHANGED]
    assert phases[-3:] == ["onset", "effect", "integration"]
    assert kinds[-1] is EventKind.SESSION_ENDED
    due = [e.data["check"] for e in store.events(sid) if e.kind is EventKind.CHECK_DUE]
    assert "vitals_40_min" in due
    hr = store.load_stream(sid, Stream.HEART_RATE)
    assert len(hr) == 124
    assert [e.kind for e in heard.events] == kinds
    assert store.session(sid).ended_at == end.at


def test_observations_are_committed_before_listeners_hear(store: SqlStore, clock: FakeClock) -> None:
    rec, heard = _recorder(store, clock)
    sid = rec.start_session(_spec())
    seen_in_db: list[bool] = []

    class Checker(Listener):
        def observation_saved(self, observation: Observation) -> None:
            ids = {(o.observation_id, o.revision) for o in store.observations(sid)}
            seen_in_db.append((observation.observation_id, observation.revision) in ids)

    rec.add_listener(Checker())
    clock.advance(30)
    note = rec.add_observation(ObservationKind.NOTE, "note", text="calm, eyes closed")
    tag = rec.add_observation(
        ObservationKind.TAG, "nausea", occurred_at=clock.now() - timedelta(minutes=2)
    )
    edited = rec.edit_observation(note.observation_id, text="calm, eyes closed, smiling", reason="typo")
    deleted = rec.delete_observation(tag.observation_id, "entered for the wrong client")
    assert seen_in_db == [True, True, True, True]
    assert edited.revision == 2
    assert edited.text == "calm, eyes closed, smiling"
    assert deleted.deleted
    assert deleted.reason == "entered for the wrong client"
    revisions = store.observations(sid)
    assert [(o.observation_id, o.revision) for o in revisions] == [
        (note.observation_id, 1), (tag.observation_id, 1), (note.observation_id, 2), (tag.observation_id, 2)
    ]
    assert revisions[0].text == "calm, eyes closed"  # nothing overwritten
    latest = rec.observations()
    assert [o.name for o in latest] == ["nausea", "note"]  # by when it happened
    assert len(heard.observations) == 4


def test_bad_observation_input_changes_nothing(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    sid = rec.start_session(_spec())
    with pytest.raises(ValueError, match="needs a name"):
        rec.add_observation(ObservationKind.NOTE, "  ")
    with pytest.raises(ValueError, match="future"):
        rec.add_observation(ObservationKind.NOTE, "note", occurred_at=clock.now() + timedelta(minutes=1))
    with pytest.raises(RecorderError, match="no observation"):
        rec.edit_observation("nope", text="x")
    with pytest.raises(ValueError, match="needs a reason"):
        rec.delete_observation("nope", " ")
    assert store.observations(sid) == []


def test_commands_without_a_session_fail_clearly(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    assert rec.tick() is None
    assert rec.snapshot() is None
    with pytest.raises(RecorderError, match="no session is running"):
        rec.give_dose()
    with pytest.raises(RecorderError, match="no session is running"):
        rec.add_observation(ObservationKind.NOTE, "note")
    # readings without a session are dropped, not stored
    rec.reading_received(_hr(clock, 70))
    assert store.sessions() == []


def test_second_session_while_running_is_refused(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    rec.start_session(_spec())
    with pytest.raises(RecorderError, match="still running"):
        rec.start_session(_spec("K-002"))


def test_heart_rate_alarm_raised_logged_acknowledged_and_resolved(store: SqlStore, clock: FakeClock) -> None:
    rec, heard = _recorder(store, clock)
    sid = rec.start_session(_spec())
    rec.attach_sensor(ScriptedSensor())
    _feed(rec, clock, 70, 30)
    rec.give_dose()
    _feed(rec, clock, 130, 15)  # above 120 for more than the 10 s delay
    active = rec.active_alarms()
    assert [a.alarm_id for a in active] == ["hr_high"]
    assert active[0].priority is AlarmPriority.MEDIUM
    rec.pause_alarm_audio("hr_high")
    rec.acknowledge_alarm("hr_high")
    _feed(rec, clock, 80, 5)
    assert rec.active_alarms() == []
    actions = [(t.alarm_id, t.action) for t in store.alarms(sid)]
    assert ("hr_high", "raised") in actions
    assert ("hr_high", "acknowledged") in actions
    assert actions[-1][1] in {"resolved", "condition_cleared"}
    assert [(t.alarm_id, t.action) for t in heard.transitions] == actions


def test_no_contact_readings_do_not_enter_the_baseline(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    rec.start_session(_spec())
    _feed(rec, clock, 64, 10)
    for _ in range(20):
        clock.advance(1)
        rec.reading_received(_hr(clock, 0, flags=ReadingFlag.NO_CONTACT))
    rec.give_dose()
    assert rec.baseline(Stream.HEART_RATE) == 64


def test_sensor_link_changes_become_events_once(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    sid = rec.start_session(_spec())
    rec.attach_sensor(ScriptedSensor())
    for state in (SensorState.CONNECTED, SensorState.CONNECTED, SensorState.RECONNECTING,
                  SensorState.LOST, SensorState.CONNECTED):
        clock.advance(2)
        rec.status_changed(SensorStatus("strap:1", state, clock.now()))
    kinds = [e.kind for e in store.events(sid) if e.kind.value.startswith("sensor")]
    assert kinds == [EventKind.SENSOR_CONNECTED, EventKind.SENSOR_RECONNECTING,
                     EventKind.SENSOR_LOST, EventKind.SENSOR_CONNECTED]
    rec.info_received(SensorInfo("strap:1", "Polar H10 1234", model="H10"))
    assert store.sensors(sid)[0].model == "H10"
    rec.detach_sensor("strap:1")
    kinds = [e.kind for e in store.events(sid)]
    assert kinds[-1] is EventKind.SENSOR_DISCONNECTED


def test_manual_vitals_are_readings_and_an_observation(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    sid = rec.start_session(_spec())
    obs = rec.record_manual_vitals(systolic=185, diastolic=100, spo2=97)
    assert obs.kind is ObservationKind.VITAL
    assert obs.text == "BP 185/100 mmHg, SpO2 97 %"
    sbp = store.load_stream(sid, Stream.BP_SYSTOLIC)
    assert list(sbp.value) == [185.0]
    assert int(sbp.flags[0]) & ReadingFlag.MANUAL
    assert any(a.alarm_id.startswith("sbp") for a in rec.active_alarms())
    for kwargs, message in (
        ({}, "at least one"),
        ({"systolic": 120}, "both systolic and diastolic"),
        ({"systolic": 400, "diastolic": 80}, "systolic must be between"),
        ({"systolic": 80, "diastolic": 90}, "must be below systolic"),
        ({"spo2": 120}, "spo2 must be between"),
    ):
        with pytest.raises(ValueError, match=message):
            rec.record_manual_vitals(**kwargs)  # type: ignore[arg-type]
    assert len(store.observations(sid)) == 1


def test_resume_rebuilds_the_clock_from_stored_events(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    sid = rec.start_session(_spec())
    rec.attach_sensor(ScriptedSensor())
    _feed(rec, clock, 66, 60)
    dose = rec.give_dose()
    note = rec.add_observation(ObservationKind.NOTE, "note", text="before the crash")
    _feed(rec, clock, 75, 120)
    before = rec.snapshot()
    store.flush()
    # the process dies: no end_session, no close

    clock.advance(600)
    rec2, heard = _recorder(store, clock)
    snap = rec2.resume_session(sid)
    assert rec2.session_id == sid
    assert snap.first_dose_at == dose.at
    assert before is not None
    assert snap.since_first_dose_s == pytest.approx(before.since_first_dose_s + 600)  # type: ignore[operator]
    assert snap.phase is Phase.EFFECT
    assert rec2.baseline(Stream.HEART_RATE) == 66
    assert [o.observation_id for o in rec2.observations()] == [note.observation_id]
    assert heard.events[0].kind is EventKind.SESSION_RESUMED
    edited = rec2.edit_observation(note.observation_id, text="after the crash")
    assert edited.revision == 2
    rec2.end_session()
    with pytest.raises(RecorderError, match="already ended"):
        _recorder(store, clock)[0].resume_session(sid)


def test_late_dose_and_ended_session_rules(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    rec.start_session(_spec())
    clock.advance(600)
    dose = rec.give_dose(at=clock.now() - timedelta(minutes=3))
    snap = rec.snapshot()
    assert snap is not None
    assert snap.since_first_dose_s == pytest.approx(180)
    with pytest.raises(ValueError, match="future"):
        rec.give_booster(at=clock.now() + timedelta(seconds=5))
    booster = rec.give_booster(amount=50)
    assert booster.at > dose.at
    rec.end_session()
    with pytest.raises(RecorderError, match="already ended"):
        rec.end_session()
    with pytest.raises(SessionError):
        rec.give_booster()
    late = rec.add_observation(ObservationKind.NOTE, "note", text="added after the session")
    assert late.added_later


def test_store_failure_is_reported_not_fatal(store: SqlStore, clock: FakeClock) -> None:
    rec, heard = _recorder(store, clock)
    rec.start_session(_spec())
    store.close()  # the database goes away under the recorder
    rec.reading_received(_hr(clock, 70))
    assert heard.errors


def test_threaded_simulated_session_on_a_fast_clock(tmp_path: Path) -> None:
    clock = ScaledClock(600)
    store = SqlStore.open(tmp_path / "fast.db", clock=clock)
    rec = Recorder(store, clock, AlarmSettings.defaults(), tick_real_s=0.02)
    heard = Listener()
    rec.add_listener(heard)
    sensor = SimulatedSensor(clock, seed=3, faults=[Fault("link_drop", at_s=200, duration_s=30)])
    try:
        sid = rec.start_session(_spec())
        rec.attach_sensor(sensor)
        time.sleep(0.3)
        rec.give_dose()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            snap = rec.snapshot()
            assert snap is not None
            if snap.since_first_dose_s is not None and snap.since_first_dose_s > 15 * 60:
                break
            time.sleep(0.05)
        rec.end_session()
    finally:
        rec.close()
    hr = store.load_stream(sid, Stream.HEART_RATE)
    assert len(hr) > 500
    kinds = [e.kind for e in store.events(sid)]
    assert EventKind.SENSOR_RECONNECTING in kinds
    assert EventKind.SENSOR_CONNECTED in kinds
    phases = [e.data["phase"] for e in store.events(sid) if e.kind is EventKind.PHASE_CHANGED]
    assert "effect" in phases
    assert not heard.errors
    assert threading.active_count() >= 1
    store.close()


def test_session_limits_from_the_start_dialog_are_used(store: SqlStore, clock: FakeClock) -> None:
    rec, _ = _recorder(store, clock)
    strict = AlarmSettings.defaults()
    rule = strict.rule("hr_high")
    assert rule is not None
    strict = strict.with_rule(replace(rule, limit=100.0, delay_s=0.0))
    spec = SessionSpec(
        client_code="K-9", protocol=PRESETS["sublingual"], settings={"alarms": strict.to_dict()}
    )
    sid = rec.start_session(spec)
    assert rec.alarm_settings == strict
    assert store.session(sid).spec.settings["alarms"] == strict.to_dict()
    rec.attach_sensor(ScriptedSensor())
    _feed(rec, clock, 105, 2)
    assert [a.alarm_id for a in rec.active_alarms()] == ["hr_high"]


def test_a_failed_commit_leaves_the_session_as_it_was(
    store: SqlStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, _ = _recorder(store, clock)
    sid = rec.start_session(_spec())
    clock.advance(60)
    real_append = store.append_event

    def disk_full(session_id: int, event: SessionEvent) -> None:
        raise StoreError("the disk holding the database is full")

    monkeypatch.setattr(store, "append_event", disk_full)
    with pytest.raises(StoreError, match="disk"):
        rec.give_dose()
    snap = rec.snapshot()
    assert snap is not None
    assert snap.phase is Phase.PREPARATION
    assert snap.first_dose_at is None
    monkeypatch.setattr(store, "append_event", real_append)
    dose = rec.give_dose()  # trying again works: no "dose already given"
    assert [e for e in store.events(sid) if e.kind is EventKind.DOSE_GIVEN] == [dose]


@pytest.mark.parametrize("wanted", [True, False])
def test_a_check_overdue_past_its_grace_raises_a_low_alarm_when_the_clinic_wants_it(
    store: SqlStore, clock: FakeClock, wanted: bool
) -> None:
    base = AlarmSettings.defaults()
    settings = replace(base, technical=replace(base.technical, overdue_check_alarm=wanted))
    rec = Recorder(store, clock, settings, autotick=False)
    try:
        rec.start_session(SessionSpec("K-OVERDUE", PRESETS["sublingual"]))
        rec.complete_check("vitals_pre_dose")
        rec.give_dose()
        for _ in range(50):  # the +40 min check falls due at 40 min; its grace is 10 min
            clock.advance(60.0)
            rec.tick()
        assert [a.alarm_id for a in rec.active_alarms() if a.alarm_id.startswith("check_overdue.")] == []
        clock.advance(90.0)
        rec.tick()
        overdue = [a for a in rec.active_alarms() if a.alarm_id == "check_overdue.vitals_40_min"]
        if not wanted:
            assert overdue == []
            return
        assert len(overdue) == 1
        assert overdue[0].priority is AlarmPriority.LOW
        assert overdue[0].label.startswith("Check overdue: ")
        rec.complete_check("vitals_40_min")
        rec.tick()
        left = [(a.alarm_id, a.state.value) for a in rec.active_alarms() if a.alarm_id.startswith("check_")]
        assert left == [], left
        logged = [t for t in store.alarms(rec.session_id or 0) if t.alarm_id == "check_overdue.vitals_40_min"]
        assert [t.action for t in logged][:1] == ["raised"]
    finally:
        rec.close()


def test_a_hand_typed_spo2_does_not_start_a_no_data_watch(tmp_path: Path) -> None:
    """With no oximeter connected, an SpO2 typed by hand is one value, not a stream that went quiet."""
    clock = FakeClock()
    store = SqlStore.open(tmp_path / "manual.db", clock=clock)
    recorder = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    try:
        recorder.start_session(SessionSpec("K-1", PRESETS["sublingual"]))
        recorder.record_manual_vitals(spo2=97.0, heart_rate=72.0)
        for _ in range(12):
            clock.advance(10.0)
            recorder.tick()
        assert [a.alarm_id for a in recorder.active_alarms()] == []
        # a connected oximeter that goes quiet is still an alarm
        recorder.reading_received(Reading(Stream.SPO2, 97.0, clock.now(), "oxi:1"))
        for _ in range(3):
            clock.advance(10.0)
            recorder.tick()
        assert "no_data.spo2" in [a.alarm_id for a in recorder.active_alarms()]
    finally:
        recorder.close()
        store.close()
