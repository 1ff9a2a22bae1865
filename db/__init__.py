"""Persistence: SQLAlchemy models, Alembic migrations, the store and CSV export."""

DISTRIBUTION = "kapmonitor"
"""Whose package this is: ``ui.main`` refuses to run when ``db`` is another distribution's (a
package of the same generic name installed beside kapmonitor)."""
