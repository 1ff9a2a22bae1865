"""Every export format on one 4-hour session, against the CSV export of the same session in the same run.

The session is one of bench_review_load's cached database (``_dbbench.review_db``: heart rate 1 Hz,
RR ~1.2 Hz, SpO2 1 Hz, ~1 % of RR flagged, 12 notes, 4 alarms), copied, with a blood pressure
measurement every 5 minutes added (48 systolic/diastolic pairs). Each format writes the whole
session through its registry row (``Exporter.write_to``, what ``kapmonitor export`` runs, minus the
file's atomic rename) into memory; the figure is the best of N runs. Baseline: the ``csv`` format.

Run: ``.venv/bin/python benchmarks/bench_exporters.py [--quick]`` (--quick: 20 cached sessions,
3 runs each; otherwise 200 sessions, 7 runs).
"""

from __future__ import annotations

import io
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from _dbbench import SESSION_S, T0, best_of, quick, review_db

from db.export import EXPORTERS
from db.export.source import StoredSession
from db.store import SqlStore
from kapmonitor.exporters import ExportOptions

BP_EVERY_S = 300
CUFF = "E8:11:22:33:44:55"


def _with_blood_pressure(source: Path, folder: Path, session_id: int, day: int) -> Path:
    """A copy of ``source`` with a cuff measurement every :data:`BP_EVERY_S` in ``session_id``."""
    path = folder / "exporters.db"
    shutil.copyfile(source, path)
    path.chmod(0o600)
    t0_ms = int(T0.timestamp() * 1000) + day * 86_400_000 + 60_000
    rows = []
    for k in range(SESSION_S // BP_EVERY_S):
        t = t0_ms + k * BP_EVERY_S * 1000
        rows += [(session_id, "bp_systolic", t, 118.0 + k % 9, CUFF, 8),
                 (session_id, "bp_diastolic", t, 76.0 + k % 5, CUFF, 8)]
    conn = sqlite3.connect(path)
    try:
        conn.executemany("INSERT INTO readings (session_id, stream, t_ms, value, sensor_id, flags) "
                         "VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
    finally:
        conn.close()
    return path


def main() -> None:
    n_sessions = 20 if quick() else 200
    repeat = 3 if quick() else 7
    sid = n_sessions // 2
    options = ExportOptions(generated_at=datetime(2026, 1, 1, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        path = _with_blood_pressure(review_db(n_sessions), Path(tmp), sid, sid - 1)
        store = SqlStore.open(path)
        try:
            source = StoredSession(store, sid)
            results = []
            for exporter in EXPORTERS:
                out = io.BytesIO()
                count = exporter.write_to(source, out, options)

                def run(write=exporter.write_to) -> None:  # type: ignore[no-untyped-def]
                    write(source, io.BytesIO(), options)

                results.append((exporter, count, len(out.getvalue()), best_of(run, repeat)))
        finally:
            store.close()
    baseline = results[0][3]
    print(f"exporters: session {sid} of {n_sessions}, 4 h: HR 1 Hz, RR ~1.2 Hz, SpO2 1 Hz, BP every "
          f"{BP_EVERY_S // 60} min, 12 notes, 4 alarms; best of {repeat}, baseline the csv format")
    for exporter, count, size, seconds in results:
        print(f"  {exporter.name:<5} {seconds * 1000:7.0f} ms   ratio {seconds / baseline:5.2f}   "
              f"{count:>6} {exporter.counts:<10} {size / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()
