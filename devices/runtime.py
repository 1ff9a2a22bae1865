"""The BLE runtime: one dedicated asyncio event-loop thread that hosts bleak.

Why a thread of its own (PITFALLS.md #2): Qt's asyncio integration cannot host bleak's D-Bus
transport on Linux, qasync's timers drift, and on Windows bleak wants to stay off the GUI's STA
thread. So every bleak object lives on one loop, in one thread named ``kapmonitor-ble``, and the
rest of the app talks to it only through :meth:`BleRuntime.submit` (run a coroutine there, get a
``concurrent.futures.Future`` back) and :meth:`BleRuntime.call_soon`. Sensors push results out
through their thread-safe sinks.

bleak keeps one BlueZ manager (one system-bus connection) per event loop, so a runtime is also
the unit of bleak state: a fresh runtime means a fresh D-Bus connection and caches.

Shutdown order (:meth:`BleRuntime.stop`), and why:

1. Refuse new work, so nothing starts a connection while we tear down.
2. Run every registered closer (each sensor's and live scanner's own stop) concurrently, with a
   time limit: they disconnect their ``BleakClient`` s (a BlueZ link otherwise stays up after we
   exit, and a dead client's notification subscription would survive) and stop scanning.
3. Cancel every task still pending on the loop and wait for them, so no callback runs later.
4. Close bleak's BlueZ-manager D-Bus connection for this loop (bleak never closes it itself; left
   open it would leak a socket and its watcher task).
5. Shut down async generators and the default executor, stop the loop, join the thread, close
   the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["THREAD_NAME", "BleRuntime"]

log = logging.getLogger(__name__)

THREAD_NAME = "kapmonitor-ble"
_T = TypeVar("_T")
Closer = Callable[[], Awaitable[None]]


class BleRuntime:
    """Owns the BLE event-loop thread. Start it once; stop it once at exit.

    Usable as a context manager (``with BleRuntime() as rt: ...``), which starts and stops it.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closers: dict[int, tuple[str, Closer]] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        self._accepting = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._accepting

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runtime's event loop (only for code already running on it)."""
        if self._loop is None:
            raise RuntimeError("the BLE runtime has not been started")
        return self._loop

    def on_runtime_thread(self) -> bool:
        """True when called from the runtime's own thread (e.g. from a sensor's sink)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> None:
        """Start the loop thread and return once the loop runs.

        Raises:
            RuntimeError: if already started (a runtime is started once).
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the BLE runtime was already started; create a new one")
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_log_loop_exception)
            ready = threading.Event()
            self._loop = loop
            self._thread = threading.Thread(
                target=self._run, args=(loop, ready), name=THREAD_NAME, daemon=True
            )
            self._thread.start()
        ready.wait()
        self._accepting = True

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect everything and stop the thread (see the module docstring for the order).

        Safe to call more than once and from any thread except the runtime's own.
        """
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None or not self._accepting:
                return
            self._accepting = False
        if threading.current_thread() is thread:
            raise RuntimeError("BleRuntime.stop() must not be called from the BLE thread")
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(timeout * 0.8), loop)
        try:
            fut.result(timeout)
        except Exception:
            log.exception("BLE runtime shutdown did not finish cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.error("BLE thread did not stop within %.1f s", timeout)

    async def _shutdown(self, budget_s: float) -> None:
        with self._lock:
            closers = list(self._closers.values())
            self._closers.clear()
        if closers:
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(*(_run_closer(name, c) for name, c in closers), return_exceptions=True),
                    timeout=budget_s / 2,
                )
            except TimeoutError:
                log.warning("closing %d BLE connection(s) took over %.1f s", len(closers), budget_s / 2)
            else:
                for (name, _), result in zip(closers, results, strict=True):
                    if isinstance(result, BaseException):
                        log.warning("closing %s failed: %r", name, result)
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=budget_s / 4)
        await _close_bleak_manager()
        await asyncio.get_running_loop().shutdown_asyncgens()
        await asyncio.get_running_loop().shutdown_default_executor()

    def __enter__(self) -> BleRuntime:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ work
    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Run ``coro`` on the BLE loop; the returned future resolves on the caller's side.

        Raises:
            RuntimeError: if the runtime is not running (the coroutine is closed, not leaked).
        """
        if not self._accepting or self._loop is None:
            coro.close()
            raise RuntimeError("the BLE runtime is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` on the BLE thread soon (fire and forget)."""
        if not self._accepting or self._loop is None:
            raise RuntimeError("the BLE runtime is not running")
        self._loop.call_soon_threadsafe(fn)

    def register_connection(self, name: str, closer: Closer) -> Callable[[], None]:
        """Have :meth:`stop` await ``closer()`` (on the BLE loop) before it cancels anything.

        Returns:
            A function that unregisters the closer (call it when the connection stopped itself).
        """
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._closers[key] = (name, closer)

        def unregister() -> None:
            with self._lock:
                self._closers.pop(key, None)

        return unregister


async def _run_closer(name: str, closer: Closer) -> None:
    log.debug("closing %s", name)
    await closer()


async def _close_bleak_manager() -> None:
    """Close the system-bus connection bleak's BlueZ manager holds for this loop (Linux only).

    bleak keeps the manager in a private per-loop dict and offers no public close; it tolerates
    the entry being gone (a later loop makes a new manager). Guarded so a bleak change only
    costs a log line, never the shutdown.
    """
    if sys.platform != "linux":
        return
    try:
        from bleak.backends.bluezdbus import manager as bluez_manager
    except ImportError:  # pragma: no cover - bleak without its BlueZ backend
        return
    instances: dict[asyncio.AbstractEventLoop, Any] | None = getattr(bluez_manager, "_global_instances", None)
    if instances is None:
        return
    mgr = instances.pop(asyncio.get_running_loop(), None)
    bus = getattr(mgr, "_bus", None)
    if bus is None:
        return
    with contextlib.suppress(Exception):
        bus.disconnect()
    # bleak's watcher task (cancelled in step 3) was awaiting the bus's disconnect future, which
    # its cancellation cancelled too; wait in a separate task so that cannot cancel us.
    waiter = asyncio.ensure_future(bus.wait_for_disconnect())
    await asyncio.wait({waiter}, timeout=1.0)
    if waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
        log.debug("closing bleak's D-Bus connection: %r", waiter.exception())
    elif not waiter.done():
        waiter.cancel()


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    log.error("BLE loop: %s", context.get("message", "unhandled error"), exc_info=exc)
