"""Opening the database for a command, and naming a session on the command line."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from db.journaled_store import JournaledStore
from db.paths import resolve_db_location, workstation_file
from db.store import SqlStore
from kapmonitor.cli import UsageError
from kapmonitor.clock import Clock
from kapmonitor.ports import SessionArchive, StoreError
from kapmonitor.workstation import resolve_room

_Opened = TypeVar("_Opened", SqlStore, JournaledStore)


def workstation_room(args: argparse.Namespace) -> str:
    """This workstation's room: ``--room``, ``KAPMONITOR_ROOM``, the workstation file, the host name."""
    try:
        return resolve_room(getattr(args, "room", None), workstation_file())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


@contextmanager
def _opened(kind: type[_Opened], args: argparse.Namespace, clock: Clock | None) -> Iterator[_Opened]:
    location = resolve_db_location(args.db)
    room = workstation_room(args)
    try:
        store = kind.open(location, clock=clock, room=room)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    try:
        yield store
    finally:
        store.close()


def open_store(args: argparse.Namespace,
               clock: Clock | None = None) -> contextlib.AbstractContextManager[SqlStore]:
    """Open the database named by ``--db`` / ``KAPMONITOR_DB`` / the default; UsageError on failure."""
    return _opened(SqlStore, args, clock)


def open_journaled_store(args: argparse.Namespace,
                         clock: Clock | None = None) -> contextlib.AbstractContextManager[JournaledStore]:
    """The database behind this workstation's recording journal; UsageError when it cannot be opened."""
    return _opened(JournaledStore, args, clock)


def resolve_session(store: SessionArchive, ref: str) -> int:
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


