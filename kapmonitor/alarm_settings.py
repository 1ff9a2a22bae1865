"""Alarm settings: limit rules, technical supervision rules, validation, JSON form.

A clinic edits these settings; each session stores a snapshot (:meth:`AlarmSettings.to_dict`),
so they must round-trip through JSON exactly. :meth:`AlarmSettings.validate` rejects anything
implausible with an :class:`AlarmSettingsError` whose message starts with the field it is about,
e.g. ``"hr_high.limit: must be a number between 20 and 300 bpm, got 'abc'"``.

Comparison convention (one rule for every stream, matching CLINICAL.md's wording
"SBP >= 180", "SpO2 < 92 %"): an ``above`` rule alarms when ``value >= limit`` (the limit
itself is already out of range); a ``below`` rule alarms when ``value < limit``. The
in-range band between a low limit ``L`` and a high limit ``H`` is therefore ``L <= value < H``.

A ``relative_to_baseline`` rule's ``limit`` is a positive distance from the session baseline:
the effective limit is ``baseline + limit`` (above) or ``baseline - limit`` (below).

The defaults follow CLINICAL.md's suggestions; they are starting points, not medical advice.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kapmonitor.streams import STREAM_UNITS
from kapmonitor.types import AlarmPriority, Stream

__all__ = [
    "LIMIT_RANGES",
    "MAX_DELAY_S",
    "SETTINGS_VERSION",
    "AlarmSettings",
    "AlarmSettingsError",
    "Direction",
    "LimitRule",
    "TechnicalRules",
]

SETTINGS_VERSION = 1
"""Version written by :meth:`AlarmSettings.to_dict`; older snapshots stay readable."""

Direction = Literal["above", "below"]
_DIRECTIONS: tuple[Direction, ...] = ("above", "below")

LIMIT_RANGES: Mapping[Stream, tuple[float, float]] = {
    Stream.HEART_RATE: (20.0, 300.0),
    Stream.PULSE_RATE: (20.0, 300.0),
    Stream.RR_INTERVAL: (200.0, 3000.0),
    Stream.SPO2: (50.0, 100.0),
    Stream.BP_SYSTOLIC: (40.0, 300.0),
    Stream.BP_DIASTOLIC: (20.0, 200.0),
    Stream.BP_MEAN: (20.0, 250.0),
}
"""Plausible absolute limits per stream (inclusive). Battery is supervised by :class:`TechnicalRules`."""

MAX_DELAY_S = 300.0
MAX_RULES = 100
_ID_RE = re.compile(r"^[a-z0-9_]{1,64}$")
_MAX_LABEL = 80
_TIMER_RANGE_S = (1.0, 300.0)
_AUDIO_PAUSE_RANGE_S = (10.0, 600.0)
_ESCALATE_RANGE_S = (10.0, 600.0)
_BATTERY_RANGE_PCT = (1, 50)


class AlarmSettingsError(ValueError):
    """Alarm settings are invalid; the message names the field, what is accepted and what was given."""


def _fmt(x: float) -> str:
    return f"{x:g}"


def _number(path: str, value: object, lo: float, hi: float, unit: str = "") -> float:
    """Return ``value`` as a float if it is a real number in ``[lo, hi]``; else raise naming ``path``."""
    suffix = f" {unit}" if unit else ""
    real = isinstance(value, int | float) and not isinstance(value, bool)
    if real and math.isfinite(value) and lo <= value <= hi:  # type: ignore[arg-type,operator]
        return float(value)  # type: ignore[arg-type]
    raise AlarmSettingsError(
        f"{path}: must be a number between {_fmt(lo)} and {_fmt(hi)}{suffix}, got {value!r}"
    )


def _bool(path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise AlarmSettingsError(f"{path}: must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class LimitRule:
    """One physiological limit: ``stream`` beyond ``limit`` for ``delay_s`` raises ``alarm_id``.

    Attributes:
        alarm_id: stable name, ``[a-z0-9_]``, unique within the settings (used in the alarm log).
        label: what the therapist reads, e.g. "Heart rate high".
        stream: the measured stream the rule watches.
        direction: ``"above"`` alarms when ``value >= limit``; ``"below"`` when ``value < limit``.
        limit: the limit in the stream's unit, or the distance from baseline for relative rules.
        priority: high / medium / low (IEC 60601-1-8 meaning).
        delay_s: the value must stay beyond the limit this long (monotonic time) before the
            alarm is raised; 0 raises on the first reading beyond it.
        hysteresis: once raised, the condition clears only when the value is back inside the
            limit by this much (``value < limit - hysteresis`` / ``value >= limit + hysteresis``).
        relative_to_baseline: ``limit`` is an offset from the session's baseline for ``stream``;
            the rule is inactive until a baseline is set.
        enabled: a disabled rule never raises.
    """

    alarm_id: str
    label: str
    stream: Stream
    direction: Direction
    limit: float
    priority: AlarmPriority
    delay_s: float = 0.0
    hysteresis: float = 0.0
    relative_to_baseline: bool = False
    enabled: bool = True

    @property
    def unit(self) -> str:
        return STREAM_UNITS.get(self.stream, "") if isinstance(self.stream, Stream) else ""

    def threshold(self, baseline: float | None) -> float | None:
        """The effective limit: ``limit`` itself, or baseline +/- ``limit``; None if no baseline yet."""
        if not self.relative_to_baseline:
            return self.limit
        if baseline is None:
            return None
        return baseline + self.limit if self.direction == "above" else baseline - self.limit

    def is_beyond(self, value: float, threshold: float) -> bool:
        """True if ``value`` is out of range for the effective limit ``threshold``."""
        return value >= threshold if self.direction == "above" else value < threshold

    def is_clear(self, value: float, threshold: float) -> bool:
        """True if ``value`` is back inside ``threshold`` by at least the hysteresis."""
        if self.direction == "above":
            return value < threshold - self.hysteresis
        return value >= threshold + self.hysteresis

    def describe(self) -> str:
        """The rule in words, e.g. "heart_rate >= 120 bpm for 10 s"."""
        op = ">=" if self.direction == "above" else "<"
        sign = "+" if self.direction == "above" else "-"
        target = f"baseline {sign} {_fmt(self.limit)}" if self.relative_to_baseline else _fmt(self.limit)
        when = f"for {_fmt(self.delay_s)} s" if self.delay_s > 0 else "at once"
        return f"{self.stream} {op} {target} {self.unit} {when}".replace("  ", " ")

    def validate(self) -> None:
        """Raise :class:`AlarmSettingsError` naming the first invalid field."""
        if not isinstance(self.alarm_id, str) or not _ID_RE.match(self.alarm_id):
            raise AlarmSettingsError(
                f"alarm_id: must be 1-64 characters of a-z, 0-9 and _, got {self.alarm_id!r}"
            )
        p = self.alarm_id
        if not isinstance(self.label, str) or not self.label.strip() or len(self.label) > _MAX_LABEL:
            raise AlarmSettingsError(
                f"{p}.label: must be a non-empty text of at most {_MAX_LABEL} characters, got {self.label!r}"
            )
        if not isinstance(self.stream, Stream) or self.stream not in LIMIT_RANGES:
            allowed = ", ".join(s.value for s in LIMIT_RANGES)
            raise AlarmSettingsError(f"{p}.stream: must be one of {allowed}, got {self.stream!r}")
        if self.direction not in _DIRECTIONS:
            raise AlarmSettingsError(f"{p}.direction: must be 'above' or 'below', got {self.direction!r}")
        priority: object = self.priority
        if not isinstance(priority, AlarmPriority):
            allowed = ", ".join(x.value for x in AlarmPriority)
            raise AlarmSettingsError(f"{p}.priority: must be one of {allowed}, got {self.priority!r}")
        _bool(f"{p}.relative_to_baseline", self.relative_to_baseline)
        _bool(f"{p}.enabled", self.enabled)
        lo, hi = LIMIT_RANGES[self.stream]
        unit = self.unit
        if self.relative_to_baseline:
            try:
                _number(f"{p}.limit", self.limit, 1.0, hi - lo, unit)
            except AlarmSettingsError as exc:
                raise AlarmSettingsError(f"{exc} (an offset from the baseline)") from None
        else:
            _number(f"{p}.limit", self.limit, lo, hi, unit)
        _number(f"{p}.delay_s", self.delay_s, 0.0, MAX_DELAY_S, "s")
        _number(f"{p}.hysteresis", self.hysteresis, 0.0, (hi - lo) / 10.0, unit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alarm_id": self.alarm_id,
            "label": self.label,
            "stream": self.stream.value,
            "direction": self.direction,
            "limit": self.limit,
            "priority": self.priority.value,
            "delay_s": self.delay_s,
            "hysteresis": self.hysteresis,
            "relative_to_baseline": self.relative_to_baseline,
            "enabled": self.enabled,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "rule") -> LimitRule:
        """Build a rule from :meth:`to_dict` output (not validated on its own; see AlarmSettings)."""
        if not isinstance(data, Mapping):
            raise AlarmSettingsError(f"{path}: must be an object, got {data!r}")
        alarm_id = data.get("alarm_id")
        if isinstance(alarm_id, str) and _ID_RE.match(alarm_id):
            path = alarm_id
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise AlarmSettingsError(f"{path}: unknown field(s) {', '.join(map(repr, unknown))}")
        required = ("alarm_id", "label", "stream", "direction", "limit", "priority")
        for key in required:
            if key not in data:
                raise AlarmSettingsError(f"{path}.{key}: missing")
        kwargs: dict[str, Any] = dict(data)
        kwargs["stream"] = _enum(f"{path}.stream", Stream, data["stream"])
        kwargs["priority"] = _enum(f"{path}.priority", AlarmPriority, data["priority"])
        for key in ("limit", "delay_s", "hysteresis"):
            if key in kwargs and isinstance(kwargs[key], int) and not isinstance(kwargs[key], bool):
                kwargs[key] = float(kwargs[key])
        return cls(**kwargs)


def _enum(path: str, enum: type[Stream] | type[AlarmPriority], raw: Any) -> Any:
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(x.value for x in enum)
        raise AlarmSettingsError(f"{path}: must be one of {allowed}, got {raw!r}") from None


@dataclass(frozen=True)
class TechnicalRules:
    """Supervision of the sensors themselves (technical alarms).

    Attributes:
        no_data_s: a watched stream without a reading this long raises "no data" (medium).
        no_contact_s: a sensor reporting no skin contact this long raises "no skin contact" (low).
        battery_low_pct: a sensor battery at or below this raises "battery low" (low).
        overdue_check_alarm: a scheduled check still not done past its grace period raises
            "Check overdue" (low), for clinics that want more than the clock panel's escalation.

    A sensor whose link is LOST raises "signal lost" (medium) at once.
    """

    no_data_s: float = 10.0
    no_contact_s: float = 10.0
    battery_low_pct: int = 15
    overdue_check_alarm: bool = False

    def validate(self) -> None:
        _number("technical.no_data_s", self.no_data_s, *_TIMER_RANGE_S, "s")
        _number("technical.no_contact_s", self.no_contact_s, *_TIMER_RANGE_S, "s")
        lo, hi = _BATTERY_RANGE_PCT
        if (
            isinstance(self.battery_low_pct, bool)
            or not isinstance(self.battery_low_pct, int)
            or not (lo <= self.battery_low_pct <= hi)
        ):
            raise AlarmSettingsError(
                f"technical.battery_low_pct: must be a whole number between {lo} and {hi} %, "
                f"got {self.battery_low_pct!r}"
            )
        if not isinstance(self.overdue_check_alarm, bool):
            raise AlarmSettingsError(
                f"technical.overdue_check_alarm: must be true or false, got {self.overdue_check_alarm!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "no_data_s": self.no_data_s,
            "no_contact_s": self.no_contact_s,
            "battery_low_pct": self.battery_low_pct,
            "overdue_check_alarm": self.overdue_check_alarm,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TechnicalRules:
        if not isinstance(data, Mapping):
            raise AlarmSettingsError(f"technical: must be an object, got {data!r}")
        unknown = sorted(set(data) - {"no_data_s", "no_contact_s", "battery_low_pct", "overdue_check_alarm"})
        if unknown:
            raise AlarmSettingsError(f"technical: unknown field(s) {', '.join(map(repr, unknown))}")
        return cls(**dict(data))


def default_rules() -> tuple[LimitRule, ...]:
    """CLINICAL.md's suggested limits. HR limits share the 10 s delay; BP rules act at once."""
    hr, spo2, sbp, dbp = Stream.HEART_RATE, Stream.SPO2, Stream.BP_SYSTOLIC, Stream.BP_DIASTOLIC
    high, medium, low = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW
    return (
        LimitRule("hr_very_high", "Heart rate very high", hr, "above", 140.0, high, delay_s=10.0),
        LimitRule("hr_high", "Heart rate high", hr, "above", 120.0, medium, delay_s=10.0),
        LimitRule("hr_low", "Heart rate low", hr, "below", 45.0, medium, delay_s=10.0),
        LimitRule(
            "hr_above_baseline",
            "Heart rate above baseline",
            hr,
            "above",
            30.0,
            low,
            delay_s=60.0,
            relative_to_baseline=True,
        ),
        LimitRule("spo2_low", "SpO2 low", spo2, "below", 92.0, high, delay_s=15.0),
        LimitRule("spo2_very_low", "SpO2 very low", spo2, "below", 88.0, high),
        LimitRule("sbp_very_high", "Systolic BP very high", sbp, "above", 180.0, high),
        LimitRule("dbp_very_high", "Diastolic BP very high", dbp, "above", 110.0, high),
        LimitRule("sbp_high", "Systolic BP high", sbp, "above", 160.0, medium),
        LimitRule("dbp_high", "Diastolic BP high", dbp, "above", 100.0, medium),
    )


@dataclass(frozen=True)
class AlarmSettings:
    """The complete, clinic-editable alarm configuration.

    Attributes:
        rules: the physiological limit rules (ids unique).
        technical: sensor supervision rules.
        audio_pause_s: how long "pause audio" silences an alarm before audio resumes if the
            condition persists.
        escalate_after_s: an audible (medium/high) alarm not acknowledged or paused this long
            is escalated (the UI raises its volume).
    """

    rules: tuple[LimitRule, ...]
    technical: TechnicalRules = field(default_factory=TechnicalRules)
    audio_pause_s: float = 120.0
    escalate_after_s: float = 60.0

    @classmethod
    def defaults(cls) -> AlarmSettings:
        return cls(rules=default_rules())

    def rule(self, alarm_id: str) -> LimitRule:
        """The rule named ``alarm_id``; KeyError if there is none."""
        for r in self.rules:
            if r.alarm_id == alarm_id:
                return r
        raise KeyError(alarm_id)

    def with_rule(self, rule: LimitRule) -> AlarmSettings:
        """A copy with ``rule`` replacing the rule of the same id (or appended); validated."""
        rules = list(self.rules)
        for i, existing in enumerate(rules):
            if existing.alarm_id == rule.alarm_id:
                rules[i] = rule
                break
        else:
            rules.append(rule)
        new = dataclasses.replace(self, rules=tuple(rules))
        new.validate()
        return new

    def without_rule(self, alarm_id: str) -> AlarmSettings:
        """A copy without the rule ``alarm_id`` (unchanged if there is none)."""
        return dataclasses.replace(self, rules=tuple(r for r in self.rules if r.alarm_id != alarm_id))

    def validate(self) -> None:
        """Raise :class:`AlarmSettingsError` for the first problem found; return None if all is well."""
        if not isinstance(self.rules, tuple) or not all(isinstance(r, LimitRule) for r in self.rules):
            raise AlarmSettingsError("rules: must be a tuple of LimitRule")
        if len(self.rules) > MAX_RULES:
            raise AlarmSettingsError(f"rules: at most {MAX_RULES} rules, got {len(self.rules)}")
        seen: set[str] = set()
        for r in self.rules:
            r.validate()
            if r.alarm_id in seen:
                raise AlarmSettingsError(
                    f"{r.alarm_id}.alarm_id: used by more than one rule; ids must be unique"
                )
            seen.add(r.alarm_id)
        self._check_high_above_low()
        if not isinstance(self.technical, TechnicalRules):
            raise AlarmSettingsError("technical: must be TechnicalRules")
        self.technical.validate()
        _number("audio_pause_s", self.audio_pause_s, *_AUDIO_PAUSE_RANGE_S, "s")
        _number("escalate_after_s", self.escalate_after_s, *_ESCALATE_RANGE_S, "s")

    def _check_high_above_low(self) -> None:
        """Every enabled absolute high limit must lie above every low limit of the same stream."""
        for stream in LIMIT_RANGES:
            absolute = [
                r for r in self.rules if r.enabled and r.stream == stream and not r.relative_to_baseline
            ]
            highs = [r for r in absolute if r.direction == "above"]
            lows = [r for r in absolute if r.direction == "below"]
            if not highs or not lows:
                continue
            high = min(highs, key=lambda r: r.limit)
            low = max(lows, key=lambda r: r.limit)
            if high.limit <= low.limit:
                raise AlarmSettingsError(
                    f"{high.alarm_id}.limit: a high limit ({_fmt(high.limit)} {high.unit}) must be above "
                    f"the low limit of {low.alarm_id} ({_fmt(low.limit)} {low.unit})"
                )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (plain dicts, lists, strings, numbers, booleans)."""
        return {
            "version": SETTINGS_VERSION,
            "rules": [r.to_dict() for r in self.rules],
            "technical": self.technical.to_dict(),
            "audio_pause_s": self.audio_pause_s,
            "escalate_after_s": self.escalate_after_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlarmSettings:
        """Parse and validate a :meth:`to_dict` snapshot.

        Missing optional fields take their defaults (older snapshots stay readable); unknown
        fields are rejected so that a typo is not silently ignored.
        """
        if not isinstance(data, Mapping):
            raise AlarmSettingsError(f"alarm settings: must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"version", "rules", "technical", "audio_pause_s", "escalate_after_s"})
        if unknown:
            raise AlarmSettingsError(f"alarm settings: unknown field(s) {', '.join(map(repr, unknown))}")
        version = data.get("version", SETTINGS_VERSION)
        if version != SETTINGS_VERSION:
            raise AlarmSettingsError(f"version: this app reads version {SETTINGS_VERSION}, got {version!r}")
        if "rules" not in data:
            raise AlarmSettingsError("rules: missing")
        raw_rules = data["rules"]
        if not isinstance(raw_rules, list | tuple):
            raise AlarmSettingsError(f"rules: must be a list, got {type(raw_rules).__name__}")
        rules = tuple(LimitRule.from_dict(r, f"rules[{i}]") for i, r in enumerate(raw_rules))
        kwargs: dict[str, Any] = {"rules": rules}
        if "technical" in data:
            kwargs["technical"] = TechnicalRules.from_dict(data["technical"])
        for key in ("audio_pause_s", "escalate_after_s"):
            if key in data:
                value = data[key]
                is_int = isinstance(value, int) and not isinstance(value, bool)
                kwargs[key] = float(value) if is_int else value
        settings = cls(**kwargs)
        settings.validate()
        return settings
