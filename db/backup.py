"""Backing up a SQLite database and restoring one: ``kapmonitor backup`` and ``kapmonitor restore``.

A backup is made with SQLite's online backup API (:meth:`sqlite3.Connection.backup`), not a file
copy: it is consistent while kapmonitor records into the database (the database is in WAL mode, so
the backup reads a snapshot and the recorder keeps writing; anything the recorder journalled but had
not yet applied, at most about a second of readings, is in the next backup). The copy is written
under a temporary name beside the destination, checked (:func:`check_database`) and fsync'd, and only
then given its name, so a failed or interrupted backup never leaves a file that looks like a backup.

Restoring checks the file first and changes nothing unless every check passes: it is a SQLite file,
``PRAGMA integrity_check`` says ``ok``, it holds kapmonitor's tables, and its schema revision is one
this version knows (a newer one needs the newer kapmonitor). The database it replaces must not be
open in any other program (a running kapmonitor): switching it out of WAL mode needs sole access, and
that is the test. The replaced database is renamed, as it was, to
``<name>.before-restore-<UTC time>.db`` beside it; nothing is deleted.

PostgreSQL has its own tools for both (``pg_dump`` / ``pg_restore``, ``docs/install.md``); these
functions take SQLite files only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from db.migrate import alembic_config

__all__ = ["BACKUP_SUFFIX", "BackupError", "DatabaseCheck", "backup_database", "check_database",
           "restore_database", "stamped_name"]

BACKUP_SUFFIX = ".db"
_SQLITE_HEADER = b"SQLite format 3\x00"
_REQUIRED_TABLES = ("alembic_version", "sessions", "session_events", "readings", "observations",
                    "alarm_log", "settings")
"""Tables every kapmonitor database has had since its first schema revision."""
_PAGES_PER_STEP = 4096
"""Pages copied per backup step (16 MiB at 4 KiB pages); between steps the recorder may write."""
_STEP_PAUSE_S = 0.005


class BackupError(RuntimeError):
    """The backup or restore could not be done; the message says what was wrong and what to do.

    Nothing was changed: no destination file was made or replaced.
    """


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    """What :func:`check_database` found in a kapmonitor SQLite file.

    Attributes:
        path: the file checked.
        revision: its schema revision (Alembic).
        sessions, readings, observations, alarms: how many rows each table holds (observation
            revisions and alarm transitions count one each), for the person comparing two copies.
    """

    path: Path
    revision: str
    sessions: int
    readings: int
    observations: int
    alarms: int

    def counts(self) -> str:
        """``3 sessions, 46 099 readings, 12 observations, 4 alarm transitions``."""
        return (f"{self.sessions} sessions, {self.readings} readings, {self.observations} observation "
                f"revisions, {self.alarms} alarm transitions")


def stamped_name(stem: str, at: datetime) -> str:
    """``<stem>-20260301T091500Z.db``: a backup's file name with its UTC time (sorts by time)."""
    return f"{stem}-{at.strftime('%Y%m%dT%H%M%SZ')}{BACKUP_SUFFIX}"


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        yield conn
    finally:
        conn.close()


def check_database(path: Path) -> DatabaseCheck:
    """Check that ``path`` is an intact kapmonitor database this version can open; what it holds.

    Raises:
        BackupError: no such file, not a SQLite file, damaged (the first problem
            ``PRAGMA integrity_check`` reports), not a kapmonitor database (the tables it lacks),
            or a schema revision this version does not know.
    """
    try:
        with path.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except OSError as exc:
        raise BackupError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if header != _SQLITE_HEADER:
        raise BackupError(f"{path} is not a SQLite database (a kapmonitor backup is one)")
    try:
        with _read_only(path) as conn:
            problems = [line for row in conn.execute("PRAGMA integrity_check(3)")
                        for line in str(row[0]).splitlines() if line.strip()]
            if problems != ["ok"]:
                more = "; ..." if len(problems) > 3 else ""
                raise BackupError(f"{path} is damaged: SQLite's integrity check reports "
                                  f"{'; '.join(problems[:3])}{more}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in _REQUIRED_TABLES if t not in tables]
            if missing:
                raise BackupError(f"{path} is not a kapmonitor database (it has no {', '.join(missing)} "
                                  "table)")
            revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
            if len(revisions) != 1:
                raise BackupError(f"{path} has {len(revisions)} schema revisions recorded (a kapmonitor "
                                  "database has exactly one); it was altered outside kapmonitor")
            counts = [conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # fixed table names
                      for table in ("sessions", "readings", "observations", "alarm_log")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as a database: {exc}") from exc
    revision = str(revisions[0])
    if not _known_revision(revision):
        raise BackupError(f"{path} was written by a newer version of kapmonitor (schema {revision}); "
                          "restore it with that version or newer")
    return DatabaseCheck(path, revision, *(int(c) for c in counts))


def _known_revision(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder (Windows)
        _fsync(folder)


def _copy(source: Path, dest: Path, *, progress: Callable[[int, int], None] | None = None) -> None:
    """SQLite's online backup of ``source`` into the new file ``dest`` (journal mode DELETE, one file)."""
    with _read_only(source) as src:
        out = sqlite3.connect(dest)
        try:
            def step(status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            src.backup(out, pages=_PAGES_PER_STEP, progress=step, sleep=_STEP_PAUSE_S)
            out.execute("PRAGMA journal_mode = DELETE")  # a backup is one self-contained file
        finally:
            out.close()


def _failed(what: str, exc: sqlite3.Error | OSError) -> BackupError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return BackupError(f"{what}: {reason}")


@contextlib.contextmanager
def _checked_copy(source: Path, dest: Path, what: str,
                  progress: Callable[[int, int], None] | None = None) -> Iterator[tuple[Path, DatabaseCheck]]:
    """A checked, fsync'd backup copy of ``source`` under a partial name beside ``dest``, and what it holds.

    The block gives the copy its name (``os.replace``); afterwards the folder is fsync'd. The partial
    file never outlives the block, and SQLite and OS errors come out as :class:`BackupError` ``what``.
    """
    partial = _temporary_beside(dest)
    try:
        _copy(source, partial, progress=progress)
        checked = check_database(partial)
        _fsync(partial)
        yield partial, checked
        _fsync_dir(dest.parent)
    except (sqlite3.Error, OSError) as exc:
        raise _failed(what, exc) from exc
    finally:
        partial.unlink(missing_ok=True)


def _temporary_beside(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{os.getpid()}.partial")


def backup_database(source: Path, dest: Path, *,
                    progress: Callable[[int, int], None] | None = None) -> DatabaseCheck:
    """Back up the kapmonitor SQLite database ``source`` to the new file ``dest``; what the copy holds.

    Safe while kapmonitor records into ``source`` (see the module docstring). ``dest`` must not
    exist: a backup never overwrites a file. The copy is checked with :func:`check_database` before
    it gets its name.

    Args:
        progress: called with (pages copied, pages in all) after each step.

    Raises:
        BackupError: ``source`` is not an intact kapmonitor database, ``dest`` exists or its folder
            cannot be written (no space, no permission); no file named ``dest`` is left behind.
    """
    check_database(source)
    if dest.exists():
        raise BackupError(f"{dest} already exists; a backup never overwrites a file (choose another name)")
    folder = dest.parent
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder; create it first")
    with _checked_copy(source, dest, f"the backup to {dest} failed", progress) as (partial, checked):
        if dest.exists():
            raise BackupError(f"{dest} appeared while the backup was made; nothing was overwritten")
        os.replace(partial, dest)
    return replace(checked, path=dest)


def _claim_sole_access(target: Path) -> None:
    """Raise BackupError unless no other program has ``target`` open (see the module docstring).

    A file SQLite cannot read as a database at all (damaged, or not one) cannot be in use by
    kapmonitor; it is left to the caller, which keeps it aside unchanged.
    """
    try:
        conn = sqlite3.connect(target, timeout=0.5)
    except sqlite3.Error as exc:
        raise BackupError(f"{target} cannot be opened: {exc}") from exc
    try:
        mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    except sqlite3.OperationalError as exc:
        raise BackupError(f"{target} is in use by another program (a running kapmonitor?): close it, "
                          f"then restore ({exc})") from exc
    except sqlite3.DatabaseError:
        return
    finally:
        conn.close()
    if str(mode).lower() != "delete":
        raise BackupError(f"{target} is in use by another program (a running kapmonitor?): close it, then "
                          "restore")


def _database_files(path: Path) -> list[Path]:
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")]


def restore_database(backup: Path, target: Path, *, now: datetime) -> tuple[DatabaseCheck, Path | None]:
    """Replace the database ``target`` with the checked copy ``backup``.

    The replaced database is renamed, byte for byte as it was (with any ``-wal``/``-shm`` beside it),
    to ``<name>.before-restore-<UTC time>.db``, even when it is damaged: nothing is deleted.

    Returns:
        What the restored database holds, and where the replaced database was kept (None when
        ``target`` did not exist).

    Raises:
        BackupError: ``backup`` fails :func:`check_database`, ``target`` is in use or cannot be
            written, or ``backup`` is ``target`` itself; ``target`` is then unchanged.
    """
    checked = check_database(backup)
    if target.exists() and backup.resolve() == target.resolve():
        raise BackupError(f"{backup} is the database itself; restore from a backup copy")
    folder = target.parent
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder; create it first")
    kept: Path | None = None
    with _checked_copy(backup, target, f"restoring into {target} failed") as (partial, _):
        if target.exists():
            _claim_sole_access(target)
            kept = target.with_name(stamped_name(f"{target.stem}.before-restore", now))
            for old, new in zip(_database_files(target), _database_files(kept), strict=True):
                if old.exists():
                    os.replace(old, new)
        os.replace(partial, target)
    return replace(checked, path=target), kept
