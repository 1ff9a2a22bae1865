"""The note being typed survives a crash: it is kept as a draft file until it is saved.

:class:`NoteDrafts` keeps one small file per session,
``<user data dir>/drafts/<16 hex digits of the database location's SHA-256>/session-<id>.txt``
(one folder per database, like the recording journal, so a demo session 3 never hands its draft
to a clinic session 3). A draft is written atomically (a temporary file in the same folder,
fsync, ``os.replace``), readable by its owner only (0600, folder 0700): it is the client's words.

:class:`NoteDraftKeeper` ties it to the note line: the text is written
:data:`DRAFT_DELAY_MS` after the last keystroke and when the line loses focus; the file is
removed when the therapist empties the line, or when the note they saved is confirmed saved
(:meth:`NoteDraftKeeper.hold` / :meth:`NoteDraftKeeper.release`: until the commit is confirmed
the draft stays, so a crash between Enter and the commit loses nothing). A few hundred bytes on
the local disk: written on the GUI thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_data_dir
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QLineEdit

__all__ = ["DRAFT_DELAY_MS", "NoteDraftKeeper", "NoteDrafts", "drafts_folder"]

log = logging.getLogger(__name__)

DRAFT_DELAY_MS = 500
"""The draft is written this long after the last keystroke (and at once when the line loses focus)."""


def drafts_folder(location: str) -> Path:
    """The drafts' folder for the database at ``location`` on this workstation."""
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:16]
    return Path(user_data_dir("kapmonitor", appauthor=False)) / "drafts" / digest


class NoteDrafts:
    """One draft note per session, as owner-only files in ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_database(cls, location: str) -> NoteDrafts:
        return cls(drafts_folder(location))

    def path(self, session_id: int) -> Path:
        return self.folder / f"session-{int(session_id)}.txt"

    def write(self, session_id: int, text: str) -> None:
        """Keep ``text`` as the session's draft (atomically; an empty text removes the draft).

        Raises:
            OSError: the file could not be written (the previous draft, if any, is unchanged).
        """
        if not text:
            self.discard(session_id)
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".draft-", suffix=".tmp", dir=self.folder)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(session_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._sync_folder()

    def read(self, session_id: int) -> str:
        """The session's draft ("" if there is none or it cannot be read)."""
        try:
            return self.path(session_id).read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        except OSError as exc:
            log.warning("the draft note of session %s cannot be read: %s", session_id, exc)
            return ""

    def session_ids(self) -> list[int]:
        """The sessions that have a draft here, in id order."""
        try:
            names = [p.name for p in self.folder.iterdir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("the draft notes in %s cannot be listed: %s", self.folder, exc)
            return []
        ids = []
        for name in names:
            number = name.removeprefix("session-").removesuffix(".txt")
            if name.startswith("session-") and name.endswith(".txt") and number.isdigit():
                ids.append(int(number))
        return sorted(ids)

    def prune(self, still_open: Callable[[int], bool]) -> list[int]:
        """Remove the drafts of sessions that are no longer open; returns their ids.

        ``still_open(session_id)`` says whether a session can still be resumed here: False for a
        session ended (on this workstation or elsewhere: closed from the session list, ended on
        another bedside of the same database) or no longer in the database. A draft is the
        client's words in a file outside the record; once its session is closed it has no use.
        An error while asking keeps the draft (it is asked again at the next start).
        """
        removed = []
        for session_id in self.session_ids():
            try:
                open_ = still_open(session_id)
            except Exception as exc:  # the database could not say: keep the draft
                log.warning("kept the draft note of session %s: its state could not be read: %s",
                            session_id, exc)
                continue
            if not open_:
                self.discard(session_id)
                removed.append(session_id)
        return removed

    def discard(self, session_id: int) -> None:
        """Remove the session's draft (nothing if there is none)."""
        try:
            self.path(session_id).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("the draft note of session %s cannot be removed: %s", session_id, exc)

    def _sync_folder(self) -> None:
        try:
            fd = os.open(self.folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


class NoteDraftKeeper(QObject):
    """Keeps ``line``'s text as the current session's draft (see the module docstring).

    Args:
        line: the note line.
        drafts: where drafts are kept.
        session_id: the session being recorded now (None: none; nothing is kept).
        report: shows a sentence to the therapist (a draft that could not be kept).
    """

    def __init__(
        self,
        line: QLineEdit,
        drafts: NoteDrafts,
        session_id: Callable[[], int | None],
        report: Callable[[str], None],
    ) -> None:
        super().__init__(line)
        self._line = line
        self._drafts = drafts
        self._session_id = session_id
        self._report = report
        self._held = 0
        self._kept_for: int | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DRAFT_DELAY_MS)
        self.timer.timeout.connect(self.write_now)
        line.textChanged.connect(self._changed)
        line.installEventFilter(self)

    @property
    def drafts(self) -> NoteDrafts:
        return self._drafts

    def restore(self, session_id: int) -> str:
        """The draft kept for ``session_id`` (from before a restart), or ""."""
        return self._drafts.read(session_id)

    def hold(self) -> None:
        """A note from the line was sent to be saved: keep its draft until :meth:`release`."""
        self._held += 1
        self.timer.stop()

    def release(self) -> None:
        """A held note was saved (or given back to the line): drop the draft if the line is empty."""
        self._held = max(0, self._held - 1)
        if self._held == 0 and not self._line.text():
            self._discard()

    def session_ended(self, session_id: int) -> None:
        """The session ended: its draft has no use any more (a held note still drops it on release)."""
        self.timer.stop()
        if self._held == 0:
            self._drafts.discard(session_id)
            self._kept_for = None

    def write_now(self) -> None:
        """Write the line's text as the draft now (also on focus-out)."""
        self.timer.stop()
        session_id = self._session_id()
        text = self._line.text()
        if session_id is None:
            return
        if not text.strip():
            if self._held == 0:
                self._discard()
            return
        try:
            self._drafts.write(session_id, text)
        except OSError as exc:
            log.error("the note being typed could not be kept as a draft: %s", exc)
            self._report(f"The note being typed could not be kept as a draft ({exc.strerror or exc}); "
                         "press Enter to save it")
            return
        self._kept_for = session_id

    def _changed(self, text: str) -> None:
        if text.strip():
            self.timer.start()
        elif self._held == 0:  # the therapist emptied the line: nothing to keep
            self.timer.stop()
            self._discard()
        else:
            self.timer.stop()

    def _discard(self) -> None:
        session_id = self._session_id()
        for sid in {session_id, self._kept_for} - {None}:
            assert sid is not None
            self._drafts.discard(sid)
        self._kept_for = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._line and event.type() == QEvent.Type.FocusOut and self.timer.isActive():
            self.write_now()
        return False
