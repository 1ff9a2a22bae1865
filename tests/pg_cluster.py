"""A throw-away PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` on a temporary folder.

Never the machine's own cluster: every :class:`PgCluster` has its own data folder, its own socket
folder and a free TCP port on 127.0.0.1, and is deleted when stopped for good (:meth:`close`).
When the tests run as root (CI, a fresh machine) the server runs as the unprivileged ``postgres``
user through ``runuser -u postgres --`` (PostgreSQL refuses to run as root), and its folder belongs
to that user.

Authentication is as a clinic would set it up: local (Unix socket) connections are trusted -- the
test's own administration goes that way -- and TCP connections need a password (scram-sha-256), so
the URLs handed to kapmonitor carry one and a wrong password really fails.

No pytest here: :class:`PgUnavailable` says why no cluster can be had; the fixtures in
``tests/conftest.py`` turn it into a skip with that reason, and a benchmark may use the class as is.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["SUPERUSER", "PgCluster", "PgUnavailable", "find_bindir"]

SUPERUSER = "postgres"
NOT_INSTALLED = "PostgreSQL server not installed (Debian: postgresql)"
_SERVER_USER = "postgres"  # the unprivileged account that runs the server when we are root


class PgUnavailable(RuntimeError):
    """No throw-away cluster can be made here; the message is the reason (shown as the skip reason)."""


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when no server is installed.

    ``pg_config --bindir`` first (it names the server that the client libraries belong to), then the
    newest ``/usr/lib/postgresql/*/bin`` (Debian and Ubuntu install servers there, off PATH).
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10,
                                 check=True).stdout.strip()
            if out:
                candidates.append(Path(out))

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One private PostgreSQL server on 127.0.0.1:``port``.

    Args:
        password: the superuser's password for TCP connections (given to ``initdb --pwfile``).

    Raises:
        PgUnavailable: no PostgreSQL server is installed, psycopg is missing, or (as root) there is
            no ``postgres`` account to run it as.
    """

    def __init__(self, *, password: str = "kap-test-secret") -> None:
        bindir = find_bindir()
        if bindir is None:
            raise PgUnavailable(NOT_INSTALLED)
        try:
            import psycopg  # noqa: F401  (the tests administer the cluster and kapmonitor talks to it)
        except ImportError:
            raise PgUnavailable("psycopg is not installed (pip install 'kapmonitor[postgres]')") from None
        self.bindir = bindir
        self.password = password
        self._as_root = os.geteuid() == 0
        self._owner: pwd.struct_passwd | None = None
        if self._as_root:
            try:
                self._owner = pwd.getpwnam(_SERVER_USER)
            except KeyError:
                raise PgUnavailable(f"running as root and there is no '{_SERVER_USER}' user to run "
                                    "PostgreSQL as (Debian's postgresql package creates it)") from None
        # /tmp itself (not pytest's root-only tmp folder): the postgres user must reach its folder.
        self.base = Path(tempfile.mkdtemp(prefix="kapmonitor-pg-"))
        self.data_dir = self.base / "data"
        self.socket_dir = self.base / "socket"
        self.log_file = self.base / "server.log"
        self.port = _free_port()
        self.host = "127.0.0.1"
        self._names = itertools.count(1)
        self._initialized = False
        self.running = False
        self.socket_dir.mkdir()
        if self._owner is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    # -- the server ----------------------------------------------------------------------------

    def _run(self, args: Sequence[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a server tool as the server's user; RuntimeError with its output when it fails."""
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._owner is not None:
            cmd = ["runuser", "-u", self._owner.pw_name, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=self.base, env={**os.environ, "LC_ALL": "C"})
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{log}")
        return done

    def _initdb(self) -> None:
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._owner is not None:
            os.chown(pwfile, self._owner.pw_uid, self._owner.pw_gid)
        pwfile.chmod(0o600)
        self._run(["initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--pwfile", str(pwfile),
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
                   "--no-sync"], timeout=120)
        pwfile.unlink()
        # A throw-away server: durability against a power cut is not what the tests examine (the
        # server is stopped cleanly, or the client is the one killed), and fsync costs each commit.
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# kapmonitor test cluster\n"
                       f"port = {self.port}\n"
                       "listen_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.socket_dir}'\n"
                       "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
                       "max_connections = 200\nshared_buffers = 32MB\n"
                       "log_min_messages = warning\nlog_line_prefix = '%m [%p] %d %u '\n")
        self._initialized = True

    def start(self) -> None:
        """Create the cluster on first use, then start the server and wait until it accepts connections."""
        if self.running:
            return
        if not self._initialized:
            self._initdb()
        self._run(["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "start"],
                  timeout=90)
        self.running = True

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut, as in a server outage)."""
        if not self.running:
            return
        self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"], timeout=90)
        self.running = False

    def close(self) -> None:
        """Stop the server and delete the cluster's folder."""
        try:
            if self.running:
                self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- administration ------------------------------------------------------------------------

    def admin(self, database: str = "postgres") -> Any:
        """A psycopg connection as the superuser over the Unix socket (autocommit); close it after use."""
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=database,
                               autocommit=True)

    def execute(self, statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one SQL statement as the superuser; the rows it returns (empty for a command)."""
        with self.admin(database) as conn, conn.cursor() as cur:
            cur.execute(statement)  # the tests' own SQL, never user input
            return list(cur.fetchall()) if cur.description is not None else []

    def url(self, database: str, *, user: str = SUPERUSER, password: str | None = None,
            driver: str = "postgresql+psycopg") -> str:
        """The URL of ``database`` over TCP as ``user`` (default: the superuser with its password)."""
        secret = self.password if password is None and user == SUPERUSER else password
        auth = quote(user, safe="") + (f":{quote(secret, safe='')}" if secret is not None else "")
        return f"{driver}://{auth}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None, *, owner: str = SUPERUSER) -> str:
        """Create a fresh, empty database (default name ``kap_<n>``) owned by ``owner``.

        Returns its URL as the superuser (with password, over TCP).
        """
        name = name or f"kap_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE template0')
        return self.url(name)

    def create_role(self, name: str, password: str, *, grants: Sequence[str] = (),
                    database: str = "postgres") -> str:
        """Create a login role with ``password`` and no other rights; run each of ``grants`` in ``database``.

        ``grants`` are SQL statements run as the superuser (table rights are granted inside the
        database holding the tables, hence ``database``). Returns the role's URL for ``database``.
        """
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name),
                                                                             sql.Literal(password)))
        for statement in grants:
            self.execute(statement, database)
        return self.url(database, user=name, password=password)
