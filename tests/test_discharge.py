"""The structured end of a session (issue 12): the record's evidence, suggestions and storage.

A real Recorder on a real SQLite store and a FakeClock records a session the way the bedside
does (readings from a sensor, vitals, scores, the dose); the facts are then read back from the
store exactly as the end-of-session dialog reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.discharge import (
    Discharge,
    ItemAnswer,
    Suggestion,
    Support,
    facts_for_session,
)
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.settings_items import default_discharge_checklist, default_medications
from kapmonitor.types import EventKind, ObservationKind, Reading, Stream

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
CHECKLIST = default_discharge_checklist()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Recorder, SqlStore, FakeClock, int]]:
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "discharge.db", clock=clock)
    recorder = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sid = recorder.start_session(SessionSpec("K-12", PRESETS["sublingual"], dose_amount=100.0, lot="L7",
                                             clinician_initials="JQ"))
    yield recorder, store, clock, sid
    store.close()


def _spo2_until(recorder: Recorder, clock: FakeClock, minutes: float, value: float = 97.0) -> None:
    """A pulse oximeter reading every 5 s for ``minutes`` (within the 10 s no-data time)."""
    for _ in range(int(minutes * 12)):
        recorder.reading_received(Reading(Stream.SPO2, value, clock.now(), "oxi:1"))
        clock.advance(5)
        recorder.tick()


def _bp(recorder: Recorder, clock: FakeClock, sys: float, dia: float) -> None:
    recorder.record_manual_vitals(systolic=sys, diastolic=dia, spo2=None, heart_rate=None)


def _score(recorder: Recorder, scale: str, value: float) -> None:
    recorder.add_observation(ObservationKind.SCALE, scale, value=value)


def test_the_record_supports_contradicts_or_cannot_say_each_item(session) -> None:  # type: ignore[no-untyped-def]
    recorder, store, clock, sid = session
    _bp(recorder, clock, 122, 80)
    _spo2_until(recorder, clock, 5)
    recorder.give_dose(amount=100.0)
    _spo2_until(recorder, clock, 40)
    _bp(recorder, clock, 150, 95)  # +28/+15 at ~40 min
    _score(recorder, "moaa_s", 3)
    _score(recorder, "dissociation", 2)
    _spo2_until(recorder, clock, 50, value=96.0)
    _bp(recorder, clock, 130, 84)  # back within 20
    _spo2_until(recorder, clock, 20)
    _score(recorder, "moaa_s", 5)
    _spo2_until(recorder, clock, 15)
    store.flush()
    facts = facts_for_session(store, sid, CHECKLIST, clock.now())

    assert facts.evidence("spo2_room_air").support is Support.SUPPORTED
    assert facts.evidence("spo2_room_air").words.startswith("SpO₂ 97 % at ")
    bp = facts.evidence("bp_near_baseline")
    assert bp.support is Support.SUPPORTED and "130/84 mmHg" in bp.words and "+8/+4 from 122/80" in bp.words
    assert facts.evidence("alert_oriented").support is Support.SUPPORTED
    assert facts.evidence("alert_oriented").words.startswith("MOAA/S 5 at ")
    assert facts.evidence("min_observation_met").support is Support.SUPPORTED
    assert facts.evidence("accompanied_home").support is Support.CLINICIAN
    assert facts.sedation.value is True and facts.sedation.why.startswith("MOAA/S 3 at ")
    assert facts.dissociation.value is True and facts.dissociation.why.startswith("dissociation rated 2")
    assert facts.respiratory_depression == Suggestion(False, "SpO₂ lowest 96 %")
    # ready to leave: the first moment every criterion the data checks was met, after the minimum time
    assert facts.first_dose_at is not None and facts.ready_to_leave_at is not None
    assert facts.ready_to_leave_at - facts.first_dose_at >= timedelta(minutes=120)
    assert facts.ready_to_leave_at <= clock.now()
    assert facts.ready_why == "when the record first showed every criterion met"


def test_spo2_silent_for_72_minutes_does_not_support_the_spo2_item(session) -> None:  # type: ignore[no-untyped-def]
    recorder, store, clock, sid = session
    _spo2_until(recorder, clock, 5)
    recorder.give_dose(amount=100.0)
    _spo2_until(recorder, clock, 50)
    clock.advance(72 * 60)  # the oximeter fell off: nothing for 72 minutes
    recorder.tick()
    store.flush()
    facts = facts_for_session(store, sid, CHECKLIST, clock.now())
    spo2 = facts.evidence("spo2_room_air")
    assert spo2.support is Support.NO_DATA and spo2.words.startswith("no SpO₂ data for 72 min (last 97 % at ")
    assert spo2.needs_reason_if_ticked
    assert facts.ready_why == "the end: the record never showed every criterion met"
    ticked = Discharge(items=(ItemAnswer("spo2_room_air", "SpO₂ above 92 % on room air", True,
                                         spo2.support, spo2.words),))
    problems = {p.field: p.message for p in ticked.problems()}
    assert "give a reason" in problems["item.spo2_room_air"]
    with_reason = Discharge(items=(ItemAnswer("spo2_room_air", "SpO₂ above 92 % on room air", True,
                                              spo2.support, spo2.words, "checked by hand: 97 %"),))
    assert "item.spo2_room_air" not in {p.field for p in with_reason.problems()}


def test_low_spo2_suggests_respiratory_depression_and_contradicts_the_item(session) -> None:  # type: ignore[no-untyped-def]
    recorder, store, clock, sid = session
    recorder.give_dose(amount=100.0)
    _spo2_until(recorder, clock, 30)
    _spo2_until(recorder, clock, 2, value=87.0)
    store.flush()
    facts = facts_for_session(store, sid, CHECKLIST, clock.now())
    assert facts.respiratory_depression.value is True
    assert facts.evidence("spo2_room_air").support is Support.CONTRADICTED
    assert facts.evidence("min_observation_met").support is Support.CONTRADICTED
    assert facts.sedation.value is None and facts.sedation.why == "no sedation score recorded"


def test_the_answers_are_kept_in_the_end_event_and_read_back(session) -> None:  # type: ignore[no-untyped-def]
    recorder, store, clock, sid = session
    recorder.give_dose(amount=100.0)
    _spo2_until(recorder, clock, 125)
    ready = clock.now() - timedelta(minutes=4)
    answers = Discharge(
        ready_to_leave_at=ready, adverse_events=True, adverse_event_details="nausea, vomited once",
        serious_adverse_event=False, sedation=True, dissociation=False, respiratory_depression=False,
        concomitant_medications=("benzodiazepines",), fit_to_leave_by="JQ",
        items=tuple(ItemAnswer(i.name, i.label, True) for i in CHECKLIST),
    )
    meds = [m.name for m in default_medications()]
    assert answers.problems(started_at=T0, ended_at=clock.now(), medications=meds) == []
    recorder.end_session("observed 125 min", answers)
    ended = [e for e in store.events(sid) if e.kind is EventKind.SESSION_ENDED]
    assert len(ended) == 1 and ended[0].data["reason"] == "observed 125 min"
    assert Discharge.from_data(ended[0].data) == answers
    # a session ended without answers has none
    assert Discharge.from_data({"reason": "x"}) is None


def test_each_unanswered_question_is_named() -> None:
    problems = [p.field for p in Discharge().problems()]
    assert problems == ["ready_to_leave_at", "adverse_events", "sedation", "dissociation",
                        "respiratory_depression", "concomitant_medications", "fit_to_leave_by"]
    serious = Discharge(adverse_events=True, adverse_event_details="fainted", serious_adverse_event=True)
    assert "serious_outcomes" in [p.field for p in serious.problems()]
    contradiction = Discharge(adverse_events=False, serious_adverse_event=True)
    assert any("answer yes above" in p.message for p in contradiction.problems())
