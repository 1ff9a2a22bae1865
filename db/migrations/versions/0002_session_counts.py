"""Session counters: ``sessions.reading_count`` and ``sessions.last_reading_ms``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The session list used to count every session's readings with a ``COUNT(*) ...
GROUP BY`` over the whole readings table (~0.5 s for 200 four-hour sessions,
growing with every session recorded). The reading writer now keeps these two
columns up to date in the same transaction as each batch it inserts
(``db.writer``); this migration adds them and fills them in from the readings
already stored, with one portable ``UPDATE ... SET col = (SELECT ...)`` each
(no SQLite-only syntax). ``last_reading_ms`` is the latest ``readings.t_ms`` of
any stream (epoch milliseconds, UTC, as in ``readings``), NULL when the session
has no readings.

The backfill reads every reading once (seconds on a large database, once).
Downgrade drops the columns (in place; a batch-mode table copy on SQLite older than 3.35).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL = """
UPDATE sessions SET
    reading_count = (SELECT COUNT(*) FROM readings WHERE readings.session_id = sessions.id),
    last_reading_ms = (SELECT MAX(readings.t_ms) FROM readings WHERE readings.session_id = sessions.id)
"""


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("reading_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch.add_column(sa.Column("last_reading_ms", sa.BigInteger(), nullable=True))
    op.execute(sa.text(_BACKFILL))


def downgrade() -> None:
    # SQLite >= 3.35 drops a plain column in place. Batch mode's usual copy of the table would
    # have to DROP TABLE sessions, which foreign keys refuse once readings point at it (unless
    # the caller switched them off, as db.migrate does).
    dialect = op.get_bind().dialect
    version = getattr(dialect.dbapi, "sqlite_version_info", (0,))
    in_place = dialect.name != "sqlite" or tuple(version) >= (3, 35)
    with op.batch_alter_table("sessions", recreate="never" if in_place else "auto") as batch:
        batch.drop_column("last_reading_ms")
        batch.drop_column("reading_count")
