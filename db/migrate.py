"""Alembic, configured in code: the database is brought to the newest schema when opened.

The migration scripts ship inside the package (``db/migrations``); no
``alembic.ini`` is read. On SQLite, foreign keys are switched off while
migrating (batch mode copies tables, which would otherwise trip them) and
checked afterwards.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from db.engine import describe_location
from db.errors import store_error
from kapmonitor.ports import StoreError

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade_to_head"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic :class:`Config` for the packaged migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of kapmonitor knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migration chain is empty"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (None: not under Alembic yet, e.g. empty)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database to :func:`head_revision`.

    Raises:
        StoreError: the database has a schema newer than this app knows, is
            locked, damaged or not writable.
    """
    where = describe_location(engine.url)
    script = ScriptDirectory.from_config(alembic_config())
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None and not _known(script, current):
                raise StoreError(
                    f"The database {where} was written by a newer version of kapmonitor "
                    f"(schema {current}); install that version or newer to open it."
                )
            if current == script.get_current_head():
                return
            log.info("migrating database %s from %s to %s", where, current, script.get_current_head())
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            try:
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
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys = ON")
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise store_error(exc, where) from exc


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False
