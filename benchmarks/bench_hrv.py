"""Per-phase HRV of one 4-hour session's RR stream vs the CSV export of the same session.

The session is one of bench_review_load's cached database (``_dbbench.review_db``: RR ~1.2 Hz,
17 280 intervals over 4 hours, ~1 % stored flagged; dose at +20 min, sublingual protocol, so the
phases are preparation 20 min, onset 10, effect 45 and integration about 2 h 50). The intervals
are random around 833 ms rather than a breathing rhythm, so the correction finds more to do than
in a real recording: a pessimistic case for the time it takes.

HRV: what the summary runs for every session it opens (:mod:`kapmonitor.hrv_periods`) -- the
stream corrected once (Lipponen & Tarvainen 2019, in runs cut at gaps and flagged intervals),
then each phase's time domain, Poincaré and Task Force spectrum over the whole phase and over
its consecutive 5-minute windows. Baseline: ``export_session_csv`` of the same session (all
readings, events, observations and alarms) into memory, timed in the same run. Both are the
best of N runs; the RR stream is loaded once beforehand (loading is not HRV).

Run: ``.venv/bin/python benchmarks/bench_hrv.py [--quick]`` (--quick: 20 cached sessions, 3 runs
each; otherwise 200 sessions, 7 runs).
"""

from __future__ import annotations

import io

from _dbbench import best_of, quick, review_db

from db.export.csv import export_session_csv
from db.store import SqlStore
from kapmonitor.hrv_periods import PeriodHrv, correct_stream, period_hrv
from kapmonitor.review_series import usable_mask
from kapmonitor.summary import RR_GAP_S, summarize
from kapmonitor.types import Stream


def main() -> None:
    n_sessions = 20 if quick() else 200
    repeat = 3 if quick() else 7
    sid = n_sessions // 2
    store = SqlStore.open(review_db(n_sessions))
    try:
        record = store.session(sid)
        rr = store.load_stream(sid, Stream.RR_INTERVAL)
        report = summarize(record.spec.protocol, store.events(sid), {Stream.RR_INTERVAL: rr})
        bounds = [(p.start.timestamp(), p.end.timestamp()) for p in report.phases]

        def hrv() -> list[PeriodHrv]:
            stream = correct_stream(rr.t, rr.value, ~usable_mask(rr), gap_s=RR_GAP_S)
            return [period_hrv(stream, lo, hi) for lo, hi in bounds]

        phases = hrv()
        t_hrv = best_of(hrv, repeat)
        rows = export_session_csv(store, sid, io.StringIO(newline=""))
        t_csv = best_of(lambda: export_session_csv(store, sid, io.StringIO(newline="")), repeat)
    finally:
        store.close()
    windows = sum(len(p.windows) for p in phases)
    corrected = sum(p.whole.corrected for p in phases)
    excluded = sum(p.whole.excluded for p in phases)
    print(f"hrv: session {sid} of {n_sessions}: {len(rr)} RR intervals, {len(phases)} phases, {windows} "
          f"5-minute windows; {corrected} corrected, {excluded} excluded as stored flagged")
    print(f"  per-phase HRV (correction + whole phases + windows): {t_hrv * 1000:.0f} ms   "
          f"CSV export of the session ({rows} rows): {t_csv * 1000:.0f} ms   ratio {t_hrv / t_csv:.2f}")


if __name__ == "__main__":
    main()
