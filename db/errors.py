"""Turning database driver errors into one clear :class:`~kapmonitor.ports.StoreError` sentence.

A clinic's IT person should read what went wrong, which file, and what to do;
the driver's exception stays attached as ``__cause__`` for the log.
"""

from __future__ import annotations

from kapmonitor.ports import StoreError

__all__ = ["describe_error", "store_error"]


def describe_error(exc: BaseException, where: str) -> str:
    """One sentence for a driver error ``exc`` on the database at ``where``."""
    text = str(exc).lower()
    orig = getattr(exc, "orig", None)
    if orig is not None:
        text = str(orig).lower()
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
