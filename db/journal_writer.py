"""The one writer: applies the recording journal to the database, in batches, for as long as it takes.

Entries reach this thread as soon as the journal has written them (its
subscriber callback only queues). Every cycle (``interval_s``, 0.25 s) the
thread fsyncs the journal (so readings reach the disk within a second even
while the database is away) and applies what is queued in one transaction
(:func:`db.journal_apply.apply_batch`). When the database refuses (locked by
another program, disk full, server unreachable) the batch stays queued and is
retried with back-off (0.25 s doubling to ``max_backoff_s``) without end; the
therapist's notes are safe in the journal meanwhile, and :class:`JournalStatus`
says so in words the window and the command line show.

At start-up the thread first reads how far the database has applied this
journal and replays the rest, exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeVar

from kapmonitor.journal import Entry, Journal
from kapmonitor.store import StoreError

if TYPE_CHECKING:
    from db.store import SqlStore

__all__ = ["JournalStatus", "JournalWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_MAX: Final = 5000
"""Entries applied per transaction at most (a backlog after an outage goes in several)."""


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True, slots=True)
class JournalStatus:
    """What is kept in the journal but not yet in the database.

    Attributes:
        observations: observation revisions waiting.
        events: session events waiting.
        other: readings packets, alarm transitions and sensor details waiting.
        unwritten: entries not even in the journal file yet (its disk is full), kept in memory.
        error: why the database is not taking them, while it is not.
        waiting_since: monotonic time the oldest waiting entry was queued (None: nothing waits).
    """

    observations: int = 0
    events: int = 0
    other: int = 0
    unwritten: int = 0
    error: str | None = None
    waiting_since: float | None = None

    @property
    def waiting(self) -> bool:
        """Something is held back: the database refused it, or the journal's own disk is full.

        Entries on their normal way (applied within a cycle) do not count: a person is told only
        when the database is actually not taking the record.
        """
        return bool(self.unwritten or (self.error and (self.observations or self.events or self.other)))

    def describe(self) -> str:
        """One line for a person: empty when the database has everything."""
        if not self.waiting:
            return ""
        parts = []
        if self.observations:
            parts.append(_plural(self.observations, "note", "notes"))
        if self.events:
            parts.append(_plural(self.events, "session event", "session events"))
        if not parts:
            parts.append("readings")
        text = " and ".join(parts)
        verb = "is" if text.startswith("1 ") and " and " not in text else "are"
        line = f"{text} {verb} waiting for the database — kept safely on this computer"
        if self.unwritten:
            line = (f"{_plural(self.unwritten, 'entry', 'entries')} cannot be written even on this "
                    "computer (its disk is full) — kept in memory and retried; " + line)
        if self.error:
            line += f" ({self.error})"
        return line


class JournalWriter:
    """The thread that applies journal entries to a :class:`~db.store.SqlStore`.

    Args:
        store: the database.
        journal: the journal to apply (this writer subscribes to it).
        interval_s: how often the thread wakes to fsync the journal and apply what is queued.
        max_backoff_s: the longest wait between retries while the database refuses.
    """

    def __init__(self, store: SqlStore, journal: Journal, *, interval_s: float = 0.25,
                 max_backoff_s: float = 5.0) -> None:
        if not 0 < interval_s <= 1.0:
            raise ValueError(f"interval_s must be in (0, 1] seconds, got {interval_s!r}")
        self._store = store
        self._journal = journal
        self._interval = interval_s
        self._max_backoff = max_backoff_s
        self._cond = threading.Condition()
        self._pending: deque[Entry] = deque()
        self._pending_since: deque[float] = deque()
        self._counts = {"o": 0, "e": 0}
        self._other = 0
        self._written_seq = 0
        self._applied_seq = 0
        self._mark_known = False
        self._error: str | None = None
        self._calls: deque[tuple[Callable[[SqlStore], object], list[object]]] = deque()
        self._listeners: list[Callable[[JournalStatus], None]] = []
        self._last_status = JournalStatus()
        self._stopping = False
        journal.subscribe(self._written)
        self._thread = threading.Thread(target=self._run, name="kapmonitor-journal-writer", daemon=True)
        self._thread.start()

    # -- what the journal hands over ------------------------------------------------------------

    def _written(self, entries: Sequence[Entry]) -> None:
        now = time.monotonic()
        counted = False
        with self._cond:
            for entry in entries:
                self._pending.append(entry)
                self._pending_since.append(now)
                kind = entry.kind
                if kind in self._counts:
                    self._counts[kind] += 1
                    counted = True
                else:
                    self._other += 1
            if entries:
                self._written_seq = entries[-1].seq
            if counted:
                # A person's entry is applied at once; readings wait for the next cycle (they are
                # on disk in the journal already), so the database gets batches, not one per packet.
                self._cond.notify_all()
        if counted:
            self._publish()

    def _count(self, entry: Entry, delta: int) -> None:
        kind = entry.kind
        if kind in self._counts:
            self._counts[kind] += delta
        else:
            self._other += delta

    # -- status ---------------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[JournalStatus], None]) -> None:
        """Hear of every change in what waits (from the writer's or a recording thread; must not block)."""
        self._listeners.append(callback)

    def status(self) -> JournalStatus:
        with self._cond:
            return self._status_locked()

    def _status_locked(self) -> JournalStatus:
        return JournalStatus(
            observations=self._counts["o"], events=self._counts["e"], other=self._other,
            unwritten=self._journal.unwritten, error=self._error if self._pending else None,
            waiting_since=self._pending_since[0] if self._pending_since else None)

    def _publish(self) -> None:
        status = self.status()
        key = (status.observations, status.events, status.unwritten, status.error, status.waiting)
        last = self._last_status
        if key == (last.observations, last.events, last.unwritten, last.error, last.waiting):
            return
        self._last_status = status
        for callback in list(self._listeners):
            try:
                callback(status)
            except Exception:
                log.exception("journal status listener failed")

    @property
    def applied_seq(self) -> int:
        with self._cond:
            return self._applied_seq

    # -- waiting --------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything written to the journal before this call is in the database.

        Raises:
            StoreError: not done within ``timeout`` seconds (the entries stay safe in the
                journal and keep being retried); the message says why.
        """
        self._journal.sync()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._written_seq
            self._cond.notify_all()
            while self._pending and self._pending[0].seq <= target:
                if not self._thread.is_alive():
                    raise StoreError("The database writer has stopped; the record is kept in the journal "
                                     "and will be applied when kapmonitor starts again.")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise StoreError(self._status_locked().describe() or "the database did not answer")
                self._cond.wait(0.1 if remaining is None else min(0.1, remaining))

    def run(self, fn: Callable[[SqlStore], T], timeout: float = 30.0) -> T:
        """Run ``fn(store)`` on the writer thread (so this process has one writer) and return its result.

        Raises:
            StoreError: the writer is stopping, or did not get to it within ``timeout``.
            Exception: whatever ``fn`` raised.
        """
        if threading.current_thread() is self._thread:
            return fn(self._store)
        box: list[object] = []
        done = threading.Event()
        with self._cond:
            if self._stopping:
                raise StoreError("The database writer is stopping; try again after restarting kapmonitor.")
            self._calls.append((fn, box))
            box.append(done)
            self._cond.notify_all()
        if not done.wait(timeout):
            raise StoreError("The database did not answer in time "
                             f"({self._error or 'it may be locked by another program'}).")
        outcome = box[1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    def close(self, timeout: float = 5.0) -> bool:
        """Apply what can be applied within ``timeout`` and stop; True when nothing was left behind.

        Whatever is left stays in the journal and is applied the next time kapmonitor opens it.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            left = len(self._pending)
        if left:
            log.warning("%d journal entries are not in the database yet; they stay in the journal "
                        "and will be applied when kapmonitor opens this database again", left)
        return left == 0 and not self._thread.is_alive()

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self._interval
        more = False
        while True:
            with self._cond:
                if not (self._stopping or self._calls or more):
                    self._cond.wait(self._interval)
                stopping = self._stopping
                calls = list(self._calls)
                self._calls.clear()
            for fn, box in calls:
                self._call(fn, box)
            self._journal.sync()
            try:
                progressed = self._apply_some()
            except Exception as exc:  # every failure is retried: the journal keeps the record
                error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                with self._cond:
                    changed = self._error != str(error)
                    self._error = str(error)
                if changed:
                    log.error("the database is not taking the record (kept in the journal, retrying): %s",
                              error, exc_info=not isinstance(exc, StoreError))
                self._publish()
                more = False
                if stopping:
                    return
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, timeout=backoff)
                backoff = min(self._max_backoff, backoff * 2)
                continue
            backoff = self._interval
            if progressed:
                self._publish()
            with self._cond:
                if stopping and not self._pending:
                    return
                more = len(self._pending) > 0 and progressed  # a backlog: go round again at once

    def _call(self, fn: Callable[[SqlStore], object], box: list[object]) -> None:
        done = box[0]
        assert isinstance(done, threading.Event)
        try:
            box.append(fn(self._store))
        except BaseException as exc:
            box.append(exc)
        done.set()

    def _apply_some(self) -> bool:
        if not self._mark_known:
            mark = self._store.journal_mark(self._journal.journal_id)
            recovered = self._journal.recovered(mark)
            self._journal.forget_recovered()
            self._journal.advance_to(mark + 1)
            now = time.monotonic()
            with self._cond:
                self._applied_seq = mark
                self._pending.extendleft(reversed(recovered))
                self._pending_since.extendleft([now] * len(recovered))
                for entry in recovered:
                    self._count(entry, +1)
                self._mark_known = True
            if recovered:
                log.info("replaying %d journal entries the database did not have yet", len(recovered))
        with self._cond:
            if not self._pending:
                self._error = None
                return False
            batch = [self._pending[i] for i in range(min(BATCH_MAX, len(self._pending)))]
        mark = self._store.apply_journal(self._journal.journal_id, batch)
        self._journal.applied(mark)
        with self._cond:
            for _ in batch:
                entry = self._pending.popleft()
                self._pending_since.popleft()
                self._count(entry, -1)
            self._applied_seq = mark
            self._error = None
            self._cond.notify_all()
        return True
