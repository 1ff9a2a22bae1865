"""The engine factory: the one place that decides how kapmonitor talks to its database.

SQLite settings and why (measured in ``benchmarks/bench_sync.py``):

* ``journal_mode=WAL``: readers (the review window) never block the writer
  thread, and a commit appends to one file.
* ``synchronous=FULL``: in WAL mode ``NORMAL`` skips the fsync at commit, so the
  last transactions may vanish on a power cut even though ``commit()``
  returned. The store promises that an observation is on disk when
  ``save_observation`` returns, so ``FULL`` is required. Its cost is one fsync
  per commit; measured on the development VM: ``save_observation`` median
  0.49 ms with NORMAL vs 0.87 ms with FULL, a readings batch 0.08 vs 0.39 ms.
  Readings share one commit per batch (every 0.25 s), so it is negligible.
* ``foreign_keys=ON``: SQLite leaves foreign keys off unless asked.
* ``busy_timeout``: a writer waits this long for another writer (the other
  thread, another room's process) before reporting the database locked.

File permissions: a new database file is created with ``os.open(..., 0o600)``
before SQLAlchemy touches it, in a folder created ``0o700``. SQLite's Unix VFS
creates the ``-wal`` and ``-shm`` files with the same permission bits as the
database file itself, so they are owner-only too and no umask trick is needed
(``tests/test_db_errors.py`` checks the ``-wal`` file). An existing file's
permissions are left alone; a warning is logged if others can read it.

PostgreSQL: ``postgresql://`` (or ``postgres://``) without a driver means psycopg 3
(``postgresql+psycopg``), the driver the ``postgres`` extra installs; SQLAlchemy would otherwise pick
psycopg2. A connection attempt gives up after :data:`PG_CONNECT_TIMEOUT_S` unless the URL says
otherwise (``?connect_timeout=N``): an unreachable server must fail promptly with its reason, not
hang the start of a session. Connections name themselves ``kapmonitor`` (``application_name``) so
the server's administrator can tell them apart in ``pg_stat_activity``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from db.errors import malformed_url_error, missing_driver_error, store_error, unknown_database_error
from db.paths import is_url

__all__ = ["DEFAULT_BUSY_TIMEOUT_S", "PG_CONNECT_TIMEOUT_S", "create_engine_for", "database_url",
           "describe_location", "sqlite_file_of"]

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_S = 5.0
PG_CONNECT_TIMEOUT_S = 5
_PG_DRIVER = "postgresql+psycopg"
Synchronous = Literal["FULL", "NORMAL", "EXTRA", "OFF"]


def sqlite_file_of(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None (not SQLite, or in memory)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def describe_location(url: URL) -> str:
    """The location as a user should see it, never with a password.

    A SQLite file: its path. A database server: ``role@host:port/database`` (the role is left out
    when the URL names none). Anything else: the URL with its password masked.
    """
    path = sqlite_file_of(url)
    if path is not None:
        return str(path)
    if url.get_backend_name() != "sqlite" and url.host:
        server = f"{url.host}:{url.port}" if url.port else url.host
        role = f"{url.username}@" if url.username else ""
        return f"{role}{server}/{url.database or ''}"
    return url.render_as_string(hide_password=True)


def database_url(url_or_path: str | Path) -> URL:
    """The SQLAlchemy URL kapmonitor uses for a file path or URL (``postgresql://`` -> psycopg 3).

    Raises:
        StoreError: the URL is malformed.
    """
    if isinstance(url_or_path, str) and is_url(url_or_path):
        scheme = url_or_path.partition("://")[0]
        try:
            url = make_url(url_or_path)
        except (ArgumentError, ValueError):
            raise malformed_url_error(scheme) from None  # the parser's message may echo a password
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername=_PG_DRIVER)
        elif url.drivername.startswith("postgres+"):
            url = url.set(drivername="postgresql+" + url.drivername.partition("+")[2])
        return url
    path = Path(url_or_path).expanduser().resolve()
    return URL.create("sqlite+pysqlite", database=str(path))


def _create_server_engine(url: URL) -> Engine:
    """The engine for a database server; StoreError when this kapmonitor cannot talk to that kind."""
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2"):
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        if "application_name" not in url.query:
            connect_args["application_name"] = "kapmonitor"
    try:
        # hide_parameters: a driver error names the statement, never the row values (a note, a reason).
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args)
    except NoSuchModuleError:
        raise unknown_database_error(url.drivername) from None
    except ImportError as exc:
        raise missing_driver_error(url.drivername, exc) from exc


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder (0700) and an empty owner-only (0600) database file if missing."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("database %s is readable by other users (mode %o); 0600 is recommended", path, mode)
        return
    except OSError as exc:
        raise store_error(exc, str(path)) from exc
    os.close(fd)


def create_engine_for(
    url_or_path: str | Path,
    *,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    synchronous: Synchronous = "FULL",
) -> Engine:
    """Make the engine for a database file path or SQLAlchemy URL.

    For SQLite: the file and its folder are created if missing (owner-only),
    and every connection gets WAL, ``synchronous``, foreign keys and the busy
    timeout. A database server (PostgreSQL) gets a connect timeout and its driver checked.

    Raises:
        StoreError: the folder or file cannot be created; the URL is malformed, names a kind of
            database SQLAlchemy does not know, or a driver that is not installed.
        ValueError: ``busy_timeout_s`` is negative or ``synchronous`` unknown.
    """
    if not busy_timeout_s >= 0:
        raise ValueError(f"busy_timeout_s must be >= 0 seconds, got {busy_timeout_s!r}")
    if synchronous not in ("FULL", "NORMAL", "EXTRA", "OFF"):
        raise ValueError(f"synchronous must be FULL, NORMAL, EXTRA or OFF, got {synchronous!r}")
    url = database_url(url_or_path)
    path = sqlite_file_of(url)
    if url.get_backend_name() != "sqlite":
        return _create_server_engine(url)
    if path is not None:
        _prepare_sqlite_file(path)
    # hide_parameters: a driver error names the statement, never the row (a note, a reason).
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s}, hide_parameters=True)
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if path is not None:
                mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
                if mode is not None and str(mode[0]).lower() != "wal":
                    log.warning("database %s cannot use WAL (journal mode %s): readers will block "
                                "writers; is it on a network drive?", path, mode[0])
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
        finally:
            cursor.close()

    return engine
