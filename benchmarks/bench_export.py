"""CSV export of one 4-hour session vs a bare csv.writer of the same rows.

Store path: ``export_session_csv`` (all readings, events, observations and
alarms; time stamps, elapsed time, phase, flags formatted). Baseline: a bare
``sqlite3`` query of that session's readings in time order written unformatted
by ``csv.writer``. Both write to an in-memory text buffer. Goal: ratio <= 2.

Run: ``.venv/bin/python benchmarks/bench_export.py [--quick]`` (uses the cached
database of bench_review_load; --quick: 20 sessions).
"""

from __future__ import annotations

import csv
import io
import sqlite3

from _dbbench import best_of, quick, review_db

from db.export.csv import export_session_csv
from db.store import SqlStore


def main() -> None:
    n_sessions = 20 if quick() else 200
    path = review_db(n_sessions)
    sid = n_sessions // 2
    repeat = 3 if quick() else 7
    store = SqlStore.open(path)
    try:
        rows = export_session_csv(store, sid, io.StringIO(newline=""))
        t_store = best_of(lambda: export_session_csv(store, sid, io.StringIO(newline="")), repeat)
    finally:
        store.close()

    conn = sqlite3.connect(path)
    try:
        def bare() -> int:
            out = io.StringIO(newline="")
            writer = csv.writer(out)
            cur = conn.execute("SELECT session_id, t_ms, stream, value, flags, sensor_id FROM readings "
                               "WHERE session_id = ? ORDER BY t_ms, id", (sid,))
            writer.writerows(cur)
            return len(out.getvalue())

        bare()
        t_bare = best_of(bare, repeat)
    finally:
        conn.close()
    ratio = t_store / t_bare
    print(f"export: session {sid} of {n_sessions}: {rows} CSV rows (readings, events, 12 notes, 4 alarms)")
    print(f"  export_session_csv: {t_store * 1000:.0f} ms   bare csv.writer of the readings: "
          f"{t_bare * 1000:.0f} ms   ratio {ratio:.2f} (goal <= 2: {'ok' if ratio <= 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
