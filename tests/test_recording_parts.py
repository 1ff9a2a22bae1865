"""The parts of kapmonitor.recording: baseline, observation revisions, closing, late corrections, ticker."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionRecord, SessionSpec, StreamData
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import UNSET, Recorder
from kapmonitor.recording.baseline import PreDoseHeartRate, bp_baseline, hr_baseline
from kapmonitor.recording.closing import close_unfinished, closing_events, ending_events
from kapmonitor.recording.late import (
    LateInput,
    LateObservationError,
    add_late_observation,
    correct_observation,
)
from kapmonitor.recording.observations import ObservationError, new_observation, revise, withdraw
from kapmonitor.recording.ticker import Ticker
from kapmonitor.review_series import BpPoint
from kapmonitor.session import SessionState
from kapmonitor.summary import summarize
from kapmonitor.types import EventKind, ObservationKind, Reading, ReadingFlag, Stream

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PROTO = PRESETS["sublingual"]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def hr(points: Sequence[tuple[float, float, int]]) -> StreamData:
    t = [at(m).timestamp() for m, _, _ in points]
    return StreamData(Stream.HEART_RATE, np.array(t, dtype=np.float64),
                      np.array([v for _, v, _ in points], dtype=np.float64),
                      np.array([f for _, _, f in points], dtype=np.int32))


# ------------------------------------------------------------------------------ baseline
def test_hr_baseline_is_the_median_of_usable_readings_before_the_dose() -> None:
    data = hr([(1, 60, 0), (2, 70, 0), (3, 0, int(ReadingFlag.NO_CONTACT)), (4, 400, 0), (5, 64, 0),
               (6, 90, 0)])
    assert hr_baseline(data, at(6)) == 64  # 60, 70, 64: no-contact and impossible values left out
    assert hr_baseline(data, at(5)) == 65  # strictly before the dose
    assert hr_baseline(data, None) is None
    assert hr_baseline(data, at(0)) is None


def test_bp_baseline_is_the_last_pair_before_the_dose() -> None:
    pairs = ((1, 120, 80), (4, 124, 78), (8, 150, 95))
    points = [BpPoint(at(m), s, d, None, None, False) for m, s, d in pairs]
    assert bp_baseline(points, at(5)) == points[1]
    assert bp_baseline(points, at(4)) == points[0]
    assert bp_baseline(points, None) is None and bp_baseline(points, at(0)) is None


def test_live_samples_give_the_same_baseline_as_the_stored_stream() -> None:
    points = [(m, 60 + m % 7, 0 if m % 5 else int(ReadingFlag.ARTIFACT)) for m in range(30)]
    live = PreDoseHeartRate()
    for m, v, f in points:
        live.add(Reading(Stream.HEART_RATE, v, at(m), "strap:1", ReadingFlag(f)))
    stored = PreDoseHeartRate()
    stored.extend(hr(points))
    for dose in (at(10), at(29.5), at(40)):
        assert live.baseline(dose) == stored.baseline(dose) == hr_baseline(hr(points), dose)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore.open(tmp_path / "parts.db")
    yield s
    s.close()


def test_a_late_dose_freezes_the_baseline_the_summary_reports(store: SqlStore) -> None:
    clock = FakeClock(T0)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sid = rec.start_session(SessionSpec(client_code="K-1", protocol=PROTO))
    for second in range(240):
        clock.advance(1)
        bpm = 60.0 if second < 120 else 90.0
        rec.reading_received(Reading(Stream.HEART_RATE, bpm, clock.now(), "strap:1"))
    rec.give_dose(at=clock.now() - timedelta(minutes=2))  # pressed two minutes late
    assert rec.baseline(Stream.HEART_RATE) == 60  # the readings after the dose time do not count
    rec.end_session("fit to leave")
    streams = {Stream.HEART_RATE: store.load_stream(sid, Stream.HEART_RATE)}
    report = summarize(PROTO, store.events(sid), streams)
    assert report.hr_baseline == rec.baseline(Stream.HEART_RATE)


# ---------------------------------------------------------------------- observation revisions
def test_revisions_keep_what_is_not_changed_and_stay_added_later() -> None:
    first = new_observation(ObservationKind.TAG, " nausea ", occurred_at=at(10), recorded_at=at(10),
                            author="CD", late=True)
    assert (first.revision, first.name, first.added_later) == (1, "nausea", True)
    second = revise(first, recorded_at=at(20), reason="typo", text="mild")
    assert (second.revision, second.name, second.text, second.reason, second.author) == (2, "nausea", "mild",
                                                                                          "typo", "CD")
    assert second.added_later and second.occurred_at == first.occurred_at and second.recorded_at == at(20)
    gone = withdraw(second, " wrong client ", recorded_at=at(30))
    assert (gone.revision, gone.deleted, gone.reason) == (3, True, "wrong client")
    assert revise(gone, recorded_at=at(31), value=UNSET).deleted  # an edit keeps the withdrawal
    with pytest.raises(ObservationError, match="reason"):
        withdraw(second, " ", recorded_at=at(30))
    with pytest.raises(ObservationError, match="name"):
        revise(first, recorded_at=at(20), name=" ")
    with pytest.raises(ObservationError, match="finite"):
        new_observation(ObservationKind.SCALE, "moaa_s", occurred_at=at(1), recorded_at=at(1),
                        value=float("nan"))


# ----------------------------------------------------------------------------- closing
def _unfinished() -> SessionState:
    state = SessionState(PROTO)
    state.start(at(0))
    state.give_dose(at(5), 100.0)
    return state


def test_closing_an_unfinished_session_records_what_fell_due_then_the_end() -> None:
    state = _unfinished()
    events = closing_events(state, at(30), " power cut ")
    assert events[-1].kind is EventKind.SESSION_ENDED and events[-1].at == at(30)
    assert events[-1].data["reason"] == "closed after an interruption: power cut"
    assert [e.data["phase"] for e in events if e.kind is EventKind.PHASE_CHANGED] == ["onset", "effect"]
    assert state.is_ended
    replayed = SessionState.replay(PROTO, [*_unfinished().events, *events])
    assert replayed.ended_at == at(30)
    with pytest.raises(ValueError, match="already ended"):
        closing_events(state, at(40), "again")
    with pytest.raises(ValueError, match="reason"):
        closing_events(_unfinished(), at(40), " ")


def test_the_end_is_never_before_the_last_event() -> None:
    state = _unfinished()
    assert closing_events(state, at(1), "crash")[-1].at == at(5)


def test_ending_events_is_what_the_recorder_writes(store: SqlStore) -> None:
    clock = FakeClock(T0)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sid = rec.start_session(SessionSpec(client_code="K-1", protocol=PROTO))
    rec.give_dose()
    clock.advance(20 * 60)  # no tick: the phase change to effect is still to be recorded
    before = store.events(sid)
    end = rec.end_session("fit to leave")
    written = store.events(sid)[len(before):]
    expected = ending_events(SessionState.replay(PROTO, before), end.at, "fit to leave")
    assert [(e.kind, e.at, dict(e.data)) for e in written] == [(e.kind, e.at, dict(e.data)) for e in expected]
    assert EventKind.PHASE_CHANGED in [e.kind for e in written]


def test_close_unfinished_through_the_store(store: SqlStore) -> None:
    clock = FakeClock(T0)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sid = rec.start_session(SessionSpec(client_code="K-1", protocol=PROTO))
    rec.give_dose()
    clock.advance(600)
    rec.tick()
    rec.close()  # the app went away: the session is unfinished
    end = close_unfinished(store, sid, "power cut")
    record = store.session(sid)
    assert record.ended_at == end.at and record.end_reason.endswith("power cut")
    with pytest.raises(ValueError, match="already ended"):
        close_unfinished(store, sid, "again")


# ---------------------------------------------------------------------- late corrections
def test_late_observations_are_checked_and_revised(store: SqlStore) -> None:
    clock = FakeClock(T0)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sid = rec.start_session(SessionSpec(client_code="K-1", protocol=PROTO))
    clock.advance(600)
    rec.end_session()
    record: SessionRecord = store.session(sid)
    entry = LateInput(ObservationKind.NOTE, "note", None, "asked for water", at(5), " CD ")
    added = add_late_observation(store, record, clock, entry)
    assert (added.revision, added.author, added.added_later) == (1, "CD", True)
    assert added.recorded_at == clock.now()
    fixed = correct_observation(store, record, clock, added.observation_id,
                                LateInput(ObservationKind.NOTE, "note", None, "asked for tea", at(5), "",
                                          reason="misheard"))
    assert (fixed.revision, fixed.text, fixed.author, fixed.reason) == (2, "asked for tea", "CD", "misheard")
    note = ObservationKind.NOTE
    for bad, message in ((LateInput(note, "note", None, "", at(-1), ""), "within the session"),
                         (LateInput(note, " ", None, "", at(5), ""), "needs a name"),
                         (LateInput(ObservationKind.SCALE, "x", float("inf"), "", at(5), ""), "finite")):
        with pytest.raises(LateObservationError, match=message):
            add_late_observation(store, record, clock, bad)
    with pytest.raises(LateObservationError, match="reason"):
        correct_observation(store, record, clock, added.observation_id, entry)
    with pytest.raises(LateObservationError, match="no observation"):
        correct_observation(store, record, clock, "nope",
                            LateInput(ObservationKind.NOTE, "n", None, "", at(5), "", reason="r"))


# ----------------------------------------------------------------------------- ticker
def test_ticker_keeps_going_after_an_error_and_stops_when_told() -> None:
    calls: list[int] = []
    errors: list[Exception] = []
    done = threading.Event()

    def step() -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk hiccup")
        if len(calls) == 4:
            done.set()
            return False
        return True

    ticker = Ticker(step, errors.append, name="test-ticker")
    ticker.start(0.001)
    assert done.wait(5)
    ticker.join(5)
    assert len(calls) == 4 and [str(e) for e in errors] == ["disk hiccup"] and not ticker.running
