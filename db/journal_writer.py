"""The one writer: applies the recording journal to the database, in batches, for as long as it takes.

Entries reach this thread as soon as the journal has written them (its
subscriber callback only queues). Every cycle (``interval_s``, 0.25 s) the
thread writes and fsyncs the journal and applies what is queued in one
transaction (:func:`db.journal_apply.apply_batch`). A second, small thread
writes and fsyncs the journal every ``interval_s`` too, whatever the first is
doing: that one may wait for seconds in SQLite's busy handler (another program
holds the database's write lock) or in its back-off, and readings must reach
the disk within a second meanwhile. When the database refuses (locked by
another program, disk full, server unreachable) the batch stays queued and is
retried with back-off (0.25 s doubling to ``max_backoff_s``) without end; the
therapist's notes are safe in the journal meanwhile, and :class:`JournalStatus`
says so in words the window and the command line show.

At start-up the thread first reads how far the database has applied this
journal and replays the rest, exactly once.

The same thread keeps the lease of the session this workstation records
(:meth:`JournalWriter.hold`, ``session_leases``): every ``renew_s``
(:data:`db.leases.RENEW_S`) it renews it in its own short transaction, with
what waits for the database (:class:`JournalStatus`), and releases it once the
session's ``session_ended`` is applied. A renewal the database refuses (an
outage) is no error: it is tried again every cycle until the database answers,
and the journal keeps the record meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Final, TypeVar

from db.leases import RENEW_S
from kapmonitor.journal import AnyEntry, Journal
from kapmonitor.ports import JournalStatus, StoreError
from kapmonitor.types import EventKind, Observation, SessionEvent

if TYPE_CHECKING:
    from db.store import SqlStore

__all__ = ["JournalWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_MAX: Final = 5000
"""Entries applied per transaction at most (a backlog after an outage goes in several)."""

_ITEM = itemgetter(2)


def _tally(entries: Sequence[AnyEntry]) -> tuple[int, int]:
    """``(observations, events)`` among ``entries`` (one C-level count, not a Python loop: a cycle
    hands over thousands of sensor packets)."""
    kinds = Counter(map(type, map(_ITEM, entries)))
    return kinds[Observation], kinds[SessionEvent]


class JournalWriter:
    """The thread that applies journal entries to a :class:`~db.store.SqlStore`.

    Args:
        store: the database.
        journal: the journal to apply (this writer subscribes to it).
        interval_s: how often the thread wakes to fsync the journal and apply what is queued.
        max_backoff_s: the longest wait between retries while the database refuses.
        renew_s: seconds between renewals of the held session's lease.
    """

    def __init__(self, store: SqlStore, journal: Journal, *, interval_s: float = 0.25,
                 max_backoff_s: float = 5.0, renew_s: float = RENEW_S) -> None:
        if not 0 < interval_s <= 1.0:
            raise ValueError(f"interval_s must be in (0, 1] seconds, got {interval_s!r}")
        self._store = store
        self._journal = journal
        self._interval = interval_s
        self._max_backoff = max_backoff_s
        self._cond = threading.Condition()
        self._pending: deque[AnyEntry] = deque()
        self._pending_since: deque[tuple[int, float]] = deque()
        """``(last seq, monotonic time)`` of each group of entries handed over, oldest first."""
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
        self._renew_s = renew_s
        self._held: int | None = None
        """The session whose lease this workstation holds (None: none)."""
        self._next_renewal = 0.0
        self._renewal_failing = False
        journal.subscribe(self._written)
        self._thread = threading.Thread(target=self._run, name="kapmonitor-journal-writer", daemon=True)
        self._thread.start()
        self._stop_syncing = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="kapmonitor-journal-sync", daemon=True)
        self._syncer.start()

    # -- what the journal hands over ------------------------------------------------------------

    def _written(self, entries: Sequence[AnyEntry]) -> None:
        if not entries:
            return
        now = time.monotonic()
        observations, events = _tally(entries)
        counted = bool(observations or events)
        with self._cond:
            self._pending.extend(entries)
            self._pending_since.append((entries[-1][0], now))
            self._count(entries, +1, observations, events)
            self._written_seq = entries[-1][0]
            if counted:
                # A person's entry is applied at once; readings wait for the next cycle (they are
                # on disk in the journal already), so the database gets batches, not one per packet.
                self._cond.notify_all()
        if counted:
            self._publish()

    def _count(self, entries: Sequence[AnyEntry], sign: int, observations: int, events: int) -> None:
        """Add (``sign`` +1) or remove (-1) ``entries``, of which ``observations`` and ``events``
        (:func:`_tally`), from the counts of what waits."""
        self._counts["o"] += sign * observations
        self._counts["e"] += sign * events
        self._other += sign * (len(entries) - observations - events)

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
            waiting_since=self._pending_since[0][1] if self._pending_since else None)

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

    # -- the lease ------------------------------------------------------------------------------

    @property
    def holder(self) -> str:
        """Who holds leases taken here: this workstation's journal id."""
        return self._journal.journal_id

    def hold(self, session_id: int) -> None:
        """Keep renewing the lease of ``session_id`` (just claimed) until its end is applied."""
        with self._cond:
            self._held = session_id
            self._next_renewal = time.monotonic() + self._renew_s

    @property
    def held_session(self) -> int | None:
        with self._cond:
            return self._held

    def _renew_if_due(self) -> None:
        with self._cond:
            held = self._held
            if held is None or time.monotonic() < self._next_renewal:
                return
            status = self._status_locked()
        try:
            renewed = self._store.renew(held, self.holder, status)
        except Exception as exc:  # an outage: not an error, the next cycle tries again
            if not self._renewal_failing:
                log.info("the lease of session %d could not be renewed (renewed again when the database "
                         "answers): %s", held, exc)
            self._renewal_failing = True
            return
        if self._renewal_failing:
            log.info("the lease of session %d is renewed again", held)
        self._renewal_failing = False
        with self._cond:
            self._next_renewal = time.monotonic() + self._renew_s
            if not renewed and self._held == held:
                self._held = None
        if not renewed:
            log.warning("session %d is no longer this workstation's: another room took it over", held)

    def _release_if_ended(self, batch: Sequence[AnyEntry]) -> None:
        with self._cond:
            held = self._held
        if held is None:
            return
        ended = any(sid == held and isinstance(item, SessionEvent) and item.kind is EventKind.SESSION_ENDED
                    for _seq, sid, item in batch)
        if not ended:
            return
        with self._cond:
            self._held = None
        try:
            self._store.release(held, self.holder)
        except Exception as exc:  # it expires by itself in LEASE_S
            log.info("the lease of ended session %d was not released (it expires by itself): %s", held, exc)

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
            while self._pending and self._pending[0][0] <= target:
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
        self._stop_syncing.set()
        self._syncer.join(timeout)
        with self._cond:
            left = len(self._pending)
        if left:
            log.warning("%d journal entries are not in the database yet; they stay in the journal "
                        "and will be applied when kapmonitor opens this database again", left)
        return left == 0 and not self._thread.is_alive()

    # -- the threads ----------------------------------------------------------------------------

    def _sync_loop(self) -> None:
        """Write and fsync what the recording threads queued, every ``interval_s``, independently
        of the database (the journal's lock orders it with appends and the other thread's syncs)."""
        while not self._stop_syncing.wait(self._interval):
            try:
                self._journal.sync()
            except Exception:  # never expected (sync logs its I/O errors itself); keep syncing
                log.exception("the journal could not be synced")

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
            self._renew_if_due()
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
            tally = _tally(recovered)
            with self._cond:
                self._applied_seq = mark
                if recovered:
                    self._pending.extendleft(reversed(recovered))
                    self._pending_since.appendleft((recovered[-1][0], now))
                    self._count(recovered, +1, *tally)
                self._mark_known = True
            if recovered:
                log.info("replaying %d journal entries the database did not have yet", len(recovered))
        with self._cond:
            if not self._pending:
                self._error = None
                return False
            batch = list(islice(self._pending, BATCH_MAX))
        mark = self._store.apply_journal(self._journal.journal_id, batch)
        self._journal.applied(mark)
        tally = _tally(batch)
        if tally[1]:
            self._release_if_ended(batch)
        with self._cond:
            pop = self._pending.popleft
            for _ in range(len(batch)):
                pop()
            since = self._pending_since
            while since and since[0][0] <= mark:
                since.popleft()
            self._count(batch, -1, *tally)
            self._applied_seq = mark
            self._error = None
            self._cond.notify_all()
        return True
