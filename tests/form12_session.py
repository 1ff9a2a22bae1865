"""Two sessions for the monitoring-form tests (issue 12), recorded with the real pipeline.

Recorded in-process (:class:`Recorder`, the alarm engine, the SQLite store) on a
:class:`FakeClock`, readings fed the way the bedside receives them:

* session 1: clinic settings with the healthcare setting's name and identifier, 84 mg, lot,
  clinician CD; a pulse oximeter every 5 s; BP before dosing, at +67 min for the +40 min check
  (27 min late) and before discharge; MOAA/S 3 and dissociation 2; SpO2 at 89 % for a minute
  (a high-priority alarm, acknowledged); ended at T+121 with the structured answers, the
  checklist carrying the evidence the record gave (:func:`facts_for_session`);
* session 2: no lot, no clinician, no dose amount, no settings; ended without answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.discharge import Discharge, ItemAnswer, facts_for_session
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.settings import ClinicSettings
from kapmonitor.types import ObservationKind, Reading, Stream

START = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
SETTING = "Harbour Street KAP Clinic"
SETTING_ID = "HCS-004211"


@dataclass(frozen=True)
class Recorded:
    """Where the sessions are stored, their ids and the moments the script acted at."""

    path: Path
    full: int
    bare: int
    dose_at: datetime
    ended_at: datetime
    ready_at: datetime
    bp_40_at: datetime


def record(path: Path) -> Recorded:
    """Record both sessions (see the module docstring) into the database ``path``."""
    clock = FakeClock(START)
    store = SqlStore.open(path, clock=clock)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    minute = 0.0  # minutes since the dose (negative before it)

    def oximeter_to(until_min: float, value: float = 97.0) -> None:
        nonlocal minute
        while minute < until_min - 1e-9:
            rec.reading_received(Reading(Stream.SPO2, value, clock.now(), "oxi:1"))
            clock.advance(5)
            minute += 5 / 60
            rec.tick()

    try:
        settings = ClinicSettings(setting_name=SETTING, setting_id=SETTING_ID)
        full = rec.start_session(SessionSpec("K-0107", PRESETS["sublingual"], 84.0, lot="L-5521",
                                             clinician_initials="CD", settings=settings.to_dict()))
        minute = -6.0
        oximeter_to(-1)
        rec.record_manual_vitals(systolic=122, diastolic=76, author="CD")
        rec.complete_check("vitals_pre_dose")
        oximeter_to(0)
        dose_at = clock.now()
        rec.give_dose(amount=84.0)
        oximeter_to(12)
        rec.add_observation(ObservationKind.SCALE, "moaa_s", value=3.0, author="CD")
        oximeter_to(30)
        rec.add_observation(ObservationKind.SCALE, "dissociation", value=2.0, author="CD")
        oximeter_to(50)
        oximeter_to(51, value=89.0)  # below 92 % for a minute: the high-priority SpO2 alarm
        rec.acknowledge_alarm()
        oximeter_to(67)
        rec.record_manual_vitals(systolic=150, diastolic=92, author="CD")
        bp_40_at = clock.now()
        rec.complete_check("vitals_40_min")  # due at +40: 27 minutes late
        oximeter_to(119)
        rec.record_manual_vitals(systolic=128, diastolic=80, author="CD")
        oximeter_to(120)
        rec.complete_check("vitals_discharge")
        oximeter_to(121)
        store.flush()
        settings_now = ClinicSettings.defaults()
        facts = facts_for_session(store, full, settings_now.discharge_checklist, clock.now())
        items = tuple(ItemAnswer(i.name, i.label, True, facts.evidence(i.name).support,
                                 facts.evidence(i.name).words,
                                 "seen by me" if facts.evidence(i.name).needs_reason_if_ticked else "")
                      for i in settings_now.discharge_checklist)
        ready_at = dose_at + timedelta(minutes=118, seconds=20)
        answers = Discharge(
            ready_to_leave_at=ready_at, adverse_events=True, adverse_event_details="nausea, vomited once",
            serious_adverse_event=True, serious_outcomes=("other_serious",), sedation=True, dissociation=True,
            respiratory_depression=True, concomitant_medications=("benzodiazepines", "psychostimulants"),
            fit_to_leave_by="EF", items=items)
        assert answers.problems() == []
        ended = rec.end_session("fit to leave", answers)

        bare = rec.start_session(SessionSpec("K-0200", PRESETS["sublingual"]))
        clock.advance(60)
        rec.give_dose()
        clock.advance(125 * 60)
        rec.tick()
        rec.end_session("fit to leave")
    finally:
        rec.close()
        store.close()
    return Recorded(path, full, bare, dose_at, ended.at, ready_at, bp_40_at)
