"""A session recorded through the real recorder into a real SQLite store, with every kind of
identifying string a clinic's session holds (for the issue-12 CSV tests).

The bedside path throughout: the dose button names no amount, observations carry no author,
and the sensor is a Bluetooth strap with an address and a device name. One heart rate value is
flagged an artifact (190 bpm, 30 s after the dose).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.discharge import Discharge, ItemAnswer, Support
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import (
    ObservationKind,
    Reading,
    ReadingFlag,
    SensorInfo,
    SensorState,
    SensorStatus,
    Stream,
)

START = datetime(2026, 3, 14, 8, 30, tzinfo=UTC)
CLIENT = "ZQ-40917"
LOT = "LOT-7781"
CLINICIAN = "JQ"
MAC = "C4:7F:51:0A:2B:9E"
DEVICE = "Polar H10 7A3B2C"
SETTING = "Harbour Street Clinic"
SETTING_ID = "REMS-HS-5521"
FORMULA = '=HYPERLINK("http://x","click")'
NOTE = "Client spoke about her sister Marisol"
CUSTOM_TAG = "talked_about_marisol"
CHECK_NOTE = "BP taken by Dr Okafor"
DISMISS_REASON = "cuff broken, Okafor informed"
END_REASON = "picked up by husband Tomasz"
DELETE_REASON = "wrong client: Evangelina"
ADVERSE = "nausea, Tomasz called"
ITEM_REASON = "Wendeline checked the oximeter"
IDENTIFYING = (CLIENT, LOT, MAC, DEVICE, SETTING, SETTING_ID, "HYPERLINK", "Marisol", CUSTOM_TAG, "Okafor",
               "Tomasz", "Evangelina", "Wendeline")
"""Every identifying string the session holds (the clinician's initials and dates aside)."""


@dataclass(frozen=True)
class Recorded:
    session_id: int
    dose_at: datetime


class Strap:
    """A sensor the test drives itself (the recorder only starts and stops it)."""

    sensor_id = MAC

    def start(self, sink: object) -> None:
        """Nothing runs: the test hands the recorder what the strap would."""

    def stop(self) -> None:
        """Nothing to stop."""

    def request_blood_pressure(self) -> bool:
        return False


def _feed(rec: Recorder, clock: FakeClock, seconds: int, bpm: float = 72.0) -> None:
    for _ in range(seconds):
        clock.advance(1)
        rec.reading_received(Reading(Stream.HEART_RATE, bpm, clock.now(), MAC))
        rec.tick()


def record_session(path: Path, *, discharge: bool = True, formula_client: bool = False) -> Recorded:
    """Record the session into the database at ``path``; return its id and dose time."""
    clock = FakeClock(start=START)
    with SqlStore.open(path) as store:
        # a session before it, so the session id is not 1
        store.create_session(SessionSpec("K-OTHER", PRESETS["sublingual"]), START - timedelta(days=3))
        rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        spec = SessionSpec(client_code="-" + CLIENT if formula_client else CLIENT,
                           protocol=PRESETS["sublingual"], dose_amount=150.0, dose_unit="mg", lot=LOT,
                           clinician_initials=CLINICIAN,
                           settings={"setting_name": SETTING, "setting_id": SETTING_ID})
        sid = rec.start_session(spec)
        rec.attach_sensor(Strap())  # type: ignore[arg-type]
        rec.info_received(SensorInfo(MAC, DEVICE, serial="SN-7A3B2C-0042"))
        rec.status_changed(SensorStatus(MAC, SensorState.CONNECTED, clock.now(), battery_pct=80))
        _feed(rec, clock, 60)
        rec.complete_check("vitals_pre_dose", CHECK_NOTE)
        clock.advance(0.5)
        rec.reading_received(Reading(Stream.HEART_RATE, 74.0, clock.now(), MAC))  # 0.5 s before the dose
        clock.advance(0.5)
        dose = rec.give_dose()  # the bedside button: no amount
        _feed(rec, clock, 30)
        rec.reading_received(Reading(Stream.HEART_RATE, 190.0, clock.now(), MAC, ReadingFlag.ARTIFACT))
        rec.add_observation(ObservationKind.NOTE, "note", text=FORMULA)
        note = rec.add_observation(ObservationKind.NOTE, "note", text=NOTE)
        rec.add_observation(ObservationKind.TAG, "nausea")
        custom = rec.add_observation(ObservationKind.TAG, CUSTOM_TAG)
        rec.delete_observation(custom.observation_id, DELETE_REASON)
        rec.edit_observation(note.observation_id, text=NOTE + ", twice", reason="typo, said Marisol")
        rec.add_observation(ObservationKind.SCALE, "rass", value=-1.0)
        rec.status_changed(SensorStatus(MAC, SensorState.CONNECTED, clock.now(), battery_pct=9))
        _feed(rec, clock, 5)
        clock.advance(25)  # no heart rate for 25 s: the no-data alarm
        rec.tick()
        rec.status_changed(SensorStatus(MAC, SensorState.LOST, clock.now(), detail=f"{DEVICE} out of range"))
        rec.tick()
        clock.advance(40 * 60)
        rec.tick()
        rec.dismiss_check("vitals_40_min", DISMISS_REASON)
        rec.status_changed(SensorStatus(MAC, SensorState.CONNECTED, clock.now()))
        _feed(rec, clock, 30)
        rec.give_booster(amount=25.0)
        clock.advance(90 * 60)
        rec.tick()
        answers = None
        if discharge:
            answers = Discharge(
                ready_to_leave_at=clock.now() - timedelta(minutes=5), adverse_events=True,
                adverse_event_details=ADVERSE, serious_adverse_event=False, sedation=True,
                dissociation=True, respiratory_depression=False, concomitant_medications=("benzodiazepines",),
                fit_to_leave_by=CLINICIAN,
                items=(ItemAnswer("spo2_room_air", "SpO₂ above 92 % on room air", True, Support.NO_DATA,
                                  "no SpO₂ recorded in this session", ITEM_REASON),
                       ItemAnswer("alert_oriented", "Alert and oriented", True)))
        rec.end_session(END_REASON, answers)
        rec.close()
        store.flush()
    return Recorded(sid, dose.at)
