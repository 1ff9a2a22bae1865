"""The parts of the clinic settings: quick tags, rating scales, discharge checklist, audio, Lab
Streaming Layer.

Each part validates itself, naming the bad field by path (``quick_tags[2].key``)
in a :class:`SettingsError`. :mod:`kapmonitor.settings` assembles them into
:class:`~kapmonitor.settings.ClinicSettings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LSL_SCOPES",
    "AudioSettings",
    "DischargeItem",
    "LabStreamingSettings",
    "QuickTag",
    "ScaleDefinition",
    "SettingsError",
    "default_discharge_checklist",
    "default_quick_tags",
    "default_scales",
]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_LABEL = 60


class SettingsError(ValueError):
    """A clinic setting is invalid.

    Attributes:
        field: path of the bad field, e.g. ``quick_tags[2].key`` or ``audio.volume``.
        message: what is wrong and what is accepted (without the field path).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_name(path: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SettingsError(
            path,
            f"must be 1-40 lower-case letters, digits or underscores starting with a letter, got {name!r}",
        )


def _check_label(path: str, label: object) -> None:
    if not isinstance(label, str) or not label.strip():
        raise SettingsError(path, "must not be empty")
    if len(label) > _MAX_LABEL:
        raise SettingsError(path, f"must be at most {_MAX_LABEL} characters, got {len(label)}")


@dataclass(frozen=True, slots=True)
class QuickTag:
    """A one-key observation: pressing ``key`` records a TAG observation named ``name``.

    Attributes:
        key: a single digit ``"1"``..``"9"`` (the key the therapist presses without looking).
        label: what the button says ("Nausea").
        name: the stored observation name (``nausea``); stable across label edits.
    """

    key: str
    label: str
    name: str

    def validate(self, path: str = "quick_tag") -> None:
        if not isinstance(self.key, str) or len(self.key) != 1 or self.key not in "123456789":
            raise SettingsError(f"{path}.key", f"must be a single digit 1-9, got {self.key!r}")
        _check_label(f"{path}.label", self.label)
        _check_name(f"{path}.name", self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "name": self.name}


@dataclass(frozen=True, slots=True)
class ScaleDefinition:
    """A rating scale the therapist scores with one click.

    Attributes:
        name: stored observation name (``moaa_s``).
        label: heading shown ("MOAA/S sedation").
        values: ``(value, anchor text)`` pairs in display order.
        shown: whether the observation panel offers it.
    """

    name: str
    label: str
    values: tuple[tuple[int, str], ...]
    shown: bool = True

    def text_for(self, value: float) -> str:
        """The anchor text for ``value`` (empty if the scale has no such value)."""
        for v, text in self.values:
            if v == value:
                return text
        return ""

    def validate(self, path: str = "scale") -> None:
        _check_name(f"{path}.name", self.name)
        _check_label(f"{path}.label", self.label)
        if not self.values:
            raise SettingsError(f"{path}.values", "a scale needs at least one value")
        seen: set[int] = set()
        for i, pair in enumerate(self.values):
            value, text = pair
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError(f"{path}.values[{i}]", f"value must be a whole number, got {value!r}")
            if value in seen:
                raise SettingsError(f"{path}.values[{i}]", f"value {value} appears twice")
            seen.add(value)
            if not isinstance(text, str) or not text.strip():
                raise SettingsError(f"{path}.values[{i}]", f"value {value} needs an anchor text")
        if not isinstance(self.shown, bool):
            raise SettingsError(f"{path}.shown", f"must be true or false, got {self.shown!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "shown": self.shown,
            "values": [[v, t] for v, t in self.values],
        }


@dataclass(frozen=True, slots=True)
class DischargeItem:
    """One line of the discharge checklist ("Alert and oriented")."""

    name: str
    label: str

    def validate(self, path: str = "discharge_item") -> None:
        _check_name(f"{path}.name", self.name)
        _check_label(f"{path}.label", self.label)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label}


@dataclass(frozen=True, slots=True)
class AudioSettings:
    """Alarm sound. ``volume`` 0-100 is the soft starting level; ``visual_only`` silences all."""

    volume: int = 35
    visual_only: bool = False

    def validate(self, path: str = "audio") -> None:
        if isinstance(self.volume, bool) or not isinstance(self.volume, int) or not 0 <= self.volume <= 100:
            raise SettingsError(f"{path}.volume", f"must be a whole number 0-100, got {self.volume!r}")
        if not isinstance(self.visual_only, bool):
            raise SettingsError(f"{path}.visual_only", f"must be true or false, got {self.visual_only!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"volume": self.volume, "visual_only": self.visual_only}


LSL_SCOPES: tuple[str, ...] = ("machine", "link", "site")
"""How far Lab Streaming Layer discovery reaches, narrowest first (liblsl's ``ResolveScope``):
``machine`` this computer only, ``link`` the local network segment (multicast TTL 1), ``site`` the
clinic's routed network (TTL 24). docs/research.md says what each sends where."""


@dataclass(frozen=True, slots=True)
class LabStreamingSettings:
    """Lab Streaming Layer outlets for research recordings (docs/research.md).

    Attributes:
        enabled: while a session records in the window, heart rate, RR intervals, SpO2, blood
            pressure and a marker stream (phases, doses, checks, observations, alarms) are offered
            as LSL streams. Off by default: nothing is sent and pylsl is never loaded.
        scope: how far the streams are announced, one of :data:`LSL_SCOPES`; default ``machine``
            (only programs on this computer find them).
    """

    enabled: bool = False
    scope: str = "machine"

    def validate(self, path: str = "lab_streaming") -> None:
        if not isinstance(self.enabled, bool):
            raise SettingsError(f"{path}.enabled", f"must be true or false, got {self.enabled!r}")
        if self.scope not in LSL_SCOPES:
            raise SettingsError(f"{path}.scope",
                                f"must be one of {', '.join(LSL_SCOPES)}, got {self.scope!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "scope": self.scope}


def default_quick_tags() -> tuple[QuickTag, ...]:
    """Common quick observations (CLINICAL.md) on keys 1-9."""
    return (
        QuickTag("1", "Nausea", "nausea"),
        QuickTag("2", "Anxiety", "anxiety"),
        QuickTag("3", "Crying", "crying"),
        QuickTag("4", "Talking", "talking"),
        QuickTag("5", "Asleep", "asleep"),
        QuickTag("6", "Eyeshade off", "eyeshade_off"),
        QuickTag("7", "Water given", "water_given"),
        QuickTag("8", "Antiemetic given", "antiemetic_given"),
        QuickTag("9", "Needs reassurance", "needs_reassurance"),
    )


def default_scales() -> tuple[ScaleDefinition, ...]:
    """MOAA/S, RASS and a four-step clinician impression of dissociation.

    The dissociation rating is deliberately *not* called CADSS: CADSS is a
    23-item (CADSS-6: 6-item) instrument; a single bedside rating only records
    the clinician's global impression.
    """
    return (
        ScaleDefinition(
            "moaa_s",
            "MOAA/S sedation",
            (
                (5, "Responds readily to name in normal tone"),
                (4, "Lethargic response to name in normal tone"),
                (3, "Responds only after name called loudly or repeatedly"),
                (2, "Responds only after mild prodding or shaking"),
                (1, "Responds only after painful stimulus"),
                (0, "No response to painful stimulus"),
            ),
        ),
        ScaleDefinition(
            "rass",
            "RASS agitation-sedation",
            (
                (4, "Combative"),
                (3, "Very agitated"),
                (2, "Agitated"),
                (1, "Restless"),
                (0, "Alert and calm"),
                (-1, "Drowsy (eye contact to voice ≥ 10 s)"),
                (-2, "Light sedation (eye contact to voice < 10 s)"),
                (-3, "Moderate sedation (movement to voice, no eye contact)"),
                (-4, "Deep sedation (movement only to physical stimulus)"),
                (-5, "Unarousable"),
            ),
        ),
        ScaleDefinition(
            "dissociation",
            "Dissociation (clinician impression)",
            (
                (0, "None"),
                (1, "Mild"),
                (2, "Moderate"),
                (3, "Severe"),
            ),
        ),
    )


def default_medications() -> tuple[DischargeItem, ...]:
    """Concomitant medication classes the monitoring form asks about (CLINICAL.md), plus other."""
    return (
        DischargeItem("benzodiazepines", "Benzodiazepines"),
        DischargeItem("sedative_hypnotics", "Non-benzodiazepine sedative hypnotics"),
        DischargeItem("psychostimulants", "Psychostimulants"),
        DischargeItem("maois", "MAOIs"),
        DischargeItem("other", "Other"),
    )


def default_discharge_checklist() -> tuple[DischargeItem, ...]:
    """Modified Aldrete-style discharge criteria (CLINICAL.md) plus safe travel home."""
    return (
        DischargeItem("spo2_room_air", "SpO₂ above 92 % on room air"),
        DischargeItem("bp_near_baseline", "Blood pressure within ±20 mmHg of baseline"),
        DischargeItem("alert_oriented", "Alert and oriented"),
        DischargeItem("min_observation_met", "Minimum observation time met"),
        DischargeItem("accompanied_home", "Accompanied home; not driving"),
    )
