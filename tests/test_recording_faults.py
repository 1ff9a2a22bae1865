"""``kapmonitor record`` against real faults: a database locked by another process, a full disk, a
kill while the database is stalled, a clock that ran ahead, and days of simulated time.

Each test runs the real command in its own process, types notes on its standard input as a
therapist at a terminal would, and checks the database afterwards.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from record_process import Run, start_record

from db.journaled_store import JournaledStore
from db.store import SqlStore
from kapmonitor.types import EventKind, Stream

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def _write_locked(db: Path) -> Iterator[None]:
    """Another process holds the database's write lock (as a backup tool or a second app would)."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute('BEGIN IMMEDIATE');"
         "print('locked', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    try:
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()


def _wait_for_readings(run: Run) -> None:
    deadline = time.monotonic() + 60
    while len(run.progress) < 3:
        assert run.proc.poll() is None, run.stderr_text()[-3000:]
        assert time.monotonic() < deadline, run.stderr_text()[-3000:]
        time.sleep(0.05)


def _wait_acked(run: Run, count: int, timeout: float) -> None:
    """Wait until ``count`` observations were acknowledged as saved on stdout."""
    deadline = time.monotonic() + timeout
    while len(run.acked_observations) < count:
        assert time.monotonic() < deadline, run.stderr_text()[-3000:]
        time.sleep(0.05)


def _notes(db: Path) -> list[str]:
    with SqlStore.open(db) as store:
        (summary,) = store.sessions()
        return [o.text for o in store.observations(summary.session_id)]


def test_notes_typed_while_another_process_holds_the_database_locked_for_60_s(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    run = start_record(db, "--minutes", "1.6", speed=1.0, baseline_min=0.0)
    _wait_for_readings(run)
    with _write_locked(db):
        locked_from = time.time()
        for n in range(30):
            run.type_line(f"note {n} while the database is locked")
            time.sleep(2.0)
        run.wait_for_stderr("waiting for the database — kept safely on this computer", timeout=5)
        with run.lock:
            acked = len(run.acked_observations)
        assert acked == 30  # every note acknowledged as saved while the lock was held
        locked_until = time.time()
    assert locked_until - locked_from >= 60
    assert run.proc.stdin is not None
    run.proc.stdin.close()
    run.close(timeout=120)
    err = run.stderr_text()
    assert run.proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert "the database has everything recorded so far" in err
    notes = _notes(db)
    assert sorted(notes) == sorted(f"note {n} while the database is locked" for n in range(30))
    with SqlStore.open(db) as store:
        sid = store.sessions()[0].session_id
        hr = store.load_stream(sid, Stream.HEART_RATE)
        assert np.diff(hr.t).max() <= 2.0, "a gap in the stored heart rate"
        assert not [a for a in store.alarms(sid) if a.alarm_id.startswith("no_data")], "a false no-data alarm"
        typed = [o.occurred_at.timestamp() for o in store.observations(sid)]
        # stamped when typed, not when the database took them
        assert max(typed) < locked_until + 1


def test_notes_typed_while_the_disk_is_full_reach_the_database_once_space_returns(tmp_path: Path) -> None:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'})")
    try:
        env_data = mount / "data"
        os.environ["XDG_DATA_HOME"] = str(env_data)  # the journal on the same small disk
        db = mount / "full.db"
        run = start_record(db, "--minutes", "30", speed=5.0, baseline_min=0.0)
        _wait_for_readings(run)
        filler = mount / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as out:  # the disk may be full already
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        for n in range(8):
            run.type_line(f"note {n} on a full disk")
            time.sleep(0.5)
        run.wait_for_stderr("observation not saved yet", timeout=20)
        filler.unlink(missing_ok=True)
        run.wait_for_stderr("the database has everything recorded so far", timeout=60)
        for n in range(8, 10):
            run.type_line(f"note {n} after space returned")
        _wait_acked(run, 10, timeout=60)
        run.proc.send_signal(signal.SIGINT)
        run.close(timeout=60)
        assert run.proc.returncode == 0, run.stderr_text()[-3000:]
        notes = _notes(db)
        expected = [f"note {n} on a full disk" for n in range(8)] + [
            f"note {n} after space returned" for n in range(8, 10)]
        assert sorted(notes) == sorted(expected)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_sigkill_while_the_database_is_stalled_then_restart_keeps_every_acknowledged_note(
        tmp_path: Path) -> None:
    db = tmp_path / "stalled.db"
    run = start_record(db, "--minutes", "60", speed=1.0, baseline_min=0.0)
    _wait_for_readings(run)
    with _write_locked(db):
        for n in range(6):
            run.type_line(f"note {n} before the kill")
        _wait_acked(run, 6, timeout=10)
        run.proc.send_signal(signal.SIGKILL)
        run.close()
    assert len(_notes(db)) == 0  # nothing reached the database before the kill...
    resumed = start_record(db, "--resume", "--minutes", "0.1", speed=1.0, baseline_min=0.0)
    assert resumed.proc.stdin is not None
    resumed.proc.stdin.close()
    resumed.close(timeout=60)
    assert resumed.proc.returncode == 0, resumed.stderr_text()[-3000:]
    notes = _notes(db)  # ...and the restart applied the journal, each note once
    assert sorted(notes) == sorted(f"note {n} before the kill" for n in range(6))


def test_resume_at_normal_speed_after_a_fast_session_was_killed(tmp_path: Path) -> None:
    db = tmp_path / "fast.db"
    fast = start_record(db, "--minutes", "120", speed=120.0, baseline_min=1.0)
    _wait_for_readings(fast)
    time.sleep(3.0)  # six minutes of session time ahead of the wall clock
    fast.proc.send_signal(signal.SIGKILL)
    fast.close()
    resumed = start_record(db, "--resume", "--minutes", "0.5", speed=1.0, baseline_min=0.0)
    resumed.wait_for_stderr("resumed session", timeout=60)
    time.sleep(3.0)
    resumed.proc.send_signal(signal.SIGINT)
    resumed.close(timeout=60)
    assert resumed.proc.returncode == 0, resumed.stderr_text()[-3000:]
    with JournaledStore.open(db) as store:
        (summary,) = store.sessions()
        events = store.events(summary.session_id)
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.SESSION_STARTED) == 1 and EventKind.SESSION_RESUMED in kinds
    (step,) = [e for e in events if e.kind is EventKind.CLOCK_STEPPED]
    assert float(step.data["step_s"] or 0) < -60  # the record lay minutes ahead of this clock
    out = subprocess.run([sys.executable, "-m", "kapmonitor", "--db", str(db), "export", "latest"],
                         capture_output=True, text=True, check=True).stdout
    times = [datetime.fromisoformat(row["timestamp_utc"]) for row in csv.DictReader(io.StringIO(out))
             if row.get("timestamp_utc")]
    assert len(times) > 100
    assert all(a <= b for a, b in itertools.pairwise(times)), "export times go backwards"


def test_twelve_hours_at_600x_record_to_the_end_from_three_start_offsets(tmp_path: Path) -> None:
    runs: list[tuple[Path, Run]] = []
    for n in range(3):
        db = tmp_path / f"long{n}.db"
        runs.append((db, start_record(db, "--minutes", "720", speed=600.0, baseline_min=5.0, seed=11 + n)))
        time.sleep(1.37 * (n + 1))  # each process starts at another monotonic offset
    for _, run in runs:
        assert run.proc.stdin is not None
        run.proc.stdin.close()
    for _, run in runs:  # every process ends (and its pipes close) before anything is judged
        run.close(timeout=240)
    for db, run in runs:
        assert run.proc.returncode == 0, run.stderr_text()[-3000:]
        with SqlStore.open(db) as store:
            (summary,) = store.sessions()
            assert summary.ended_at is not None and summary.dose_at is not None
            hr = store.load_stream(summary.session_id, Stream.HEART_RATE)
            # readings all the way: the last within a minute of session time (0.1 s real) of the end
            assert hr.t[-1] - summary.dose_at.timestamp() >= 720 * 60 - 60
            assert np.diff(hr.t).max() <= 5.0, f"a gap of {np.diff(hr.t).max():.1f} s of session time"
