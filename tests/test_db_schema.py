"""Schema, migrations, column types and database location (db.models, db.migrate, db.sqltypes, db.paths)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from db.engine import create_engine_for
from db.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from db.models import Base, ClientRow
from db.paths import DB_ENV_VAR, default_db_path, is_url, resolve_db_location
from db.sqltypes import from_epoch_ms, to_epoch_ms


def test_migration_chain_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    bases = script.get_bases()
    assert len(heads) == 1
    assert len(bases) == 1
    revisions = list(script.walk_revisions())
    ids = {r.revision for r in revisions}
    for rev in revisions:
        assert rev.down_revision is None or rev.down_revision in ids, rev.revision
        assert not isinstance(rev.down_revision, tuple | list), "merge revisions break linearity"
    # Walking from head reaches every revision exactly once.
    assert len(revisions) == len(ids)
    assert head_revision() == heads[0]


def test_upgrade_empty_database_matches_models(tmp_path: Path) -> None:
    engine = create_engine_for(tmp_path / "k.db")
    assert current_revision(engine) is None
    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(ctx, Base.metadata) == []
    engine.dispose()


def test_compare_metadata_detects_a_difference(tmp_path: Path) -> None:
    """The no-diff check above can fail: a dropped index shows up."""
    engine = create_engine_for(tmp_path / "k.db")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_readings_session_stream_t")
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert any("ix_readings_session_stream_t" in str(d) for d in diffs)
    engine.dispose()


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    engine = create_engine_for(tmp_path / "k.db")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade_to_head(engine)
    assert {"readings", "observations", "sessions", "settings"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_constraint_names_follow_the_naming_convention() -> None:
    readings = Base.metadata.tables["readings"]
    names = {c.name for c in readings.constraints}
    assert {"pk_readings", "fk_readings_session_id_sessions"} <= names
    assert "uq_observations_observation_id_revision" in {
        c.name for c in Base.metadata.tables["observations"].constraints
    }


def test_utc_datetime_refuses_naive_and_returns_aware_utc(tmp_path: Path) -> None:
    engine = create_engine_for(tmp_path / "k.db")
    upgrade_to_head(engine)
    plus2 = timezone(timedelta(hours=2))
    with Session(engine) as s, s.begin():
        s.add(ClientRow(code="A", created_at=datetime(2026, 3, 1, 11, 0, 0, 123456, tzinfo=plus2)))
    with Session(engine) as s:
        got = s.scalar(select(ClientRow.created_at))
    assert got == datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
    assert got is not None
    assert got.tzinfo is UTC
    with pytest.raises(Exception, match="naive"), Session(engine) as s, s.begin():
        s.add(ClientRow(code="B", created_at=datetime(2026, 3, 1, 9, 0)))
    engine.dispose()


def test_epoch_ms_rounds_to_nearest_millisecond_and_round_trips() -> None:
    t = datetime(2026, 1, 1, 9, 0, 0, 123499, tzinfo=UTC)
    assert to_epoch_ms(t) == 1767258000123
    assert to_epoch_ms(t + timedelta(microseconds=1)) == 1767258000124
    assert from_epoch_ms(1767258000123) == datetime(2026, 1, 1, 9, 0, 0, 123000, tzinfo=UTC)
    assert to_epoch_ms(datetime(1969, 12, 31, 23, 59, 59, 999600, tzinfo=UTC)) == 0
    with pytest.raises(ValueError, match="naive"):
        to_epoch_ms(datetime(2026, 1, 1))


def test_resolve_db_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    assert resolve_db_location(None) == str(default_db_path())
    assert default_db_path().name == "kapmonitor.db"
    assert "kapmonitor" in default_db_path().parent.name
    monkeypatch.setenv(DB_ENV_VAR, str(tmp_path / "env.db"))
    assert resolve_db_location(None) == str(tmp_path / "env.db")
    assert resolve_db_location(str(tmp_path / "cli.db")) == str(tmp_path / "cli.db")
    url = "postgresql+psycopg://kap@db.clinic.local/kapmonitor"
    assert resolve_db_location(url) == url
    monkeypatch.setenv(DB_ENV_VAR, "  ")
    assert resolve_db_location(None) == str(default_db_path())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("sqlite:///a.db", True), ("postgresql+psycopg://h/db", True), ("/tmp/a.db", False),
     ("C:\\data\\k.db", False), ("relative/k.db", False), ("://x", False)],
)
def test_is_url(text: str, expected: bool) -> None:
    assert is_url(text) is expected
