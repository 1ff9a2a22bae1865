"""``kapmonitor backup [-o FILE]`` and ``kapmonitor restore FILE``: the SQLite database, safely.

The work is :mod:`db.backup`; this module finds the database (``--db`` / ``KAPMONITOR_DB`` /
the default), picks the backup's name, and sets the workstation's recording journal for the
replaced database aside after a restore (its entries belong to the database that was replaced,
whose session numbers the restored one may give to other sessions).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from db.backup import BackupError, DatabaseCheck, backup_database, restore_database, stamped_name
from db.engine import sqlite_file_of
from db.paths import is_url, journal_folder, resolve_db_location
from kapmonitor.cli import EXIT_OK, UsageError
from kapmonitor.clock import SystemClock
from ui.cli.stores import workstation_room

_PG_TOOLS = ("a PostgreSQL server is backed up and restored with its own tools, which are safe while "
             "kapmonitor runs: pg_dump -Fc and pg_restore (docs/install.md, 'Backups')")


def _sqlite_file(args: argparse.Namespace) -> tuple[str, Path]:
    """The location as resolved and the SQLite file it names; UsageError for a server."""
    location = resolve_db_location(args.db)
    if not is_url(location):
        return location, Path(location)
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(location)
    except ArgumentError:
        raise UsageError(f"the database URL {location!r} is not a valid SQLAlchemy URL") from None
    path = sqlite_file_of(url)
    if path is None:
        if url.get_backend_name() == "postgresql":
            raise UsageError(f"the database is on a server: {_PG_TOOLS}")
        raise UsageError("backup and restore take a SQLite database file; the database given is "
                         f"{url.get_backend_name()}")
    return location, path


def _held(check: DatabaseCheck) -> str:
    return f"{check.counts()} (schema {check.revision})"


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the database to ``-o FILE`` or to ``backups/<name>-<UTC time>.db`` beside it."""
    _, source = _sqlite_file(args)
    if not source.exists():
        raise UsageError(f"there is no database at {source} to back up")
    if args.output is not None:
        dest = Path(args.output).expanduser()
    else:
        folder = source.parent / "backups"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the backup folder {folder}: {exc.strerror or exc}") from exc
        dest = folder / stamped_name(source.stem, SystemClock().now())
    try:
        checked = backup_database(source, dest.absolute())
    except BackupError as exc:
        raise UsageError(str(exc)) from exc
    print(f"kapmonitor: backed up {source} to {checked.path}: {_held(checked)}", file=sys.stderr)
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the database with the checked backup ``args.file``; the old one is kept beside it."""
    location, target = _sqlite_file(args)
    now = SystemClock().now()
    backup = Path(args.file).expanduser()
    room = workstation_room(args)
    try:
        restored, kept = restore_database(backup, target, now=now)
    except BackupError as exc:
        raise UsageError(f"nothing was restored: {exc}") from exc
    print(f"kapmonitor: restored {target} from {backup}: {_held(restored)}", file=sys.stderr)
    if kept is not None:
        print(f"kapmonitor: the database it replaced is kept as {kept}", file=sys.stderr)
    for journal in {journal_folder(location, room), journal_folder(location)}:
        if journal.exists():
            aside = journal.with_name(f"{journal.name}.before-restore-{now.strftime('%Y%m%dT%H%M%SZ')}")
            try:
                os.replace(journal, aside)
            except OSError as exc:
                print(f"kapmonitor: warning: could not set the replaced database's recording journal "
                      f"{journal} aside ({exc.strerror or exc}); move it away before recording",
                      file=sys.stderr)
                continue
            print(f"kapmonitor: the replaced database's recording journal is kept as {aside}",
                  file=sys.stderr)
    return EXIT_OK
