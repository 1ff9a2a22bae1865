"""A recorded session for the issue-12 report tests: a late check, every scale, a latched alarm.

Recorded with the real pipeline in-process (:class:`Recorder`, the alarm engine, the SQLite
store) fed by :class:`SimulatedSensor` in manual mode on a :class:`FakeClock`. The sensor
streams heart rate only (no pulse oximeter), so the SpO2 in the record is what the therapist
typed from a hand-held oximeter, as a clinic without a connected one does. The script:

* start 08:00 UTC, clinic settings snapshot stored with the session (as the start dialog does),
  baseline vitals (BP and SpO2), the pre-dose check; dose at +6 min after the start;
* MOAA/S 4, RASS +3, RASS -2 and dissociation 1 scored, as the bedside stores them;
* the +40 min check done 27 minutes late with a BP of 184/112 (a high-priority alarm), left
  unacknowledged until it escalates; a normal BP clears the condition (the alarm latches) and
  the alarm is acknowledged after;
* before discharge: BP at T+119, the SpO2 typed at T+120:30 as its own entry, the check done;
* the end at T+121 (2 h 07 min after the session start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from review_data import ManualSensor

from db.store import SqlStore
from devices.simulated import SimulatedSensor
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.settings import ClinicSettings
from kapmonitor.types import ObservationKind

START = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
CLIENT = "K-0107"
CLINICIAN = "CD"
LOT = "L-5521"
DOSE_MG = 84.0
DOSE_AFTER_START_MIN = 6.0
END_AFTER_DOSE_MIN = 121.0




@dataclass(frozen=True)
class Recorded:
    """Where the session is stored and the moments the script acted at."""

    path: Path
    session_id: int
    dose_at: datetime
    forty_done_at: datetime


def record(directory: Path, *, clinician: str = CLINICIAN, extra_notes: int = 0) -> Recorded:
    """Record the scripted session into ``directory/session.db`` (see the module docstring).

    ``extra_notes`` free-text observations are added, one a minute from T+70, to make the report
    longer (the page-count tests).
    """
    path = directory / "session.db"
    clock = FakeClock(start=START)
    store = SqlStore.open(path, clock=clock, flush_interval_s=0.05)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sensor = SimulatedSensor(clock, seed=11, spo2=False)
    elapsed = 0.0  # minutes since the dose (negative before it)

    def run_to(minute: float) -> None:
        nonlocal elapsed
        end = clock.monotonic() + (minute - elapsed) * 60.0
        while clock.monotonic() < end - 1e-9:
            clock.advance(min(5.0, end - clock.monotonic()))
            sensor.advance_to()
            rec.tick()
        elapsed = minute

    try:
        sid = rec.start_session(SessionSpec(CLIENT, PRESETS["sublingual"], DOSE_MG, lot=LOT,
                                            clinician_initials=clinician, app_version="test",
                                            settings=ClinicSettings.defaults().to_dict()))
        rec.attach_sensor(ManualSensor(sensor))
        elapsed = -DOSE_AFTER_START_MIN
        run_to(-1)
        rec.record_manual_vitals(systolic=122, diastolic=76, spo2=98, author=clinician)
        rec.complete_check("vitals_pre_dose")
        run_to(0)
        dose_at = clock.now()
        rec.give_dose(amount=DOSE_MG)
        for minute, name, value in ((12, "moaa_s", 4.0), (18, "rass", 3.0), (24, "rass", -2.0),
                                    (30, "dissociation", 1.0)):
            run_to(minute)
            rec.add_observation(ObservationKind.SCALE, name, value=value, author=clinician)
        run_to(67)
        rec.record_manual_vitals(systolic=184, diastolic=112, spo2=96, author=clinician)
        forty_done_at = clock.now()
        rec.complete_check("vitals_40_min")
        run_to(69.5)  # unacknowledged for more than a minute: it escalates
        rec.record_manual_vitals(systolic=138, diastolic=84, author=clinician)  # cleared: latched
        run_to(70)
        rec.acknowledge_alarm()
        for i in range(extra_notes):
            run_to(70.5 + i * 0.3)
            text = f"Observation {i + 1}: resting quietly, breathing even"
            rec.add_observation(ObservationKind.NOTE, "note", text=text, author=clinician)
        run_to(119)
        rec.record_manual_vitals(systolic=128, diastolic=80, author=clinician)
        run_to(120.5)
        rec.record_manual_vitals(spo2=97, author=clinician)
        rec.complete_check("vitals_discharge")
        run_to(END_AFTER_DOSE_MIN)
        rec.end_session("fit to leave")
    finally:
        rec.close()
        store.close()
    assert sid is not None
    return Recorded(path, sid, dose_at, forty_done_at)
