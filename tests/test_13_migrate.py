"""Migrations under a lock (issue 13): any number of rooms may open an empty database at once.

Five real processes open the same EMPTY database at the same instant (each waits for a start time,
then calls ``SqlStore.open``, which migrates). Without the lock two of them collide creating
``alembic_version`` (PostgreSQL: ``UniqueViolation``; SQLite: ``table ... already exists``). With it
all five succeed and the schema is at head, migrated once.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from db.engine import create_engine_for
from db.migrate import current_revision, head_revision
from db.store import SqlStore
from kapmonitor.ports import StoreError

ROOT = Path(__file__).resolve().parent.parent

_OPENER = """
import sys, time
start = float(sys.argv[2])
from db.store import SqlStore  # imported before the start, so the five race on the database only
while time.time() < start:
    time.sleep(0.001)
store = SqlStore.open(sys.argv[1], busy_timeout_s=30.0)
store.close()
print("opened")
"""


def _open_at_once(location: str, n: int = 5) -> list[subprocess.CompletedProcess[str]]:
    start = time.time() + 2.5  # every interpreter has imported SQLAlchemy and Alembic by then
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, location, repr(start)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=60)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def _check(location: str) -> None:
    results = _open_at_once(location)
    failures = [r.stderr.strip().splitlines()[-1:] for r in results if r.returncode != 0]
    assert failures == [], failures
    assert all(r.stdout.strip() == "opened" for r in results)
    engine = create_engine_for(location)
    try:
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"sessions", "session_leases", "readings", "alembic_version"} <= tables
        with engine.connect() as conn:
            # Migrated once: one row in alembic_version (a second migrator would have failed or duplicated).
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM alembic_version").scalar_one() == 1
    finally:
        engine.dispose()


def test_five_processes_open_an_empty_sqlite_database_at_once(tmp_path: Path) -> None:
    _check(str(tmp_path / "clinic.db"))


def test_five_processes_open_an_empty_postgresql_database_at_once(pg_url: str) -> None:
    _check(pg_url)


def test_a_database_at_head_opens_without_the_migration_lock(tmp_path: Path) -> None:
    """Opening a database already at head takes no lock: it opens while another program holds the
    write lock (a room recording), where waiting for the lock would fail after the busy timeout."""
    location = str(tmp_path / "k.db")
    SqlStore.open(location).close()
    holder = sqlite3.connect(location, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        store = SqlStore.open(location, busy_timeout_s=0.2)
        store.close()
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    empty = str(tmp_path / "empty.db")
    SqlStore.open(empty).close()
    engine = create_engine_for(empty)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0003'")
    engine.dispose()
    holder = sqlite3.connect(empty, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        # Behind head, the lock is needed: refused in words once the busy timeout has passed.
        with pytest.raises(StoreError, match=r"locked|busy"):
            SqlStore.open(empty, busy_timeout_s=0.2)
    finally:
        holder.close()
