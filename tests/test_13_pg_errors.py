"""A PostgreSQL store that fails says so in the server's words: one line, exit 2, never a password.

Each case runs ``kapmonitor --db URL sessions`` (in this process through :func:`ui.main.main`, or in
a subprocess where the process itself must differ) against the test cluster of ``tests/pg_cluster.py``:
a wrong password, an unknown role, a missing database, a role without rights, a server that refuses,
one that never answers, an unknown host, a driver that is not installed, a kind of database nobody
knows. What the user reads must name the server as ``role@host:port/database`` and say what to do.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from log_capture import remove_kapmonitor_handlers
from pg_cluster import PgCluster

from db.engine import PG_CONNECT_TIMEOUT_S, create_engine_for
from db.store import SqlStore
from kapmonitor.ports import SessionSpec, StoreError
from kapmonitor.protocols import PRESETS
from ui.main import main

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "s3cret-Pw"  # must never be shown


@pytest.fixture(autouse=True)
def _logging_taken_down() -> Iterator[None]:
    yield
    remove_kapmonitor_handlers()


def run_cli(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str]:
    """``kapmonitor --db URL sessions`` in this process: (exit status, stderr)."""
    status = main(["--db", url, "sessions"])
    err = capsys.readouterr().err
    return status, err


def assert_one_error_line(err: str, *, expected: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("kapmonitor: error: "), line
    assert expected in line, line
    assert SECRET not in line and "Traceback" not in line
    return line


def _silent_port() -> int:
    """A loopback port where nothing listens (taken and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_plain_postgresql_url_means_psycopg(pg_cluster: PgCluster, pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with SqlStore.open(plain, clock=lambda: T0) as store:
        sid = store.create_session(SessionSpec("K-PG", PRESETS["sublingual"]), T0)
        assert store.location == pg_url.replace(f":{pg_cluster.password}", "").removeprefix(
            "postgresql+psycopg://")
        assert store.engine.url.drivername == "postgresql+psycopg"
    with SqlStore.open(pg_url) as again:
        assert [s.session_id for s in again.sessions()] == [sid]


def test_wrong_password(pg_cluster: PgCluster, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    database = pg_url.rsplit("/", 1)[1]
    status, err = run_cli(capsys, pg_cluster.url(database, password=SECRET))
    assert status == 2
    line = assert_one_error_line(err, expected='password authentication failed for user "postgres"')
    assert f"postgres@127.0.0.1:{pg_cluster.port}/{database}" in line
    assert "check the user name and password" in line


def test_password_from_the_password_file(pg_cluster: PgCluster, pg_url: str, tmp_path: os.PathLike[str],
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/install.md: the URL may leave the password out; libpq then reads the password file."""
    database = pg_url.rsplit("/", 1)[1]
    without = f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/{database}"
    monkeypatch.setenv("PGPASSFILE", os.path.join(tmp_path, "no-such-pgpass"))
    status, err = run_cli(capsys, without)
    assert status == 2
    assert_one_error_line(err, expected="(fe_sendauth: no password supplied)")
    pgpass = os.path.join(tmp_path, "pgpass")
    with open(pgpass, "w") as f:
        f.write(f"127.0.0.1:{pg_cluster.port}:{database}:postgres:{pg_cluster.password}\n")
    os.chmod(pgpass, 0o600)
    monkeypatch.setenv("PGPASSFILE", pgpass)
    status, err = run_cli(capsys, without)
    assert (status, err) == (0, "")


def test_unknown_role_from_the_environment(pg_cluster: PgCluster, pg_url: str,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    database = pg_url.rsplit("/", 1)[1]
    monkeypatch.setenv("KAPMONITOR_DB", pg_cluster.url(database, user="nobody", password=SECRET,
                                                       driver="postgresql"))
    status = main(["sessions"])
    assert status == 2
    line = assert_one_error_line(capsys.readouterr().err, expected="refused the login for nobody@")
    assert 'for user "nobody"' in line


def test_missing_database_says_how_to_create_it(pg_cluster: PgCluster,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pg_cluster.start()
    status, err = run_cli(capsys, pg_cluster.url("no_such_db"))
    assert status == 2
    line = assert_one_error_line(err, expected='database "no_such_db" does not exist')
    assert line.endswith("createdb -O postgres no_such_db")


@pytest.mark.parametrize("schema", ["empty", "migrated"])
def test_role_without_rights_is_told_to_grant(pg_cluster: PgCluster, pg_url: str, schema: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    database = pg_url.rsplit("/", 1)[1]
    if schema == "migrated":
        SqlStore.open(pg_url).close()  # tables exist, owned by another role
    role = f"clerk_{schema}"
    url = pg_cluster.create_role(role, SECRET, database=database,
                                 grants=[f'GRANT CONNECT ON DATABASE "{database}" TO {role}'])
    status, err = run_cli(capsys, url)
    assert status == 2
    line = assert_one_error_line(err, expected="permission denied for ")
    assert f"denies role {role} a right" in line
    assert f"GRANT {role} its rights" in line and f"ALTER DATABASE {database} OWNER TO {role};" in line


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    port = _silent_port()
    status, err = run_cli(capsys, f"postgresql://kapmonitor:{SECRET}@127.0.0.1:{port}/kapmonitor")
    assert status == 2
    line = assert_one_error_line(err, expected="(Connection refused)")
    assert f"The PostgreSQL server for kapmonitor@127.0.0.1:{port}/kapmonitor cannot be reached" in line


def test_server_that_never_answers_times_out_promptly(capsys: pytest.CaptureFixture[str]) -> None:
    """The kernel accepts the TCP connection, nobody speaks: the connect timeout ends it.

    The URL's own ``connect_timeout`` (2 s, libpq's least) keeps the test short; the 5 s default
    is checked on a real connection below.
    """
    pytest.importorskip("psycopg")
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        port = mute.getsockname()[1]
        started = time.monotonic()
        status, err = run_cli(capsys, f"postgresql://kapmonitor:{SECRET}@127.0.0.1:{port}/kapmonitor"
                                      "?connect_timeout=2")
        elapsed = time.monotonic() - started
    assert status == 2
    assert_one_error_line(err, expected="cannot be reached (connection timeout expired)")
    assert 1.5 < elapsed < 8.0, elapsed


def test_connections_time_out_after_5_s_and_name_themselves(pg_url: str) -> None:
    engine = create_engine_for(pg_url)
    try:
        with engine.connect() as conn:
            params = conn.connection.driver_connection.info.get_parameters()
            assert params["connect_timeout"] == str(PG_CONNECT_TIMEOUT_S) == "5"
            assert conn.exec_driver_sql("SHOW application_name").scalar() == "kapmonitor"
    finally:
        engine.dispose()
    engine = create_engine_for(pg_url + "?connect_timeout=12&application_name=room2")
    try:
        with engine.connect() as conn:
            assert conn.connection.driver_connection.info.get_parameters()["connect_timeout"] == "12"
            assert conn.exec_driver_sql("SHOW application_name").scalar() == "room2"
    finally:
        engine.dispose()


def test_unknown_host(tmp_path: os.PathLike[str]) -> None:
    """Name resolution fails (in a network namespace of its own, so no lookup leaves this machine)."""
    pytest.importorskip("psycopg")
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs 'unshare -n' (root) to resolve a host name without a network")
    url = f"postgresql://kapmonitor:{SECRET}@db.clinic.invalid/kapmonitor"
    done = subprocess.run([unshare, "-n", sys.executable, "-m", "kapmonitor", "--db", url, "sessions"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    line = assert_one_error_line(done.stderr,
                                 expected="kapmonitor@db.clinic.invalid/kapmonitor cannot be reached")
    assert "failed to resolve host 'db.clinic.invalid'" in line


def test_missing_driver_names_the_extra() -> None:
    """A wheel installed without the ``postgres`` extra: psycopg cannot be imported."""
    code = ("import sys; sys.modules['psycopg'] = None\n"  # what an install without psycopg sees
            "from ui.main import main; sys.exit(main())")
    done = subprocess.run([sys.executable, "-c", code, "--db", f"postgresql://u:{SECRET}@127.0.0.1/k",
                           "sessions"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("kapmonitor: error: PostgreSQL support is not installed in this kapmonitor; "
                           "install kapmonitor[postgres] (psycopg 3)\n")


@pytest.mark.parametrize(("url", "expected"), [
    ("foo://bar", "'foo://' is not a kind of database kapmonitor knows"),
    (f"postgresql://kap:{SECRET}@host:port/db", "The database URL starting 'postgresql://' is not valid"),
    (f"mysql://kap:{SECRET}@db/k", "The database driver for 'mysql://' is not installed"),
])
def test_unusable_url(url: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_cli(capsys, url)
    assert status == 2
    assert_one_error_line(err, expected=expected)


def test_server_gone_during_work_is_told_as_unreachable(pg_cluster: PgCluster, pg_url: str) -> None:
    store = SqlStore.open(pg_url)
    try:
        pg_cluster.stop()
        with pytest.raises(StoreError, match=r"^The PostgreSQL server for postgres@127\.0\.0\.1:\d+/kap_\d+ "
                                             r"cannot be reached \(") as info:
            store.sessions()
        assert "\n" not in str(info.value)
    finally:
        pg_cluster.start()
        store.close()
