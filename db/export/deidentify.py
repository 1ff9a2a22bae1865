"""What a de-identified export replaces, and with what: one :class:`Deidentifier` per export file.

The rules (``docs/csv-format.md``, "De-identified export") in one place, so every column and
every nested value of the CSV goes through the same ones:

* the client code and the session id become random tokens; every absolute time, also one written
  inside a text or inside event data, moves by one random whole-second offset;
* a sensor (its address, device name and serial number, wherever they appear: reading rows,
  alarm ids, alarm labels, event data) becomes ``sensor-N``; anything shaped like a Bluetooth
  address or a CoreBluetooth UUID is treated as a sensor too, known or not;
* a name the clinic typed (a quick tag, scale, check, protocol or discharge item that is not one of
  the built-in defaults) becomes ``<kind>-N``, and observation ids become ``O-N``, each consistent
  within the file and unrelated to the database;
* free text, reasons, the lot, initials and the setting's name are left out by the callers; inside
  the structured discharge answers only yes/no, numbers, times and built-in codes survive
  (:meth:`Deidentifier.strict_value`).

Tokens are numbered in order of first use, so two exports of the same session share nothing but
the structure; the offset and the two random tokens come from the ``rng`` given.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from kapmonitor.discharge import SERIOUS_OUTCOMES, Discharge, ItemAnswer, Support
from kapmonitor.protocols import PRESETS, default_checks
from kapmonitor.settings_items import (
    default_discharge_checklist,
    default_medications,
    default_quick_tags,
    default_scales,
)
from kapmonitor.types import ObservationKind, SensorInfo

__all__ = ["BUILTIN_NAMES", "FREE_TEXT_KEYS", "SHIFT_RANGE_S", "Deidentifier", "Tokens", "flatten"]

SHIFT_RANGE_S: Final = (365 * 86_400, 3650 * 86_400)
"""The time offset, in seconds into the past: 1 to 10 years."""

FREE_TEXT_KEYS: Final = frozenset({"reason", "note", "text", "comment"})
"""Event data keys that hold what someone typed: left out of a de-identified export."""

_MAC: Final = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}(?![0-9A-Fa-f:])")
_UUID: Final = re.compile(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_DATE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MIN_WORD: Final = 3
"""Sensor names and serials shorter than this are not searched for (they would hit ordinary words)."""

_BUILTIN_TAGS = {t.name for t in default_quick_tags()}
_BUILTIN_SCALES = {s.name for s in default_scales()}
BUILTIN_NAMES: Final[Mapping[ObservationKind, frozenset[str]]] = {
    ObservationKind.NOTE: frozenset({"note"}),
    ObservationKind.TAG: frozenset(_BUILTIN_TAGS),
    ObservationKind.SCALE: frozenset(_BUILTIN_SCALES),
    ObservationKind.VITAL: frozenset({"vitals"}),
    ObservationKind.INTERVENTION: frozenset(),
}
"""Observation names kapmonitor ships with, by kind: kept; any other name is a token."""

_BUILTIN_CHECKS = frozenset(c.name for c in default_checks()) | frozenset(
    c.name for p in PRESETS.values() for c in p.checks)
_BUILTIN_PROTOCOLS = frozenset(PRESETS)


def _discharge_words() -> frozenset[str]:
    """Every key segment and code the structured discharge record is built from (derived, not copied)."""
    item = ItemAnswer(name="x", label="x", met=False)
    keys = Discharge(items=(item,)).to_data()
    words = {w for k in keys for w in k.split(".") if w != "x"}
    words |= {s.value for s in Support} | {name for name, _ in SERIOUS_OUTCOMES}
    words |= {m.name for m in default_medications()} | {d.name for d in default_discharge_checklist()}
    return frozenset(words)


_VOCABULARY: Final = (_discharge_words() | _BUILTIN_CHECKS | _BUILTIN_TAGS | _BUILTIN_SCALES
                      | {"discharge", "item", "items"})
"""Codes that are kapmonitor's own words, kept wherever they appear in structured values."""
_BUILTIN_LABELS: Final = frozenset(
    {t.label for t in default_quick_tags()} | {d.label for d in default_discharge_checklist()}
    | {m.label for m in default_medications()} | {label for _, label in SERIOUS_OUTCOMES})
"""Labels of the built-in items: kept (a clinic's own labels are free text)."""


class Tokens(dict[str, str]):
    """Value -> ``<prefix>-N`` in order of first appearance (consistent within one export)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, value: str) -> str:
        token = self[value] = f"{self.prefix}-{len(self) + 1}"
        return token


class Deidentifier:
    """Tokens, aliases and the time shift of one de-identified export.

    Args:
        rng: the random source of the offset and the two tokens.
        sensors: the session's sensors; their names and serial numbers are searched for in texts.
    """

    def __init__(self, rng: random.Random, sensors: Sequence[SensorInfo]) -> None:
        self.shift_ms = -rng.randint(*SHIFT_RANGE_S) * 1000
        self.session_token = f"S-{rng.getrandbits(40):010x}"
        self.client_token = f"C-{rng.getrandbits(40):010x}"
        self.sensor = Tokens("sensor")
        """Sensor address -> ``sensor-N``."""
        self._observation_ids = Tokens("O")
        self._names: dict[str, Tokens] = {}
        words: dict[str, str] = {}
        for info in sensors:
            words[info.sensor_id] = info.sensor_id
            for word in (info.name, info.serial):
                if word and len(word.strip()) >= _MIN_WORD:
                    words.setdefault(word.strip(), info.sensor_id)
        ordered = sorted(words, key=len, reverse=True)
        self._sensor_words = (re.compile("|".join(re.escape(w) for w in ordered), re.IGNORECASE)
                              if ordered else None)
        self._sensor_lower = {w.lower(): s for w, s in words.items()}

    # ------------------------------------------------------------------ names
    def name(self, kind: str, value: str) -> str:
        """A name the clinic may have typed: ``<kind>-N`` (the same value, the same token)."""
        tokens = self._names.get(kind)
        if tokens is None:
            tokens = self._names[kind] = Tokens(kind)
        return tokens[value]

    def observation_name(self, kind: ObservationKind, name: str) -> str:
        return name if name in BUILTIN_NAMES.get(kind, frozenset()) else self.name(kind.value, name)

    def observation_id(self, observation_id: str) -> str:
        return self._observation_ids[observation_id]

    def check(self, name: str) -> str:
        return name if name in _BUILTIN_CHECKS else self.name("check", name)

    def protocol(self, name: str) -> str:
        return name if name in _BUILTIN_PROTOCOLS else self.name("protocol", name)

    # ------------------------------------------------------------------ times
    def shift(self, moment: datetime) -> datetime:
        return moment + timedelta(milliseconds=self.shift_ms)

    def _shift_text(self, match: re.Match[str]) -> str:
        text = match.group(0)
        try:
            if len(text) == 10:
                moved = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
                return self.shift(moved).date().isoformat()
            return self.shift(datetime.fromisoformat(text.replace(" ", "T"))).isoformat()
        except ValueError:
            return "[date]"

    # ------------------------------------------------------------------ texts
    def _sensor_text(self, match: re.Match[str]) -> str:
        word = match.group(0)
        return self.sensor[self._sensor_lower.get(word.lower(), word)]

    def scrub(self, text: str) -> str:
        """``text`` (generated by the app, e.g. an alarm label) without sensors or absolute dates."""
        if self._sensor_words is not None:
            text = self._sensor_words.sub(self._sensor_text, text)
        text = _MAC.sub(lambda m: self.sensor[m.group(0)], text)
        text = _UUID.sub(lambda m: self.sensor[m.group(0)], text)
        return _DATE.sub(self._shift_text, text)

    def alarm_id(self, alarm_id: str) -> str:
        """``<kind>.<sensor>`` -> ``<kind>.sensor-N``; ``check_overdue.<check>`` -> the check's token."""
        kind, dot, rest = alarm_id.partition(".")
        if not dot:
            return self.scrub(alarm_id)
        if kind == "no_data":
            return alarm_id  # no_data.<stream>: the stream's code
        if kind == "check_overdue":
            return f"{kind}.{self.check(rest)}"
        return f"{kind}.{self.sensor[rest]}"

    def alarm_label(self, alarm_id: str, label: str) -> str:
        """A technical alarm's label names what its id names (``Signal lost: <device>``): rebuilt."""
        kind, dot, _ = alarm_id.partition(".")
        head, colon, _ = label.partition(": ")
        if dot and colon and kind != "no_data":
            return f"{self.scrub(head)}: {self.alarm_id(alarm_id).partition('.')[2]}"
        return self.scrub(label)

    # ------------------------------------------------------------- event data
    def event_data(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """An event's data as a de-identified export writes it (see the module docstring)."""
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in FREE_TEXT_KEYS:
                continue
            if key == "discharge" or key.startswith("discharge."):
                out[self.strict_key(key)] = self.strict_value(value)
            elif key == "sensor_id" and isinstance(value, str):
                out[key] = self.sensor[value]
            elif key == "check" and isinstance(value, str):
                out[key] = self.check(value)
            elif isinstance(value, str):
                out[key] = self.scrub(value)
            elif isinstance(value, Mapping | list | tuple):
                out[self.strict_key(key)] = self.strict_value(value)
            else:
                out[key] = value
        return out

    def strict_key(self, key: str) -> str:
        """A dotted key with every segment that is not one of kapmonitor's own codes as a token."""
        return ".".join(w if w in _VOCABULARY else self.name("name", w) for w in key.split("."))

    def strict_value(self, value: Any) -> Any:
        """A structured answer with only what cannot be free text left.

        Kept: yes/no, numbers, empty values, times (shifted), built-in labels and codes; a code
        the clinic typed (one lower-case word, or a comma-separated list of them) becomes a token.
        Any other text is dropped (``""``). Mappings and lists keep their shape.
        """
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self.strict_key(str(k)): self.strict_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.strict_value(v) for v in value]
        if not isinstance(value, str) or not value:
            return ""
        if _DATE.fullmatch(value):
            return _DATE.sub(self._shift_text, value)
        if value in _BUILTIN_LABELS:
            return value
        parts = value.split(",")
        if all(_CODE.fullmatch(p) for p in parts):
            return ",".join(p if p in _VOCABULARY else self.name("name", p) for p in parts)
        return ""


def flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    """``(dotted key, scalar)`` pairs of a nested mapping (lists of scalars joined by commas)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list | tuple):
        if all(v is None or isinstance(v, str | int | float) for v in value):
            yield prefix, ",".join("" if v is None else str(v) for v in value)
        else:
            for i, inner in enumerate(value):
                yield from flatten(f"{prefix}.{i}", inner)
    else:
        yield prefix, value
