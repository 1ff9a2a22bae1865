"""This workstation's room name: the rule for a valid name and where it comes from.

Each computer of a clinic records as one room (``sessions.room``, the lease on the session it
records). The name is resolved in this order (:func:`resolve_room`): the ``--room`` option, the
``KAPMONITOR_ROOM`` environment variable, this computer's workstation file (``workstation.json``
in the user's configuration folder, ``{"room": "..."}``, written by the settings dialog; the
caller passes its path, this module does no path lookup), and finally the host name.

The workstation file is local on purpose: the clinic's settings live in the shared database, but
which room a computer stands in is a fact about that computer.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

__all__ = ["ROOM_ENV_VAR", "ROOM_NAME_MAX", "check_room_name", "read_workstation_room", "resolve_room",
           "write_workstation_room"]

log = logging.getLogger(__name__)

ROOM_ENV_VAR = "KAPMONITOR_ROOM"
ROOM_NAME_MAX = 64
"""The longest room name (``sessions.room`` is 64 characters)."""


def check_room_name(text: str) -> str:
    """The room name ``text`` names (surrounding spaces dropped).

    Raises:
        ValueError: it is empty, longer than :data:`ROOM_NAME_MAX` or not printable; the message
            says the rule.
    """
    name = text.strip()
    if not name or len(name) > ROOM_NAME_MAX or not name.isprintable():
        raise ValueError(f"a room name is 1 to {ROOM_NAME_MAX} printable characters (e.g. 'Room 2'), "
                         f"got {text!r}")
    return name


def read_workstation_room(path: Path) -> str | None:
    """The room stored in the workstation file, or None (no file, unreadable, or no valid name: logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("workstation file %s cannot be read (%s); the room name comes from elsewhere", path, exc)
        return None
    room = data.get("room") if isinstance(data, dict) else None
    if not isinstance(room, str):
        return None
    try:
        return check_room_name(room)
    except ValueError as exc:
        log.warning("workstation file %s: %s", path, exc)
        return None


def write_workstation_room(path: Path, room: str) -> str:
    """Store ``room`` in the workstation file (atomically, owner-only) and return the name stored.

    Raises:
        ValueError: not a valid room name.
        OSError: the file cannot be written.
    """
    name = check_room_name(room)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data: dict[str, object] = {}
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(existing, dict):
            data = existing
    except (OSError, ValueError):
        pass
    data["room"] = name
    fd, tmp = tempfile.mkstemp(prefix=".workstation-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


def resolve_room(cli_value: str | None, workstation_file: Path | None) -> str:
    """This workstation's room: ``--room``, else ``KAPMONITOR_ROOM``, else the workstation file,
    else the host name (cut to :data:`ROOM_NAME_MAX`).

    Raises:
        ValueError: ``KAPMONITOR_ROOM`` is set to an invalid name (the message says the rule).
    """
    if cli_value is not None:
        return check_room_name(cli_value)
    env = os.environ.get(ROOM_ENV_VAR, "")
    if env.strip():
        try:
            return check_room_name(env)
        except ValueError as exc:
            raise ValueError(f"{ROOM_ENV_VAR}: {exc}") from None
    if workstation_file is not None:
        stored = read_workstation_room(workstation_file)
        if stored is not None:
            return stored
    import socket  # only here: the commands that never ask need not import it (~3 ms)

    host = "".join(c for c in socket.gethostname() if c.isprintable()).strip()[:ROOM_NAME_MAX].strip()
    return host or "this computer"
