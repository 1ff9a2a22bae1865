"""``kapmonitor settings export FILE`` and ``kapmonitor settings import FILE``: clinic settings as a file.

The file's layout and its checks are :mod:`kapmonitor.settings_file`. Export writes the database's
clinic settings (the ones the settings dialog edits) atomically; import checks the whole file
first and stores nothing unless every field is valid. Every room using the database starts its
next session with the imported settings (a window already open keeps its own until restarted).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kapmonitor import __version__
from kapmonitor.cli import EXIT_OK, UsageError
from kapmonitor.clock import SystemClock
from kapmonitor.ports import StoreError
from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
from kapmonitor.settings_file import SettingsFileError, dump_settings, parse_settings_file
from kapmonitor.settings_items import SettingsError
from ui.cli.stores import open_store


def _stored(raw: object) -> ClinicSettings:
    if raw is None:
        return ClinicSettings.defaults()
    try:
        return ClinicSettings.from_dict(raw)  # type: ignore[arg-type]  # checked by from_dict
    except (SettingsError, TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"the clinic settings stored in the database are invalid ({exc}); import a "
                         "settings file to replace them") from None


def _summary(settings: ClinicSettings) -> str:
    name = f"'{settings.setting_name}', " if settings.setting_name else ""
    return (f"{name}{len(settings.protocols)} protocols (default {settings.default_protocol}), "
            f"{len(settings.alarms.rules)} alarm rules, {len(settings.quick_tags)} quick tags")


def cmd_settings(args: argparse.Namespace) -> int:
    """``settings export`` or ``settings import`` (see the module docstring)."""
    from db.export.atomic import write_atomically
    from kapmonitor.exporters import ExportError

    path = Path(args.file).expanduser()
    if args.action == "export":
        with open_store(args) as store:
            try:
                raw = store.get_setting(SETTINGS_KEY)
            except StoreError as exc:
                raise UsageError(str(exc)) from exc
            settings = _stored(raw)
            where = store.location
        text = dump_settings(settings, exported_at=SystemClock().now(), app_version=__version__).encode()
        if args.file == "-":
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
            return EXIT_OK
        try:
            write_atomically(path, lambda out: out.write(text))
        except ExportError as exc:
            raise UsageError(str(exc)) from exc
        print(f"kapmonitor: wrote the clinic settings of {where} to {path}: {_summary(settings)}",
              file=sys.stderr)
        return EXIT_OK
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    try:
        settings = parse_settings_file(data, "standard input" if args.file == "-" else str(path))
    except SettingsFileError as exc:
        if len(exc.problems) == 1:
            raise UsageError(f"nothing was imported: {exc}") from exc
        for problem in exc.problems:  # one line each
            print(f"kapmonitor: error: {exc.source}: {problem}", file=sys.stderr)
        raise UsageError(f"nothing was imported ({len(exc.problems)} problems above)") from exc
    with open_store(args, creates=True) as store:  # a new room's database may be set up first
        store.put_setting(SETTINGS_KEY, settings.to_dict())
        where = store.location
    print(f"kapmonitor: imported the clinic settings from {path} into {where}: {_summary(settings)}",
          file=sys.stderr)
    return EXIT_OK
