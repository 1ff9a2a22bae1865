"""Session CSV export: format, completeness, ordering, phases and de-identification.

Each test runs on SQLite and on PostgreSQL (``db_location``).
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import db.export.csv
from db.export.csv import COLUMNS, export_session_csv
from db.store import SqlStore
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Reading,
    ReadingFlag,
    SessionEvent,
    Stream,
)

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
DOSE_S = 300
END_S = 3 * 3600
BOTH_FLAGS = ReadingFlag.NO_CONTACT | ReadingFlag.ARTIFACT
TRICKY = 'She said "it\'s like, floating",\nthen laughed; 100% calm'


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture
def store(db_location: str) -> Iterator[SqlStore]:
    s = SqlStore.open(db_location, flush_interval_s=0.05)
    yield s
    s.close()


def alarm(t: float) -> AlarmTransition:
    return AlarmTransition(at(t), "hr_high", "Heart rate high", AlarmPriority.MEDIUM,
                           AlarmCategory.PHYSIOLOGICAL, AlarmState.ACTIVE, "raised", Stream.HEART_RATE,
                           131.0, 130.0, "above 130 for 10 s")


def note(oid: str, rev: int, t: float, **kw: object) -> Observation:
    fields: dict[str, object] = dict(kind=ObservationKind.NOTE, name="note", occurred_at=at(t),
                                     recorded_at=at(t + 5 + rev), text=TRICKY, author="AB")
    fields.update(kw)
    return Observation(oid, rev, **fields)  # type: ignore[arg-type]


def fill(store: SqlStore, *, dose: bool = True, end: bool = True) -> tuple[int, list[Reading]]:
    sid = store.create_session(SessionSpec("K-0042", PRESETS["sublingual"], 100.0), at(0))
    store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, at(0)))
    readings: list[Reading] = []
    for i in range(0, END_S, 20):
        readings.append(Reading(Stream.HEART_RATE, 60.0 + (i % 37) + 0.5, at(i + 0.25), "AA:BB:CC:DD:EE:01",
                                ReadingFlag.ARTIFACT if i % 200 == 0 else ReadingFlag.NONE))
        readings.append(Reading(Stream.RR_INTERVAL, 812.5 + i % 11, at(i + 0.25), "AA:BB:CC:DD:EE:01"))
        readings.append(Reading(Stream.SPO2, 97.0, at(i + 0.5), "AA:BB:CC:DD:EE:02",
                                BOTH_FLAGS if i == 40 else ReadingFlag.NONE))
    store.add_readings(sid, readings)
    if dose:
        store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, at(DOSE_S),
                                             {"amount": 100.0, "unit": "mg"}))
    store.append_event(sid, SessionEvent(EventKind.CHECK_DONE, at(60), {"check": "vitals_pre_dose",
                                                                        "note": "BP 120/80, calm"}))
    store.save_observation(sid, note("o1", 1, 100))
    store.save_observation(sid, note("o1", 2, 100, text="edited"))
    store.save_observation(sid, note("o1", 3, 100, deleted=True, reason="wrong client, sorry"))
    store.save_observation(sid, note("o2", 1, 1500, kind=ObservationKind.SCALE, name="sedation", value=2.0,
                                     text=""))
    store.log_alarm(sid, alarm(2000.25))
    if end:
        store.end_session(sid, at(END_S), "fit to leave")
    store.flush()
    return sid, readings


def export(store: SqlStore, sid: int, **kw: object) -> tuple[str, list[dict[str, str]]]:
    out = io.StringIO(newline="")
    n = export_session_csv(store, sid, out, **kw)  # type: ignore[arg-type]
    text = out.getvalue()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert n == len(rows)
    return text, rows


def test_header_and_every_stored_row_value_for_value(store: SqlStore) -> None:
    sid, readings = fill(store)
    text, rows = export(store, sid)
    assert text.startswith(",".join(COLUMNS[:10]) + ",")
    assert text.endswith("\r\n")
    kinds = [r["kind"] for r in rows]
    assert kinds.count("reading") == len(readings)
    assert kinds.count("event") == 4
    assert kinds.count("observation") == 4
    assert kinds.count("alarm") == 1
    exported = {(r["name"], r["timestamp_utc"], float(r["value"]), r["sensor_id"], r["flags"], r["unit"])
                for r in rows if r["kind"] == "reading"}
    units = {Stream.HEART_RATE: "bpm", Stream.RR_INTERVAL: "ms", Stream.SPO2: "%"}
    for rd in readings:
        flags = "|".join(f.name.lower() for f in ReadingFlag if f and rd.flags & f and f.name)
        assert (rd.stream.value, iso(rd.at), rd.value, rd.sensor_id, flags, units[rd.stream]) in exported
    assert {r["flags"] for r in rows} >= {"", "artifact", "artifact|no_contact"}
    obs = [r for r in rows if r["kind"] == "observation"]
    assert [(r["observation_id"], r["revision"]) for r in obs] == [("o1", "1"), ("o1", "2"), ("o1", "3"),
                                                                    ("o2", "1")]
    assert obs[0]["text"] == TRICKY, "commas, quotes and newlines survive RFC 4180 quoting"
    assert obs[0]["recorded_at_utc"] == iso(at(106))
    assert obs[0]["author"] == "AB"
    assert obs[2]["deleted"] == "true"
    assert obs[2]["reason"] == "wrong client, sorry"
    assert obs[3]["value"] == "2.0"
    assert obs[3]["observation_kind"] == "scale"
    (al,) = [r for r in rows if r["kind"] == "alarm"]
    assert (al["name"], al["value"], al["unit"], al["limit"], al["priority"], al["state"], al["action"],
            al["text"], al["detail"]) == ("hr_high", "131.0", "bpm", "130.0", "medium", "active", "raised",
                                          "Heart rate high", "above 130 for 10 s")
    dose = next(r for r in rows if r["name"] == "dose_given")
    assert (dose["value"], dose["unit"], json.loads(dose["data"])) == ("100.0", "mg",
                                                                         {"amount": 100.0, "unit": "mg"})
    check = next(r for r in rows if r["name"] == "check_done")
    assert check["text"] == "BP 120/80, calm"
    assert {r["session_id"] for r in rows} == {str(sid)}
    assert {r["client_code"] for r in rows} == {"K-0042"}
    assert all(len(r) == len(COLUMNS) for r in csv.reader(io.StringIO(text, newline="")))


def test_time_order_timestamps_elapsed_and_phases(store: SqlStore) -> None:
    sid, _ = fill(store)
    _, rows = export(store, sid)
    stamps = [r["timestamp_utc"] for r in rows]
    assert stamps == sorted(stamps)
    session = [r for r in rows if r["kind"] == "session"]
    assert rows[:len(session)] == session, "the session's own rows come first"
    assert {r["timestamp_utc"] for r in session} == {iso(at(0))}
    rows = rows[len(session):]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s) for s in stamps)
    # Ties: at 0.25 s past a 20 s mark the heart rate comes before RR (write order); events go first.
    first = rows[:3]
    assert [r["name"] for r in first] == ["session_started", "heart_rate", "rr_interval"]
    by_time = {(r["kind"], r["name"], r["timestamp_utc"]): r for r in rows}
    hr0 = by_time[("reading", "heart_rate", iso(at(0.25)))]
    assert hr0["elapsed_s"] == "-299.750"
    assert hr0["phase"] == "preparation"
    dose = by_time[("event", "dose_given", iso(at(DOSE_S)))]
    assert dose["elapsed_s"] == "0.000"
    assert dose["phase"] == "onset"
    assert by_time[("reading", "heart_rate", iso(at(600.25)))]["phase"] == "onset"
    assert by_time[("reading", "heart_rate", iso(at(900.25)))]["phase"] == "effect"  # dose + 10 min
    assert by_time[("reading", "heart_rate", iso(at(900.25)))]["elapsed_s"] == "600.250"
    assert by_time[("reading", "spo2", iso(at(3580.5)))]["phase"] == "effect"  # < dose + 55 min
    assert by_time[("reading", "spo2", iso(at(3600.5)))]["phase"] == "integration"
    end = by_time[("event", "session_ended", iso(at(END_S)))]
    assert end["phase"] == "ended"
    assert end["text"] == "fit to leave"
    assert rows[-1]["name"] == "session_ended"


def test_no_dose_means_empty_elapsed(store: SqlStore) -> None:
    sid, _ = fill(store, dose=False, end=False)
    _, rows = export(store, sid)
    rows = [r for r in rows if r["kind"] != "session"]
    assert {r["elapsed_s"] for r in rows} == {""}
    assert {r["phase"] for r in rows} == {"preparation"}


def test_deidentify(store: SqlStore) -> None:
    sid, _readings = fill(store)
    _, plain = export(store, sid)
    text, rows = export(store, sid, deidentify=True, rng=random.Random(7))
    assert len(rows) == len(plain)
    for col in ("session_id", "client_code"):
        values = {r[col] for r in rows}
        assert len(values) == 1
        assert values.isdisjoint({str(sid), "K-0042"})
    assert "K-0042" not in text
    assert "AA:BB:CC" not in text
    assert "floating" not in text
    assert "wrong client" not in text
    assert "BP 120/80" not in text
    assert "fit to leave" not in text
    assert {r["author"] for r in rows} == {""}
    assert {r["sensor_id"] for r in rows if r["kind"] == "reading"} == {"sensor-1", "sensor-2"}
    shift = {datetime.fromisoformat(d["timestamp_utc"]) - datetime.fromisoformat(p["timestamp_utc"])
             for d, p in zip(rows, plain, strict=True)}
    (offset,) = shift
    assert offset <= -timedelta(days=365)
    assert offset.microseconds == 0
    for d, p in zip(rows, plain, strict=True):
        assert (d["elapsed_s"], d["phase"], d["kind"], d["value"], d["flags"]) == (
            p["elapsed_s"], p["phase"], p["kind"], p["value"], p["flags"])
        if p["name"] != "sedation":
            assert d["name"] == p["name"]
    # "sedation" is not one of the built-in scales: a clinic typed it, so it is a token.
    assert {r["name"] for r in rows if r["observation_kind"] == "scale"} == {"scale-1"}
    assert {r["observation_id"] for r in rows if r["kind"] == "observation"} == {"O-1", "O-2"}
    _, again = export(store, sid, deidentify=True, rng=random.Random(7))
    assert again == rows, "the same seed gives the same tokens and shift"
    _, other = export(store, sid, deidentify=True, rng=random.Random(8))
    assert other[0]["client_code"] != rows[0]["client_code"]


def test_chunk_boundaries_do_not_change_the_output(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sid, _ = fill(store)
    whole, _ = export(store, sid)
    monkeypatch.setattr(db.export.csv, "_CHUNK", 7)
    chunked, _ = export(store, sid)
    assert chunked == whole


def test_unknown_session(store: SqlStore) -> None:
    with pytest.raises(KeyError):
        export_session_csv(store, 404, io.StringIO())
