"""Acceptance (issue 13): two rooms record at once on one PostgreSQL database; room A is SIGKILLed
and resumed: it continues its own session, B's is untouched, and A cannot take B's session while B's
lease is live (it can once B has stopped for the lease time).

Real ``kapmonitor record`` processes (fast simulated clocks, tests/record_process.py) on a real
PostgreSQL server. The lease is shortened to 3 s (``KAPMONITOR_LEASE_S``, renewed every 0.5 s) so
the expiry costs seconds, not half a minute.
"""

from __future__ import annotations

import re
import time

import pytest
from record_process import Run, start_record

from db.store import SqlStore
from kapmonitor.types import EventKind


def _session_id(run: Run, word: str) -> int:
    run.wait_for_stderr(f" {word}", timeout=60)
    found = re.search(rf"session (\d+) {word}", run.stderr_text())
    assert found is not None, run.stderr_text()
    return int(found.group(1))


def _as_room(monkeypatch: pytest.MonkeyPatch, room: str) -> None:
    monkeypatch.setenv("KAPMONITOR_ROOM", room)


def _finish(run: Run) -> int:
    assert run.proc.stdin is not None
    run.proc.stdin.close()
    run.close(timeout=90)
    return int(run.proc.returncode)


def test_a_killed_room_resumes_its_own_session_and_cannot_take_a_live_one(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPMONITOR_LEASE_S", "3")
    monkeypatch.setenv("KAPMONITOR_LEASE_RENEW_S", "0.5")
    _as_room(monkeypatch, "Room B")
    b = start_record(pg_url, "--minutes", "120", seed=2)
    _as_room(monkeypatch, "Room A")
    a = start_record(pg_url, "--minutes", "120", seed=1)
    try:
        sb = _session_id(b, "started")
        sa = _session_id(a, "started")
        time.sleep(2.0)
        a.proc.kill()  # SIGKILL: no goodbye, its lease simply stops being renewed
        a.close()

        resumed = start_record(pg_url, "--resume", "--minutes", "3", seed=1)
        assert _finish(resumed) == 0, resumed.stderr_text()
        assert f"resumed session {sa} " in resumed.stderr_text()

        refused = start_record(pg_url, "--resume", "--take-over", str(sb), "--minutes", "3")
        assert _finish(refused) == 2, refused.stderr_text()
        assert (f"session {sb} is being recorded in Room B (lease renewed " in refused.stderr_text())
        assert "it can be taken over only once Room B has stopped for 3 s" in refused.stderr_text()

        with SqlStore.open(pg_url) as store:
            ended_a = [e for e in store.events(sa) if e.kind is EventKind.SESSION_ENDED]
            assert len(ended_a) == 1
            assert store.session(sa).ended_at is not None
            assert store.session(sb).ended_at is None  # B is untouched, still recording
            assert store.session_room(sb) == "Room B"
            assert not [e for e in store.events(sb)
                        if e.kind in (EventKind.SESSION_RESUMED, EventKind.SESSION_TAKEN_OVER)]
            assert b.proc.poll() is None

        b.proc.kill()
        b.close()
        time.sleep(3.5)  # B has stopped for longer than its lease
        taken = start_record(pg_url, "--resume", "--take-over", str(sb), "--minutes", "3",
                             "--clinician", "CD")
        assert _finish(taken) == 0, taken.stderr_text()
        assert f"session {sb} taken over from Room B by Room A" in taken.stderr_text()
        with SqlStore.open(pg_url) as store:
            events = store.events(sb)
            assert [dict(e.data) for e in events if e.kind is EventKind.SESSION_TAKEN_OVER] == [
                {"from_room": "Room B", "to_room": "Room A", "by": "CD"}]
            assert len([e for e in events if e.kind is EventKind.SESSION_ENDED]) == 1
            assert store.session_room(sb) == "Room A"
            assert store.latest_unfinished() is None
    finally:
        for run in (a, b):
            if run.proc.poll() is None:
                run.proc.kill()
                run.close()
