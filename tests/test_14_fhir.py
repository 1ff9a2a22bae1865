"""Issue 14, FHIR R4: the bedside session as a Bundle that validates with ``fhir.resources`` (the Bundle
and every resource), with the LOINC codes and UCUM units of heart rate, SpO2 and the blood pressure
panel; per-interval medians that equal the CSV's usable readings, no Observation for an interval
without one; every measurement its own panel; the doses as MedicationAdministrations; the current
observations; the same uuids on every export; a de-identified bundle without identity; the
summarising interval validated in the options and on the command line."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from export14_session import (
    BP,
    CLIENT,
    CLINICIAN,
    GENERATED,
    IDENTIFYING,
    LOT,
    MANUAL_BP,
    NOTE,
    START,
    UNICODE_NOTE,
    Recorded,
    csv_table,
    export,
    record_session,
)
from fhir.resources import construct_fhir_element
from fhir.resources.bundle import Bundle

from kapmonitor.exporters import ExportOptions
from ui.main import main

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@dataclass(frozen=True)
class Files:
    recorded: Recorded
    csv: Path
    bundle: Path
    again: Path
    ten_s: Path
    deidentified: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("fhir14")
    rec = record_session(folder / "k.db")
    f = Files(rec, folder / "s.csv", folder / "s.json", folder / "again.json", folder / "ten.json",
              folder / "deid.json")
    export(rec, "csv", f.csv)
    count = export(rec, "fhir", f.bundle)
    assert count == len(_load(f.bundle)["entry"])
    export(rec, "fhir", f.again)
    export(rec, "fhir", f.ten_s, interval_s=10.0)
    export(rec, "fhir", f.deidentified, deidentify=True)
    return f


@pytest.fixture(scope="module")
def table(files: Files) -> pd.DataFrame:
    return csv_table(files.csv)  # type: ignore[no-any-return]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _resources(path: Path, kind: str, code: str | None = None) -> list[dict[str, Any]]:
    out = [e["resource"] for e in _load(path)["entry"] if e["resource"]["resourceType"] == kind]
    if code is not None:
        out = [r for r in out if any(c.get("code") == code for c in r["code"].get("coding", []))]
    return out


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize("name", ["bundle", "ten_s", "deidentified"])
def test_the_bundle_and_every_resource_validate_with_fhir_resources(files: Files, name: str) -> None:
    path: Path = getattr(files, name)
    bundle = Bundle.parse_raw(path.read_bytes())
    assert bundle.type == "collection"
    data = _load(path)
    kinds = set()
    for entry in data["entry"]:
        resource = entry["resource"]
        construct_fhir_element(resource["resourceType"], resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        kinds.add(resource["resourceType"])
    assert kinds == {"Observation", "MedicationAdministration"}
    assert len({e["fullUrl"] for e in data["entry"]}) == len(data["entry"]), "one uuid per resource"


def _check_vital(r: dict[str, Any], subject: str) -> None:
    assert r["status"] == "final"
    assert r["category"] == [{"coding": [{"system": CATEGORY, "code": "vital-signs",
                                          "display": "Vital Signs"}]}]
    assert r["subject"] == {"identifier": {"system": "urn:kapmonitor:client-code", "value": subject}}
    assert all(c["system"] == LOINC for c in r["code"]["coding"])


def _csv_medians(table: pd.DataFrame, stream: str, interval_s: float) -> dict[int, tuple[float, int]]:
    rows = table[(table["kind"] == "reading") & (table["name"] == stream)]
    rows = rows[~rows["flags"].str.contains("artifact|no_contact|implausible", regex=True)]
    rows = rows[(rows["value"].astype(float) >= 20) | (stream == "spo2")]  # 0 bpm is impossible
    k = np.floor((rows["t"].to_numpy() - START.timestamp()) / interval_s).astype(int)
    groups = pd.Series(rows["value"].astype(float).to_numpy()).groupby(k)
    return {int(i): (float(g.median()), len(g)) for i, g in groups}


@pytest.mark.parametrize(("name", "interval_s"), [("bundle", 60.0), ("ten_s", 10.0)])
def test_heart_rate_and_spo2_are_the_medians_of_the_csvs_usable_readings_per_interval(
        files: Files, table: pd.DataFrame, name: str, interval_s: float) -> None:
    path: Path = getattr(files, name)
    for stream, code, unit, codes in (("heart_rate", "8867-4", "/min", {"8867-4"}),
                                      ("spo2", "59408-5", "%", {"59408-5", "2708-6"})):
        found = _resources(path, "Observation", code)
        expected = _csv_medians(table, stream, interval_s)
        assert len(found) == len(expected) > 0
        for r in found:
            _check_vital(r, CLIENT)
            assert {c["code"] for c in r["code"]["coding"]} == codes
            q = r["valueQuantity"]
            assert (q["system"], q["code"]) == (UCUM, unit)
            start, end = _epoch(r["effectivePeriod"]["start"]), _epoch(r["effectivePeriod"]["end"])
            assert end - start == pytest.approx(interval_s)
            k = round((start - START.timestamp()) / interval_s)
            median, count = expected[k]
            assert q["value"] == median
            assert r["method"]["text"] == (f"median of {count} usable reading{'s' if count > 1 else ''} "
                                           f"in {interval_s:g} s")
    if interval_s == 10.0:
        hr = _resources(path, "Observation", "8867-4")
        starts = sorted(round((_epoch(r["effectivePeriod"]["start"]) - START.timestamp()) / 10) for r in hr)
        missing = sorted(set(range(starts[0], starts[-1])) - set(starts))
        assert len(missing) >= 3, "the strap's 40 s silence: intervals without an Observation"
        assert all(r["valueQuantity"]["value"] < 190 for r in hr), "the artifact is not summarised"


def test_every_blood_pressure_measurement_is_its_own_panel(files: Files, table: pd.DataFrame) -> None:
    panels = _resources(files.bundle, "Observation", "85354-9")
    sys_rows = table[(table["kind"] == "reading") & (table["name"] == "bp_systolic")]
    values = [tuple(c["valueQuantity"]["value"] for c in p["component"]) for p in panels]
    assert values == [BP[0], BP[1], MANUAL_BP, BP[2]]
    assert [_epoch(p["effectiveDateTime"]) for p in panels] == pytest.approx(sys_rows["t"].tolist(), abs=1e-3)
    for p in panels:
        _check_vital(p, CLIENT)
        assert [c["code"]["coding"][0]["code"] for c in p["component"]] == ["8480-6", "8462-4"]
        assert {(c["valueQuantity"]["system"], c["valueQuantity"]["code"]) for c in p["component"]} == {
            (UCUM, "mm[Hg]")}
    assert [p.get("method", {}).get("text") for p in panels] == [None, None, "entered by hand", None]


def test_the_doses_are_medication_administrations(files: Files, table: pd.DataFrame) -> None:
    doses = _resources(files.bundle, "MedicationAdministration")
    events = table[(table["kind"] == "event") & table["name"].isin(["dose_given", "booster_given"])]
    assert [_epoch(d["effectiveDateTime"]) for d in doses] == pytest.approx(events["t"].tolist(), abs=1e-3)
    assert [(d["dosage"]["dose"]["value"], d["dosage"]["text"]) for d in doses] == [
        (150.0, "first dose"), (25.0, "booster")]
    for d in doses:
        assert d["status"] == "completed"
        assert d["dosage"]["dose"] | {"value": 0} == {"value": 0, "unit": "mg", "system": UCUM, "code": "mg"}
        assert d["dosage"]["route"]["coding"] == [{"system": "http://snomed.info/sct", "code": "37839007",
                                                   "display": "Sublingual route"}]
        assert d["contained"][0]["batch"] == {"lotNumber": LOT}
        assert d["medicationReference"]["reference"] == "#ketamine"
        assert d["contained"][0]["code"] == {"text": "ketamine"}, "text only: no unverified RxNorm code"
        assert d["performer"] == [{"actor": {"display": CLINICIAN}}]


def test_the_current_observations_are_observations_with_their_text(files: Files) -> None:
    found = [r for r in _resources(files.bundle, "Observation")
             if r["category"][0]["coding"][0]["code"] != "vital-signs"]
    summary = [(r["category"][0]["coding"][0]["code"], r["code"]["text"], r["status"],
                r.get("valueString") or r.get("valueQuantity", {}).get("value")) for r in found]
    assert sorted(summary, key=str) == sorted([
        ("exam", "note", "final", NOTE), ("exam", "note", "amended", "calm, eyes closed, breathing slowly"),
        ("exam", "note", "final", UNICODE_NOTE),
        ("exam", "nausea", "final", None), ("survey", "rass", "final", -1.0),
        ("exam", "vitals", "final", 126.0),
    ], key=str), "the deleted custom tag is left out"
    vitals = next(r for r in found if r["code"]["text"] == "vitals")
    assert vitals["note"] == [{"text": "BP 126/80 mmHg"}]
    assert all(_epoch(r["issued"]) >= _epoch(r["effectiveDateTime"]) for r in found)


def test_the_same_session_exports_the_same_resources(files: Files) -> None:
    first, again = _load(files.bundle), _load(files.again)
    assert first["entry"] == again["entry"]
    assert first["id"] == again["id"]
    assert first["timestamp"] == "2026-03-14T12:00:00.000Z"
    session = str(files.recorded.session_id)
    assert first["identifier"] == {"system": "urn:kapmonitor:session", "value": session}
    ten = {e["fullUrl"] for e in _load(files.ten_s)["entry"]}
    doses = {e["fullUrl"] for e in first["entry"]
             if e["resource"]["resourceType"] == "MedicationAdministration"}
    assert doses <= ten, "the doses keep their uuids whatever the interval"


def test_a_deidentified_bundle_has_no_identity(files: Files) -> None:
    text = files.deidentified.read_text(encoding="utf-8")
    for word in (*IDENTIFYING, "eyes closed", "Dr ", "batch", "performer"):
        assert word not in text, word
    assert not re.search(rf"\b{CLINICIAN}\b", text)
    data = _load(files.deidentified)
    assert "timestamp" not in data, "the export time would give the offset away"
    assert re.fullmatch(r"S-[0-9a-f]{10}", data["identifier"]["value"])
    subjects = {json.dumps(e["resource"]["subject"]) for e in data["entry"]}
    (subject,) = subjects
    assert re.fullmatch(r"C-[0-9a-f]{10}", json.loads(subject)["identifier"]["value"])
    plain = _resources(files.bundle, "MedicationAdministration")[0]["effectiveDateTime"]
    hidden = _resources(files.deidentified, "MedicationAdministration")[0]["effectiveDateTime"]
    shift = timedelta(seconds=_epoch(plain) - _epoch(hidden))
    assert timedelta(days=365) <= shift <= timedelta(days=3650)
    assert shift.total_seconds() == int(shift.total_seconds()), "whole seconds"
    assert not {e["fullUrl"] for e in data["entry"]} & {e["fullUrl"] for e in _load(files.bundle)["entry"]}
    notes = [r for r in _resources(files.deidentified, "Observation") if r["code"]["text"] == "note"]
    assert len(notes) == 3 and not any("valueString" in r for r in notes)
    assert len(data["entry"]) == len(_load(files.bundle)["entry"])


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, 86_400.5, True])
def test_the_summarising_interval_is_checked(bad: float) -> None:
    with pytest.raises(ValueError, match="summarising interval must be a number of seconds above 0"):
        ExportOptions(generated_at=GENERATED, summary_interval_s=bad)
    assert ExportOptions(generated_at=GENERATED).summary_interval_s == 60.0
    assert ExportOptions(generated_at=GENERATED, summary_interval_s=0.5).summary_interval_s == 0.5


def test_the_command_line_writes_fhir_with_its_interval(
        files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(files.recorded.path)
    target = tmp_path / "x.json"
    argv = ["--db", db, "export", "latest", "--format", "fhir", "--interval-s", "30", "-o", str(target)]
    assert main(argv) == 0
    count = len(_load(target)["entry"])
    assert f"wrote {count} resources of session" in capsys.readouterr().err
    hr = _resources(target, "Observation", "8867-4")
    assert all(r["method"]["text"].endswith(" in 30 s") for r in hr)
    Bundle.parse_raw(target.read_bytes())


@pytest.mark.parametrize(("argv", "message"), [
    (["--format", "fhir", "--interval-s", "0"],
     "--interval-s must be a number of seconds above 0 and at most 86400 (e.g. 60), got '0'"),
    (["--format", "fhir", "--interval-s", "abc"], "got 'abc'"),
    (["--format", "fhir", "--interval-s", "nan"], "got 'nan'"),
    (["--format", "csv", "--interval-s", "30"], "--interval-s applies only with --format fhir"),
])
def test_a_bad_interval_is_one_line_and_status_2(files: Files, tmp_path: Path, argv: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.json"
    with pytest.raises(SystemExit) as stopped:
        main(["--db", str(files.recorded.path), "export", "latest", *argv, "-o", str(target)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0
    assert not target.exists()
