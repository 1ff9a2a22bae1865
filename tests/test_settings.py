"""ClinicSettings: defaults, field-by-field validation and the JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.protocols import PRESETS
from kapmonitor.settings import ClinicSettings
from kapmonitor.settings_items import AudioSettings, DischargeItem, QuickTag, ScaleDefinition, SettingsError


def test_defaults_are_valid_and_follow_clinical_md() -> None:
    s = ClinicSettings.defaults()
    s.validate()
    assert [t.key for t in s.quick_tags] == [str(i) for i in range(1, 10)]
    assert s.tag_for_key("1") is not None
    assert s.tag_for_key("1").name == "nausea"
    moaa = s.scale("moaa_s")
    rass = s.scale("rass")
    assert moaa is not None
    assert [v for v, _ in moaa.values] == [5, 4, 3, 2, 1, 0]
    assert rass is not None
    assert [v for v, _ in rass.values] == list(range(4, -6, -1))
    assert rass.text_for(0) == "Alert and calm"
    assert {d.name for d in s.discharge_checklist} >= {"spo2_room_air", "bp_near_baseline", "alert_oriented",
                                                       "min_observation_met", "accompanied_home"}
    assert s.protocol().name == "sublingual"
    assert s.theme == "dark"
    assert not s.audio.visual_only


def test_round_trip_through_json_text() -> None:
    s = ClinicSettings.defaults()
    again = ClinicSettings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s


def test_missing_keys_take_defaults() -> None:
    s = ClinicSettings.from_dict({"theme": "light"})
    assert s.theme == "light"
    assert s.quick_tags == ClinicSettings.defaults().quick_tags


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"quick_tags": (QuickTag("1", "Nausea", "nausea"), QuickTag("2", "A", "a"),
                         QuickTag("x", "B", "b"))},
         "quick_tags[2].key", "must be a single digit 1-9, got 'x'"),
        ({"quick_tags": (QuickTag("1", "Nausea", "nausea"), QuickTag("1", "Other", "other"))},
         "quick_tags[1].key", "already used by quick_tags[0]"),
        ({"quick_tags": (QuickTag("1", " ", "nausea"),)}, "quick_tags[0].label", "must not be empty"),
        ({"quick_tags": (QuickTag("1", "Nausea", "Bad Name"),)}, "quick_tags[0].name", "lower-case"),
        ({"audio": AudioSettings(volume=101)}, "audio.volume", "0-100"),
        ({"theme": "neon"}, "theme", "dark, light"),
        ({"default_dose_unit": "kg"}, "default_dose_unit", "mg"),
        ({"default_protocol": "oral"}, "default_protocol", "not one of the protocols"),
        ({"protocols": ()}, "protocols", "at least one"),
        ({"scales": (ScaleDefinition("x", "X", ((1, "a"), (1, "b"))),)}, "scales[0].values[1]", "twice"),
        ({"scales": (ScaleDefinition("x", "X", ()),)}, "scales[0].values", "at least one"),
        ({"discharge_checklist": (DischargeItem("ok", ""),)}, "discharge_checklist[0].label", "empty"),
    ],
)
def test_validation_names_the_field(change: dict[str, object], field: str, fragment: str) -> None:
    bad = dataclasses.replace(ClinicSettings.defaults(), **change)  # type: ignore[arg-type]
    with pytest.raises(SettingsError) as info:
        bad.validate()
    assert info.value.field == field
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{field}: ")


def test_alarm_errors_are_rehomed_under_alarms() -> None:
    alarms = AlarmSettings.defaults()
    rule = dataclasses.replace(alarms.rule("hr_high"), limit=999.0)
    rules = tuple(rule if r.alarm_id == "hr_high" else r for r in alarms.rules)
    bad = dataclasses.replace(alarms, rules=rules)
    with pytest.raises(SettingsError) as info:
        dataclasses.replace(ClinicSettings.defaults(), alarms=bad).validate()
    assert info.value.field == "alarms.hr_high.limit"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"quick_tags": "nausea"}, "quick_tags"),
        ({"quick_tags": [{"key": 12, "label": "A", "name": "a"}]}, "quick_tags[0].key"),
        ({"audio": {"volume": "loud"}}, "audio.volume"),
        ({"audio": {"visual_only": "yes"}}, "audio.visual_only"),
        ({"scales": [{"name": "s", "label": "S", "values": [[1]]}]}, "scales[0].values[0]"),
        ({"protocols": [{"name": "p"}]}, "protocols[0]"),
        ({"version": 99}, "version"),
        ({"alarms": {"rules": "none"}}, "alarms.rules"),
    ],
)
def test_from_dict_rejects_bad_input_with_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError) as info:
        ClinicSettings.from_dict(data)
    assert info.value.field == field


_labels = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs")), min_size=1,
                  max_size=20).filter(lambda t: t.strip() != "")
_names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def _clinic_settings(draw: st.DrawFn) -> ClinicSettings:
    keys = draw(st.lists(st.sampled_from("123456789"), unique=True, max_size=9))
    names = draw(st.lists(_names, unique=True, min_size=len(keys), max_size=len(keys)))
    tags = tuple(QuickTag(k, draw(_labels), n) for k, n in zip(keys, names, strict=True))
    values = draw(st.lists(st.integers(-10, 10), unique=True, min_size=1, max_size=6))
    scale = ScaleDefinition(draw(_names), draw(_labels), tuple((v, draw(_labels)) for v in values),
                            shown=draw(st.booleans()))
    protos = draw(st.lists(st.sampled_from(list(PRESETS.values())), unique_by=lambda p: p.name, min_size=1))
    return ClinicSettings(
        protocols=tuple(protos),
        default_protocol=draw(st.sampled_from([p.name for p in protos])),
        quick_tags=tags,
        scales=(scale,),
        discharge_checklist=(DischargeItem(draw(_names), draw(_labels)),),
        audio=AudioSettings(volume=draw(st.integers(0, 100)), visual_only=draw(st.booleans())),
        theme=draw(st.sampled_from(["dark", "light"])),
        default_dose_unit=draw(st.sampled_from(["mg", "mg/kg", "µg", "mL"])),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_clinic_settings())
def test_any_valid_settings_round_trip(s: ClinicSettings) -> None:
    s.validate()
    assert ClinicSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
