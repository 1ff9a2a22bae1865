"""Clinic settings as a file: exported from one database, edited as IT would, imported into another.

The imported settings are what the settings dialog then shows (saving the dialog unchanged gives
them back exactly). A bad file is answered field by field in the dialog's words, one line each, and
changes nothing stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
from kapmonitor.settings_file import SettingsFileError, dump_settings, parse_settings_file
from ui.clinic_settings import load_clinic_settings
from ui.main import main
from ui.settings_dialog import SettingsDialog

_T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def _stored(db: Path) -> Any:
    store = SqlStore.open(db)
    try:
        return store.get_setting(SETTINGS_KEY)
    finally:
        store.close()


def _export(db: Path, file: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["--db", str(db), "settings", "export", str(file)]) == 0
    assert f"to {file}" in capsys.readouterr().err
    loaded: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return loaded


def test_settings_exported_edited_and_imported_on_another_database_are_what_the_dialog_shows(
    tmp_path: Path, qtbot: QtBot, capsys: pytest.CaptureFixture[str]
) -> None:
    head_office = tmp_path / "head-office.db"
    SqlStore.open(head_office).close()
    file = tmp_path / "clinic.json"
    doc = _export(head_office, file, capsys)
    assert (doc["kapmonitor"], doc["format"]) == ("clinic settings", 1)
    assert doc["exported_at"].endswith("Z")
    assert ClinicSettings.from_dict(doc["settings"]) == ClinicSettings.defaults()

    # IT edits the file: the clinic's name, a quick tag's label, the high heart-rate limit.
    settings = doc["settings"]
    settings["setting_name"] = "Riverside Psychiatry"
    settings["quick_tags"][0]["label"] = "Feels sick"
    [rule] = [r for r in settings["alarms"]["rules"] if r["alarm_id"] == "hr_high"]
    rule["limit"] = 125
    file.write_text(json.dumps(doc, indent=2), encoding="utf-8")

    room_7 = tmp_path / "room-7.db"
    SqlStore.open(room_7).close()
    assert main(["--db", str(room_7), "settings", "import", str(file)]) == 0
    said = capsys.readouterr().err
    assert "imported the clinic settings" in said and "'Riverside Psychiatry'" in said
    store = SqlStore.open(room_7)
    try:
        imported = load_clinic_settings(store)
    finally:
        store.close()
    assert imported.setting_name == "Riverside Psychiatry"
    assert imported.quick_tags[0].label == "Feels sick"
    assert [r.limit for r in imported.alarms.rules if r.alarm_id == "hr_high"] == [125]

    saved: list[ClinicSettings] = []
    dialog = SettingsDialog(imported, saved.append, workstation_file=tmp_path / "ws.json", room="Room 7")
    qtbot.addWidget(dialog)
    assert dialog.setting_name.text() == "Riverside Psychiatry"
    dialog.try_save()
    assert saved == [imported], "every imported field is in the dialog, unchanged"

    again = tmp_path / "again.json"  # exporting the imported settings gives the same settings back
    assert _export(room_7, again, capsys)["settings"] == imported.to_dict()


def test_a_file_with_several_bad_fields_gets_one_line_for_each_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "room.db"
    store = SqlStore.open(db)
    custom = ClinicSettings.defaults().to_dict() | {"setting_name": "Before"}
    store.put_setting(SETTINGS_KEY, custom)
    store.close()
    doc = json.loads(dump_settings(ClinicSettings.defaults(), exported_at=_T0, app_version="test"))
    doc["settings"]["audio"]["volume"] = 250
    doc["settings"]["quick_tags"][2]["key"] = "x"
    doc["settings"]["theme"] = "neon"
    doc["settings"]["alrams"] = {}
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(doc), encoding="utf-8")

    assert main(["--db", str(db), "settings", "import", str(file)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == "kapmonitor: error: nothing was imported (4 problems above)"
    problems = lines[:-1]
    assert len(problems) == 4, lines
    assert all(p.startswith(f"kapmonitor: error: {file}: settings.") for p in problems)
    text = "\n".join(problems)
    assert "settings.alrams: unknown field (known: version, protocols" in text
    assert "settings.audio.volume: " in text
    assert "settings.quick_tags[2].key: " in text
    assert "settings.theme: " in text
    assert _stored(db) == custom


_GOOD = dump_settings(ClinicSettings.defaults(), exported_at=_T0, app_version="test")


@pytest.mark.parametrize(("content", "said"), [
    (b"", "is not valid JSON: line 1 column 1: Expecting value"),
    (b'{"kapmonitor": "clinic settings", "format": 1, "settings": {', "is not valid JSON: line 1 column"),
    (b"[" * 5000 + b"]" * 5000, "nests deeper than 32 levels"),
    (b'{"a": ' * 40 + b"1" + b"}" * 40, "nests deeper than 32 levels"),
    ("théâtre".encode("latin-1"), "is not UTF-8 text"),
    (b'{"session_id": 1}', "is not a kapmonitor settings file"),
    (_GOOD.replace('"format": 1', '"format": 2').encode(), "format: 2 is newer than this kapmonitor reads"),
    (_GOOD.replace('"format": 1', '"format": "1"').encode(), "format: must be a whole number"),
    (_GOOD.replace('"app_version"', '"colour"').encode(), "unknown member 'colour'"),
    (b'{"kapmonitor": "clinic settings", "format": 1, "settings": []}', "settings: must be an object"),
    (b" " * (1 << 20) + b"{}", "a settings file is at most 1048576 bytes"),
    (_GOOD.replace('"default_protocol": "sublingual"', '"default_protocol": "iv"').encode(),
     "settings.default_protocol: "),
])
def test_bad_settings_files_are_refused_with_one_specific_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, said: str
) -> None:
    db = tmp_path / "room.db"
    SqlStore.open(db).close()
    file = tmp_path / "settings.json"
    file.write_bytes(content)
    assert main(["--db", str(db), "settings", "import", str(file)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"kapmonitor: error: nothing was imported: {file}"), line
    assert said in line, line
    assert _stored(db) is None


def test_the_settings_command_names_a_missing_file_and_a_missing_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "room.db"
    assert main(["--db", str(db), "settings", "import", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--db", str(db), "settings"])
    assert exit_info.value.code == 2
    assert "the following arguments are required: ACTION" in capsys.readouterr().err


def test_parse_settings_file_round_trips_what_dump_settings_writes() -> None:
    assert parse_settings_file(_GOOD.encode(), "f.json") == ClinicSettings.defaults()
    with pytest.raises(SettingsFileError) as caught:
        parse_settings_file(b"{}", "f.json")
    assert str(caught.value).startswith("f.json: is not a kapmonitor settings file")
