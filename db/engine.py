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
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import URL, Engine, create_engine, event, make_url

from db.errors import store_error
from db.paths import is_url

__all__ = ["DEFAULT_BUSY_TIMEOUT_S", "create_engine_for", "describe_location", "sqlite_file_of"]

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_S = 5.0
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
    """The location as a user should see it: the file path, or the URL without password."""
    path = sqlite_file_of(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def _to_url(url_or_path: str | Path) -> URL:
    if isinstance(url_or_path, str) and is_url(url_or_path):
        return make_url(url_or_path)
    path = Path(url_or_path).expanduser().resolve()
    return URL.create("sqlite+pysqlite", database=str(path))


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
    timeout. Other databases get the URL as is.

    Raises:
        StoreError: the folder or file cannot be created.
        ValueError: ``busy_timeout_s`` is negative or ``synchronous`` unknown.
    """
    if not busy_timeout_s >= 0:
        raise ValueError(f"busy_timeout_s must be >= 0 seconds, got {busy_timeout_s!r}")
    if synchronous not in ("FULL", "NORMAL", "EXTRA", "OFF"):
        raise ValueError(f"synchronous must be FULL, NORMAL, EXTRA or OFF, got {synchronous!r}")
    url = _to_url(url_or_path)
    path = sqlite_file_of(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)  # no row values in errors/logs
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
