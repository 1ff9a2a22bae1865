"""Alembic, configured in code: the database is brought to the newest schema when opened.

The migration scripts ship inside the package (``db/migrations``); no
``alembic.ini`` is read. On SQLite, foreign keys are switched off while
migrating (batch mode copies tables, which would otherwise trip them) and
checked afterwards.

Any number of rooms may open the database at the same moment (the first
start of a release that migrates, a clinic switching on): the check of the
schema's revision and the upgrade run under a lock, so one process migrates
and the others find the schema at head when they get the lock. On PostgreSQL
the lock is a session advisory lock on :data:`MIGRATION_LOCK_KEY` (two
processes creating ``alembic_version`` at once otherwise collide with a
``UniqueViolation``, PITFALLS #13); on SQLite it is the database's own write
lock, taken with ``BEGIN IMMEDIATE`` (after ``PRAGMA foreign_keys = OFF``,
which SQLite ignores inside a transaction) and held until the upgrade commits.
Opening a database already at head takes no lock.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from db.errors import store_error
from kapmonitor.ports import StoreError

if TYPE_CHECKING:  # Alembic is imported only when a database is not at the packaged head (issue 16);
    # SQLAlchemy only when a database is opened, so the read-only SQLite reader can check the packaged
    # head (:func:`packaged_head`) without it
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection, Engine

__all__ = ["MIGRATIONS_DIR", "MIGRATION_LOCK_KEY", "alembic_config", "current_revision", "head_revision",
           "upgrade_to_head"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

MIGRATION_LOCK_KEY = 0x6B61_706D_6967_7231 & 0x7FFF_FFFF_FFFF_FFFF
"""The PostgreSQL advisory lock (a bigint) held while a kapmonitor migrates the database ("kapmigr1")."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic :class:`Config` for the packaged migrations, optionally bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_REVISION_LINE = re.compile(r'^(down_revision|revision)\b[^=]*=\s*(None|"([^"]*)")', re.M)


@functools.cache
def packaged_head() -> str:
    """The newest packaged schema revision, read from the migration files' ``revision`` and
    ``down_revision`` lines without importing Alembic (0.1 s of start-up); equal to
    :func:`head_revision` (``tests/test_16_imports.py`` checks it)."""
    parents: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = dict((m[1], m[3]) for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")))
        if found.get("revision"):
            parents[found["revision"]] = found.get("down_revision")
    heads = set(parents) - {p for p in parents.values() if p is not None}
    assert len(heads) == 1, f"the packaged migrations have {len(heads)} heads: {sorted(heads)}"
    return heads.pop()


def head_revision() -> str:
    """The newest schema revision this version of kapmonitor knows (Alembic's view)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migration chain is empty"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (None: not under Alembic yet, e.g. empty)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database to :func:`head_revision`.

    Raises:
        StoreError: the database has a schema newer than this app knows, is
            locked, damaged or not writable.
    """
    if _at_packaged_head(engine):
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from db.engine import describe_location

    where = describe_location(engine.url)
    script = ScriptDirectory.from_config(alembic_config())
    try:
        with engine.connect() as conn:
            if _at_head(conn, script, where):
                return
            conn.rollback()
            sqlite = engine.dialect.name == "sqlite"
            postgresql = engine.dialect.name == "postgresql"
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits up to the busy timeout for another migrator
            elif postgresql:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
                conn.commit()  # the lock is the connection's, not the transaction's
            try:
                if _at_head(conn, script, where):  # another room migrated while this one waited
                    conn.rollback()
                    return
                current = MigrationContext.configure(conn).get_current_revision()
                log.info("migrating database %s from %s to %s", where, current, script.get_current_head())
                command.upgrade(alembic_config(conn), "head")
                conn.commit()
                if sqlite:
                    problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if problems:
                        raise StoreError(
                            f"The database {where} has rows that point at missing rows after migration "
                            f"({len(problems)} found); restore it from a backup."
                        )
            finally:
                if conn.in_transaction():
                    conn.rollback()
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                elif postgresql:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
                    conn.commit()
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise store_error(exc, where) from exc


def _at_packaged_head(engine: Engine) -> bool:
    """True when the database's one recorded revision is the packaged head: nothing to migrate, and
    Alembic need not be imported. Anything else (no table yet, a locked or unreachable database,
    another revision) is left to the full check, which says what is wrong."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    except SQLAlchemyError:
        return False
    return len(rows) == 1 and rows[0][0] == packaged_head()


def _foreign_tables(conn: Connection) -> list[str]:
    """Tables in the database that are not kapmonitor's (another program's file or schema)."""
    from sqlalchemy import inspect

    from db.models import Base

    ours = set(Base.metadata.tables) | {"alembic_version"}
    return sorted(t for t in inspect(conn).get_table_names() if t not in ours)


def _foreign_error(where: str, foreign: list[str]) -> StoreError:
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    return StoreError(
        f"The database {where} holds another program's tables ({shown}) and no kapmonitor records; "
        "kapmonitor keeps its records in a database of its own and has not changed this one. Give "
        "--db a new file name (or an empty database).")


def refuse_foreign_sqlite(path: Path, where: str) -> None:
    """StoreError when the SQLite file ``path`` holds another program's tables and not kapmonitor's.

    Read through a read-only connection before kapmonitor's engine touches the file, so that not
    even the switch to WAL mode (a change to the file's header) happens to another program's file.
    A file SQLite cannot read now (damaged, or locked by another program) is left to the engine,
    which reports it in those words after its own busy timeout.
    """
    import sqlite3

    from db.models import Base

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0)
        try:
            names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        finally:
            conn.close()
    except sqlite3.Error:
        return
    if "alembic_version" in names:
        return
    ours = set(Base.metadata.tables)
    foreign = sorted(n for n in names if n not in ours and not n.startswith("sqlite_"))
    if foreign:
        raise _foreign_error(where, foreign)


def _at_head(conn: Connection, script: ScriptDirectory, where: str) -> bool:
    """True when the schema is at head.

    Raises:
        StoreError: the schema is newer than this app knows, its revision table was altered (more
            than one row), or a database without kapmonitor's schema holds another program's tables
            (kapmonitor never adds its tables beside them).
    """
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn)
    heads = context.get_current_heads()
    if len(heads) > 1:
        raise StoreError(
            f"The database {where} records {len(heads)} schema revisions ({', '.join(heads)}); a kapmonitor "
            "database records one. It was altered outside kapmonitor: restore it from a backup "
            "('kapmonitor restore')."
        )
    current = heads[0] if heads else None
    if current is None:
        foreign = _foreign_tables(conn)
        if foreign:
            raise _foreign_error(where, foreign)
    if current is not None and not _known(script, current):
        raise StoreError(
            f"The database {where} was written by a newer version of kapmonitor "
            f"(schema {current}); install that version or newer to open it."
        )
    return current == script.get_current_head()


def _known(script: ScriptDirectory, revision: str) -> bool:
    from alembic.util.exc import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False
