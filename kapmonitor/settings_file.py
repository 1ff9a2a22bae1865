"""Clinic settings as a file, so a clinic's IT can roll one configuration out to every room.

``kapmonitor settings export FILE`` writes :func:`dump_settings`; ``kapmonitor settings import FILE``
reads it back with :func:`parse_settings_file`, which checks everything before anything is stored.
The file is JSON, UTF-8, versioned::

    {
      "kapmonitor": "clinic settings",
      "format": 1,
      "exported_at": "2026-12-02T15:00:00Z",
      "app_version": "0.1.0",
      "settings": { ...ClinicSettings.to_dict()... }
    }

Inside ``settings`` the fields are those of :meth:`ClinicSettings.to_dict` (documented in
``docs/settings-file.md``); a field left out keeps its default. Checking is field by field with the
messages the settings dialog shows (:class:`~kapmonitor.settings_items.SettingsError`): every bad
top-level field is reported, not only the first, and a misspelt field name is an error rather than
silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kapmonitor.settings import ClinicSettings
from kapmonitor.settings_items import SettingsError

__all__ = ["FILE_FORMAT", "FILE_KIND", "MAX_FILE_BYTES", "SettingsFileError", "dump_settings",
           "parse_settings_file"]

FILE_KIND = "clinic settings"
"""The ``kapmonitor`` member's value: what the file is."""
FILE_FORMAT = 1
"""The file layout's version (the settings' own ``version`` is inside ``settings``)."""
MAX_FILE_BYTES = 1 << 20
"""A settings file is a few kilobytes; anything over 1 MiB is not one."""
_MAX_DEPTH = 32
"""Deepest nesting of objects and lists a settings file needs is about six."""


@dataclass(frozen=True, slots=True)
class SettingsFileError(ValueError):
    """The file cannot be imported; ``problems`` lists each, one line each (``field: message``)."""

    source: str
    problems: tuple[str, ...]

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        return f"{self.source}: {len(self.problems)} problems: " + "; ".join(self.problems)


def dump_settings(settings: ClinicSettings, *, exported_at: datetime, app_version: str) -> str:
    """The settings file's text (ends with a newline), ``exported_at`` as UTC."""
    payload = {
        "kapmonitor": FILE_KIND,
        "format": FILE_FORMAT,
        "exported_at": exported_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "app_version": app_version,
        "settings": settings.to_dict(),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests (a scalar is 0), stopping once past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _load_json(data: bytes, source: str) -> Any:
    if len(data) > MAX_FILE_BYTES:
        raise SettingsFileError(source, (f"is {len(data)} bytes; a settings file is at most {MAX_FILE_BYTES} "
                                         "bytes",))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsFileError(source, (f"is not UTF-8 text (byte {exc.start})",)) from None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsFileError(source, (f"is not valid JSON: line {exc.lineno} column {exc.colno}: "
                                         f"{exc.msg}",)) from None
    except RecursionError:
        raise SettingsFileError(source, (f"nests deeper than {_MAX_DEPTH} levels; it is not a settings "
                                         "file",)) from None
    if _depth(loaded, _MAX_DEPTH) > _MAX_DEPTH:
        raise SettingsFileError(source, (f"nests deeper than {_MAX_DEPTH} levels; it is not a settings "
                                         "file",))
    return loaded


def _envelope(loaded: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(loaded, dict) or loaded.get("kapmonitor") != FILE_KIND:
        raise SettingsFileError(source, ('is not a kapmonitor settings file (it needs "kapmonitor": '
                                         f'"{FILE_KIND}"; make one with \'kapmonitor settings export\')',))
    version = loaded.get("format")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SettingsFileError(source, (f"format: must be a whole number such as {FILE_FORMAT}, got "
                                         f"{version!r}",))
    if version > FILE_FORMAT:
        raise SettingsFileError(source, (f"format: {version} is newer than this kapmonitor reads "
                                         f"({FILE_FORMAT}); update kapmonitor",))
    unknown = sorted(set(loaded) - {"kapmonitor", "format", "exported_at", "app_version", "settings"})
    if unknown:
        raise SettingsFileError(source, (f"unknown member {unknown[0]!r} (known: kapmonitor, format, "
                                         "exported_at, app_version, settings)",))
    settings = loaded.get("settings")
    if not isinstance(settings, dict):
        raise SettingsFileError(source, (f"settings: must be an object, got {type(settings).__name__}",))
    return settings


def parse_settings_file(data: bytes, source: str) -> ClinicSettings:
    """The clinic settings in a settings file's bytes, checked field by field.

    Args:
        data: the file's content.
        source: how to name the file in messages (its path).

    Raises:
        SettingsFileError: not UTF-8 JSON, too large or too deep, not a kapmonitor settings file,
            a newer format, an unknown field, or invalid fields: one line per bad top-level field
            (the first problem inside it), in the dialog's words.
    """
    raw = dict(_envelope(_load_json(data, source), source))
    defaults = ClinicSettings.defaults().to_dict()
    problems: list[str] = []
    for key in sorted(set(raw) - set(defaults)):
        problems.append(f"settings.{key}: unknown field (known: {', '.join(defaults)})")
        del raw[key]
    # One parse per bad field at most: each failure names a field; its top-level field goes back to
    # its default and the rest is checked again, so every bad field is reported, not just the first.
    for _ in range(len(defaults) + 1):
        try:
            settings = ClinicSettings.from_dict(raw)
        except SettingsError as exc:
            problems.append(f"settings.{exc}")
            top = exc.field.split(".", 1)[0].split("[", 1)[0]
            if top not in raw or raw[top] == defaults.get(top):
                break  # a rule across fields that defaults cannot settle: reported once, as it is
            raw[top] = defaults[top]
            continue
        if problems:
            break
        return settings
    raise SettingsFileError(source, tuple(problems))
