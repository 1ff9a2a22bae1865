"""Rooms and leases: ``sessions.room`` and the ``session_leases`` table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

Several rooms of a clinic record into one database. Each session now carries
the room (workstation) that created it (``''`` for sessions recorded before
rooms existed), and a room recording a session holds a lease on it: one row
per session in ``session_leases``, renewed by the recorder every few seconds
with the database server's time and expired after ``db.leases.LEASE_S``
without renewal. Resume offers consider only the room's own sessions whose
lease is not live in another workstation; taking over another room's session
is allowed only once its lease has expired (``db.store``).

``waiting``/``waiting_detail`` carry the holder's count of journal entries not
yet in the database, so the central station can show a room that is writing
through an outage. The index on ``expires_at`` serves the station's poll.

Downgrade drops the table and the column (in place; a batch-mode table copy on
SQLite older than 3.35, as in 0002).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("room", sa.String(length=64), server_default=sa.text("''"), nullable=False))
    op.create_table(
        "session_leases",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("waiting", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("waiting_detail", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_leases_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_leases")),
    )
    op.create_index(op.f("ix_session_leases_expires_at"), "session_leases", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_session_leases_expires_at"), table_name="session_leases")
    op.drop_table("session_leases")
    dialect = op.get_bind().dialect
    version = getattr(dialect.dbapi, "sqlite_version_info", (0,))
    in_place = dialect.name != "sqlite" or tuple(version) >= (3, 35)
    with op.batch_alter_table("sessions", recreate="never" if in_place else "auto") as batch:
        batch.drop_column("room")
