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

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["EPOCH", "UTCDateTime", "from_epoch_ms", "to_epoch_ms"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_HALF_MS = timedelta(microseconds=500)


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch for an aware datetime, rounded half up.

    Raises:
        ValueError: if ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; pass an aware UTC time")
    return (moment - EPOCH + _HALF_MS) // _MS


def from_epoch_ms(t_ms: int) -> datetime:
    """The aware UTC datetime of an epoch-millisecond count."""
    return EPOCH + timedelta(milliseconds=t_ms)


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
