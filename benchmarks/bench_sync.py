"""Commit latency with ``synchronous=FULL`` vs ``NORMAL`` (WAL), the cost of the durability promise.

Times ``save_observation`` (one small transaction, what the therapist waits on)
and a 0.25 s batch of readings for each setting. In WAL mode NORMAL skips the
fsync at commit, so a power cut can lose transactions that ``commit()``
reported done; FULL syncs the WAL on every commit. The baseline is NORMAL; the
ratio shows what FULL costs.

Run: ``.venv/bin/python benchmarks/bench_sync.py [--quick]``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _dbbench import T0, quick

from db.engine import Synchronous
from db.store import SqlStore
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import Observation, ObservationKind, Reading, Stream, new_observation_id


def measure(path: Path, synchronous: Synchronous, n: int) -> tuple[float, float]:
    store = SqlStore.open(path, synchronous=synchronous)
    try:
        sid = store.create_session(SessionSpec("K-1", PRESETS["sublingual"]), T0)
        obs_times = []
        for i in range(n):
            o = Observation(new_observation_id(), 1, ObservationKind.NOTE, "note", T0, T0, text=f"note {i}")
            started = time.perf_counter()
            store.save_observation(sid, o)
            obs_times.append(time.perf_counter() - started)
        batch_times = []
        for i in range(n):
            batch = [Reading(Stream.HEART_RATE, 70.0, T0 + timedelta(seconds=i, milliseconds=k), "s")
                     for k in range(3)]
            started = time.perf_counter()
            store.add_readings(sid, batch)
            store.flush()
            batch_times.append(time.perf_counter() - started)
    finally:
        store.close()
    return statistics.median(obs_times), statistics.median(batch_times)


def main() -> None:
    n = 30 if quick() else 200
    work = Path(tempfile.mkdtemp(prefix="kap-bench-sync-"))
    normal = measure(work / "normal.db", "NORMAL", n)
    full = measure(work / "full.db", "FULL", n)
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    print(f"commit latency, median of {n} (file system of {tempfile.gettempdir()}):")
    print(f"  save_observation: NORMAL {normal[0] * 1000:.2f} ms   FULL {full[0] * 1000:.2f} ms   "
          f"ratio {full[0] / normal[0]:.2f}")
    print(f"  readings batch add+flush: NORMAL {normal[1] * 1000:.2f} ms   FULL {full[1] * 1000:.2f} ms   "
          f"ratio {full[1] / normal[1]:.2f}")


if __name__ == "__main__":
    main()
