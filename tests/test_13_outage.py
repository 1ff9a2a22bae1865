"""Acceptance (issue 13): the PostgreSQL server stopped for 60 s while two rooms record and notes
are typed: no note lost, no reading gap, both sessions complete once it returns.

Two real ``kapmonitor record`` processes (simulated sensors at 10x, rooms A and B) on one real
PostgreSQL server (tests/pg_cluster.py); the server is stopped (fast shutdown: connections cut)
for a real 60 s, the outage this acceptance point names. Everything else is kept short.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from pg_cluster import PgCluster
from record_process import Run, start_record

from db.store import SqlStore
from kapmonitor.types import EventKind, Stream

OUTAGE_S = 60.0


def _started(run: Run) -> int:
    run.wait_for_stderr(" started", timeout=60)
    line = next(x for x in run.stderr_text().splitlines() if x.endswith(" started"))
    return int(line.split()[2])


def _acked(run: Run) -> list[str]:
    with run.lock:
        return list(run.acked_observations)


def test_a_60_s_server_outage_loses_nothing_of_two_rooms(
        pg_cluster: PgCluster, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPMONITOR_LEASE_RENEW_S", "0.5")
    runs: dict[str, Run] = {}
    # Baseline 0.1 min, then 13 min after the dose at 10x: about 80 s, which outlasts the outage.
    for room, seed in (("Room A", 1), ("Room B", 2)):
        monkeypatch.setenv("KAPMONITOR_ROOM", room)
        runs[room] = start_record(pg_url, "--minutes", "13", speed=10.0, baseline_min=0.1, seed=seed)
    try:
        ids = {room: _started(run) for room, run in runs.items()}
        typed = 0

        def type_notes(tag: str) -> None:
            nonlocal typed
            for room, run in runs.items():
                run.type_line(f"{tag} note {typed} in {room}")
            typed += 1

        type_notes("before")
        deadline = time.monotonic() + 30
        while any(len(_acked(r)) < typed for r in runs.values()):
            assert time.monotonic() < deadline, "notes before the outage were not acknowledged"
            time.sleep(0.05)

        pg_cluster.stop()
        outage_started = time.monotonic()
        try:
            while time.monotonic() - outage_started < OUTAGE_S:
                type_notes("during")
                time.sleep(10.0)
            for run in runs.values():
                # Said on the terminal while the server is away; every note is acknowledged regardless.
                assert "waiting for the database" in run.stderr_text()
                assert len(_acked(run)) == typed, run.stderr_text()[-2000:]
                assert run.proc.poll() is None, run.stderr_text()[-2000:]
        finally:
            pg_cluster.start()
        type_notes("after")

        for run in runs.values():
            assert run.proc.stdin is not None
            run.proc.stdin.close()
            run.close(timeout=120)
            assert run.proc.returncode == 0, run.stderr_text()[-3000:]

        with SqlStore.open(pg_url) as store:
            for room, sid in ids.items():
                record = store.session(sid)
                assert record.ended_at is not None, f"{room}'s session did not complete"
                events = store.events(sid)
                assert len([e for e in events if e.kind is EventKind.SESSION_ENDED]) == 1
                stored = {o.observation_id for o in store.observations(sid)}
                acked = set(_acked(runs[room]))
                assert len(acked) == typed
                assert acked <= stored, f"{room}: notes lost: {sorted(acked - stored)}"
                texts = sorted(o.text for o in store.observations(sid))
                assert sum("during note" in t for t in texts) == typed - 2
                hr = store.load_stream(sid, Stream.HEART_RATE)
                assert len(hr.t) > 500
                gaps = np.diff(hr.t)
                assert gaps.max() < 3.0, f"{room}: a hole of {gaps.max():.1f} s in the stored heart rate"
                assert store.session_room(sid) == room
                lease = store.lease(sid)
                assert lease is not None
                assert not lease.live  # released at the end
    finally:
        for run in runs.values():
            if run.proc.poll() is None:
                run.proc.kill()
                run.close()
