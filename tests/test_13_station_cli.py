"""``kapmonitor station --json`` as a process, beside a ``kapmonitor record`` process on one SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from record_process import start_record


def _station(db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kapmonitor", "--db", str(db), "station", "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_count_prints_one_line_per_update_and_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    db = tmp_path / "clinic.db"
    done = subprocess.run([sys.executable, "-m", "kapmonitor", "--db", str(db), "station", "--json",
                           "--count", "3", "--interval", "0.2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        update = json.loads(line)
        assert update["rooms"] == [] and datetime.fromisoformat(update["at"]).utcoffset() is not None

    proc = _station(db, "--interval", "0.2")
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["rooms"] == []
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(timeout=30) == 0
    with proc.stderr:
        assert proc.stderr.read() == ""


def test_station_shows_a_recording_room_within_2_s_and_marks_it_silent_when_it_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "clinic.db"
    monkeypatch.setenv("KAPMONITOR_ROOM", "Room 7")
    monkeypatch.setenv("KAPMONITOR_LEASE_RENEW_S", "0.5")
    monkeypatch.setenv("KAPMONITOR_LEASE_S", "2")
    record = start_record(db, "--minutes", "10", "--client", "K-0077", speed=1.0, baseline_min=0.1)
    station: subprocess.Popen[str] | None = None
    try:
        record.wait_for_stderr("progress now=")
        station = _station(db, "--interval", "0.5")
        seen: list[tuple[float, dict[str, Any]]] = []

        def read() -> None:
            assert station is not None and station.stdout is not None
            for line in station.stdout:
                seen.append((time.time(), json.loads(line)))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while sum(1 for _, u in seen if u["rooms"] and u["rooms"][0]["heart_rate"]) < 10:
            assert time.monotonic() < deadline, seen[-3:]
            time.sleep(0.1)
        live = [(t, u["rooms"][0]) for t, u in seen if u["rooms"] and u["rooms"][0]["heart_rate"]]
        room = live[-1][1]
        assert (room["room"], room["client_code"], room["live"]) == ("Room 7", "K-0077", True)
        assert room["sensors"][0]["state"] == "connected"
        # Staleness: how old the newest heart rate shown was when the line arrived.
        staleness = [t - datetime.fromisoformat(r["heart_rate"]["at"]).timestamp() for t, r in live]
        print(f"station staleness: max {max(staleness):.2f} s over {len(staleness)} updates")
        assert max(staleness) < 2.0, staleness

        record.proc.send_signal(signal.SIGKILL)
        record.proc.wait(timeout=10)
        killed = time.time()
        while not (seen and seen[-1][1]["rooms"] and not seen[-1][1]["rooms"][0]["live"]):
            assert time.time() - killed < 15, seen[-1]
            time.sleep(0.1)
        silent = seen[-1][1]["rooms"][0]
        assert silent["silent_for_s"] >= 2.0 and silent["room"] == "Room 7"
        station.send_signal(signal.SIGINT)  # Ctrl-C
        assert station.wait(timeout=30) == 0
        assert station.stderr is not None
        with station.stderr:
            assert "Traceback" not in station.stderr.read()
    finally:
        if station is not None:
            if station.poll() is None:
                station.kill()
                station.wait()
            for pipe in (station.stdout, station.stderr):
                if pipe is not None:
                    pipe.close()
        if record.proc.poll() is None:
            record.proc.kill()
        record.close(timeout=30)
