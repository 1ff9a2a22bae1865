"""Persistence: SQLAlchemy models, Alembic migrations, the store and CSV export."""
