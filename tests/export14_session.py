"""A session recorded through the real recorder into a real SQLite store, for the issue-14 exports
(EDF+, FHIR, RR): a chest strap (heart rate with its RR intervals), a pulse oximeter and a blood
pressure cuff, with the things an export must get right:

* heart rate at ~1 Hz with arrival jitter (some seconds get two readings, some none), one value
  flagged an artifact, one without skin contact, one impossible (0 bpm, flagged by the recorder);
* a 40 s heart-rate gap (the strap lost: a no-data alarm) while SpO2 goes on, then a 30 s SpO2 gap;
* heart rate 135 bpm for 20 s (the hr_high alarm raised and cleared);
* three blood pressure measurements from the cuff (its own time stamps) and one entered by hand;
* notes (one beyond Latin-1), tags and a scale, one note edited and a custom tag deleted, a booster,
  checks done and dismissed with identifying text, discharge answers.

The start is not on a whole second (08:30:00.250). :data:`IDENTIFYING` lists every identifying
string the session holds, for the de-identification checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.discharge import Discharge
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

START = datetime(2026, 3, 14, 8, 30, 0, 250_000, tzinfo=UTC)
CLIENT = "ZQ-40917"
CLINICIAN = "JQ"
LOT = "LOT-7781"
STRAP = "C4:7F:51:0A:2B:9E"
STRAP_NAME = "Polar H10 7A3B2C"
OXIMETER = "F0:13:C3:5A:22:9B"
CUFF = "E8:11:22:33:44:55"
NOTE = "Client spoke about her sister Marisol"
UNICODE_NOTE = "ruhig — Atmung gleichmäßig, SpO₂ stabil"
"""A note in UTF-8 beyond Latin-1 (EDF+ annotations are UTF-8)."""
CUSTOM_TAG = "talked_about_marisol"
CHECK_NOTE = "BP taken by Dr Okafor"
DISMISS_REASON = "cuff broken, Okafor informed"
END_REASON = "picked up by husband Tomasz"
DELETE_REASON = "wrong client: Evangelina"
IDENTIFYING = (CLIENT, LOT, STRAP, STRAP_NAME, OXIMETER, CUFF, "Marisol", "marisol", "Okafor", "Tomasz",
               "Evangelina", "7A3B2C")
"""Every identifying string the session holds (besides the clinician's initials and the dates)."""
BP = ((118.0, 76.0), (131.0, 84.0), (124.0, 79.0))
"""The cuff's measurements, in order."""
MANUAL_BP = (126.0, 80.0)


@dataclass(frozen=True)
class Recorded:
    path: Path
    session_id: int


class _Sensor:
    """A sensor the test drives itself (the recorder only starts and stops it)."""

    def __init__(self, sensor_id: str) -> None:
        self.sensor_id = sensor_id

    def start(self, sink: object) -> None:
        """Nothing runs: the test hands the recorder what the sensor would."""

    def stop(self) -> None:
        """Nothing to stop."""

    def request_blood_pressure(self) -> bool:
        return False


class _Bedside:
    """Advances the clock in 0.1 s steps, delivering the strap's and the oximeter's readings."""

    def __init__(self, rec: Recorder, clock: FakeClock, seed: int) -> None:
        self.rec, self.clock = rec, clock
        self.rng = np.random.default_rng(seed)
        self.next_hr = 0.6
        self.next_spo2 = 0.3
        self.elapsed = 0.0

    def run(self, seconds: float, *, bpm: float = 72.0, hr: bool = True, spo2: bool = True,
            hr_flags: dict[int, tuple[float, ReadingFlag]] | None = None) -> None:
        """``seconds`` of monitoring; ``hr_flags``: packet number -> (value, flags) to send instead."""
        packet = 0
        for _ in range(round(seconds * 10)):
            self.clock.advance(0.1)
            self.elapsed = round(self.elapsed + 0.1, 1)
            now = self.clock.now()
            if self.elapsed >= self.next_hr:
                self.next_hr = round(self.elapsed + float(self.rng.choice([0.8, 0.9, 1.0, 1.1, 1.2])), 1)
                if hr:
                    value, flags = (hr_flags or {}).get(packet, (bpm + float(self.rng.integers(-2, 3)),
                                                                  ReadingFlag.NONE))
                    rr = [round(60_000.0 / bpm * 1.024 + float(self.rng.normal(0, 20))) * 1000 / 1024
                          for _ in range(int(self.rng.integers(1, 3)))]
                    self.rec.readings_received([Reading(Stream.HEART_RATE, value, now, STRAP, flags),
                                                *(Reading(Stream.RR_INTERVAL, v, now, STRAP) for v in rr)])
                    packet += 1
            if self.elapsed >= self.next_spo2:
                self.next_spo2 = round(self.elapsed + 1.0, 1)
                if spo2:
                    value = 97.0 + float(self.rng.integers(-1, 2))
                    self.rec.reading_received(Reading(Stream.SPO2, value, now, OXIMETER))
            self.rec.tick()

    def cuff(self, systolic: float, diastolic: float) -> None:
        at = self.clock.now()
        flags = ReadingFlag.SENSOR_TIMESTAMP
        mean = round((systolic + 2 * diastolic) / 3)
        self.rec.readings_received([Reading(Stream.BP_SYSTOLIC, systolic, at, CUFF, flags),
                                    Reading(Stream.BP_DIASTOLIC, diastolic, at, CUFF, flags),
                                    Reading(Stream.BP_MEAN, mean, at, CUFF, flags)])


def record_session(path: Path, *, seed: int = 14) -> Recorded:
    """Record the session into the database at ``path`` (see the module docstring)."""
    clock = FakeClock(start=START)
    with SqlStore.open(path) as store:
        rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        spec = SessionSpec(client_code=CLIENT, protocol=PRESETS["sublingual"], dose_amount=150.0,
                           dose_unit="mg", lot=LOT, clinician_initials=CLINICIAN, app_version="0.1.0")
        sid = rec.start_session(spec)
        for sensor_id in (STRAP, OXIMETER, CUFF):
            rec.attach_sensor(_Sensor(sensor_id))  # type: ignore[arg-type]
            rec.status_changed(SensorStatus(sensor_id, SensorState.CONNECTED, clock.now(), battery_pct=80))
        rec.info_received(SensorInfo(STRAP, STRAP_NAME, serial="SN-7A3B2C-0042"))
        bed = _Bedside(rec, clock, seed)
        bed.run(30)
        bed.cuff(*BP[0])
        bed.run(30)
        rec.complete_check("vitals_pre_dose", CHECK_NOTE)
        rec.give_dose()
        bed.run(40, hr_flags={5: (190.0, ReadingFlag.ARTIFACT), 9: (75.0, ReadingFlag.NO_CONTACT),
                              14: (0.0, ReadingFlag.NONE)})
        rec.add_observation(ObservationKind.NOTE, "note", text=NOTE)
        note = rec.add_observation(ObservationKind.NOTE, "note", text="calm, eyes closed")
        rec.add_observation(ObservationKind.TAG, "nausea")
        custom = rec.add_observation(ObservationKind.TAG, CUSTOM_TAG)
        rec.delete_observation(custom.observation_id, DELETE_REASON)
        rec.edit_observation(note.observation_id, text="calm, eyes closed, breathing slowly", reason="typo")
        rec.add_observation(ObservationKind.SCALE, "rass", value=-1.0)
        rec.add_observation(ObservationKind.NOTE, "note", text=UNICODE_NOTE)
        bed.run(20, bpm=135.0)  # hr_high after its 10 s delay
        bed.run(20)
        bed.run(40, hr=False)  # the strap is silent: no data, then the HR stream resumes
        bed.cuff(*BP[1])
        bed.run(30, spo2=False)
        rec.record_manual_vitals(systolic=MANUAL_BP[0], diastolic=MANUAL_BP[1])
        bed.run(20)
        rec.give_booster(amount=25.0)
        bed.run(30)
        bed.cuff(*BP[2])
        rec.dismiss_check("vitals_40_min", DISMISS_REASON)
        bed.run(15)
        rec.end_session(END_REASON, Discharge(adverse_events=False, fit_to_leave_by=CLINICIAN))
        rec.close()
        store.flush()
    return Recorded(path, sid)


GENERATED = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def export(recorded: Recorded, name: str, target: Path, *, deidentify: bool = False,
           interval_s: float = 60.0) -> int:
    """Write ``recorded`` as the format ``name`` to ``target`` the way the command line does (the
    registry's atomic write); return the format's count."""
    from db.export import EXPORTERS
    from db.export.source import StoredSession
    from kapmonitor.exporters import ExportOptions

    options = ExportOptions(generated_at=GENERATED, deidentify=deidentify, summary_interval_s=interval_s)
    with SqlStore.open(recorded.path) as store:
        return EXPORTERS.export_file(EXPORTERS.get(name), StoredSession(store, recorded.session_id), target,
                                     options)


def csv_table(path: Path) -> Any:
    """The CSV export at ``path`` as a pandas DataFrame, text columns as strings (empty, not NaN), with
    a column ``t``: each row's time in epoch seconds."""
    import pandas as pd

    df = pd.read_csv(path, dtype={"flags": "string", "text": "string"}, keep_default_na=False)
    df["t"] = epoch_s(df["timestamp_utc"].tolist())
    return df


def epoch_s(stamps: list[str]) -> np.ndarray:
    """The CSV's ``timestamp_utc`` strings (UTC, ``Z``) as epoch seconds (float64, millisecond exact)."""
    ms = np.array([s.removesuffix("Z") for s in stamps], dtype="datetime64[ms]").astype(np.int64)
    return ms / 1000.0
