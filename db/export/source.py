"""What a database exporter reads: one session of one store."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from kapmonitor.ports import SessionRecord, SessionSummary, StreamData
from kapmonitor.types import AlarmTransition, Observation, SensorInfo, SessionEvent, Stream

__all__ = ["SessionSource", "StoredSession"]


class SessionSource(Protocol):
    """The reads the exports (and ``kapmonitor export``'s ``latest``) make of a database.

    :class:`db.store.SqlStore` (any database) and :class:`db.sqlite_read.SqliteReader` (a SQLite
    file at the current schema, without SQLAlchemy) both give them, with identical results. The
    CSV streams the readings straight from :meth:`raw_cursor` with :attr:`placeholder` markers.
    """

    @property
    def placeholder(self) -> str:
        """The driver's parameter marker (``?`` or ``%s``) for :meth:`raw_cursor` queries."""
        ...

    def raw_cursor(self) -> AbstractContextManager[Any]:
        """A DBAPI cursor for bulk reads; driver errors become ``StoreError``."""
        ...

    def sessions(self) -> list[SessionSummary]: ...
    def session(self, session_id: int) -> SessionRecord: ...
    def events(self, session_id: int) -> list[SessionEvent]: ...
    def observations(self, session_id: int) -> list[Observation]: ...
    def alarms(self, session_id: int) -> list[AlarmTransition]: ...
    def sensors(self, session_id: int) -> list[SensorInfo]: ...
    def load_stream(self, session_id: int, stream: Stream) -> StreamData: ...


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One recorded session: the database it is in and its id.

    The store is a :class:`SessionSource`, not the :class:`~kapmonitor.ports.SessionArchive` port:
    the CSV streams the readings straight from its cursor (``raw_cursor``).
    Other layers subclass this to carry more (the windows add the already loaded review).
    """

    store: SessionSource
    session_id: int
