"""Issue 14, EDF+: the session recorded at the bedside, exported as EDF+ and read back by two
independent readers (MNE and pyEDFlib), agrees with the CSV of the same session: sample counts,
units, values, gaps (never zeros), and every event, observation, alarm and RR interval as an
annotation at its time. De-identified files carry no identity; the sampling rule is checked on
hand-made series; the command line writes the format."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pyedflib
import pytest
from export14_session import (
    CLIENT,
    CLINICIAN,
    IDENTIFYING,
    NOTE,
    START,
    UNICODE_NOTE,
    Recorded,
    csv_table,
    export,
    record_session,
)

from db.export import EXPORTERS
from db.export.edf import HOLD_S, NO_DATA, RECORD_S, one_hertz
from db.store import SqlStore
from kapmonitor import cli
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.discharge import Discharge
from kapmonitor.ports import SessionSpec, StreamData
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import ObservationKind, Reading, ReadingFlag, Stream
from ui.main import main

LABELS = ["HR", "SpO2", "BP systolic", "BP diastolic"]
UNITS = ["bpm", "%", "mmHg", "mmHg"]
STREAMS = {"HR": "heart_rate", "SpO2": "spo2", "BP systolic": "bp_systolic", "BP diastolic": "bp_diastolic"}
DOC = Path(__file__).resolve().parents[1] / "docs" / "export-formats.md"


@dataclass(frozen=True)
class Files:
    recorded: Recorded
    csv: Path
    edf: Path
    deidentified: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("edf14")
    rec = record_session(folder / "k.db")
    paths = Files(rec, folder / "session.csv", folder / "session.edf", folder / "deidentified.edf")
    assert export(rec, "csv", paths.csv) > 0
    assert export(rec, "edf", paths.edf) == 4
    assert export(rec, "edf", paths.deidentified, deidentify=True) == 4
    return paths


@pytest.fixture(scope="module")
def table(files: Files) -> pd.DataFrame:
    return csv_table(files.csv)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Read:
    """What one reader got from the file."""

    labels: list[str]
    units: list[str]
    samples: list[np.ndarray]
    start: datetime
    onsets: np.ndarray
    durations: np.ndarray
    texts: list[str]


def _mne(path: Path) -> Read:
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.info["sfreq"] == 1.0
    data = raw.get_data()
    ann = raw.annotations
    # MNE keeps only units it knows (uV, mV, V); its scaling of ours must be 1 (physical values).
    return Read(list(raw.ch_names), [], list(data), raw.info["meas_date"], np.asarray(ann.onset),
                np.asarray(ann.duration), list(ann.description))


def _pyedflib(path: Path) -> Read:
    with pyedflib.EdfReader(str(path)) as edf:
        n = edf.signals_in_file
        onsets, durations, texts = edf.readAnnotations()
        return Read([edf.getLabel(i) for i in range(n)], [edf.getPhysicalDimension(i) for i in range(n)],
                    [edf.readSignal(i) for i in range(n)], edf.getStartdatetime().replace(tzinfo=UTC),
                    np.asarray(onsets), np.asarray(durations), [str(t) for t in texts])


def _both(path: Path) -> list[Read]:
    return [_mne(path), _pyedflib(path)]


def _t0(df: pd.DataFrame) -> float:
    return float(math.floor(df["t"].min()))


def test_both_readers_see_four_signals_of_the_sessions_length_with_units_and_ranges(
        files: Files, table: pd.DataFrame) -> None:
    t0 = _t0(table)
    assert t0 == math.floor(START.timestamp()), "the recording starts at the whole second of the start"
    expected_n = (math.floor(table["t"].max() - t0) // RECORD_S + 1) * RECORD_S
    mne_read, edf_read = _both(files.edf)
    for read in (mne_read, edf_read):
        assert read.labels == LABELS
        assert [len(s) for s in read.samples] == [expected_n] * 4
        assert read.start == datetime.fromtimestamp(t0, UTC), "UTC start"
    assert edf_read.units == UNITS
    for a, b in zip(mne_read.samples, edf_read.samples, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    with pyedflib.EdfReader(str(files.edf)) as edf:
        assert [edf.getPhysicalMinimum(i) for i in range(4)] == [NO_DATA] * 4
        assert [edf.getPhysicalMaximum(i) for i in range(4)] == [300.0, 100.0, 300.0, 250.0]
        assert [edf.getDigitalMinimum(i) for i in range(4)] == [-32768] * 4
        assert edf.getPatientCode() == CLIENT
        assert edf.getTechnician() == CLINICIAN
        assert edf.getAdmincode() == str(files.recorded.session_id)
        assert edf.getEquipment() == "kapmonitor-0.1.0"
        assert "no data" in edf.getPrefilter(0)
    header = files.edf.read_bytes()[:256].decode("ascii")
    assert header[8:88].rstrip() == f"{CLIENT} X X X"
    assert header[88:168].rstrip() == (f"Startdate 14-MAR-2026 {files.recorded.session_id} {CLINICIAN} "
                                       "kapmonitor-0.1.0 UTC")
    assert header[192:197] == "EDF+C"


def _usable(df: pd.DataFrame, stream: str) -> pd.DataFrame:
    rows = df[(df["kind"] == "reading") & (df["name"] == stream)]
    bad = rows["flags"].str.contains("artifact|no_contact|implausible", regex=True)
    return rows[~bad]


def test_each_second_holds_the_csvs_last_usable_reading_and_gaps_stay_gaps(
        files: Files, table: pd.DataFrame) -> None:
    t0 = _t0(table)
    for read in _both(files.edf):
        for label, samples in zip(read.labels, read.samples, strict=True):
            assert not np.any(samples == 0.0), "a gap is never a zero"
            data = samples[samples != NO_DATA]
            assert np.all(data > 0), f"{label}: every sample is a reading or no data"
            usable = _usable(table, STREAMS[label])
            second = np.floor(usable["t"].to_numpy() - t0).astype(int)
            last = pd.Series(usable["value"].to_numpy(float)).groupby(second).last()
            np.testing.assert_allclose(samples[last.index.to_numpy()], last.to_numpy(), rtol=0, atol=1e-6)
            if label.startswith("BP"):
                assert len(data) == len(last) == 4, "3 cuff measurements and one by hand, 1 s each"
        hr = read.samples[0]
        readings = table[(table["kind"] == "reading") & (table["name"] == "heart_rate")]
        t = readings["t"].to_numpy()
        silence = np.flatnonzero(np.diff(t) > 30)
        assert len(silence) == 1, "the strap's 40 s silence"
        first, end = math.floor(t[silence[0]] - t0) + 1, math.floor(t[silence[0] + 1] - t0)
        assert np.all(hr[first:end] == NO_DATA) and end - first >= 38
        for _, row in readings[readings["flags"] != ""].iterrows():
            k = math.floor(row["t"] - t0)
            same_second = np.floor(t - t0) == k
            if not (same_second & (readings["flags"] == "").to_numpy()).any():
                assert hr[k] == NO_DATA, f"the unusable {row['value']} bpm ({row['flags']}) is no data"
        assert 190.0 not in hr, "the artifact's value is not in the signal"


def test_a_second_without_a_reading_holds_the_previous_one_within_five_seconds(
        files: Files, table: pd.DataFrame) -> None:
    t0 = _t0(table)
    hr = _pyedflib(files.edf).samples[0]
    readings = table[(table["kind"] == "reading") & (table["name"] == "heart_rate")]
    t, v = readings["t"].to_numpy(), readings["value"].to_numpy(float)
    usable = (readings["flags"] == "").to_numpy()
    seconds = set(np.floor(t - t0).astype(int).tolist())
    empty = sorted(set(range(math.floor(t[0] - t0), math.floor(t[-1] - t0))) - seconds)
    held = 0
    for k in empty:
        before = np.flatnonzero(t < t0 + k)[-1]
        if usable[before] and t[before + 1] - t[before] <= HOLD_S:
            assert hr[k] == v[before]
            held += 1
        else:
            assert hr[k] == NO_DATA
    assert held >= 3, "the jittered 1 Hz stream leaves empty seconds inside the signal"


def _at(read: Read, onset: float, prefix: str) -> list[str]:
    return [text for o, text in zip(read.onsets, read.texts, strict=True)
            if abs(o - onset) < 0.0005 and text.startswith(prefix)]


def test_every_event_observation_alarm_and_rr_interval_is_an_annotation_at_its_csv_time(
        files: Files, table: pd.DataFrame) -> None:
    t0 = _t0(table)
    events = table[table["kind"] == "event"]
    alarms = table[table["kind"] == "alarm"]
    obs = table[table["kind"] == "observation"].sort_values("revision")
    current = obs.groupby("observation_id").tail(1)
    current = current[current["deleted"] != "true"]
    rr = table[(table["kind"] == "reading") & (table["name"] == "rr_interval")]
    assert len(events) >= 10 and len(alarms) >= 6 and len(current) == 6 and len(rr) > 200
    for read in _both(files.edf):
        for _, e in events.iterrows():
            assert _at(read, e["t"] - t0, e["name"]), f"event {e['name']} at {e['timestamp_utc']}"
        for _, a in alarms.iterrows():
            assert _at(read, a["t"] - t0, f"alarm {a['name']} {a['action']}: {a['text']}")
        for _, o in current.iterrows():
            prefix = "note" if o["name"] == "note" else f"{o['observation_kind']} {o['name']}"
            assert any(o["text"] in t for t in _at(read, o["t"] - t0, prefix)), prefix
        notes = [t for t in read.texts if t.startswith("note")]
        assert "note: calm, eyes closed, breathing slowly (edited)" in notes and f"note: {NOTE}" in notes
        assert f"note: {UNICODE_NOTE}" in notes, "UTF-8 text reads back as written"
        assert not [t for t in read.texts if "talked_about" in t], "a deleted observation is left out"
        # The intervals of one packet share its time; compare (onset, value) pairs in order.
        beats = sorted((round(o, 3), float(t.split()[1]))
                       for o, t in zip(read.onsets, read.texts, strict=True) if t.startswith("RR "))
        assert all(t.endswith(" ms") for t in read.texts if t.startswith("RR "))
        assert beats == sorted(zip(np.round(rr["t"].to_numpy() - t0, 3).tolist(), rr["value"].astype(float),
                                   strict=True))
        gaps = [(o, d) for o, d, t in zip(read.onsets, read.durations, read.texts, strict=True)
                if t == "no data: HR"]
        hr = read.samples[0]
        missing = np.concatenate(([False], hr == NO_DATA, [False]))
        edges = np.flatnonzero(missing[1:] != missing[:-1])
        assert gaps == [(float(s), float(e - s)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
    assert _at(_pyedflib(files.edf), events[events["name"] == "dose_given"]["t"].iloc[0] - t0,
               "dose_given 150 mg")


def _texts_and_header(path: Path) -> str:
    with pyedflib.EdfReader(str(path)) as edf:
        header = path.read_bytes()[:256 * (edf.signals_in_file + 2)].decode("ascii")
        texts = "\n".join(str(t) for t in edf.readAnnotations()[2])
    return header + "\n" + texts + "\n" + "\n".join(_mne(path).texts)


def test_a_deidentified_file_has_no_identity_and_a_shifted_start(files: Files) -> None:
    text = _texts_and_header(files.deidentified)
    for word in (*IDENTIFYING, "Dr ", "eyes closed"):
        assert word not in text, word
    assert not re.search(rf"\b{CLINICIAN}\b", text)
    assert not re.search(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}", text), "no sensor address"
    header = files.deidentified.read_bytes()[:256].decode("ascii")
    assert header[8:88].rstrip() == "X X X X"
    assert re.fullmatch(r"Startdate \d\d-[A-Z]{3}-\d{4} X X kapmonitor-0\.1\.0 UTC", header[88:168].rstrip())
    plain, hidden = _pyedflib(files.edf), _pyedflib(files.deidentified)
    shift = plain.start - hidden.start
    assert timedelta(days=365) <= shift <= timedelta(days=3650) and shift.microseconds == 0
    for a, b in zip(plain.samples, hidden.samples, strict=True):
        assert np.array_equal(a, b)
    np.testing.assert_array_equal(plain.onsets, hidden.onsets)
    assert "tag nausea" in hidden.texts and "note" in hidden.texts, "built-in names kept, text dropped"
    assert any(t.startswith("check_dismissed check=vitals_40_min") and ":" not in t for t in hidden.texts)
    assert any(t.startswith("alarm no_data.heart_rate raised") for t in hidden.texts)


def _series(points: list[tuple[float, float, int]]) -> StreamData:
    t, v, f = zip(*points, strict=True)
    return StreamData(Stream.HEART_RATE, np.array(t, float), np.array(v, float), np.array(f, np.int32))


def test_one_hertz_sampling_rule_on_a_hand_made_series() -> None:
    t0 = 1_000.0
    data = _series([
        (t0 + 0.2, 70, 0), (t0 + 0.9, 71, 0),  # second 0: the last one
        (t0 + 2.1, 72, 0),  # second 1 empty: 2.1 - 0.9 <= 5 s, holds 71
        (t0 + 9.5, 73, 0),  # seconds 3..8: 7.4 s of silence, no data
        (t0 + 10.3, 190, ReadingFlag.ARTIFACT),  # second 10: only an unusable reading
        (t0 + 11.0, 0, 0),  # 0 bpm unflagged: impossible, so unusable as well
        (t0 + 12.5, 74, ReadingFlag.NONE), (t0 + 12.7, 300.5, 0),  # 300.5 impossible: 74 is the last usable
    ])
    out = one_hertz(data, t0, 15, hold_s=HOLD_S)
    expected = [71, 71, 72, *[math.nan] * 6, 73, math.nan, math.nan, 74, math.nan, math.nan]
    np.testing.assert_array_equal(out, np.array(expected, float))
    sparse = one_hertz(data, t0, 15, hold_s=0.0)
    assert np.isnan(sparse[1]) and sparse[2] == 72 and np.isnan(sparse[3]), "hold_s=0 holds nothing"
    assert np.isnan(one_hertz(_series([(t0 + 30, 70, 0)]), t0, 10, hold_s=HOLD_S)).all()


def test_the_command_line_writes_edf_and_names_the_registry_formats(
        files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.edf"
    db = str(files.recorded.path)
    assert main(["--db", db, "export", "latest", "--format", "edf", "-o", str(target)]) == 0
    assert f"wrote 4 signals of session {files.recorded.session_id}" in capsys.readouterr().err
    assert _pyedflib(target).labels == LABELS
    assert EXPORTERS.names() == cli.EXPORT_FORMATS, "the help lists what the registry holds"
    with pytest.raises(SystemExit):
        cli.parse_args(["export", "--help"])
    assert "export format: csv, edf, fhir, rr" in " ".join(capsys.readouterr().out.split())


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_every_documented_example_runs_against_real_exports(
        files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, target in (("edf", "session.edf"), ("fhir", "session.json"), ("rr", "session-rr.txt")):
        export(files.recorded, name, tmp_path / target)
    monkeypatch.chdir(tmp_path)
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 3
    names: dict[str, object] = {}
    for i, block in enumerate(blocks):
        namespace: dict[str, object] = {}
        exec(compile(block, f"{DOC.name} example {i + 1}", "exec"), namespace)
        names.update(namespace)
    out = capsys.readouterr().out
    assert re.search(r"HR median 7\d bpm over \d+ s of data", out)
    with open(files.csv, encoding="utf-8", newline="") as f:
        rr = [r for r in csv.DictReader(f) if r["name"] == "rr_interval"]
    assert f"{len(rr)} intervals" in out
    assert len(names["doses"]) == 2  # type: ignore[arg-type]
    assert names["units"] == dict(zip(LABELS, UNITS, strict=True))
    assert len(names["beats"]) == len(rr)  # type: ignore[arg-type]


def test_a_session_of_any_length_and_any_annotation_width_exports(tmp_path: Path) -> None:
    """edfio checks every signal lasts the same, dividing the annotation signal's sample count by its
    rate (samples per record / record length): with 60 s records (before) that division is inexact for about
    one annotation width in six, and a session of 76 records or more (in CI a 14 h one) would not
    export ("Inconsistent signal durations [..., 51239.99999999999]"). The width follows the longest
    record of annotations: here sessions of 2 h 10 min, each with one note of its own length."""
    clock = FakeClock(start=START)
    path = tmp_path / "long.db"
    lengths = range(1, 41)
    with SqlStore.open(path) as store:
        rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        sessions = []
        for length in lengths:
            sessions.append(rec.start_session(SessionSpec(
                client_code=CLIENT, protocol=PRESETS["sublingual"], dose_amount=150.0, dose_unit="mg")))
            rec.readings_received([Reading(Stream.HEART_RATE, 72.0, clock.now(), "strap")])
            rec.add_observation(ObservationKind.NOTE, "note", text="n" * length)
            clock.advance(130 * 60.0)
            rec.readings_received([Reading(Stream.HEART_RATE, 72.0, clock.now(), "strap")])
            rec.tick()
            rec.end_session("done", Discharge(adverse_events=False, fit_to_leave_by=CLINICIAN))
            clock.advance(60.0)
        rec.close()
        store.flush()
    failed = []
    for length, sid in zip(lengths, sessions, strict=True):
        target = tmp_path / f"{length}.edf"
        try:
            assert export(Recorded(path, sid), "edf", target) == 4
        except ValueError as e:
            failed.append((length, str(e)))
            continue
        with pyedflib.EdfReader(str(target)) as edf:
            assert edf.getFileDuration() >= 130 * 60
            assert "note: " + "n" * length in [str(t) for t in edf.readAnnotations()[2]]
    assert failed == []
