"""What a database exporter reads: one session of one store."""

from __future__ import annotations

from dataclasses import dataclass

from db.store import SqlStore

__all__ = ["StoredSession"]


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One recorded session: the store it is in and its id.

    The store is the SQL store itself, not the :class:`~kapmonitor.ports.SessionArchive`
    port: the CSV streams the readings straight from its cursor (``SqlStore.raw_cursor``).
    Other layers subclass this to carry more (the windows add the already loaded review).
    """

    store: SqlStore
    session_id: int
