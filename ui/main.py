"""Process entry point: ``kapmonitor`` and ``python -m kapmonitor``.

The core parses arguments (:mod:`kapmonitor.cli`); this composition root maps
each command to the code that assembles the layers it needs. Modules are
imported only when their command runs, so ``kapmonitor protocols`` or
``kapmonitor export`` never load Qt.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from kapmonitor import cli

APP_NAME = "kapmonitor"


def _need_display(what: str) -> None:
    """One line instead of Qt's abort when a window is asked for where there is no display.

    On Linux, Qt's default platform (xcb or wayland) aborts the process with SIGABRT when neither
    ``DISPLAY`` nor ``WAYLAND_DISPLAY`` is set. ``QT_QPA_PLATFORM`` set to anything (``offscreen``
    for tests, ``vnc``) is the user's own choice and is left to Qt.
    """
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    raise cli.UsageError(
        f"no display: {what} needs an X11 or Wayland desktop, and DISPLAY and WAYLAND_DISPLAY are unset. "
        "Without one, 'kapmonitor record' records a session in the terminal and "
        "'kapmonitor station --json' follows the rooms")


def _gui(args: argparse.Namespace) -> int:
    _need_display("the bedside window")
    from db.paths import resolve_db_location
    from ui.cli.stores import check_location

    check_location(args, resolve_db_location(args.db, demo=args.demo), creates=True)  # a typo'd --db folder
    from ui.source_cache import forget_imported_sources

    forget_imported_sources()  # before the window's imports: 32 MiB of their source otherwise stays
    # Imports make almost no cyclic garbage, yet the collector went through everything imported
    # so far two or three times during them (a full collection took 16-28 ms before the first
    # paint). So it is off for the window's imports, and what they made (modules, classes,
    # functions: kept for the life of the process) is frozen out of its reach (gc.freeze).
    enabled = gc.isenabled()
    gc.disable()
    try:
        from ui.launch import run_gui
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return run_gui(args)


def _self_test(args: argparse.Namespace) -> int:
    from ui.source_cache import forget_imported_sources

    forget_imported_sources()  # the window it drives is the bedside's, imported the same way
    from ui.selftest import run_self_test

    return run_self_test(args)


def _record(args: argparse.Namespace) -> int:
    from ui.cli.record import cmd_record

    return cmd_record(args)


def _sessions(args: argparse.Namespace) -> int:
    from ui.cli.sessions import cmd_sessions

    return cmd_sessions(args)


def _export(args: argparse.Namespace) -> int:
    from ui.cli.export import cmd_export

    return cmd_export(args)


def _report(args: argparse.Namespace) -> int:
    from ui.cli.report import cmd_report

    return cmd_report(args)


def _station(args: argparse.Namespace) -> int:
    if not args.json:
        _need_display("the station window")
        from ui.source_cache import forget_imported_sources

        forget_imported_sources()
    from ui.cli.station import cmd_station

    return cmd_station(args)


def _settings(args: argparse.Namespace) -> int:
    from ui.cli.settings import cmd_settings

    return cmd_settings(args)


def _backup(args: argparse.Namespace) -> int:
    from ui.cli.backup import cmd_backup

    return cmd_backup(args)


def _restore(args: argparse.Namespace) -> int:
    from ui.cli.backup import cmd_restore

    return cmd_restore(args)


def _scan(args: argparse.Namespace) -> int:
    from devices.scan_cli import run_scan

    return run_scan(args.seconds, args.json, sys.stdout)


HANDLERS: dict[str, cli.CommandHandler] = {
    "gui": _gui,
    "self-test": _self_test,
    "record": _record,
    "sessions": _sessions,
    "export": _export,
    "report": _report,
    "station": _station,
    "scan": _scan,
    "settings": _settings,
    "backup": _backup,
    "restore": _restore,
}


OWN_ENVIRONMENT = ("kapmonitor must be installed in an environment of its own: pipx install kapmonitor, "
                   "the .venv that ./run.sh makes, or the packaged app (README, 'Installing')")


def foreign_package() -> str | None:
    """Why kapmonitor cannot run here, when ``db``, ``devices`` or ``ui`` is another distribution's.

    Those package names are generic (the design card fixes them), so another distribution may
    provide a package of the same name: found first on ``sys.path``, or its files written over
    kapmonitor's in one site-packages folder. Each of kapmonitor's packages says whose it is
    (``DISTRIBUTION``) and lies beside ``kapmonitor``; anything else is refused with one line
    rather than failing later in a confusing way. Costs the three package imports only.
    """
    import importlib

    import kapmonitor

    home = Path(kapmonitor.__file__).resolve().parent.parent
    for name in ("db", "devices", "ui"):
        package = importlib.import_module(name)
        where = getattr(package, "__file__", None)
        if (getattr(package, "DISTRIBUTION", None) != APP_NAME or where is None
                or Path(where).resolve().parent.parent != home):
            found = where if where is not None else "a namespace package"
            return (f"the package '{name}' in this Python environment is not kapmonitor's ({found}): "
                    f"another distribution provides a package of that name. {OWN_ENVIRONMENT}")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run kapmonitor with ``argv`` (default: the process arguments); returns the exit status."""
    problem = foreign_package()
    if problem is not None:
        print(f"kapmonitor: error: {problem}", file=sys.stderr)
        return cli.EXIT_USAGE
    log_dir = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    return cli.run(list(sys.argv[1:] if argv is None else argv), HANDLERS, log_dir=log_dir)


if __name__ == "__main__":
    sys.exit(main())
