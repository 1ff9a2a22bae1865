"""A CSV export is the same file, byte for byte, whichever store the session was recorded into.

The same sessions are recorded with the same fixed clock into a SQLite file and into a PostgreSQL
database, through the paths a clinic uses: the recorder writing to :class:`SqlStore` (the bedside
session of the issue-12 CSV tests, with every kind of tricky string, and the 2-hour review session
with sensor faults, blood pressures and a booster) and the recorder writing through the journal
(:class:`JournaledStore`, as ``kapmonitor record`` and the window do). Every session is then
exported as the ``csv`` format, plain and de-identified, from each store, and the bytes compared.
"""

from __future__ import annotations

import io
import itertools
import random
from datetime import UTC, datetime
from pathlib import Path

import csv12_recorded
import pytest
import review_data
from review_data import ManualSensor

import kapmonitor.recording.observations
from db.export import EXPORTERS
from db.export.csv import export_session_csv
from db.export.source import StoredSession
from db.journaled_store import JournaledStore
from db.store import SqlStore
from devices.simulated import SimulatedSensor
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.exporters import ExportOptions
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import ObservationKind

JOURNALED_START = datetime(2026, 4, 7, 13, 15, 0, 250000, tzinfo=UTC)  # a fraction of a second, on purpose
GENERATED = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)


def record_journaled(location: str) -> int:
    """A 12-minute session recorded through the journal, as ``kapmonitor record`` does; its id."""
    clock = FakeClock(start=JOURNALED_START)
    store = JournaledStore.open(location, clock=clock, room="Room 2", interval_s=0.05)
    rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
    sensor = SimulatedSensor(clock, seed=11)
    try:
        sid = rec.start_session(SessionSpec("K-JRNL", PRESETS["intramuscular"], 0.75, dose_unit="mg/kg",
                                            lot="L-0.75", clinician_initials="CD"))
        rec.attach_sensor(ManualSensor(sensor))

        def run_for(minutes: float) -> None:
            end = clock.monotonic() + minutes * 60.0
            while clock.monotonic() < end:
                clock.advance(min(1.0 / 3.0, end - clock.monotonic()))  # times that are not round
                sensor.advance_to()
                rec.tick()

        run_for(3)
        rec.record_manual_vitals(systolic=131, diastolic=84, author="CD")
        rec.give_dose(amount=0.75)
        run_for(4.5)
        rec.add_observation(ObservationKind.NOTE, "note", text="Ünïcode, \"quotes\", commas; 1/3 ≈ 0.333…",
                            author="CD")
        rec.add_observation(ObservationKind.SCALE, "sedation", value=2.5)
        run_for(4.5)
        rec.end_session("fit to leave")
        store.wait_applied(30)
    finally:
        rec.close()
        store.close()
    return sid


def record_all(location: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every scripted session into ``location``; their ids, in the order recorded.

    Observation ids are random (uuid4) in a clinic; here they come from a counter started afresh for
    each store, like the fixed clock, so both stores hold the same recorded data.
    """
    counter = itertools.count(1)
    monkeypatch.setattr(kapmonitor.recording.observations, "new_observation_id",
                        lambda: f"{next(counter):032x}")
    bedside = csv12_recorded.record_session(location)  # type: ignore[arg-type]  # a path or a URL
    review = review_data.record_session(location, client="K-REVIEW")
    return [bedside.session_id - 1, bedside.session_id, review.session_id, record_journaled(location)]


def exports(location: str, session_ids: list[int], folder: Path) -> dict[str, bytes]:
    """Each session's CSV file as written by the ``csv`` format, and its de-identified text."""
    out: dict[str, bytes] = {}
    folder.mkdir()
    with SqlStore.open(location) as store:
        for sid in session_ids:
            target = folder / f"{sid}.csv"
            EXPORTERS.export_file(EXPORTERS.get("csv"), StoredSession(store, sid), target,
                                  ExportOptions(generated_at=GENERATED))
            out[f"{sid}.csv"] = target.read_bytes()
            text = io.StringIO(newline="")
            export_session_csv(store, sid, text, deidentify=True, rng=random.Random(sid))
            out[f"{sid}-deidentified.csv"] = text.getvalue().encode("utf-8")
    return out


def test_csv_exports_are_byte_identical_from_sqlite_and_postgresql(pg_url: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite = str(tmp_path / "clinic.db")
    ids = record_all(sqlite, monkeypatch)
    assert record_all(pg_url, monkeypatch) == ids, "the same sessions get the same ids"
    from_sqlite = exports(sqlite, ids, tmp_path / "sqlite")
    from_pg = exports(pg_url, ids, tmp_path / "postgresql")
    assert list(from_pg) == list(from_sqlite)
    for name, data in from_sqlite.items():
        assert data.count(b"\r\n") > 10, name
        if from_pg[name] != data:
            lines_sqlite, lines_pg = data.splitlines(), from_pg[name].splitlines()
            first = next((i for i, (a, b) in enumerate(zip(lines_sqlite, lines_pg, strict=False)) if a != b),
                         min(len(lines_sqlite), len(lines_pg)))
            pytest.fail(f"{name} differs at line {first + 1} ({len(lines_sqlite)} vs {len(lines_pg)} "
                        f"lines):\nsqlite:     {lines_sqlite[first:first + 1]!r}\n"
                        f"postgresql: {lines_pg[first:first + 1]!r}")
