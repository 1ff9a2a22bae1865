"""Opening the database for a command, and naming a session on the command line.

A command that only reads (``sessions``, ``export``) opens it with :func:`open_reader`: a SQLite file
at the current schema is read through the standard library (:class:`db.sqlite_read.SqliteReader`),
without importing SQLAlchemy, which cost those commands most of their start-up (issue 16); any other
database goes through :class:`db.store.SqlStore` as before.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from db.paths import DB_ENV_VAR, is_url, resolve_db_location, workstation_file
from kapmonitor.cli import UsageError
from kapmonitor.clock import Clock
from kapmonitor.ports import SessionRecord, SessionSummary, StoreError
from kapmonitor.workstation import resolve_room

if TYPE_CHECKING:  # SQLAlchemy and the journal are imported only by the commands that need them (issue 16)
    from db.export.source import SessionSource
    from db.journaled_store import JournaledStore
    from db.store import SqlStore

_Opened = TypeVar("_Opened", "SqlStore", "JournaledStore")


def workstation_room(args: argparse.Namespace) -> str:
    """This workstation's room: ``--room``, ``KAPMONITOR_ROOM``, the workstation file, the host name."""
    try:
        return resolve_room(getattr(args, "room", None), workstation_file())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def check_location(args: argparse.Namespace, location: str, *, creates: bool) -> None:
    """UsageError for a database file that a mistyped ``--db`` / ``KAPMONITOR_DB`` would conjure up.

    kapmonitor creates its default database (and the folders of the user data directory) on
    first use, but a file named on the command line or in ``KAPMONITOR_DB`` must be in a folder that
    exists, and a command that only reads (``sessions``, ``export``, ...) needs the file itself:
    an empty database made from a typo would only show "no sessions". Server URLs are not checked.
    """
    if is_url(location):
        return
    given = (args.db is not None and args.db.strip()) or os.environ.get(DB_ENV_VAR, "").strip()
    path = Path(location)
    if not given or path.exists():
        return
    source = "--db" if args.db is not None and args.db.strip() else DB_ENV_VAR
    if not path.parent.is_dir():
        raise UsageError(f"the folder {path.parent} of the database {source} names does not exist (a typo?); "
                         "kapmonitor creates a database file but not its folder")
    if not creates:
        raise UsageError(f"there is no database at {path} ({source}); check the name, or record a session "
                         "into it first")


@contextmanager
def _opened(kind: type[_Opened], args: argparse.Namespace, clock: Clock | None, *,
            creates: bool) -> Iterator[_Opened]:
    location = resolve_db_location(args.db)
    check_location(args, location, creates=creates)
    room = workstation_room(args)
    try:
        store = kind.open(location, clock=clock, room=room)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    try:
        yield store
    finally:
        store.close()


def open_store(args: argparse.Namespace, clock: Clock | None = None, *,
               creates: bool = False) -> contextlib.AbstractContextManager[SqlStore]:
    """Open the database named by ``--db`` / ``KAPMONITOR_DB`` / the default; UsageError on failure.

    ``creates``: a named database file that does not exist yet may be created (its folder must
    exist; :func:`check_location`); by default the file must exist.
    """
    from db.store import SqlStore

    return _opened(SqlStore, args, clock, creates=creates)


@contextmanager
def open_reader(args: argparse.Namespace) -> Iterator[SessionSource]:
    """The database of :func:`open_store`, for a command that only reads it.

    A SQLite file at the packaged schema: the read-only :class:`db.sqlite_read.SqliteReader`. Anything
    else (a server, a file to create, migrate or refuse): the store, with its checks and words.
    """
    from db.sqlite_read import SqliteReader

    location = resolve_db_location(args.db)
    check_location(args, location, creates=False)
    workstation_room(args)  # a bad --room or KAPMONITOR_ROOM is refused as when the store opens
    reader = None if is_url(location) else SqliteReader.open_at_head(location)
    if reader is None:
        with open_store(args) as store:
            yield store
        return
    with reader:
        yield reader


def open_journaled_store(args: argparse.Namespace,
                         clock: Clock | None = None) -> contextlib.AbstractContextManager[JournaledStore]:
    """The database behind this workstation's recording journal; UsageError when it cannot be opened."""
    from db.journaled_store import JournaledStore

    return _opened(JournaledStore, args, clock, creates=True)


class _SessionLookup(Protocol):
    def sessions(self) -> list[SessionSummary]: ...
    def session(self, session_id: int) -> SessionRecord: ...


def resolve_session(store: _SessionLookup, ref: str) -> int:
    """The session id ``ref`` names (``latest`` or a number); UsageError when there is none."""
    if ref == "latest":
        sessions = store.sessions()
        if not sessions:
            raise UsageError("the database has no sessions yet")
        return sessions[0].session_id
    session_id = int(ref)
    try:
        store.session(session_id)
    except KeyError:
        raise UsageError(f"no session {session_id} in the database (see 'kapmonitor sessions')") from None
    return session_id


