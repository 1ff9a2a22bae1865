"""Treatment protocols: route presets with their timings and scheduled checks.

A protocol fixes how the session clock is divided: ``onset_min`` after the
first dose the onset phase ends; the effect window lasts ``effect_window_min``
after that; the client is observed for at least ``min_observation_min`` after
the first dose. Defaults follow CLINICAL.md; a clinic may edit them or add its
own. These are starting points, not medical advice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "PRESETS",
    "CheckTiming",
    "ProtocolError",
    "Route",
    "ScheduledCheck",
    "TreatmentProtocol",
    "default_checks",
    "find_protocol",
    "validate_protocols",
]


class ProtocolError(ValueError):
    """A protocol or check definition is invalid; the message says which field and why."""


class Route(StrEnum):
    SUBLINGUAL = "sublingual"
    INTRANASAL = "intranasal"
    INTRAMUSCULAR = "intramuscular"
    INTRAVENOUS = "intravenous"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        return _ROUTE_LABELS[self]


_ROUTE_LABELS = {
    Route.SUBLINGUAL: "Sublingual / buccal lozenge",
    Route.INTRANASAL: "Intranasal (nasal spray)",
    Route.INTRAMUSCULAR: "Intramuscular injection",
    Route.INTRAVENOUS: "Intravenous infusion",
    Route.CUSTOM: "Custom",
}


class CheckTiming(StrEnum):
    PRE_DOSE = "pre_dose"
    """Before the first dose (e.g. baseline vitals); due from session start."""
    AFTER_DOSE = "after_dose"
    """At ``at_min`` minutes after the first dose."""
    BEFORE_DISCHARGE = "before_discharge"
    """When the minimum observation time is reached."""


DEFAULT_GRACE_MIN: Final = 10.0
"""A check done within this many minutes of falling due is on time; later, it is marked late."""
MAX_GRACE_MIN: Final = 120.0


@dataclass(frozen=True, slots=True)
class ScheduledCheck:
    """A check the therapist is prompted for, e.g. blood pressure at +40 min."""

    name: str
    label: str
    timing: CheckTiming
    at_min: float | None = None
    grace_min: float = DEFAULT_GRACE_MIN
    """How long after falling due the check may be done without counting as late."""

    def validate(self) -> None:
        if not self.name.strip():
            raise ProtocolError("a check needs a name")
        if not (math.isfinite(self.grace_min) and 0 <= self.grace_min <= MAX_GRACE_MIN):
            raise ProtocolError(f"check {self.name!r}: grace_min must be 0 to {MAX_GRACE_MIN:g} minutes, "
                                f"got {self.grace_min!r}")
        if not self.name.replace("_", "").isalnum() or self.name != self.name.lower():
            raise ProtocolError(
                f"check name {self.name!r} must be lower-case letters, digits and underscores"
            )
        if self.timing is CheckTiming.AFTER_DOSE:
            if self.at_min is None or not math.isfinite(self.at_min):
                raise ProtocolError(f"check {self.name!r}: an after-dose check needs at_min minutes")
            if self.at_min < 0:
                raise ProtocolError(
                    f"check {self.name!r} at {self.at_min:g} min lies before the dose; "
                    "use timing 'pre_dose' for checks before dosing"
                )
        elif self.at_min is not None:
            raise ProtocolError(
                f"check {self.name!r}: at_min applies only to after-dose checks "
                f"(timing is {self.timing.value!r})"
            )

    def due_offset_s(self, min_observation_min: float) -> float | None:
        """Seconds after the first dose when the check falls due (None: before dosing)."""
        if self.timing is CheckTiming.PRE_DOSE:
            return None
        if self.timing is CheckTiming.BEFORE_DISCHARGE:
            return min_observation_min * 60.0
        assert self.at_min is not None
        return self.at_min * 60.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "timing": self.timing.value,
                "at_min": self.at_min, "grace_min": self.grace_min}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduledCheck:
        if not isinstance(data, Mapping):
            raise ProtocolError(f"a check must be a mapping of its fields, got {type(data).__name__}")
        try:
            timing = CheckTiming(data["timing"])
        except (KeyError, ValueError) as exc:
            raise ProtocolError(
                f"check timing must be one of {', '.join(t.value for t in CheckTiming)}"
            ) from exc
        at = data.get("at_min")
        try:
            at_min = None if at is None else float(at)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"check at_min must be a number of minutes, got {at!r}") from exc
        grace = data.get("grace_min", DEFAULT_GRACE_MIN)
        if isinstance(grace, bool) or not isinstance(grace, int | float):
            raise ProtocolError(f"check grace_min must be a number of minutes, got {grace!r}")
        check = cls(name=str(data.get("name", "")), label=str(data.get("label", "")),
                    timing=timing, at_min=at_min, grace_min=float(grace))
        check.validate()
        return check


def default_checks() -> tuple[ScheduledCheck, ...]:
    """Vitals before dosing, at +40 min (BP peak) and before discharge (CLINICAL.md)."""
    return (
        ScheduledCheck("vitals_pre_dose", "Vitals before dosing", CheckTiming.PRE_DOSE),
        ScheduledCheck("vitals_40_min", "Blood pressure at +40 min", CheckTiming.AFTER_DOSE, 40.0),
        ScheduledCheck("vitals_discharge", "Vitals before discharge", CheckTiming.BEFORE_DISCHARGE),
    )


@dataclass(frozen=True, slots=True)
class TreatmentProtocol:
    """How a session is timed for one route of administration."""

    name: str
    route: Route
    onset_min: float
    effect_window_min: float
    min_observation_min: float = 120.0
    checks: tuple[ScheduledCheck, ...] = field(default_factory=default_checks)
    description: str = ""

    @property
    def onset_s(self) -> float:
        return self.onset_min * 60.0

    @property
    def effect_end_s(self) -> float:
        """Seconds after the first dose when the effect window closes."""
        return (self.onset_min + self.effect_window_min) * 60.0

    @property
    def min_observation_s(self) -> float:
        return self.min_observation_min * 60.0

    def validate(self) -> None:
        """Raise :class:`ProtocolError` naming the first invalid field."""
        if not self.name.strip():
            raise ProtocolError("a protocol needs a name")
        for label, value in (("onset_min", self.onset_min),
                             ("effect_window_min", self.effect_window_min),
                             ("min_observation_min", self.min_observation_min)):
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value <= 0):
                raise ProtocolError(
                    f"protocol {self.name!r}: {label} must be a positive number of minutes, "
                    f"got {value!r}"
                )
        seen: set[str] = set()
        for check in self.checks:
            check.validate()
            if check.name in seen:
                raise ProtocolError(f"protocol {self.name!r}: check name {check.name!r} is repeated")
            seen.add(check.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "route": self.route.value,
            "onset_min": self.onset_min,
            "effect_window_min": self.effect_window_min,
            "min_observation_min": self.min_observation_min,
            "checks": [c.to_dict() for c in self.checks],
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TreatmentProtocol:
        """Build and validate a protocol from :meth:`to_dict` output."""
        if not isinstance(data, Mapping):
            raise ProtocolError(f"a protocol must be a mapping of its fields, got {type(data).__name__}")
        checks = data.get("checks", ())
        if isinstance(checks, str | bytes | Mapping) or not isinstance(checks, Iterable):
            raise ProtocolError(f"protocol checks must be a list of checks, got {type(checks).__name__}")
        try:
            route = Route(data["route"])
        except (KeyError, ValueError) as exc:
            raise ProtocolError(
                f"protocol route must be one of {', '.join(r.value for r in Route)}"
            ) from exc
        try:
            proto = cls(
                name=str(data["name"]),
                route=route,
                onset_min=float(data["onset_min"]),
                effect_window_min=float(data["effect_window_min"]),
                min_observation_min=float(data.get("min_observation_min", 120.0)),
                checks=tuple(ScheduledCheck.from_dict(c) for c in checks),
                description=str(data.get("description", "")),
            )
        except KeyError as exc:
            raise ProtocolError(f"protocol is missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(f"protocol has a field that is not a number: {exc}") from exc
        proto.validate()
        return proto


PRESETS: Mapping[str, TreatmentProtocol] = {
    p.name: p
    for p in (
        TreatmentProtocol(
            "sublingual", Route.SUBLINGUAL, onset_min=10, effect_window_min=45,
            description="Lozenge or rapid-dissolving tablet held 10-12 min, then spat.",
        ),
        TreatmentProtocol(
            "intranasal", Route.INTRANASAL, onset_min=5, effect_window_min=40,
            description="Nasal spray (e.g. esketamine); observe at least 2 h.",
        ),
        TreatmentProtocol(
            "intramuscular", Route.INTRAMUSCULAR, onset_min=4, effect_window_min=45,
            description="Intramuscular injection.",
        ),
        TreatmentProtocol(
            "intravenous", Route.INTRAVENOUS, onset_min=2, effect_window_min=40,
            description="Infusion (typically 40 min).",
        ),
    )
}


def validate_protocols(protocols: Iterable[TreatmentProtocol]) -> None:
    """Validate each protocol and that names are unique (case-insensitive)."""
    seen: set[str] = set()
    for proto in protocols:
        proto.validate()
        key = proto.name.strip().lower()
        if key in seen:
            raise ProtocolError(f"protocol name {proto.name!r} is used twice; names must be unique")
        seen.add(key)


def find_protocol(name: str, protocols: Iterable[TreatmentProtocol] | None = None) -> TreatmentProtocol:
    """Look a protocol up by name (case-insensitive) among ``protocols`` (default: presets)."""
    pool = list(PRESETS.values()) if protocols is None else list(protocols)
    for proto in pool:
        if proto.name.strip().lower() == name.strip().lower():
            return proto
    known = ", ".join(p.name for p in pool)
    raise ProtocolError(f"unknown protocol {name!r}; known protocols: {known}")
