"""SQLAlchemy 2 typed models: the database schema of kapmonitor.

One :class:`Base` with a naming convention, so every constraint and index has a
stable name that Alembic batch migrations can refer to (PITFALLS #8). The
models use only portable types (no SQLite-only SQL) so a clinic can later point
several rooms at PostgreSQL. Enumerations are stored as their string values
(plain ``String`` columns, validated in Python) so adding a member never needs
a schema change.

Nothing clinical is ever updated in place or deleted: an observation edit is a
new revision row; the only updates are the session's derived values
(``dose_at``, ``ended_at``, ``end_reason``, and the reading counters
``reading_count``/``last_reading_ms`` kept by ``db.writer``), a sensor's
descriptive details and a clinic setting's value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.sqltypes import UTCDateTime

__all__ = [
    "AlarmLogRow",
    "Base",
    "ClientRow",
    "JournalMarkRow",
    "ObservationRow",
    "ReadingRow",
    "SensorRow",
    "SessionEventRow",
    "SessionLeaseRow",
    "SessionRow",
    "SettingRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key that is still SQLite's rowid alias (only INTEGER PRIMARY KEY is).
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class ClientRow(Base):
    """A client, known only by a pseudonymous code chosen by the clinic."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class SessionRow(Base):
    """One dosing session; the protocol and settings are snapshots taken at its start."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    protocol_name: Mapped[str] = mapped_column(String(100))
    protocol: Mapped[dict[str, Any]]
    """``TreatmentProtocol.to_dict()`` as it was when the session started."""
    route: Mapped[str] = mapped_column(String(32))
    dose_amount: Mapped[float | None] = mapped_column(Float)
    dose_unit: Mapped[str] = mapped_column(String(16))
    lot: Mapped[str] = mapped_column(String(64))
    clinician_initials: Mapped[str] = mapped_column(String(16))
    app_version: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]]
    started_at: Mapped[datetime] = mapped_column(index=True)
    dose_at: Mapped[datetime | None]
    """Time of the first ``dose_given`` event (boosters do not move it)."""
    ended_at: Mapped[datetime | None] = mapped_column(index=True)
    end_reason: Mapped[str] = mapped_column(Text)
    reading_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    """Readings stored for this session; kept by the reading writer in the transaction of each batch."""
    last_reading_ms: Mapped[int | None] = mapped_column(BigInteger)
    """Latest ``readings.t_ms`` of any stream (NULL: none yet); kept with ``reading_count``."""
    room: Mapped[str] = mapped_column(String(64), server_default=text("''"))
    """The room (workstation) that created the session; ``''``: recorded before rooms existed."""


class SessionLeaseRow(Base):
    """The lease a room holds on the session it records (``db.leases``; one row per session ever held).

    Times are the database server's, so workstations' clock differences do not
    matter. A released lease has ``expires_at == renewed_at``.
    """

    __tablename__ = "session_leases"

    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), primary_key=True)
    room: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(64))
    """The holding workstation's journal id (``kapmonitor.journal.Journal.journal_id``)."""
    renewed_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    """``renewed_at + LEASE_S``; the lease is live while the server's time is before it."""
    waiting: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Journal entries the holder had waiting for the database at the last renewal."""
    waiting_detail: Mapped[str] = mapped_column(Text, server_default=text("''"))
    """``JournalStatus.describe()`` at the last renewal (``''`` when nothing waits)."""


class SessionEventRow(Base):
    __tablename__ = "session_events"
    __table_args__ = (Index("ix_session_events_session_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class ReadingRow(Base):
    """One measured value. ``t_ms`` is milliseconds since the Unix epoch, UTC (see ``db.sqltypes``)."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_session_stream_t", "session_id", "stream", "t_ms"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    stream: Mapped[str] = mapped_column(String(16))
    t_ms: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    sensor_id: Mapped[str] = mapped_column(String(64))
    flags: Mapped[int] = mapped_column(Integer)
    """:class:`kapmonitor.types.ReadingFlag` bits (artifact, no contact, manual...)."""


class ObservationRow(Base):
    """One revision of an observation; revisions are appended, never overwritten."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("observation_id", "revision"),
        Index("ix_observations_session_occurred", "session_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    observation_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    added_later: Mapped[bool] = mapped_column(Boolean)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]


class AlarmLogRow(Base):
    """One :class:`kapmonitor.types.AlarmTransition`."""

    __tablename__ = "alarm_log"
    __table_args__ = (Index("ix_alarm_log_session_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    at: Mapped[datetime]
    alarm_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    stream: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    limit_value: Mapped[float | None] = mapped_column(Float)
    """The transition's ``limit`` (``limit`` is a reserved word in SQL)."""
    detail: Mapped[str] = mapped_column(Text)


class SensorRow(Base):
    """A sensor used in a session, as it described itself."""

    __tablename__ = "sensors"
    __table_args__ = (UniqueConstraint("session_id", "sensor_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    sensor_id: Mapped[str] = mapped_column(String(64))
    """BLE address or ``simulated:N``."""
    name: Mapped[str] = mapped_column(String(100))
    kinds: Mapped[list[str]] = mapped_column(JSON)
    model: Mapped[str | None] = mapped_column(String(100))
    manufacturer: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(100))
    firmware: Mapped[str | None] = mapped_column(String(100))
    body_location: Mapped[str | None] = mapped_column(String(50))


class SettingRow(Base):
    """A clinic setting shared by the rooms that use this database (key -> JSON value)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class JournalMarkRow(Base):
    """How far one workstation's recording journal has been applied (``db.journal_writer``).

    Set in the same transaction as each applied batch, so replaying the journal
    after a crash applies every entry exactly once.
    """

    __tablename__ = "journal_marks"

    journal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    applied_seq: Mapped[int] = mapped_column(BigInteger)
