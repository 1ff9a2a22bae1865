"""One logging set-up for the whole application, called once by the entry point.

Logs go to stderr and, when a directory is given, to a rotating file
``kapmonitor.log`` there (the user's log directory by default), so a clinic's
IT person can read what happened after the fact.

Privacy at rest: the log says what happened, never what was written. A check
note, a dismissal or end-of-session reason, a note's text, a tag name or a
client code typed by the therapist is never passed to a log call; call sites
log names the program chose (a check's name, an event kind, a session id) and
measure free text with :func:`describe_text` / :func:`describe_values`
("reason=(23 characters)"). The session id is what finds a session in a log:
the client code, although pseudonymous, links the log to a person in the
clinic's own files, so it is not logged either.

On POSIX the log folder is created owner-only (``0700``) and the log file and
its rotated siblings are owner-only (``0600``) whatever the umask. An existing
folder is tightened to ``0700`` when it is ours: owned by this user and holding
nothing but kapmonitor's log files (a folder the user pointed us at that holds
other things, such as a home folder, is left as it is, with a warning). An
existing log file of ours is tightened to ``0600``.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["LOG_FILE_NAME", "LOG_LEVELS", "describe_text", "describe_values", "setup_logging"]

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FILE_NAME: Final = "kapmonitor.log"

_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_STDERR_FORMAT: Final = "kapmonitor: %(levelname)s %(name)s: %(message)s"
_FOLDER_MODE: Final = 0o700
_FILE_MODE: Final = 0o600

#: Keys of event data whose string values are chosen by the program or the clinic's protocol
#: (never typed during a session), so :func:`describe_values` shows them as they are.
NAMED_KEYS: Final = frozenset({"check", "phase", "from", "unit", "kind", "stream", "state", "sensor",
                               "sensor_id", "priority", "action"})


def describe_text(text: str) -> str:
    """What a log may say about free text: its length only ("(23 characters)", "(empty)")."""
    if not text:
        return "(empty)"
    return f"({len(text)} character{'' if len(text) == 1 else 's'})"


def describe_values(data: Mapping[str, object], named: frozenset[str] = NAMED_KEYS) -> str:
    """``key=value`` pairs for a log line, with every string not under a ``named`` key measured.

    Numbers, booleans and None are shown as they are; a string under a key in ``named`` (a
    check's name, a phase, a unit) is shown as it is; any other string is free text and shows
    only as :func:`describe_text`. A key added later is therefore measured, not leaked, until
    someone decides it is a name.
    """
    parts = []
    for key, value in data.items():
        shown = describe_text(value) if isinstance(value, str) and key not in named else str(value)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def setup_logging(level: str = "info", log_dir: Path | None = None, *,
                  max_bytes: int = 5_000_000, backup_count: int = 5) -> Path | None:
    """Configure the root logger; returns the log file path (None if file logging failed or was off).

    The file rotates at ``max_bytes`` keeping ``backup_count`` older files; the folder and
    every file are owner-only (see the module docstring).

    Raises:
        ValueError: for a level other than :data:`LOG_LEVELS`.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kapmonitor", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level.upper())
    stderr = logging.StreamHandler(sys.stderr)
    # Progress and results of the CLI go to stdout/stderr by print; stderr logging stays at
    # warning unless the user asked for more, so a terminal is not flooded.
    stderr.setLevel(logging.DEBUG if level == "debug" else max(logging.WARNING, root.level))
    stderr.setFormatter(logging.Formatter(_STDERR_FORMAT))
    stderr._kapmonitor = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    if log_dir is None:
        return None
    path = log_dir / LOG_FILE_NAME
    try:
        _make_private_folder(log_dir)
        _tighten_old_logs(log_dir)
        file_handler = _PrivateRotatingFileHandler(path, max_bytes=max_bytes, backup_count=backup_count,
                                                   encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write the log file %s: %s", path, exc)
        return None
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    file_handler._kapmonitor = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    return path


class _PrivateRotatingFileHandler(logging.FileHandler):
    """A log file rotated at ``max_bytes``, keeping ``backup_count`` older ones (``kapmonitor.log.1``
    the newest of them), each created (or re-opened) owner-only, whatever the umask.

    It rotates as the standard library's ``RotatingFileHandler`` does (which it was) -- before a
    record that would take the file to ``max_bytes``, renaming ``.N-1`` to ``.N`` ... and the file to
    ``.1`` (keeping their ``0600``) -- but without importing ``logging.handlers``, whose socket,
    pickle and queue imports were some 7 ms of every command's start (``benchmarks/startup.py``).
    """

    def __init__(self, filename: Path, *, max_bytes: int, backup_count: int, encoding: str) -> None:
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        super().__init__(filename, mode="a", encoding=encoding)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._should_rotate(record):
                self._rotate()
        except Exception:
            self.handleError(record)
            return
        super().emit(record)

    def _should_rotate(self, record: logging.LogRecord) -> bool:
        name = self.baseFilename
        if self.max_bytes <= 0 or (os.path.exists(name) and not os.path.isfile(name)):
            return False  # only a regular file rotates (not a device such as /dev/null)
        if self.stream is None:
            self.stream = self._open()
        self.stream.seek(0, 2)  # the end, where appending starts (another process may have written)
        return bool(self.stream.tell() + len(self.format(record) + self.terminator) >= self.max_bytes)

    def _rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.backup_count > 0:
            for i in range(self.backup_count - 1, 0, -1):
                older = f"{self.baseFilename}.{i}"
                if os.path.exists(older):
                    os.replace(older, f"{self.baseFilename}.{i + 1}")
            if os.path.exists(self.baseFilename):
                os.replace(self.baseFilename, f"{self.baseFilename}.1")
        self.stream = self._open()

    def _open(self) -> io.TextIOWrapper:
        if os.name != "posix":
            return super()._open()
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.baseFilename, flags, _FILE_MODE)
        try:
            os.fchmod(fd, _FILE_MODE)  # an existing file of ours, or a umask that dropped nothing
            return open(fd, "a", encoding=self.encoding, errors=self.errors)  # rotation needs mode "a"
        except BaseException:
            os.close(fd)
            raise


def _make_private_folder(folder: Path) -> None:
    if os.name != "posix":
        folder.mkdir(parents=True, exist_ok=True)
        return
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=_FOLDER_MODE, exist_ok=True)
        os.chmod(folder, _FOLDER_MODE)  # mkdir's mode is filtered by the umask
        return
    info = folder.stat()
    if stat.S_IMODE(info.st_mode) & 0o077 == 0:
        return
    ours = info.st_uid == os.getuid() and all(p.name.startswith(LOG_FILE_NAME) for p in folder.iterdir())
    if ours:
        os.chmod(folder, _FOLDER_MODE)
    else:
        logging.getLogger(__name__).warning(
            "the log folder %s is open to other users (mode %o) and holds other files; it is left as "
            "it is (the log file itself is owner-only)", folder, stat.S_IMODE(info.st_mode))


def _tighten_old_logs(folder: Path) -> None:
    """Make the log file and rotated siblings a previous version left readable owner-only."""
    if os.name != "posix":
        return
    for old in folder.glob(f"{LOG_FILE_NAME}*"):
        info = old.lstat()
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(old, _FILE_MODE)
