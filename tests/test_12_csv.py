"""Issue 12, exports that carry the session: the CSV of a session recorded at the bedside, read by
pandas with no arguments, holds the dose, lot, protocol and clinician; technical alarm values carry
their own units; text cells are inert in a spreadsheet; the documented examples run."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from csv12_recorded import CLIENT, CLINICIAN, FORMULA, LOT, SETTING, SETTING_ID, START, record_session

from db.export import EXPORTERS
from db.export.csv import alarm_unit, export_session_csv, inert
from db.export.source import StoredSession
from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.alarm_words import value_with_unit
from kapmonitor.clock import FakeClock
from kapmonitor.exporters import ExportOptions
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import AlarmCategory, EventKind, SessionEvent, Stream

DOC = Path(__file__).resolve().parents[1] / "docs" / "csv-format.md"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The bedside session as a CSV file written by the ``csv`` export format."""
    folder = tmp_path_factory.mktemp("csv12")
    rec = record_session(folder / "k.db")
    target = folder / "session.csv"
    with SqlStore.open(folder / "k.db") as store:
        EXPORTERS.export_file(EXPORTERS.get("csv"), StoredSession(store, rec.session_id), target,
                              ExportOptions(generated_at=START))
    return target, rec.session_id


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_pandas_with_no_arguments_finds_dose_lot_protocol_and_clinician(recorded: tuple[Path, int]) -> None:
    path, _ = recorded
    df = pd.read_csv(path)
    session = df[df["kind"] == "session"].set_index("name")
    assert session.loc["dose_amount", "value"] == 150.0
    assert session.loc["dose_amount", "unit"] == "mg"
    assert session.loc["lot", "text"] == LOT
    assert session.loc["protocol", "text"] == "sublingual"
    assert session.loc["route", "text"] == "sublingual"
    assert session.loc["protocol.effect_window_min", "value"] == 45.0
    assert session.loc["protocol.check.vitals_40_min", "value"] == 40.0
    assert session.loc["clinician", "text"] == CLINICIAN
    assert session.loc["setting_name", "text"] == SETTING
    assert session.loc["setting_id", "text"] == SETTING_ID
    assert session.loc["boosters", "value"] == 1
    assert session.loc["end_reason", "text"] == "picked up by husband Tomasz"
    assert set(df["client_code"]) == {CLIENT}
    # the structured discharge answers, one row per field
    assert session.loc["discharge.sedation", "text"] == "true"
    assert session.loc["discharge.respiratory_depression", "text"] == "false"
    assert session.loc["discharge.concomitant_medications", "text"] == "benzodiazepines"
    assert session.loc["discharge.fit_to_leave_by", "text"] == CLINICIAN
    assert session.loc["discharge.item.spo2_room_air.met", "text"] == "true"
    assert session.loc["discharge.item.spo2_room_air.reason", "text"] == "Wendeline checked the oximeter"
    assert (df["kind"] == "session").idxmin() == len(session), "the session rows come first"


def test_the_bedside_dose_carries_the_amount_entered_at_the_start(recorded: tuple[Path, int]) -> None:
    """Finding: ``{"amount": null}`` -- the "Dose given" button names no amount; the recorder
    now records the one entered when the session started."""
    path, _ = recorded
    df = pd.read_csv(path)
    dose = df[(df["kind"] == "event") & (df["name"] == "dose_given")].iloc[0]
    assert (dose["value"], dose["unit"], dose["data"]) == (150.0, "mg", '{"amount":150.0,"unit":"mg"}')
    booster = df[(df["kind"] == "event") & (df["name"] == "booster_given")].iloc[0]
    assert booster["value"] == 25.0, "a booster keeps its own amount"


def test_a_resumed_session_doses_the_amount_entered_at_its_start(tmp_path: Path) -> None:
    clock = FakeClock(start=START)
    with SqlStore.open(tmp_path / "k.db") as store:
        first = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        sid = first.start_session(SessionSpec("K-1", PRESETS["intranasal"], 56.0, "mg"))
        first.close()  # the computer went down before the dose
        clock.advance(120)
        again = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        again.resume_session(sid)
        again.give_dose()
        again.close()
        (dose,) = [e for e in store.events(sid) if e.kind is EventKind.DOSE_GIVEN]
        assert dose.data == {"amount": 56.0, "unit": "mg"}


def test_observations_keep_their_own_author_and_the_clinician_is_a_session_row(
        recorded: tuple[Path, int]) -> None:
    """The bedside stores no author with an observation: the CSV does not pretend one."""
    rows = _rows(recorded[0])
    observations = [r for r in rows if r["kind"] == "observation"]
    assert observations and {r["author"] for r in observations} == {""}
    assert [r["text"] for r in rows if r["kind"] == "session" and r["name"] == "clinician"] == [CLINICIAN]


def test_technical_alarm_values_carry_their_own_units(recorded: tuple[Path, int]) -> None:
    rows = [r for r in _rows(recorded[0]) if r["kind"] == "alarm"]
    units = {(r["name"].split(".")[0], r["unit"]) for r in rows}
    assert units == {("no_data", "s"), ("battery_low", "%"), ("signal_lost", "")}
    no_data = next(r for r in rows if r["name"] == "no_data.heart_rate")
    assert (no_data["value"], no_data["limit"]) == ("25.0", "10.0"), "25 s without data, alarm after 10 s"


@pytest.mark.parametrize(
    ("alarm_id", "category", "stream"),
    [
        ("hr_high", AlarmCategory.PHYSIOLOGICAL, Stream.HEART_RATE),
        ("bp_sys_high", AlarmCategory.PHYSIOLOGICAL, Stream.BP_SYSTOLIC),
        ("spo2_low", AlarmCategory.PHYSIOLOGICAL, Stream.SPO2),
        ("no_data.spo2", AlarmCategory.TECHNICAL, Stream.SPO2),
        ("no_data.heart_rate", AlarmCategory.TECHNICAL, Stream.HEART_RATE),
        ("no_contact.AA:BB", AlarmCategory.TECHNICAL, Stream.HEART_RATE),
        ("battery_low.AA:BB", AlarmCategory.TECHNICAL, None),
        ("implausible.AA:BB", AlarmCategory.TECHNICAL, Stream.HEART_RATE),
        ("signal_lost.AA:BB", AlarmCategory.TECHNICAL, None),
    ],
)
def test_the_csv_unit_is_the_unit_the_bedside_shows(alarm_id: str, category: AlarmCategory,
                                                    stream: Stream | None) -> None:
    shown = value_with_unit(alarm_id, category, stream, 18.0)
    unit = alarm_unit(alarm_id, category, stream)
    assert shown.removeprefix("18").strip() == unit


def test_an_overdue_check_is_counted_in_seconds_as_stored() -> None:
    assert alarm_unit("check_overdue.vitals_40_min", AlarmCategory.TECHNICAL, None) == "s"
    assert value_with_unit("check_overdue.vitals_40_min", AlarmCategory.TECHNICAL, None, 600.0) == "10 min"


def test_a_formula_note_is_inert_and_numbers_stay_numbers(recorded: tuple[Path, int]) -> None:
    path, _ = recorded
    raw = path.read_text(encoding="utf-8")
    assert ',"\'=HYPERLINK(""http://x"",""click"")",' in raw
    assert not re.search(r'(^|,)"?=HYPERLINK', raw, re.MULTILINE), "no cell begins with the formula"
    df = pd.read_csv(path)
    notes = df[(df["kind"] == "observation") & (df["name"] == "note")]
    assert "'" + FORMULA in set(notes["text"])
    assert pd.api.types.is_float_dtype(df["elapsed_s"])
    assert pd.api.types.is_float_dtype(df["value"])
    before = df[(df["kind"] == "reading") & (df["elapsed_s"] < 0) & (df["elapsed_s"] > -1)]
    assert list(before["elapsed_s"]) == [-0.5], "a reading half a second before the dose"
    assert df[(df["kind"] == "observation") & (df["name"] == "rass")]["value"].tolist() == [-1.0]


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "-"])
def test_every_formula_start_is_made_inert(text: str) -> None:
    assert inert(text) == "'" + text


@pytest.mark.parametrize("text", ["", "calm", "'quoted", " =1", "1-2", "LOT-7781"])
def test_other_text_is_unchanged(text: str) -> None:
    assert inert(text) == text


def test_a_client_code_and_units_are_inert_too(tmp_path: Path) -> None:
    """Every text column goes through the same rule, the client code included."""
    rec = record_session(tmp_path / "k.db", discharge=False, formula_client=True)
    out = io.StringIO(newline="")
    with SqlStore.open(tmp_path / "k.db") as store:
        export_session_csv(store, rec.session_id, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert {r["client_code"] for r in rows} == {"'-" + CLIENT}
    assert not [r["name"] for r in rows if r["name"].startswith("discharge")], "no answers, no rows"


def test_discharge_answers_nested_under_one_key_are_flattened(tmp_path: Path) -> None:
    """Whatever shape the answers have: a nested ``discharge`` mapping gives the same rows."""
    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    with SqlStore.open(tmp_path / "k.db") as store:
        sid = store.create_session(SessionSpec("K-1", PRESETS["sublingual"], 100.0), at)
        store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, at))
        answers = {"sedation": False, "minutes": 125, "fit_by": "AB", "items": {"alert": {"met": True}},
                   "medications": ["benzodiazepines", "maois"], "none": None}
        store.append_event(sid, SessionEvent(EventKind.SESSION_ENDED, at + timedelta(hours=2),
                                             {"reason": "", "discharge": answers}))  # type: ignore[dict-item]
        out = io.StringIO(newline="")
        export_session_csv(store, sid, out)
    parsed = csv.DictReader(io.StringIO(out.getvalue(), newline=""))
    rows = {r["name"]: (r["value"], r["text"]) for r in parsed if r["kind"] == "session"}
    assert {k: v for k, v in rows.items() if k.startswith("discharge.")} == {
        "discharge.sedation": ("", "false"), "discharge.minutes": ("125", ""), "discharge.fit_by": ("", "AB"),
        "discharge.items.alert.met": ("", "true"), "discharge.medications": ("", "benzodiazepines,maois"),
        "discharge.none": ("", "")}


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_every_documented_example_runs_against_a_real_export(
        recorded: tuple[Path, int], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = recorded
    doc = DOC.read_text(encoding="utf-8")
    blocks = _python_blocks(doc)
    assert len(blocks) >= 2
    assert "df.flags" not in doc.replace("`df.flags` is", "").replace("not `df.flags`", ""), \
        "df.flags is pandas' own attribute"
    monkeypatch.chdir(path.parent)
    names: dict[str, object] = {}
    for i, block in enumerate(blocks):
        namespace: dict[str, object] = {}
        exec(compile(block, f"{DOC.name} example {i + 1}", "exec"), namespace)
        names.update(namespace)
    assert f"sublingual: 150 mg, lot {LOT}" in capsys.readouterr().out
    hr = names["hr"]
    df = names["df"]
    assert 190.0 in set(df[(df["kind"] == "reading") & (df["name"] == "heart_rate")]["value"])  # type: ignore[index]
    assert len(hr) > 60 and 190.0 not in set(hr["value"]), "the artifact is left out"  # type: ignore[arg-type,index]
    assert len(names["raised"]) == 4  # type: ignore[arg-type]
    assert sorted(names["current"]["name"]) == ["nausea", "note", "note", "rass"]  # type: ignore[index]
