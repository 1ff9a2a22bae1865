"""Treatment protocols: presets, validation, (de)serialisation, lookup."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapmonitor.protocols import (
    PRESETS,
    CheckTiming,
    ProtocolError,
    Route,
    ScheduledCheck,
    TreatmentProtocol,
    default_checks,
    find_protocol,
    validate_protocols,
)


def _proto(**changes: Any) -> TreatmentProtocol:
    fields: dict[str, Any] = {"name": "test", "route": Route.CUSTOM, "onset_min": 10.0,
                              "effect_window_min": 45.0}
    fields.update(changes)
    return TreatmentProtocol(**fields)


def test_presets_follow_clinical_timings() -> None:
    validate_protocols(PRESETS.values())
    assert set(PRESETS) == {"sublingual", "intranasal", "intramuscular", "intravenous"}
    sl = PRESETS["sublingual"]
    assert (sl.route, sl.onset_min, sl.effect_window_min, sl.min_observation_min) == (
        Route.SUBLINGUAL, 10, 45, 120.0)
    assert PRESETS["intranasal"].onset_min == 5
    assert PRESETS["intravenous"].effect_window_min == 40
    for name, proto in PRESETS.items():
        assert proto.name == name
        assert proto.checks == default_checks()
        assert proto.description


def test_derived_seconds() -> None:
    p = _proto(onset_min=10, effect_window_min=45, min_observation_min=120)
    assert p.onset_s == 600.0
    assert p.effect_end_s == 3300.0
    assert p.min_observation_s == 7200.0


def test_route_labels() -> None:
    assert Route.SUBLINGUAL.label.startswith("Sublingual")
    assert all(route.label for route in Route)


def test_default_checks() -> None:
    pre, at40, discharge = default_checks()
    assert pre.timing is CheckTiming.PRE_DOSE
    assert (at40.timing, at40.at_min) == (CheckTiming.AFTER_DOSE, 40.0)
    assert discharge.timing is CheckTiming.BEFORE_DISCHARGE
    assert pre.due_offset_s(120) is None
    assert at40.due_offset_s(120) == 2400.0
    assert discharge.due_offset_s(90) == 5400.0
    for check in default_checks():
        check.validate()


@pytest.mark.parametrize(("check", "match"), [
    (ScheduledCheck("", "x", CheckTiming.PRE_DOSE), "needs a name"),
    (ScheduledCheck("  ", "x", CheckTiming.PRE_DOSE), "needs a name"),
    (ScheduledCheck("Vitals", "x", CheckTiming.PRE_DOSE), "lower-case"),
    (ScheduledCheck("bp check", "x", CheckTiming.PRE_DOSE), "lower-case"),
    (ScheduledCheck("bp-check", "x", CheckTiming.PRE_DOSE), "lower-case"),
    (ScheduledCheck("bp", "x", CheckTiming.AFTER_DOSE), "needs at_min"),
    (ScheduledCheck("bp", "x", CheckTiming.AFTER_DOSE, float("nan")), "needs at_min"),
    (ScheduledCheck("bp", "x", CheckTiming.AFTER_DOSE, -5.0), "before the dose"),
    (ScheduledCheck("bp", "x", CheckTiming.PRE_DOSE, 5.0), "only to after-dose"),
    (ScheduledCheck("bp", "x", CheckTiming.BEFORE_DISCHARGE, 5.0), "only to after-dose"),
])
def test_invalid_checks(check: ScheduledCheck, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        check.validate()


def test_valid_check_names() -> None:
    ScheduledCheck("bp_40_min", "BP", CheckTiming.AFTER_DOSE, 0.0).validate()
    ScheduledCheck("spo2", "SpO2", CheckTiming.BEFORE_DISCHARGE).validate()


@pytest.mark.parametrize(("changes", "match"), [
    ({"name": " "}, "needs a name"),
    ({"onset_min": 0}, "onset_min"),
    ({"onset_min": -1.0}, "onset_min"),
    ({"effect_window_min": float("inf")}, "effect_window_min"),
    ({"min_observation_min": float("nan")}, "min_observation_min"),
    ({"onset_min": True}, "onset_min"),
    ({"onset_min": "10"}, "onset_min"),
    ({"checks": (ScheduledCheck("a", "A", CheckTiming.PRE_DOSE),) * 2}, "repeated"),
    ({"checks": (ScheduledCheck("A", "A", CheckTiming.PRE_DOSE),)}, "lower-case"),
])
def test_invalid_protocols(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        _proto(**changes).validate()


def test_protocol_error_is_value_error() -> None:
    assert issubclass(ProtocolError, ValueError)


def test_round_trip_presets() -> None:
    for proto in PRESETS.values():
        assert TreatmentProtocol.from_dict(proto.to_dict()) == proto


check_names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
minutes = st.floats(min_value=0.5, max_value=600, allow_nan=False)


@st.composite
def protocols(draw: st.DrawFn) -> TreatmentProtocol:
    names = draw(st.lists(check_names, unique=True, max_size=5))
    checks = []
    for name in names:
        timing = draw(st.sampled_from(list(CheckTiming)))
        at = draw(st.floats(min_value=0, max_value=300)) if timing is CheckTiming.AFTER_DOSE else None
        checks.append(ScheduledCheck(name, draw(st.text(max_size=20)), timing, at))
    return TreatmentProtocol(
        name=draw(st.text(min_size=1, max_size=20).filter(str.strip)),
        route=draw(st.sampled_from(list(Route))),
        onset_min=draw(minutes), effect_window_min=draw(minutes), min_observation_min=draw(minutes),
        checks=tuple(checks), description=draw(st.text(max_size=30)),
    )


@given(proto=protocols())
def test_round_trip_any_valid_protocol(proto: TreatmentProtocol) -> None:
    proto.validate()
    assert TreatmentProtocol.from_dict(proto.to_dict()) == proto


def _good_dict(**changes: Any) -> dict[str, Any]:
    data = _proto().to_dict()
    data.update(changes)
    return data


@pytest.mark.parametrize(("data", "match"), [
    (_good_dict(route="oral"), "route must be one of"),
    ({k: v for k, v in _good_dict().items() if k != "route"}, "route must be one of"),
    ({k: v for k, v in _good_dict().items() if k != "onset_min"}, "missing field 'onset_min'"),
    (_good_dict(onset_min="soon"), "not a number"),
    (_good_dict(onset_min=None), "not a number"),
    (_good_dict(onset_min="nan"), "onset_min must be a positive"),
    (_good_dict(checks=[{"name": "a", "label": "A", "timing": "someday"}]), "timing must be one of"),
    (_good_dict(checks=[{"name": "a", "label": "A"}]), "timing must be one of"),
    (_good_dict(checks=[{"name": "a", "label": "A", "timing": "after_dose", "at_min": "x"}]), "at_min"),
    (_good_dict(checks=[{"name": "a", "label": "A", "timing": "after_dose", "at_min": [1]}]), "at_min"),
    (_good_dict(checks=[{"name": "a", "label": "A", "timing": "after_dose"}]), "needs at_min"),
    (_good_dict(checks=["vitals"]), "mapping"),
    (_good_dict(checks=None), "list of checks"),
    (_good_dict(checks="vitals"), "list of checks"),
    ([("name", "x")], "mapping"),
])
def test_from_dict_errors(data: Any, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        TreatmentProtocol.from_dict(data)


def test_check_from_dict_errors_are_protocol_errors() -> None:
    # a bad at_min used to escape as a bare ValueError / TypeError
    with pytest.raises(ProtocolError, match="at_min"):
        ScheduledCheck.from_dict({"name": "a", "label": "A", "timing": "after_dose", "at_min": "abc"})
    with pytest.raises(ProtocolError, match="mapping"):
        ScheduledCheck.from_dict("a")  # type: ignore[arg-type]


def test_from_dict_defaults() -> None:
    data = _good_dict()
    del data["min_observation_min"], data["checks"], data["description"]
    proto = TreatmentProtocol.from_dict(data)
    assert proto.min_observation_min == 120.0
    assert proto.checks == ()
    assert proto.description == ""


def test_validate_protocols_names_unique_case_insensitive() -> None:
    with pytest.raises(ProtocolError, match="used twice"):
        validate_protocols([_proto(name="Clinic A"), _proto(name=" clinic a ")])
    with pytest.raises(ProtocolError, match="onset_min"):
        validate_protocols([_proto(onset_min=0)])
    validate_protocols([_proto(name="a"), _proto(name="b")])
    validate_protocols([])


def test_find_protocol() -> None:
    assert find_protocol("Sublingual") is PRESETS["sublingual"]
    assert find_protocol("  intranasal ") is PRESETS["intranasal"]
    custom = _proto(name=" Clinic Lozenge ")
    assert find_protocol("clinic lozenge", [custom]) is custom
    with pytest.raises(ProtocolError, match="known protocols: sublingual, intranasal"):
        find_protocol("oral")
    with pytest.raises(ProtocolError, match="unknown protocol 'x'"):
        find_protocol("x", [])
