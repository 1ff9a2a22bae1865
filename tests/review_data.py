"""A recorded simulated session for the review, summary and report tests.

The session is recorded with the real pipeline in-process: :class:`Recorder`
(alarm engine, session state, store writer) fed by :class:`SimulatedSensor` in
manual mode on a :class:`FakeClock`, so a 2-hour-and-more session takes a few
seconds and is the same on every run (fixed seed). The therapist's actions are
scripted: baseline, dose, notes and tags, a sedation score, the +40 min blood
pressure check, a booster, the discharge vitals, the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from db.store import SqlStore
from devices.simulated import SimulatedSensor
from devices.simulated_faults import Fault
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.sensor import SensorSink
from kapmonitor.types import ObservationKind

START = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
CLIENT = "K-0042"
CLINICIAN = "AB"
LOT = "LOT-7731"
DOSE_MG = 150.0
BASELINE_MIN = 5.0
MINUTES_AFTER_DOSE = 130.0


class ManualSensor:
    """Starts a :class:`SimulatedSensor` in manual mode, so the test steps it with the fake clock."""

    def __init__(self, sensor: SimulatedSensor) -> None:
        self.inner = sensor

    @property
    def sensor_id(self) -> str:
        return self.inner.sensor_id

    def start(self, sink: SensorSink) -> None:
        self.inner.start_manual(sink)

    def stop(self) -> None:
        self.inner.stop()

    def request_blood_pressure(self) -> bool:
        return self.inner.request_blood_pressure()

    def dose_given(self, at: datetime) -> None:
        self.inner.dose_given(at)


@dataclass
class RecordedSession:
    """Where the session is and what the script wrote (for assertions)."""

    path: Path | str
    """The SQLite file, or the database URL."""
    session_id: int
    notes: list[str] = field(default_factory=list)
    """Every observation's visible text or name, as written."""


_CACHE: dict[str, RecordedSession] = {}


def record_session(directory: Path | str, *, seed: int = 7, client: str = CLIENT, start: datetime = START,
                   protocol: str = "sublingual", end: bool = True) -> RecordedSession:
    """Record the scripted session into ``directory/review.db`` (once per process and arguments).

    ``directory`` may instead be a database URL (a PostgreSQL test database): the session goes there.
    Further calls with another client or start add sessions to the same database. With
    ``end=False`` the recorder is closed without ending the session, as a crash leaves it.
    """
    key = f"{directory}|{client}|{start.isoformat()}"
    if key in _CACHE:
        return _CACHE[key]
    path: Path | str = directory if isinstance(directory, str) else directory / "review.db"
    clock = FakeClock(start=start)
    store = SqlStore.open(path, clock=clock, flush_interval_s=0.05)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    # Faults in clock seconds after the sensor started (5 min before the dose): the strap loses its
    # link for 90 s at +70 min (a gap and a technical alarm) and skin contact for 40 s at +95 min.
    faults = [Fault("link_drop", at_s=(BASELINE_MIN + 70) * 60, duration_s=90),
              Fault("contact_lost", at_s=(BASELINE_MIN + 95) * 60, duration_s=40)]
    sensor = SimulatedSensor(clock, seed=seed, faults=faults)
    notes: list[str] = []
    try:
        sid = rec.start_session(SessionSpec(client, PRESETS[protocol], DOSE_MG, lot=LOT,
                                            clinician_initials=CLINICIAN, app_version="test"))
        rec.attach_sensor(ManualSensor(sensor))

        def run_for(minutes: float) -> None:
            end = clock.monotonic() + minutes * 60.0
            while clock.monotonic() < end:
                clock.advance(min(5.0, end - clock.monotonic()))
                sensor.advance_to()
                rec.tick()

        run_for(BASELINE_MIN - 1)
        rec.record_manual_vitals(systolic=124, diastolic=78, author=CLINICIAN)
        rec.complete_check("vitals_pre_dose")
        notes.append("BP 124/78 mmHg")
        run_for(1)
        rec.give_dose(amount=DOSE_MG)
        script: list[tuple[float, str, ObservationKind, str, float | None]] = [
            (6, "note", ObservationKind.NOTE, "Eyes closed, breathing slow and even", None),
            (14, "nausea", ObservationKind.TAG, "", None),
            (22, "sedation", ObservationKind.SCALE, "MOAA/S", 4.0),
            (31, "note", ObservationKind.NOTE, "Says \"I'm floating\", calm", None),
            (52, "water given", ObservationKind.INTERVENTION, "", None),
            (75, "note", ObservationKind.NOTE, "Talking about her father; tearful, then settled", None),
        ]
        elapsed = 0.0
        for at_min, name, kind, text, value in script:
            run_for(at_min - elapsed)
            elapsed = at_min
            rec.add_observation(kind, name, text=text, value=value, author=CLINICIAN)
            notes.append(text or name)
            if at_min == 31:
                run_for(9)
                elapsed = 40.5
                rec.record_manual_vitals(systolic=164, diastolic=96, author=CLINICIAN)
                rec.complete_check("vitals_40_min", note="peak as expected")
                notes.append("BP 164/96 mmHg")
                run_for(0.5)
                rec.acknowledge_alarm()
            if at_min == 52:
                run_for(8)
                elapsed = 60
                rec.give_booster(amount=50.0)
        run_for(121 - elapsed)
        rec.record_manual_vitals(systolic=126, diastolic=80, spo2=97, author=CLINICIAN)
        rec.complete_check("vitals_discharge")
        notes.append("BP 126/80 mmHg")
        run_for(MINUTES_AFTER_DOSE - 121)
        if end:
            rec.end_session("fit to leave")
    finally:
        rec.close()
        store.close()
    assert sid is not None
    recorded = RecordedSession(path, sid, notes)
    _CACHE[key] = recorded
    return recorded
