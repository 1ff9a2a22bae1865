"""Clinic settings: the defaults a clinic edits once and every session starts from.

A :class:`ClinicSettings` value is immutable. The UI saves it with
``store.put_setting("clinic", settings.to_dict())`` and snapshots it into each
session's :class:`~kapmonitor.ports.SessionSpec` ``settings``, so a later edit
never changes a session already recorded.

Contract:

* :meth:`ClinicSettings.defaults` follows CLINICAL.md (starting points, not
  medical advice).
* :meth:`ClinicSettings.validate` checks field by field and raises
  :class:`~kapmonitor.settings_items.SettingsError` naming the first bad field as a path
  (``quick_tags[2].key``) with a message saying what is accepted.
* ``from_dict(to_dict(s)) == s`` for every valid ``s``; ``from_dict`` fills
  keys missing from an older stored dict with their defaults, and always
  validates what it returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.protocols import PRESETS, ProtocolError, TreatmentProtocol
from kapmonitor.settings_items import (
    AudioSettings,
    DischargeItem,
    LabStreamingSettings,
    QuickTag,
    ScaleDefinition,
    SettingsError,
    default_discharge_checklist,
    default_medications,
    default_quick_tags,
    default_scales,
)

__all__ = ["DOSE_UNITS", "SETTINGS_KEY", "THEMES", "ClinicSettings"]

SETTINGS_KEY = "clinic"
"""The key under which the UI stores the clinic settings (``store.put_setting``)."""

THEMES: tuple[str, ...] = ("dark", "light")
DOSE_UNITS: tuple[str, ...] = ("mg", "mg/kg", "µg", "mL")
_FORMAT_VERSION = 1
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ClinicSettings:
    """Everything a clinic configures once; see the module docstring for the contract."""

    protocols: tuple[TreatmentProtocol, ...] = field(default_factory=lambda: tuple(PRESETS.values()))
    default_protocol: str = "sublingual"
    alarms: AlarmSettings = field(default_factory=AlarmSettings.defaults)
    quick_tags: tuple[QuickTag, ...] = field(default_factory=default_quick_tags)
    scales: tuple[ScaleDefinition, ...] = field(default_factory=default_scales)
    discharge_checklist: tuple[DischargeItem, ...] = field(default_factory=default_discharge_checklist)
    audio: AudioSettings = field(default_factory=AudioSettings)
    theme: str = "dark"
    default_dose_unit: str = "mg"
    setting_name: str = ""
    """The healthcare setting (clinic) as the monitoring form names it."""
    setting_id: str = ""
    """The setting's identifier on the form (e.g. its REMS certification number)."""
    medications: tuple[DischargeItem, ...] = field(default_factory=default_medications)
    """Concomitant medication classes asked at the end of a session."""
    lab_streaming: LabStreamingSettings = field(default_factory=LabStreamingSettings)
    """Lab Streaming Layer outlets while a session records (off by default; docs/research.md)."""

    @classmethod
    def defaults(cls) -> ClinicSettings:
        return cls()

    # --- queries -------------------------------------------------------------------------------

    def protocol(self, name: str | None = None) -> TreatmentProtocol:
        """The protocol called ``name`` (case-insensitive), or the default protocol."""
        wanted = (name or self.default_protocol).strip().lower()
        for proto in self.protocols:
            if proto.name.lower() == wanted:
                return proto
        raise SettingsError(
            "default_protocol" if name is None else "protocol",
            f"no protocol named {name or self.default_protocol!r}",
        )

    def tag_for_key(self, key: str) -> QuickTag | None:
        for tag in self.quick_tags:
            if tag.key == key:
                return tag
        return None

    def scale(self, name: str) -> ScaleDefinition | None:
        for scale in self.scales:
            if scale.name == name:
                return scale
        return None

    @property
    def shown_scales(self) -> tuple[ScaleDefinition, ...]:
        return tuple(s for s in self.scales if s.shown)

    def with_changes(self, **changes: Any) -> ClinicSettings:
        """A validated copy with ``changes`` applied."""
        new = replace(self, **changes)
        new.validate()
        return new

    # --- validation ----------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`SettingsError` naming the first invalid field."""
        self._validate_protocols()
        try:
            self.alarms.validate()
        except ValueError as exc:
            raise _alarm_error(exc) from exc
        if len(self.quick_tags) > 9:
            raise SettingsError("quick_tags", f"at most 9 quick tags (keys 1-9), got {len(self.quick_tags)}")
        _unique(self.quick_tags, "quick_tags", lambda t: t.key, "key")
        _unique(self.quick_tags, "quick_tags", lambda t: t.name, "name")
        for i, tag in enumerate(self.quick_tags):
            tag.validate(f"quick_tags[{i}]")
        for i, scale in enumerate(self.scales):
            scale.validate(f"scales[{i}]")
        _unique(self.scales, "scales", lambda s: s.name, "name")
        for i, item in enumerate(self.discharge_checklist):
            item.validate(f"discharge_checklist[{i}]")
        _unique(self.discharge_checklist, "discharge_checklist", lambda d: d.name, "name")
        for i, med in enumerate(self.medications):
            med.validate(f"medications[{i}]")
        _unique(self.medications, "medications", lambda d: d.name, "name")
        for key, value in (("setting_name", self.setting_name), ("setting_id", self.setting_id)):
            if not isinstance(value, str) or len(value) > 120 or any(c in value for c in "\r\n\t"):
                raise SettingsError(key, f"must be one line of at most 120 characters, got {value!r}")
        self.audio.validate("audio")
        self.lab_streaming.validate("lab_streaming")
        if self.theme not in THEMES:
            raise SettingsError("theme", f"must be one of {', '.join(THEMES)}, got {self.theme!r}")
        if self.default_dose_unit not in DOSE_UNITS:
            raise SettingsError(
                "default_dose_unit", f"must be one of {', '.join(DOSE_UNITS)}, got {self.default_dose_unit!r}"
            )

    def _validate_protocols(self) -> None:
        if not self.protocols:
            raise SettingsError("protocols", "at least one protocol is needed")
        seen: set[str] = set()
        for i, proto in enumerate(self.protocols):
            try:
                proto.validate()
            except ProtocolError as exc:
                raise SettingsError(f"protocols[{i}]", str(exc)) from exc
            key = proto.name.strip().lower()
            if key in seen:
                raise SettingsError(
                    f"protocols[{i}].name", f"{proto.name!r} is used twice; names must be unique"
                )
            seen.add(key)
        if self.default_protocol.strip().lower() not in seen:
            raise SettingsError(
                "default_protocol",
                f"{self.default_protocol!r} is not one of the protocols "
                f"({', '.join(p.name for p in self.protocols)})",
            )

    # --- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists, str, numbers, bools only)."""
        return {
            "version": _FORMAT_VERSION,
            "protocols": [p.to_dict() for p in self.protocols],
            "default_protocol": self.default_protocol,
            "alarms": self.alarms.to_dict(),
            "quick_tags": [t.to_dict() for t in self.quick_tags],
            "scales": [s.to_dict() for s in self.scales],
            "discharge_checklist": [d.to_dict() for d in self.discharge_checklist],
            "audio": self.audio.to_dict(),
            "theme": self.theme,
            "default_dose_unit": self.default_dose_unit,
            "setting_name": self.setting_name,
            "setting_id": self.setting_id,
            "medications": [m.to_dict() for m in self.medications],
            "lab_streaming": self.lab_streaming.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClinicSettings:
        """Parse and validate :meth:`to_dict` output; missing keys take their defaults."""
        if not isinstance(data, Mapping):
            raise SettingsError("settings", f"must be a JSON object, got {type(data).__name__}")
        version = data.get("version", _FORMAT_VERSION)
        if not isinstance(version, int) or version > _FORMAT_VERSION:
            raise SettingsError(
                "version",
                f"settings format {version!r} is newer than this app understands "
                f"({_FORMAT_VERSION}); update kapmonitor",
            )
        d = cls()
        protocols = d.protocols
        if "protocols" in data:
            protocols = tuple(_parse_list(data["protocols"], "protocols", _parse_protocol))
        alarms = d.alarms
        if "alarms" in data:
            try:
                alarms = AlarmSettings.from_dict(data["alarms"])
            except (ValueError, TypeError, KeyError) as exc:
                raise _alarm_error(exc) from exc
        settings = cls(
            protocols=protocols,
            default_protocol=_get(data, "default_protocol", str, d.default_protocol),
            alarms=alarms,
            quick_tags=tuple(_parse_list(data["quick_tags"], "quick_tags", _parse_tag))
            if "quick_tags" in data
            else d.quick_tags,
            scales=tuple(_parse_list(data["scales"], "scales", _parse_scale))
            if "scales" in data
            else d.scales,
            discharge_checklist=tuple(
                _parse_list(data["discharge_checklist"], "discharge_checklist", _parse_discharge)
            )
            if "discharge_checklist" in data
            else d.discharge_checklist,
            audio=_parse_audio(data["audio"], "audio") if "audio" in data else d.audio,
            theme=_get(data, "theme", str, d.theme),
            default_dose_unit=_get(data, "default_dose_unit", str, d.default_dose_unit),
            setting_name=_get(data, "setting_name", str, d.setting_name),
            setting_id=_get(data, "setting_id", str, d.setting_id),
            medications=tuple(_parse_list(data["medications"], "medications", _parse_discharge))
            if "medications" in data
            else d.medications,
            lab_streaming=_parse_lab_streaming(data["lab_streaming"], "lab_streaming")
            if "lab_streaming" in data
            else d.lab_streaming,
        )
        settings.validate()
        return settings


# --- parsing helpers ---------------------------------------------------------------------------


def _alarm_error(exc: BaseException) -> SettingsError:
    """Re-home an alarm-settings error ("hr_high.limit: must be...") under ``alarms.``."""
    text = str(exc)
    head, sep, rest = text.partition(": ")
    if sep and head and " " not in head:
        return SettingsError(f"alarms.{head}", rest)
    return SettingsError("alarms", text)


def _unique(items: Sequence[_T], path: str, key: Callable[[_T], str], what: str) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            raise SettingsError(f"{path}[{i}].{what}", f"{k!r} is already used by {path}[{seen[k]}]")
        seen[k] = i


def _get(data: Mapping[str, Any], key: str, kind: type[_T], default: _T, path: str = "") -> _T:
    if key not in data:
        return default
    value = data[key]
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SettingsError(f"{path}{key}", f"must be {kind.__name__}, got {value!r}")
    return value


def _parse_list(raw: Any, path: str, parse: Callable[[Any, str], _T]) -> list[_T]:
    if not isinstance(raw, list | tuple):
        raise SettingsError(path, f"must be a list, got {type(raw).__name__}")
    return [parse(item, f"{path}[{i}]") for i, item in enumerate(raw)]


def _need_mapping(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise SettingsError(path, f"must be an object, got {type(raw).__name__}")
    return raw


def _parse_protocol(raw: Any, path: str) -> TreatmentProtocol:
    try:
        return TreatmentProtocol.from_dict(_need_mapping(raw, path))
    except ProtocolError as exc:
        raise SettingsError(path, str(exc)) from exc


def _parse_tag(raw: Any, path: str) -> QuickTag:
    m = _need_mapping(raw, path)
    key = m.get("key", "")
    return QuickTag(
        key=str(key) if isinstance(key, int) and not isinstance(key, bool) else key,
        label=m.get("label", ""),
        name=m.get("name", ""),
    )


def _parse_scale(raw: Any, path: str) -> ScaleDefinition:
    m = _need_mapping(raw, path)
    values_raw = m.get("values", [])
    if not isinstance(values_raw, list | tuple):
        raise SettingsError(f"{path}.values", "must be a list of [value, text] pairs")
    values: list[tuple[int, str]] = []
    for i, pair in enumerate(values_raw):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise SettingsError(f"{path}.values[{i}]", f"must be a [value, text] pair, got {pair!r}")
        value = pair[0]
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        values.append((value, pair[1]))
    return ScaleDefinition(
        name=m.get("name", ""), label=m.get("label", ""), values=tuple(values), shown=m.get("shown", True)
    )


def _parse_discharge(raw: Any, path: str) -> DischargeItem:
    m = _need_mapping(raw, path)
    return DischargeItem(name=m.get("name", ""), label=m.get("label", ""))


def _parse_audio(raw: Any, path: str) -> AudioSettings:
    m = _need_mapping(raw, path)
    d = AudioSettings()
    return AudioSettings(
        volume=_get(m, "volume", int, d.volume, f"{path}."),
        visual_only=_get(m, "visual_only", bool, d.visual_only, f"{path}."),
    )


def _parse_lab_streaming(raw: Any, path: str) -> LabStreamingSettings:
    m = _need_mapping(raw, path)
    d = LabStreamingSettings()
    return LabStreamingSettings(
        enabled=_get(m, "enabled", bool, d.enabled, f"{path}."),
        scope=_get(m, "scope", str, d.scope, f"{path}."),
    )
