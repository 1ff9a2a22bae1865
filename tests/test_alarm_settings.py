"""Alarm settings: CLINICAL.md defaults, validation messages naming the field, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapmonitor.alarm_settings import (
    LIMIT_RANGES,
    AlarmSettings,
    AlarmSettingsError,
    LimitRule,
    TechnicalRules,
)
from kapmonitor.types import AlarmPriority, Stream

HR, SPO2, SBP, DBP = Stream.HEART_RATE, Stream.SPO2, Stream.BP_SYSTOLIC, Stream.BP_DIASTOLIC
H, M, L = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW


def test_defaults_follow_clinical_md() -> None:
    s = AlarmSettings.defaults()
    s.validate()
    got = {
        r.alarm_id: (r.stream, r.direction, r.limit, r.priority, r.delay_s, r.relative_to_baseline)
        for r in s.rules
    }
    assert got == {
        "hr_high": (HR, "above", 120.0, M, 10.0, False),
        "hr_very_high": (HR, "above", 140.0, H, 10.0, False),
        "hr_low": (HR, "below", 45.0, M, 10.0, False),
        "hr_above_baseline": (HR, "above", 30.0, L, 60.0, True),
        "spo2_low": (SPO2, "below", 92.0, H, 15.0, False),
        "spo2_very_low": (SPO2, "below", 88.0, H, 0.0, False),
        "sbp_very_high": (SBP, "above", 180.0, H, 0.0, False),
        "dbp_very_high": (DBP, "above", 110.0, H, 0.0, False),
        "sbp_high": (SBP, "above", 160.0, M, 0.0, False),
        "dbp_high": (DBP, "above", 100.0, M, 0.0, False),
    }
    assert s.technical == TechnicalRules(no_data_s=10.0, no_contact_s=10.0, battery_low_pct=15)
    assert (s.audio_pause_s, s.escalate_after_s) == (120.0, 60.0)


def test_round_trip_through_json() -> None:
    s = AlarmSettings.defaults().with_rule(
        LimitRule("pr_low", "Pulse rate low", Stream.PULSE_RATE, "below", 40, L, 5.0, 2.0, enabled=False)
    )
    data = json.loads(json.dumps(s.to_dict()))
    assert data["version"] == 1
    back = AlarmSettings.from_dict(data)
    assert back == s
    assert back.to_dict() == s.to_dict()


def test_from_dict_reads_integers_and_missing_optional_fields() -> None:
    data: dict[str, Any] = {
        "rules": [
            {
                "alarm_id": "hr_high",
                "label": "HR high",
                "stream": "heart_rate",
                "direction": "above",
                "limit": 120,
                "priority": "medium",
            }
        ],
        "audio_pause_s": 90,
    }
    s = AlarmSettings.from_dict(data)
    rule = s.rule("hr_high")
    assert rule == LimitRule("hr_high", "HR high", HR, "above", 120.0, M)
    assert isinstance(rule.limit, float)
    assert s.audio_pause_s == 90.0
    assert s.technical == TechnicalRules()


def _bad(**changes: Any) -> dict[str, Any]:
    data = AlarmSettings.defaults().to_dict()
    rule = next(r for r in data["rules"] if r["alarm_id"] == "hr_high")
    rule.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_bad(limit="abc"), "hr_high.limit: must be a number between 20 and 300 bpm, got 'abc'"),
        (_bad(limit=301), "hr_high.limit: must be a number between 20 and 300 bpm, got 301.0"),
        (_bad(limit=math.nan), "hr_high.limit: must be a number between 20 and 300 bpm"),
        (_bad(limit=True), "hr_high.limit: must be a number"),
        (
            _bad(limit=40),
            "hr_high.limit: a high limit (40 bpm) must be above the low limit of hr_low (45 bpm)",
        ),
        (_bad(delay_s=-1), "hr_high.delay_s: must be a number between 0 and 300 s, got -1.0"),
        (_bad(delay_s=301), "hr_high.delay_s: must be a number between 0 and 300 s"),
        (_bad(hysteresis=-0.5), "hr_high.hysteresis: must be a number between 0 and 28 bpm"),
        (_bad(priority="urgent"), "hr_high.priority: must be one of high, medium, low, got 'urgent'"),
        (_bad(stream="cortisol"), "hr_high.stream: must be one of heart_rate"),
        (_bad(stream="battery"), "hr_high.stream: must be one of heart_rate"),
        (_bad(direction="up"), "hr_high.direction: must be 'above' or 'below', got 'up'"),
        (_bad(label=""), "hr_high.label: must be a non-empty text"),
        (_bad(enabled="yes"), "hr_high.enabled: must be true or false, got 'yes'"),
        (_bad(relative_to_baseline=1), "hr_high.relative_to_baseline: must be true or false"),
        (_bad(alarm_id="HR-high"), "alarm_id: must be 1-64 characters of a-z, 0-9 and _, got 'HR-high'"),
        (_bad(alarm_id="hr_low"), "hr_low.alarm_id: used by more than one rule"),
        (_bad(colour="red"), "hr_high: unknown field(s) 'colour'"),
        ({**_bad(), "rules": "all"}, "rules: must be a list"),
        ({**_bad(), "version": 2}, "version: this app reads version 1, got 2"),
        ({**_bad(), "extra": 1}, "alarm settings: unknown field(s) 'extra'"),
        ({**_bad(), "audio_pause_s": 5}, "audio_pause_s: must be a number between 10 and 600 s, got 5.0"),
        ({**_bad(), "escalate_after_s": "soon"}, "escalate_after_s: must be a number between 10 and 600 s"),
        (
            {**_bad(), "technical": {"no_data_s": 0}},
            "technical.no_data_s: must be a number between 1 and 300",
        ),
        ({**_bad(), "technical": {"no_contact_s": 500}}, "technical.no_contact_s: must be a number"),
        (
            {**_bad(), "technical": {"battery_low_pct": 80}},
            "technical.battery_low_pct: must be a whole number",
        ),
        ({**_bad(), "technical": {"battery_low_pct": 15.5}}, "technical.battery_low_pct: must be a whole"),
        ({**_bad(), "technical": {"nodata": 3}}, "technical: unknown field(s) 'nodata'"),
        ({**_bad(), "technical": [1]}, "technical: must be an object"),
        ({"version": 1}, "rules: missing"),
        ({"rules": [5]}, "rules[0]: must be an object, got 5"),
        ({"rules": [{"alarm_id": "x"}]}, "x.label: missing"),
        ({"rules": [{"alarm_id": "BAD ID", "label": "x"}]}, "rules[0].stream: missing"),
    ],
)
def test_invalid_settings_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(AlarmSettingsError) as info:
        AlarmSettings.from_dict(data)
    assert str(info.value).startswith(message), str(info.value)


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(AlarmSettingsError, match="alarm settings: must be an object, got list"):
        AlarmSettings.from_dict([])  # type: ignore[arg-type]


def test_high_limit_must_be_above_low_limit() -> None:
    s = AlarmSettings.defaults()
    with pytest.raises(AlarmSettingsError) as info:
        s.with_rule(dataclasses.replace(s.rule("hr_low"), limit=120.0))
    assert str(info.value) == (
        "hr_high.limit: a high limit (120 bpm) must be above the low limit of hr_low (120 bpm)"
    )
    # A disabled low limit and a baseline-relative rule do not take part in the check.
    s.with_rule(dataclasses.replace(s.rule("hr_low"), limit=130.0, enabled=False))


def test_relative_rule_limit_is_an_offset() -> None:
    s = AlarmSettings.defaults()
    with pytest.raises(AlarmSettingsError, match=r"^hr_above_baseline.limit: .* got 0.0 \(an offset from"):
        s.with_rule(dataclasses.replace(s.rule("hr_above_baseline"), limit=0.0))
    rule = s.rule("hr_above_baseline")
    assert rule.threshold(None) is None
    assert rule.threshold(70.0) == 100.0
    below = dataclasses.replace(rule, direction="below")
    assert below.threshold(70.0) == 40.0


def test_validate_checks_types_of_constructed_objects() -> None:
    rule = LimitRule("hr_x", "x", HR, "above", 130.0, "high")  # type: ignore[arg-type]
    with pytest.raises(AlarmSettingsError, match=r"^hr_x.priority: must be one of high, medium, low"):
        AlarmSettings((rule,)).validate()
    with pytest.raises(AlarmSettingsError, match=r"^rules: must be a tuple of LimitRule"):
        AlarmSettings([rule]).validate()  # type: ignore[arg-type]
    with pytest.raises(AlarmSettingsError, match=r"^technical: must be TechnicalRules"):
        AlarmSettings((), technical={}).validate()  # type: ignore[arg-type]
    with pytest.raises(AlarmSettingsError, match=r"^rules: at most 100 rules, got 101"):
        AlarmSettings(tuple(LimitRule(f"r{i}", "r", HR, "above", 200.0, L) for i in range(101))).validate()
    with pytest.raises(AlarmSettingsError, match=r"^hr_x.label: must be a non-empty text"):
        LimitRule("hr_x", "x" * 81, HR, "above", 130.0, H).validate()


def test_with_rule_replaces_or_appends_and_without_rule_removes() -> None:
    s = AlarmSettings.defaults()
    changed = s.with_rule(dataclasses.replace(s.rule("hr_high"), limit=125.0))
    assert changed.rule("hr_high").limit == 125.0
    assert [r.alarm_id for r in changed.rules] == [r.alarm_id for r in s.rules]
    added = s.with_rule(LimitRule("map_low", "MAP low", Stream.BP_MEAN, "below", 60.0, M))
    assert added.rules[-1].alarm_id == "map_low"
    assert s.rule("hr_high").limit == 120.0  # the original is untouched (frozen)
    assert "hr_low" not in {r.alarm_id for r in s.without_rule("hr_low").rules}
    with pytest.raises(KeyError):
        s.rule("nope")


def test_comparison_convention_and_description() -> None:
    s = AlarmSettings.defaults()
    sbp = s.rule("sbp_very_high")
    assert sbp.is_beyond(180.0, 180.0)  # "SBP >= 180"
    assert not sbp.is_beyond(179.9, 180.0)
    spo2 = s.rule("spo2_low")
    assert spo2.is_beyond(91.9, 92.0)  # "SpO2 < 92"
    assert not spo2.is_beyond(92.0, 92.0)
    hyst = dataclasses.replace(spo2, hysteresis=2.0)
    assert not hyst.is_clear(93.9, 92.0)
    assert hyst.is_clear(94.0, 92.0)
    assert s.rule("hr_high").describe() == "heart_rate >= 120 bpm for 10 s"
    assert s.rule("spo2_very_low").describe() == "spo2 < 88 % at once"
    assert s.rule("hr_above_baseline").describe() == "heart_rate >= baseline + 30 bpm for 60 s"


_STREAMS = sorted(LIMIT_RANGES)


@st.composite
def limit_rules(draw: st.DrawFn, alarm_id: str) -> LimitRule:
    stream = draw(st.sampled_from(_STREAMS))
    lo, hi = LIMIT_RANGES[stream]
    relative = draw(st.booleans())
    limit = draw(st.floats(1.0, hi - lo) if relative else st.floats(lo, hi))
    return LimitRule(
        alarm_id,
        draw(
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=80).filter(
                str.strip
            )
        ),
        stream,
        draw(st.sampled_from(["above", "below"])),
        limit,
        draw(st.sampled_from(list(AlarmPriority))),
        draw(st.floats(0.0, 300.0)),
        draw(st.floats(0.0, (hi - lo) / 10)),
        relative,
        draw(st.booleans()),
    )


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_valid_settings_round_trip(data: st.DataObject) -> None:
    rules = tuple(data.draw(limit_rules(f"rule_{i}")) for i in range(data.draw(st.integers(0, 5))))
    s = AlarmSettings(
        rules,
        TechnicalRules(
            data.draw(st.floats(1, 300)), data.draw(st.floats(1, 300)), data.draw(st.integers(1, 50))
        ),
        data.draw(st.floats(10, 600)),
        data.draw(st.floats(10, 600)),
    )
    if _highs_above_lows(rules):
        s.validate()
        assert AlarmSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    else:
        with pytest.raises(AlarmSettingsError, match="must be above the low limit"):
            s.validate()


def _highs_above_lows(rules: tuple[LimitRule, ...]) -> bool:
    absolute = [r for r in rules if r.enabled and not r.relative_to_baseline]
    return all(
        hi.limit > lo.limit
        for hi in absolute
        for lo in absolute
        if hi.stream == lo.stream and hi.direction == "above" and lo.direction == "below"
    )
