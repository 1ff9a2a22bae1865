"""Review load: one 4-hour session's HR, RR and SpO2 into numpy arrays, from a 200-session database.

Store path: ``SqlStore.load_stream`` three times. Baseline: a bare ``sqlite3``
connection, the same query, ``np.fromiter`` of the same rows. Goals: ratio
store/baseline <= 1.5 and under 100 ms. Also times the session list
(``sessions()``: one SQL query reading the sessions' counters) on the same
database; ``bench_session_list.py`` measures it against a baseline and at 2000 sessions.

Run: ``.venv/bin/python benchmarks/bench_review_load.py [--quick]`` (--quick: 20 sessions).
"""

from __future__ import annotations

import sqlite3

import numpy as np
from _dbbench import best_of, quick, review_db

from db.store import SqlStore
from kapmonitor.types import Stream

STREAMS = (Stream.HEART_RATE, Stream.RR_INTERVAL, Stream.SPO2)
SQL = "SELECT t_ms, value, flags FROM readings WHERE session_id = ? AND stream = ? ORDER BY t_ms, id"
DTYPE = np.dtype([("t", np.int64), ("v", np.float64), ("f", np.int32)])


def main() -> None:
    n_sessions = 20 if quick() else 200
    path = review_db(n_sessions)
    sid = n_sessions // 2
    repeat = 5 if quick() else 11

    store = SqlStore.open(path)
    try:
        def load_store() -> int:
            return sum(len(store.load_stream(sid, s)) for s in STREAMS)

        rows = load_store()
        t_store = best_of(load_store, repeat)
        t_list = best_of(store.sessions, 3)
        n_listed = len(store.sessions())
    finally:
        store.close()

    conn = sqlite3.connect(path)
    try:
        def load_bare() -> int:
            total = 0
            for s in STREAMS:
                cur = conn.execute(SQL, (sid, s.value))
                arr = np.fromiter(cur, dtype=DTYPE)
                total += len(arr["t"] / 1000.0)
            return total

        assert load_bare() == rows
        t_bare = best_of(load_bare, repeat)
    finally:
        conn.close()

    ratio = t_store / t_bare
    print(f"review load: {rows} rows (HR+RR+SpO2, 4 h) from {n_sessions} sessions")
    verdict = "ok" if ratio <= 1.5 and t_store < 0.1 else "MISSED"
    print(f"  store load_stream x3: {t_store * 1000:.1f} ms   "
          f"bare sqlite3+fromiter: {t_bare * 1000:.1f} ms   "
          f"ratio {ratio:.2f} (goal <= 1.5, and < 100 ms: {verdict})")
    print(f"  sessions() for {n_listed} sessions: {t_list * 1000:.0f} ms")


if __name__ == "__main__":
    main()
