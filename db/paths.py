"""Where the database lives.

Resolution order (:func:`resolve_db_location`): the command-line value, then the
``KAPMONITOR_DB`` environment variable, then :func:`default_db_path` in the
user's data directory. Each may be a plain file path or any SQLAlchemy URL
(``sqlite:///...``, ``postgresql+psycopg://user@host/db``).

The demo (``kapmonitor --demo``, ``./run.sh``) records simulated sessions; they never belong in a
clinic's records. With ``demo=True`` the order is the command-line value, then
:func:`demo_db_path` (``KAPMONITOR_DB`` names the clinic's database and is not used).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from platformdirs import user_config_dir, user_data_dir

__all__ = ["DB_ENV_VAR", "default_db_path", "demo_db_path", "is_url", "journal_folder", "resolve_db_location",
           "workstation_file"]

DB_ENV_VAR = "KAPMONITOR_DB"


def default_db_path() -> Path:
    """``<user data dir>/kapmonitor.db`` (e.g. ``~/.local/share/kapmonitor/kapmonitor.db`` on Linux)."""
    return Path(user_data_dir("kapmonitor", appauthor=False)) / "kapmonitor.db"


def demo_db_path() -> Path:
    """``<user data dir>/demo.db``: where demo sessions go unless ``--db`` names another database."""
    return Path(user_data_dir("kapmonitor", appauthor=False)) / "demo.db"


def is_url(location: str) -> bool:
    """True for a SQLAlchemy URL (``dialect[+driver]://...``), False for a file path.

    A Windows path such as ``C:\\data\\k.db`` is a path: URLs need ``://``.
    """
    scheme, sep, _ = location.partition("://")
    return bool(sep) and bool(scheme) and all(c.isalnum() or c in "+-." for c in scheme)


def resolve_db_location(cli_value: str | None, *, demo: bool = False) -> str:
    """The database location to use: a SQLAlchemy URL or an absolute file path.

    Args:
        cli_value: the ``--db`` command-line value, if the user gave one.
        demo: a demo with simulated data: without ``cli_value`` it goes to :func:`demo_db_path`,
            never to the default or ``KAPMONITOR_DB`` database.
    """
    if demo and not (cli_value and cli_value.strip()):
        return str(demo_db_path())
    for candidate in (cli_value, os.environ.get(DB_ENV_VAR)):
        if candidate is not None and candidate.strip():
            value = candidate.strip()
            if is_url(value):
                return value
            return str(Path(value).expanduser().resolve())
    return str(default_db_path())


def journal_folder(location: str, room: str = "") -> Path:
    """The recording journal's folder for the database at ``location`` and ``room`` on this workstation.

    ``<user data dir>/journal/<16 hex digits of a SHA-256>`` of the location and the room: one
    journal per database and room (a room recording into the clinic's server and a training file
    keep separate journals, and so do two rooms run on one computer against one server), always on
    this computer's own disk whatever the database is. With no room (``''``) the digest is the
    location's alone, as before rooms existed, so an older journal is still found.
    """
    key = location if not room else f"{location}\x00room={room}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return Path(user_data_dir("kapmonitor", appauthor=False)) / "journal" / digest


def workstation_file() -> Path:
    """``<user config dir>/workstation.json``: this computer's own settings (its room name,
    :mod:`kapmonitor.workstation`), kept off the shared database."""
    return Path(user_config_dir("kapmonitor", appauthor=False)) / "workstation.json"
