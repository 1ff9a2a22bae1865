"""Ingest: readings through the store's writer thread, and through the journal, vs raw sqlite3 executemany.

Store path: ``add_readings`` in chunks of ``CHUNK`` Reading objects, then
``flush()`` (conversion to rows, queueing, batched executemany and commits on
the writer thread, synchronous=FULL). Baseline: one bare ``sqlite3``
connection with the same pragmas turning the same Reading objects into rows
and ``executemany`` + commit. Also printed: executemany of prebuilt tuples (no
conversion), for reference. Goal: store throughput / baseline >= 0.5.

Journaled path (what the recorder uses): the same readings as sensor packets
(``PACKET`` readings per ``JournaledStore.add_readings`` call, one journal
entry each), then ``wait_applied()``; goal: throughput / baseline >= 0.5.
Split into its two halves, each measured alone:

* append only: the packets journaled while another process holds the
  database write-locked, so the writer applies nothing meanwhile;
* apply only: that backlog, once the lock is released, applied by the writer
  (the time its ``apply_journal`` transactions take after the release; the
  wait for the writer to notice the release is printed apart).

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--quick]``.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _dbbench import T0, ApplyTimes, quick, write_locked

from db.journaled_store import JournaledStore
from db.sqltypes import to_epoch_ms
from db.store import SqlStore
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import Reading, ReadingFlag, Stream

CHUNK = 500
PACKET = 2
SQL = "INSERT INTO readings (session_id, stream, t_ms, value, sensor_id, flags) VALUES (?, ?, ?, ?, ?, ?)"


def make_readings(n: int) -> list[Reading]:
    streams = (Stream.HEART_RATE, Stream.RR_INTERVAL, Stream.SPO2)
    return [Reading(streams[i % 3], 60.0 + i % 50, T0 + timedelta(milliseconds=333 * i), "F0:13:C3:5A:22:9B",
                    ReadingFlag.ARTIFACT if i % 97 == 0 else ReadingFlag.NONE) for i in range(n)]


def main() -> None:
    n = 60_000 if quick() else 300_000
    repeat = 2 if quick() else 3
    readings = make_readings(n)
    work = Path(tempfile.mkdtemp(prefix="kap-bench-ingest-"))
    runs = iter(range(1000))

    def fresh(label: str) -> tuple[Path, int]:
        path = work / f"{label}-{next(runs)}.db"
        with SqlStore.open(path) as store:
            return path, store.create_session(SessionSpec("K-1", PRESETS["sublingual"]), T0)

    def via_store() -> float:
        path, sid = fresh("store")
        store = SqlStore.open(path)
        try:
            started = time.perf_counter()
            for i in range(0, n, CHUNK):
                store.add_readings(sid, readings[i:i + CHUNK])
            store.flush()
            return time.perf_counter() - started
        finally:
            store.close()

    def raw(convert: bool) -> float:
        path, sid = fresh("raw")
        rows_ready = [(sid, r.stream.value, to_epoch_ms(r.at), r.value, r.sensor_id, int(r.flags))
                      for r in readings]
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        started = time.perf_counter()
        rows = ([(sid, r.stream.value, to_epoch_ms(r.at), float(r.value), r.sensor_id, int(r.flags))
                 for r in readings] if convert else rows_ready)
        conn.executemany(SQL, rows)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.close()
        return elapsed

    def journaled() -> tuple[float, float, int]:
        """(append + wait_applied, append alone) seconds, the writer applying meanwhile; transactions."""
        path, sid = fresh("journal")
        store = JournaledStore.open(path, journal_dir=work / f"journal-{next(runs)}")
        applies = ApplyTimes(store.database)
        try:
            started = time.perf_counter()
            for i in range(0, n, PACKET):
                store.add_readings(sid, readings[i:i + PACKET])
            appended = time.perf_counter()
            store.wait_applied(600)
            return time.perf_counter() - started, appended - started, len(applies.applied())
        finally:
            store.close()

    def journaled_split() -> tuple[float, float, float, int]:
        """(append only, apply only, release -> first commit, transactions) with the database
        write-locked by another process while appending."""
        path, sid = fresh("split")
        store = JournaledStore.open(path, journal_dir=work / f"journal-{next(runs)}")
        applies = ApplyTimes(store.database)
        try:
            with write_locked(path):
                started = time.perf_counter()
                for i in range(0, n, PACKET):
                    store.add_readings(sid, readings[i:i + PACKET])
                appended = time.perf_counter()
            released = time.perf_counter()
            store.wait_applied(600)
            after = [c for c in applies.applied() if c[1] > released]
            # the first transaction after the release may have begun (waiting on the lock) before it;
            # then it counts from the release on, SQLite's busy-wait sleep included (<= 0.1 s)
            first_start = max(after[0][0], released)
            return appended - started, applies.busy_after(released), first_start - released, len(after)
        finally:
            store.close()

    t_store = min(via_store() for _ in range(repeat))
    t_raw = min(raw(True) for _ in range(repeat))
    t_tuples = min(raw(False) for _ in range(repeat))
    j_runs = [journaled() for _ in range(repeat)]
    t_journal, t_journal_append, j_transactions = min(j_runs)
    split_runs = [journaled_split() for _ in range(max(1, repeat - 1))]
    t_append = min(r[0] for r in split_runs)
    t_apply = min(r[1] for r in split_runs)
    noticed = [r[2] for r in split_runs]
    transactions = split_runs[0][3]
    for f in sorted(work.rglob("*"), reverse=True):
        f.rmdir() if f.is_dir() else f.unlink()
    work.rmdir()
    ratio = t_raw / t_store
    print(f"ingest: {n} readings")
    print(f"  store add_readings+flush: {n / t_store / 1000:.0f} k rows/s ({t_store * 1000:.0f} ms)")
    print(f"  bare sqlite3 (Reading -> row + executemany): {n / t_raw / 1000:.0f} k rows/s "
          f"({t_raw * 1000:.0f} ms)")
    print(f"  bare sqlite3 (prebuilt tuples, reference):   {n / t_tuples / 1000:.0f} k rows/s "
          f"({t_tuples * 1000:.0f} ms)")
    print(f"  ratio store/bare throughput {ratio:.2f} (goal >= 0.5: {'ok' if ratio >= 0.5 else 'MISSED'}); "
          f"vs prebuilt tuples {t_tuples / t_store:.2f}")
    j_ratio = t_raw / t_journal
    print(f"  journaled add_readings ({PACKET}/packet, {n // PACKET} entries) + wait_applied: "
          f"{n / t_journal / 1000:.0f} k rows/s ({t_journal * 1000:.0f} ms, of which appending "
          f"{t_journal_append * 1000:.0f} ms with the writer applying meanwhile, in {j_transactions} "
          f"transactions, {n / PACKET / j_transactions:.0f} entries each)")
    print(f"    append only (database locked, nothing applied): {n / t_append / 1000:.0f} k rows/s "
          f"({t_append * 1000:.0f} ms, {n / PACKET / t_append / 1000:.0f} k entries/s)")
    print(f"    apply only (the writer, after the lock's release): {n / t_apply / 1000:.0f} k rows/s "
          f"({t_apply * 1000:.0f} ms in {transactions} transactions; it noticed the release after "
          f"{', '.join(f'{x * 1000:.0f}' for x in noticed)} ms)")
    print(f"  ratio journaled/bare throughput {j_ratio:.2f} "
          f"(goal >= 0.5: {'ok' if j_ratio >= 0.5 else 'MISSED'}); append only/bare {t_raw / t_append:.2f}, "
          f"apply only/bare {t_raw / t_apply:.2f}, journaled/store {t_store / t_journal:.2f}")


if __name__ == "__main__":
    main()
