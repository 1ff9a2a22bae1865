"""Alembic environment for kapmonitor (configured programmatically by ``db.migrate``).

No ``alembic.ini`` is needed: ``db.migrate.alembic_config`` sets the script
location and passes an open connection in ``config.attributes["connection"]``.
Batch mode (``render_as_batch=True``) lets SQLite alter tables by copying them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from db.engine import create_engine_for

        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("set config.attributes['connection'] or sqlalchemy.url to migrate")
        engine = create_engine_for(url)
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
