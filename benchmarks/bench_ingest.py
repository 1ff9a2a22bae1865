"""Ingest: readings through the store's writer thread vs raw sqlite3 executemany into the same schema.

Store path: ``add_readings`` in chunks of ``CHUNK`` Reading objects, then
``flush()`` (conversion to rows, queueing, batched executemany and commits on
the writer thread, synchronous=FULL). Baseline: one bare ``sqlite3``
connection with the same pragmas turning the same Reading objects into rows
and ``executemany`` + commit. Also printed: executemany of prebuilt tuples (no
conversion), for reference. Goal: store throughput / baseline >= 0.5.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--quick]``.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _dbbench import T0, quick

from db.sqltypes import to_epoch_ms
from db.store import SqlStore
from kapmonitor.protocols import PRESETS
from kapmonitor.store import SessionSpec
from kapmonitor.types import Reading, ReadingFlag, Stream

CHUNK = 500
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

    t_store = min(via_store() for _ in range(repeat))
    t_raw = min(raw(True) for _ in range(repeat))
    t_tuples = min(raw(False) for _ in range(repeat))
    for f in work.iterdir():
        f.unlink()
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


if __name__ == "__main__":
    main()
