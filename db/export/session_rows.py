"""The ``kind=session`` rows of the CSV: what holds for the whole session, one row per field.

The session's spec (protocol and its timings, dose, lot, clinician, the healthcare setting from
the settings snapshot), what only the end knows (boosters, end reason) and the structured
discharge answers, flattened from the ``session_ended`` event's data (flat ``discharge.*`` keys
or a nested ``discharge`` mapping, whatever fields it has) -- so a reader finds the dose and the
lot with one filter instead of parsing event JSON. Format in ``docs/csv-format.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from db.export.deidentify import Deidentifier, flatten
from kapmonitor.ports import SessionRecord
from kapmonitor.types import EventKind, SessionEvent

__all__ = ["SessionField", "session_fields"]

SessionField = tuple[str, float | int | str, str, str]
"""``(name, value, unit, text)`` of one session row (``""``: empty)."""

_SETTING_KEYS = (("setting_name", "setting_name"), ("setting_id", "setting_id"), ("room", "room"))
"""Settings snapshot key -> row name, for the fields written only when the snapshot has them."""


def _scalar(name: str, value: Any) -> SessionField:
    """A value in the column it belongs in: numbers in ``value``, everything else in ``text``."""
    if isinstance(value, bool):
        return name, "", "", "true" if value else "false"
    if isinstance(value, int | float):
        return name, value, "", ""
    return name, "", "", "" if value is None else str(value)


def _discharge(events: Sequence[SessionEvent]) -> Iterator[tuple[str, Any]]:
    """``(discharge.<field>, scalar)`` of the last ``session_ended`` event (nothing if it has none)."""
    ends = [e for e in events if e.kind is EventKind.SESSION_ENDED]
    if not ends:
        return
    data: Mapping[str, Any] = ends[-1].data
    for key, value in data.items():
        if key == "discharge" or key.startswith("discharge."):
            yield from flatten(key, value)


def session_fields(record: SessionRecord, events: Sequence[SessionEvent],
                   ident: Deidentifier | None) -> list[SessionField]:
    """The session rows' fields, in the documented order; de-identified when ``ident`` is given."""
    spec, protocol = record.spec, record.spec.protocol

    def typed(text: str) -> str:
        """Free text and names of people or places: left out of a de-identified export."""
        return "" if ident is not None else text

    rows: list[SessionField] = [
        ("protocol", "", "", protocol.name if ident is None else ident.protocol(protocol.name)),
        ("route", "", "", protocol.route.value),
        ("protocol.onset_min", protocol.onset_min, "min", ""),
        ("protocol.effect_window_min", protocol.effect_window_min, "min", ""),
        ("protocol.min_observation_min", protocol.min_observation_min, "min", ""),
    ]
    for check in protocol.checks:
        name = check.name if ident is None else ident.check(check.name)
        rows.append((f"protocol.check.{name}", "" if check.at_min is None else check.at_min,
                     "" if check.at_min is None else "min", check.timing.value))
    rows += [
        ("dose_amount", "" if spec.dose_amount is None else spec.dose_amount, spec.dose_unit, ""),
        ("dose_unit", "", "", spec.dose_unit),
        ("lot", "", "", typed(spec.lot)),
        ("clinician", "", "", typed(spec.clinician_initials)),
        ("app_version", "", "", spec.app_version),
    ]
    for key, name in _SETTING_KEYS:
        value = spec.settings.get(key)
        if isinstance(value, str):
            rows.append((name, "", "", typed(value)))
    rows.append(("boosters", sum(e.kind is EventKind.BOOSTER_GIVEN for e in events), "", ""))
    if record.ended_at is not None:
        rows.append(("end_reason", "", "", typed(record.end_reason)))
    for key, value in _discharge(events):
        if ident is None:
            rows.append(_scalar(key, value))
        else:
            rows.append(_scalar(ident.strict_key(key), ident.strict_value(value)))
    return rows
