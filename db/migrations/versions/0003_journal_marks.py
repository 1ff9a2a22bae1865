"""Journal marks: how far the store has applied each workstation's recording journal.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Every reading, event, observation and alarm transition reaches the database
through a local journal (``kapmonitor.journal``) applied by one writer thread
(``db.journal_writer``). Each batch the writer applies also sets the highest
applied sequence number of that journal here, in the same transaction, so a
journal replayed after a crash applies each entry exactly once.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal_marks",
        sa.Column("journal_id", sa.String(length=64), nullable=False),
        sa.Column("applied_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("journal_id", name=op.f("pk_journal_marks")),
    )


def downgrade() -> None:
    op.drop_table("journal_marks")
