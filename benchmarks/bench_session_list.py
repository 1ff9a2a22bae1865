"""Session list: ``SqlStore.sessions()`` on 200 four-hour sessions and on 2000 sessions.

Store path: ``sessions()`` (one SQL query: the sessions' reading counters,
GROUP BY subqueries over observations, alarms and events, then the
``SessionSummary`` objects). Baseline: a bare ``sqlite3`` ``SELECT`` of the
same session and client columns with the same order, fetched as tuples (the
least any session list can cost). Also timed, for reference: the
``COUNT(*) ... GROUP BY`` over readings that the list ran before the counters
(schema 0002), whose cost grows with every reading stored.

The 200-session database holds real-size sessions (4 h, ~46 k readings each,
9.2 M in all). The 2000-session database has the same events, observations
and alarms per session but only 10 minutes of readings each (the list no
longer reads readings, and 92 M rows would take ~7 GB and many minutes to
build); its ``COUNT(*)`` line is therefore not what 2000 real sessions would
cost (scale the 200-session figure by ten for that).

Run: ``.venv/bin/python benchmarks/bench_session_list.py [--quick]`` (--quick: 20 and 200 sessions).
Databases are cached under /tmp by schema revision (first build: ~30 s and ~2 min).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from _dbbench import best_of, quick, review_db

from db.store import SqlStore

BARE = (
    "SELECT s.id, c.code, s.protocol_name, s.route, s.dose_amount, s.dose_unit, s.started_at, s.dose_at, "
    "s.ended_at, s.reading_count, s.last_reading_ms FROM sessions s JOIN clients c ON c.id = s.client_id "
    "ORDER BY s.started_at DESC, s.id DESC"
)
OLD_COUNT = "SELECT session_id, COUNT(*) FROM readings GROUP BY session_id"


def measure(path: Path, label: str) -> None:
    repeat = 7
    store = SqlStore.open(path)
    try:
        listed = store.sessions()
        t_store = best_of(store.sessions, repeat)
        t_latest = best_of(store.latest_unfinished, repeat)
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        bare = conn.execute(BARE).fetchall()
        assert [r[0] for r in bare] == [s.session_id for s in listed]
        assert [r[9] for r in bare] == [s.reading_count for s in listed]
        t_bare = best_of(lambda: conn.execute(BARE).fetchall(), repeat)
        counts = dict(conn.execute(OLD_COUNT).fetchall())
        assert all(counts.get(s.session_id, 0) == s.reading_count for s in listed), "counters disagree"
        t_count = best_of(lambda: conn.execute(OLD_COUNT).fetchall(), 3)
        n_readings = sum(counts.values())
    finally:
        conn.close()
    print(f"{label}: {len(listed)} sessions, {n_readings / 1e6:.2f} M readings")
    print(f"  sessions(): {t_store * 1000:.1f} ms   bare sqlite3 SELECT of the session columns: "
          f"{t_bare * 1000:.1f} ms   ratio {t_store / t_bare:.1f}")
    print(f"  latest_unfinished(): {t_latest * 1000:.1f} ms")
    print(f"  for reference, COUNT(*) GROUP BY over readings (the list before schema 0002): "
          f"{t_count * 1000:.0f} ms")


def main() -> None:
    small, large = (20, 200) if quick() else (200, 2000)
    measure(review_db(small), f"{small} real-size sessions (4 h of readings each)")
    measure(review_db(large, 600), f"{large} sessions (10 min of readings each)")


if __name__ == "__main__":
    main()
