"""Crash safety, proven: SIGKILL ``kapmonitor record`` at random moments and check the record.

On SQLite and on PostgreSQL (``db_location``). Each trial kills the recording process without
warning, then checks that:

* the database passes ``PRAGMA integrity_check`` (SQLite; a PostgreSQL server keeps its own);
* every observation and event the process acknowledged on stdout is stored;
* heart-rate readings are missing for at most the last second (real time) before the kill;
* ``--resume`` continues the same session with its clock anchored at the original dose.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from datetime import datetime, timedelta

import numpy as np
import pytest
from record_process import Run, start_record

from db.journaled_store import JournaledStore
from db.paths import is_url
from db.store import SqlStore
from kapmonitor.protocols import PRESETS
from kapmonitor.types import EventKind, Phase, Stream

pytestmark = pytest.mark.slow

SPEED = 60.0  # clock seconds per real second
BASELINE_MIN = 1.0


def _type_notes(run: Run, stop: threading.Event) -> None:
    assert run.proc.stdin is not None
    n = 0
    while not stop.is_set():
        n += 1
        try:
            run.proc.stdin.write(f"note {n}, with a comma and \"quotes\"\n" if n % 3 else "!nausea\n")
            run.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return
        stop.wait(0.15)


def _kill_after(run: Run, seconds: float) -> float:
    """Let the process record (typing notes) for ``seconds`` after its first progress line, then SIGKILL."""
    stop = threading.Event()
    deadline = time.monotonic() + 30
    while not run.progress:
        assert run.proc.poll() is None, "".join(run.stderr_lines)
        assert time.monotonic() < deadline, "the recording never reported progress"
        time.sleep(0.02)
    typer = threading.Thread(target=_type_notes, args=(run, stop), daemon=True)
    typer.start()
    time.sleep(seconds)
    killed_at = time.monotonic()
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait(timeout=10)
    stop.set()
    typer.join(timeout=5)
    run.close()
    return killed_at


def _check_record(db: str, run: Run, killed_at: float) -> None:
    # Acknowledged means durable in the journal; the next start applies what the database lacks.
    with JournaledStore.open(db) as journaled:
        journaled.wait_applied(30)
    if not is_url(db):
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            con.close()
    store = SqlStore.open(db)
    try:
        (summary,) = store.sessions()
        sid = summary.session_id
        stored_obs = {o.observation_id for o in store.observations(sid)}
        with run.lock:
            acked_obs = list(run.acked_observations)
            acked_events = list(run.acked_events)
            progress = list(run.progress)
        assert acked_obs, "no observation was acknowledged before the kill"
        missing = [o for o in acked_obs if o not in stored_obs]
        assert not missing, f"acknowledged observations lost: {missing}"
        stored_events = {(e.kind.value, e.at) for e in store.events(sid)}
        lost_events = [e for e in acked_events if e not in stored_events]
        assert not lost_events, f"acknowledged events lost: {lost_events}"

        hr = store.load_stream(sid, Stream.HEART_RATE)
        assert len(hr) > 0
        # The last progress line printed at least 1 s (real) before the kill proves the clock
        # reading then; every reading older than that must be on disk.
        proofs = [p for p in progress if p[0] <= killed_at - 1.0]
        if proofs:
            _, proof_clock, _ = proofs[-1]
            assert hr.t[-1] >= proof_clock.timestamp() - 1.5, (
                f"readings lost: last stored at {hr.t[-1]}, clock was {proof_clock.timestamp()} "
                "more than 1 s before the kill"
            )
        # Within this run (the sensor is not running between a kill and the next --resume),
        # the stored heart rate has no holes.
        this_run = hr.t[hr.t >= progress[0][1].timestamp()]
        gaps = np.diff(this_run)
        assert len(this_run) > 10
        assert gaps.max() < 3.0, f"a hole of {gaps.max():.1f} s in the stored heart rate"
    finally:
        store.close()


def test_sigkill_trials_then_resume(db_location: str) -> None:
    db = db_location
    # Each kill-and-resume trial costs ~3 s; the journal is the same code on either store, so the
    # server gets one resumed trial and SQLite (the bedside default) three.
    trials = 1 if is_url(db) else 3
    rng = random.Random(20261128)
    first = start_record(db, "--minutes", "90")
    _check_record(db, first, _kill_after(first, rng.uniform(0.3, 1.0)))

    dose_at: datetime | None = None
    for _trial in range(trials):
        run = start_record(db, "--resume", "--minutes", "90")
        _check_record(db, run, _kill_after(run, rng.uniform(0.8, 3.0)))
        store = SqlStore.open(db)
        try:
            (summary,) = store.sessions()
            assert summary.ended_at is None
            if dose_at is not None:
                assert summary.dose_at == dose_at, "resuming moved the dose time"
            dose_at = summary.dose_at
        finally:
            store.close()
    assert dose_at is not None, "the resumed runs never reached the dose"

    final = start_record(db, "--resume", "--minutes", "14")
    assert final.proc.stdin is not None
    final.proc.stdin.close()
    final.close()
    assert final.proc.returncode == 0, "".join(final.stderr_lines)
    proto = PRESETS["sublingual"]
    for _, now, phase in final.progress:
        if phase == Phase.ENDED.value:  # the closing snapshot after session_ended
            continue
        elapsed = (now - dose_at).total_seconds()
        expected = (
            Phase.ONSET if elapsed < proto.onset_s
            else Phase.EFFECT if elapsed < proto.effect_end_s
            else Phase.INTEGRATION
        )
        # progress lines are printed from snapshots, so allow a line to straddle a boundary
        if abs(elapsed - proto.onset_s) > 2 and abs(elapsed - proto.effect_end_s) > 2:
            assert phase == expected.value, (now, elapsed, phase)
    store = SqlStore.open(db)
    try:
        (summary,) = store.sessions()
        assert summary.dose_at == dose_at
        assert summary.ended_at is not None
        events = store.events(summary.session_id)
        kinds = [e.kind for e in events]
        assert kinds.count(EventKind.DOSE_GIVEN) == 1
        assert kinds.count(EventKind.SESSION_RESUMED) == trials + 1
        phase_changes = {e.data["phase"]: e.at for e in events if e.kind is EventKind.PHASE_CHANGED}
        assert phase_changes["effect"] == dose_at + timedelta(minutes=proto.onset_min)
        assert events[-1].kind is EventKind.SESSION_ENDED
    finally:
        store.close()
