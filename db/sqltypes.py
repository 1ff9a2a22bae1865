"""Column types shared by the models.

Two ways of storing time, on purpose:

* :class:`UTCDateTime` for every row a person writes or reads one at a time
  (sessions, events, observations, alarms, settings). It refuses naive
  datetimes on the way in and always hands back aware UTC datetimes, on
  SQLite (which has no time zone type) as on PostgreSQL (``timestamptz``).
* Readings keep their time as ``t_ms``: an integer count of milliseconds since
  the Unix epoch, UTC (see :func:`to_epoch_ms`). There are tens of thousands
  per session, written in batches and read back into numpy arrays; an integer
  needs no parsing on either path, sorts and indexes compactly (6 bytes in
  SQLite), is exact (no float rounding in keys or comparisons) and means the
  same on every database. A millisecond is far finer than the arrival jitter
  of a BLE notification (connection intervals are 7.5 ms or more), so rounding
  a reading's time to the nearest millisecond loses nothing measured.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from db.rows import EPOCH, from_epoch_ms, to_epoch_ms

__all__ = ["EPOCH", "UTCDateTime", "from_epoch_ms", "to_epoch_ms"]

# The epoch-millisecond conversions live in db.rows, which the SQLAlchemy-free reader imports too.


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC: aware in, aware UTC out.

    Naive datetimes are refused with :class:`ValueError` (a naive time cannot be
    placed on the session's time line without guessing its zone). Aware values
    in another zone are converted to UTC before storage.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: store only aware UTC times"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
