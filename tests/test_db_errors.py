"""Failure modes of the store: each ends in one clear StoreError sentence, never a silent loss."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from db.engine import create_engine_for
from db.errors import describe_error
from db.migrate import upgrade_to_head
from db.store import SqlStore
from kapmonitor.ports import SessionSpec, StoreError
from kapmonitor.protocols import PRESETS
from kapmonitor.types import EventKind, Reading, SessionEvent, Stream

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SPEC = SessionSpec("K-1", PRESETS["sublingual"])


def readings(n: int, start: int = 0) -> list[Reading]:
    return [Reading(Stream.HEART_RATE, 70.0, T0 + timedelta(seconds=start + i), "s") for i in range(n)]


def make_db(path: Path) -> int:
    with SqlStore.open(path) as store:
        return store.create_session(SPEC, T0)


def test_new_database_is_owner_only_and_its_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "k.db"
    store = SqlStore.open(path)
    try:
        store.create_session(SPEC, T0)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        wal = path.with_name("k.db-wal")
        assert wal.exists(), "WAL mode should keep a -wal file while open"
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        store.close()


def test_sqlite_url_gets_the_same_treatment(tmp_path: Path) -> None:
    path = tmp_path / "by-url" / "k.db"
    with SqlStore.open(f"sqlite:///{path}") as store:
        store.create_session(SPEC, T0)
        assert store.location == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_pragmas_are_set(tmp_path: Path) -> None:
    engine = create_engine_for(tmp_path / "k.db", busy_timeout_s=1.5)
    with engine.connect() as conn:
        def pragma(name: str) -> Any:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 2  # FULL
        assert pragma("busy_timeout") == 1500
    engine.dispose()


def test_locked_database_on_open(tmp_path: Path) -> None:
    make_db(tmp_path / "k.db")
    holder = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"is locked by another program.*try again") as info:
            SqlStore.open(tmp_path / "k.db", busy_timeout_s=0.2)
        assert time.monotonic() - started < 3
        assert str(tmp_path / "k.db") in str(info.value)
    finally:
        holder.close()


def test_locked_database_on_write_and_writer_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sid = make_db(tmp_path / "k.db")
    store = SqlStore.open(tmp_path / "k.db", busy_timeout_s=0.2, flush_interval_s=0.05)
    holder = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"):
            store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, T0))
        store.add_readings(sid, readings(20))
        with pytest.raises(StoreError, match="locked"):
            store.flush()
        assert any("readings failed" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
        # The failed batch is kept for retry; the next call reports only a new failure.
        holder.execute("ROLLBACK")
        store.add_readings(sid, readings(5, start=100))
        store.flush()
        assert len(store.load_stream(sid, Stream.HEART_RATE)) == 25
    finally:
        holder.close()
        store.close()


def test_writer_error_is_raised_from_the_next_add_readings(tmp_path: Path) -> None:
    sid = make_db(tmp_path / "k.db")
    store = SqlStore.open(tmp_path / "k.db", busy_timeout_s=0.1, flush_interval_s=0.05)
    holder = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        store.add_readings(sid, readings(3))
        deadline = time.monotonic() + 5
        with pytest.raises(StoreError, match="locked"):  # noqa: PT012 - polls until the writer fails
            while time.monotonic() < deadline:
                store.add_readings(sid, readings(1, start=50))
                time.sleep(0.05)
        holder.execute("ROLLBACK")
        store.flush()
        assert len(store.load_stream(sid, Stream.HEART_RATE)) >= 4
    finally:
        holder.close()
        store.close()


def test_full_disk_is_reported(tmp_path: Path) -> None:
    sid = make_db(tmp_path / "k.db")
    engine = create_engine_for(tmp_path / "k.db")
    upgrade_to_head(engine)
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)

    @event.listens_for(engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    engine.dispose()
    store = SqlStore(engine, flush_interval_s=0.05)
    try:
        store.add_readings(sid, readings(20_000))
        with pytest.raises(StoreError, match=r"disk holding the database .* is full"):
            store.flush()
    finally:
        with pytest.raises(StoreError, match="could not be written"):
            store.close()


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match=r"damaged or is not a kapmonitor database.*backup"):
        SqlStore.open(path)


def test_damaged_pages_found_by_integrity_check(tmp_path: Path) -> None:
    sid = make_db(tmp_path / "k.db")
    with SqlStore.open(tmp_path / "k.db") as store:
        store.add_readings(sid, readings(5000))
        store.flush()
        store.check_integrity()
    conn = sqlite3.connect(tmp_path / "k.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray((tmp_path / "k.db").read_bytes())
    page = 4096
    for offset in range(len(data) - 6 * page, len(data) - 2 * page, 7):  # scribble over index/table pages
        data[offset] = 0xFF
    (tmp_path / "k.db").write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged"), SqlStore.open(tmp_path / "k.db") as store:
        store.check_integrity()


def test_unusable_paths(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match=r"cannot be opened or written.*folder"):
        SqlStore.open(tmp_path / "afile" / "sub" / "k.db")
    with pytest.raises(StoreError, match="cannot be opened or written"):
        SqlStore.open(tmp_path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    make_db(tmp_path / "k.db")
    conn = sqlite3.connect(tmp_path / "k.db")
    conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"newer version of kapmonitor.*9999_from_the_future"):
        SqlStore.open(tmp_path / "k.db")


@pytest.mark.parametrize(
    ("message", "expected"),
    [("database or disk is full", "is full"), ("database is locked", "locked"),
     ("file is not a database", "damaged"), ("database disk image is malformed", "damaged"),
     ("attempt to write a readonly database", "read-only"),
     ("unable to open database file", "cannot be opened"),
     ("something odd", "failed")],
)
def test_error_sentences(message: str, expected: str) -> None:
    text = describe_error(sqlite3.OperationalError(message), "/data/k.db")
    assert expected in text
    assert "/data/k.db" in text
    assert text.count(". ") == 0
    assert text.endswith(".")
