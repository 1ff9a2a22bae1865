"""Turning database driver errors into one clear :class:`~kapmonitor.ports.StoreError` sentence.

A clinic's IT person should read what went wrong, which file or server, and what to do; the
driver's exception stays attached as ``__cause__`` for the log.

A database server (PostgreSQL) fails in its own ways -- it cannot be reached, refuses the login,
has no such database, or denies the role a right -- and each is told in the server's own words
(first line only), with the server named as ``role@host:port/database`` (never the password) and
what to do about it. A SQLite file's failures keep their file-and-disk wording.
"""

from __future__ import annotations

import re

from kapmonitor.ports import StoreError

__all__ = ["describe_error", "malformed_url_error", "missing_driver_error", "server_words", "store_error",
           "unknown_database_error"]

# Modules of the database-server drivers whose errors get the server wording.
_SERVER_DRIVERS = ("psycopg", "psycopg2", "psycopg_binary", "pg8000", "asyncpg")

_UNREACHABLE = ("connection refused", "timeout expired", "timed out", "could not translate host name",
                "failed to resolve host", "name or service not known", "temporary failure in name resolution",
                "no route to host", "network is unreachable", "could not connect",
                "server closed the connection",
                "terminating connection due to administrator command", "the database system is shutting down",
                "the database system is starting up", "connection is lost", "connection is closed",
                "consuming input failed", "ssl syscall error", "broken pipe", "connection reset")
_NO_HBA = ("no pg_hba.conf entry",)
_AUTH = ("password authentication failed", "authentication failed", "no password supplied",
         "fe_sendauth", "role \"", "peer authentication", "ident authentication")
_NO_DATABASE_STATE = "3D000"
_DENIED_STATE = "42501"

# libpq puts 'connection to server at "HOST" (ADDR), port N failed: FATAL:  ' before the server's words.
_LIBPQ_PREFIX = re.compile(r'^(connection failed:\s*)?(connection to server (at|on) "[^"]*"( \([^)]*\))?'
                           r'(, port \d+)? failed:\s*)?((FATAL|ERROR):\s*)?', re.IGNORECASE)
_WHERE = re.compile(r"^(?:(?P<role>[^@/]+)@)?[^/]*/(?P<database>[^/?]*)$")


def _is_server_error(orig: BaseException) -> bool:
    return type(orig).__module__.split(".")[0] in _SERVER_DRIVERS or hasattr(orig, "sqlstate")


def server_words(orig: BaseException) -> str:
    """The server's (or libpq's) own message, first line only, without libpq's connection preamble."""
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    return _LIBPQ_PREFIX.sub("", first).strip() or first


def _role_and_database(where: str) -> tuple[str, str]:
    """``ROLE`` and ``NAME`` from a ``role@host:port/name`` location (placeholders when not there)."""
    match = _WHERE.match(where)
    role = (match.group("role") if match else None) or "ROLE"
    database = (match.group("database") if match else None) or "NAME"
    return role, database


def describe_server_error(orig: BaseException, where: str) -> str:
    """One sentence for an error from a database server at ``where`` (``role@host:port/name``)."""
    words = server_words(orig)
    text = str(orig).lower()
    state = str(getattr(orig, "sqlstate", None) or "")
    role, database = _role_and_database(where)
    if any(k in text for k in _NO_HBA):
        return (f"The PostgreSQL server for {where} does not accept connections from this computer "
                f"({words}); add a 'host' line for this computer's network to the server's pg_hba.conf "
                "and reload it.")
    if state == _NO_DATABASE_STATE or re.search(r'database "[^"]*" does not exist', text):
        return (f"The PostgreSQL database {where} does not exist ({words}); create it on the server, "
                f"as the postgres superuser: createdb -O {role} {database}")
    if any(k in text for k in _AUTH) or state.startswith("28"):
        return (f"The PostgreSQL server refused the login for {where} ({words}); "
                "check the user name and password in the database URL (KAPMONITOR_DB or --db) "
                "or in the password file (~/.pgpass).")
    if state == _DENIED_STATE or "permission denied" in text or "must be owner" in text:
        return (f"The PostgreSQL database {where} denies role {role} a right kapmonitor needs ({words}); "
                f"GRANT {role} its rights: simplest, as the postgres superuser, make it the owner of the "
                f"database and its tables (ALTER DATABASE {database} OWNER TO {role}; for tables another "
                "role created, see docs/install.md).")
    if state.startswith("53") or "no space left" in text or "disk full" in text:
        return (f"The PostgreSQL server for {where} is out of resources ({words}); "
                "ask its administrator to free disk space or raise its limits.")
    if any(k in text for k in _UNREACHABLE) or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return (f"The PostgreSQL server for {where} cannot be reached ({words}); check that it is running, "
                "that the host name and port are right and that the network lets this computer through.")
    return f"The PostgreSQL database {where} failed ({words}); see the log for details."


def describe_error(exc: BaseException, where: str) -> str:
    """One sentence for a driver error ``exc`` on the database at ``where``."""
    text = str(exc).lower()
    orig = getattr(exc, "orig", None)
    if orig is not None:
        text = str(orig).lower()
        if _is_server_error(orig):
            return describe_server_error(orig, where)
    elif _is_server_error(exc):
        return describe_server_error(exc, where)
    if "locked" in text or "busy" in text:
        return (f"The database {where} is locked by another program or kapmonitor window; "
                "close the other program (or wait for it to finish) and try again.")
    if "not a database" in text or "malformed" in text or "corrupt" in text or "integrity" in text:
        return (f"The database {where} is damaged or is not a kapmonitor database; "
                "restore it from a backup or point kapmonitor at another file.")
    if "disk is full" in text or "database or disk is full" in text or "no space" in text:
        return (f"The disk holding the database {where} is full; "
                "free some space on it, then try again.")
    if "readonly" in text or "read-only" in text:
        return (f"The database {where} is read-only; "
                "give this user write permission on the file and its folder.")
    if any(k in text for k in ("unable to open", "permission denied", "disk i/o", "not a directory",
                                "is a directory", "no such file")):
        return (f"The database {where} cannot be opened or written; "
                "check that its folder exists, is writable by this user and the disk is attached.")
    return (f"The database {where} failed ({exc}); "
            "check the file and the disk, and see the log for details.")


def store_error(exc: BaseException, where: str) -> StoreError:
    """A :class:`StoreError` describing ``exc``; raise it ``from exc``."""
    return StoreError(describe_error(exc, where))


def missing_driver_error(drivername: str, exc: ImportError) -> StoreError:
    """The database URL names a driver that is not installed in this kapmonitor."""
    if drivername.startswith("postgresql"):
        return StoreError("PostgreSQL support is not installed in this kapmonitor; "
                          "install kapmonitor[postgres] (psycopg 3)")
    return StoreError(f"The database driver for '{drivername}://' is not installed ({exc}); "
                      "kapmonitor supports SQLite files and PostgreSQL (postgresql://...).")


def unknown_database_error(scheme: str) -> StoreError:
    """The database URL's ``scheme://`` is not a database kapmonitor (SQLAlchemy) knows.

    Only the scheme is shown: the rest of the URL may hold a password.
    """
    return StoreError(f"'{scheme}://' is not a kind of database kapmonitor knows; give a file path, "
                      "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE")


def malformed_url_error(scheme: str) -> StoreError:
    """The database URL cannot be parsed (a port that is not a number, a stray character).

    Neither the URL nor the parser's message is shown: both may hold a password.
    """
    return StoreError(f"The database URL starting '{scheme}://' is not valid; write it as "
                      f"{scheme}://USER:PASSWORD@HOST:PORT/DATABASE (a special character in the password "
                      "as %XX, e.g. %40 for @)")
