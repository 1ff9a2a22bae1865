"""Writing a file so that it is either complete or not there at all.

Every export file is written here. The content goes to a temporary file in the destination's
own folder (so the final rename never crosses file systems), is flushed and fsync'd, then
``os.replace`` puts it under its name in one step and the folder is fsync'd so the rename
survives a power cut. Until that step the old file, if any, is untouched; on any failure the
temporary file is removed and the old file stays as it was.

The temporary file is created with the permissions of any new file (``0o666`` less the
umask), like ``open(path, "w")``, and named ``.NAME.XXXXXXXX.part``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from kapmonitor.exporters import ExportError

__all__ = ["write_atomically"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def write_atomically(path: Path, write: Callable[[BinaryIO], T]) -> T:
    """Call ``write`` with a binary stream whose bytes become the file ``path``; return its result.

    ``path`` is replaced only once everything ``write`` wrote is on the disk. If ``write``
    raises, or the file cannot be written, created or renamed, ``path`` keeps its old
    content (or stays absent) and no temporary file is left behind.

    Raises:
        ExportError: the file could not be written (the folder is missing or not writable,
            the disk is full, ...); the message names ``path`` and the reason.
        Exception: whatever ``write`` raises other than ``OSError``, unchanged.
    """
    folder = path.absolute().parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ExportError(f"cannot write {path}: the folder {folder} {what}")
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


def _create_temporary(path: Path, folder: Path) -> tuple[Path, int]:
    for _ in range(16):
        tmp = folder / f".{path.name}.{secrets.token_hex(4)}.part"
        try:
            return tmp, os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {_reason(exc, folder)}") from exc
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
