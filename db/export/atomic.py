"""Writing a file so that it is either complete or not there at all, readable by its owner only.

Every export file is written here. The content goes to a temporary file in the destination's
own folder (so the final rename never crosses file systems), is flushed and fsync'd, then
``os.replace`` puts it under its name in one step and the folder is fsync'd so the rename
survives a power cut. Until that step the old file, if any, is untouched; on any failure the
temporary file is removed and the old file stays as it was.

Owner-only: an export holds a client's session, so the temporary file is created ``0600``
whatever the umask (the mode is set on the open file before any byte is written) and the
rename gives the finished file that mode. An export that replaces an older file replaces its
mode too: a file someone had opened to others (``0644``, a group) becomes ``0600`` again --
owner-only is the rule, and sharing an export is a deliberate act done to a copy. (On Windows
the file inherits the folder's access list; POSIX modes do not apply.)

Stale parts: the temporary file is named ``.NAME.PID@HOST.XXXXXXXX.part`` -- the writing
process's id, a short tag of the computer's name and 8 random hex digits. A process killed
mid-write (power cut, ``kill -9``) cannot remove its part; the next :func:`write_atomically`
into the same folder, or :func:`remove_stale_parts` called at start-up for the known export
folders, removes every part of this scheme written on this computer by a process that is no
longer running. A part of a running process (an export under way, in this process or
another) is never touched, nor one written by another computer into a shared folder (its
process cannot be asked), nor any other file. A pid reused by an unrelated process keeps a
stale part until that process ends: the safe direction.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final, TypeVar

from kapmonitor.exporters import ExportError

__all__ = ["EXPORT_FILE_MODE", "remove_stale_parts", "write_atomically"]

log = logging.getLogger(__name__)

T = TypeVar("T")

EXPORT_FILE_MODE: Final = 0o600
"""The mode of every export file and its temporary part (POSIX)."""

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_PART = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]{1,10})@(?P<host>[0-9a-f]{8})\.[0-9a-f]{8}\.part$")


def _host_tag() -> str:
    """8 hex digits standing for this computer (its name is not written into file names)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _is_special(path: Path) -> bool:
    """An existing destination that is not a regular file: a device (``/dev/null``), a FIFO, a socket."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _write_through(path: Path, write: Callable[[BinaryIO], T]) -> T:
    """Write into a device or FIFO as a shell redirection would: never replaced by a file of ours."""
    try:
        with path.open("wb") as out:
            result = write(out)
            out.flush()
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return result


def write_atomically(path: Path, write: Callable[[BinaryIO], T]) -> T:
    """Call ``write`` with a binary stream whose bytes become the file ``path``; return its result.

    ``path`` is replaced only once everything ``write`` wrote is on the disk, by a file only
    its owner can read. If ``write`` raises, or the file cannot be written, created or renamed,
    ``path`` keeps its old content (or stays absent) and no temporary file is left behind.
    Parts that killed processes left in the folder are removed first (:func:`remove_stale_parts`).
    A destination that exists and is not a regular file (``-o /dev/null``, a named pipe) is written
    into as a shell redirection would, never replaced: replacing ``/dev/null`` with a file, as root,
    would break every program on the computer.

    Raises:
        ExportError: the file could not be written (the folder is missing or not writable,
            the disk is full, ...); the message names ``path`` and the reason.
        Exception: whatever ``write`` raises other than ``OSError``, unchanged.
    """
    if _is_special(path):
        return _write_through(path, write)
    folder = path.absolute().parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ExportError(f"cannot write {path}: the folder {folder} {what}")
    remove_stale_parts(folder)
    tmp, fd = _create_temporary(path, folder)
    try:
        with os.fdopen(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise ExportError(f"cannot write {path}: {_reason(exc, folder)}") from exc
        raise
    _sync_folder(folder)
    return result


def remove_stale_parts(folder: Path) -> int:
    """Remove the temporary parts in ``folder`` whose writing process is gone; returns how many.

    Only files named by this module's scheme, written on this computer, by a process that is
    no longer running (see the module docstring). Never raises: a folder that cannot be
    listed, or a part that cannot be removed, is logged and left (the next call tries again).
    """
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False)]
    except OSError as exc:
        log.debug("cannot look for stale export parts in %s: %s", folder, exc)
        return 0
    host = _host_tag()
    removed = 0
    for name in names:
        match = _PART.match(name)
        if match is None or match["host"] != host or _is_running(int(match["pid"])):
            continue
        try:
            (folder / name).unlink()
        except FileNotFoundError:  # another process cleaned it up first
            continue
        except OSError as exc:
            log.warning("cannot remove a stale partial export in %s: %s", folder, exc.strerror or exc)
            continue
        removed += 1
    if removed:
        log.info("removed %d partial export(s) left in %s by a process that stopped", removed, folder)
    return removed


def _is_running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this computer (in doubt: yes, so its part is kept)."""
    if pid <= 0:
        return True
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _is_running_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0: existence and permission check only, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    except OSError:
        return True
    return True


if sys.platform == "win32":
    import ctypes

    def _is_running_windows(pid: int) -> bool:
        # os.kill on Windows terminates the process, so ask the kernel instead.
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(kernel32.GetLastError() == 5)  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)


def _create_temporary(path: Path, folder: Path) -> tuple[Path, int]:
    prefix = f".{path.name}.{os.getpid()}@{_host_tag()}"
    for _ in range(16):
        tmp = folder / f"{prefix}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(tmp, _FLAGS, EXPORT_FILE_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {_reason(exc, folder)}") from exc
        if os.name == "posix":
            try:
                os.fchmod(fd, EXPORT_FILE_MODE)  # the umask could only have narrowed it; make it exact
            except OSError as exc:
                os.close(fd)
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise ExportError(f"cannot write {path}: {_reason(exc, folder)}") from exc
        return tmp, fd
    raise ExportError(f"cannot write {path}: no free temporary file name in {folder}")


def _reason(exc: OSError, folder: Path) -> str:
    detail = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return f"the disk is full ({detail})"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"the folder {folder} is not writable ({detail})"
    if exc.errno == errno.EROFS:
        return f"the disk is read-only ({detail})"
    return detail


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; Windows has no directory handles to fsync)."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # the file is complete under its name; only the rename's durability is unknown
        log.warning("could not fsync the folder %s after writing into it: %s", folder, exc)
