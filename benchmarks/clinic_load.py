"""A clinic under load: N rooms recording 1 Hz sessions on one database, plus the central station.

Usage::

    .venv/bin/python benchmarks/clinic_load.py [--rooms 4,8,16] [--seconds 60] [--engines postgresql,sqlite]

For each engine and each N it starts N ``kapmonitor record`` processes (simulated sensor at speed 1,
rooms ``Room 1`` .. ``Room N``, ``--db`` the database) and one ``kapmonitor station --json`` process,
lets them run ``--seconds`` and measures:

* **commit lag** per room: when a reading first appears in the database (a sampler polls each
  session's ``last_reading_ms`` every 0.1 s on its own connection) minus the reading's time;
  p50 / p99 over the run, and the worst room;
* **station staleness**: when a station JSON line arrives minus the time of the newest heart rate it
  shows, per room and line; p50 / p99 / max (goal: p99 < 2 s at 16 rooms);
* **CPU seconds** over the run: the PostgreSQL server (postmaster, its live backends and the backends
  that exited, from ``/proc``), the N recorders together, the station.

PostgreSQL runs on a throw-away cluster made with ``tests/pg_cluster.py`` (imported through a path
insert; needs the Debian ``postgresql`` package), with durability switched back on (``fsync``,
``synchronous_commit``, ``full_page_writes``) because a clinic's server runs so. SQLite is one file on
this machine's disk, shared by the N processes, for comparison. The machine's core count limits what
is measured: on 2 cores, 16 recorders at 1 Hz plus the server compete for the same CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int, *, children: bool = False) -> float:
    """utime + stime (and, with ``children``, those of its waited-for children) of ``pid``, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _server_cpu(postmaster: int | None) -> float:
    if postmaster is None:
        return 0.0
    return _cpu_s(postmaster, children=True) + sum(_cpu_s(c) for c in _children(postmaster))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Run:
    lags: dict[int, list[float]] = field(default_factory=dict)
    staleness: list[float] = field(default_factory=list)
    station_lines: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def _sampler(url: str, run: Run) -> None:
    """Poll every session's newest reading time; record lag = first seen - reading time."""
    from sqlalchemy import text

    from db.engine import create_engine_for

    engine = create_engine_for(url)
    last: dict[int, int] = {}
    try:
        while not run.stop.is_set():
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT id, last_reading_ms FROM sessions "
                                         "WHERE ended_at IS NULL")).all()
            seen = time.time()
            for sid, t_ms in rows:
                if t_ms is not None and t_ms != last.get(sid):
                    if sid in last:
                        run.lags.setdefault(sid, []).append(seen - t_ms / 1000.0)
                    last[sid] = t_ms
            run.stop.wait(0.1)
    finally:
        engine.dispose()


def _wait_ready(url: str, rooms: int, timeout_s: float = 180.0) -> float:
    """Seconds until every room's session has readings in the database (16 processes starting at
    once on 2 cores take a while: imports, the schema check, the session, the first batch)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from db.engine import create_engine_for

    start = time.monotonic()
    engine = create_engine_for(url)
    try:
        while time.monotonic() - start < timeout_s:
            try:
                with engine.connect() as conn:
                    ready = conn.scalar(text("SELECT count(*) FROM sessions "
                                             "WHERE last_reading_ms IS NOT NULL"))
                if ready is not None and ready >= rooms:
                    return time.monotonic() - start
            except SQLAlchemyError:
                pass  # the schema is not made yet
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise RuntimeError(f"the {rooms} rooms did not all record within {timeout_s:g} s")


def _station_reader(proc: subprocess.Popen[str], run: Run, warm_until: float) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        arrived = time.time()
        update: dict[str, Any] = json.loads(line)
        run.station_lines += 1
        if arrived < warm_until:
            continue
        for room in update["rooms"]:
            hr = room.get("heart_rate")
            if hr and room["live"]:
                run.staleness.append(arrived - datetime.fromisoformat(hr["at"]).timestamp())


def measure(url: str, rooms: int, seconds: float, postmaster: int | None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    kap = [sys.executable, "-m", "kapmonitor", "--db", url]
    recorders = [
        subprocess.Popen([*kap, "--room", f"Room {i}", "record", "--sensor", "simulated", "--speed", "1",
                          "--baseline-minutes", "0.2", "--minutes", "600", "--seed", str(i),
                          "--client", f"K-{i:04d}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=env)
        for i in range(1, rooms + 1)]
    ready_s = _wait_ready(url, rooms)
    run = Run()
    sampler = threading.Thread(target=_sampler, args=(url, run), daemon=True)
    sampler.start()
    station = subprocess.Popen([*kap, "station", "--json", "--interval", "1"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=env)
    reader = threading.Thread(target=_station_reader, args=(station, run, time.time() + 4.0), daemon=True)
    reader.start()
    cpu0 = (_server_cpu(postmaster), sum(_cpu_s(p.pid) for p in recorders), _cpu_s(station.pid))
    time.sleep(seconds)
    cpu1 = (_server_cpu(postmaster), sum(_cpu_s(p.pid) for p in recorders), _cpu_s(station.pid))
    run.stop.set()
    for proc in (*recorders, station):
        proc.terminate()
    for proc in (*recorders, station):
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    sampler.join(10)
    reader.join(10)
    if station.stdout is not None:
        station.stdout.close()
    lags = [v for vs in run.lags.values() for v in vs]
    per_room_p99 = [_pct(vs, 99) for vs in run.lags.values()]
    return {
        "rooms": rooms, "rooms_seen": len(run.lags), "seconds": seconds, "startup_s": ready_s,
        "commit_lag_p50_s": _pct(lags, 50), "commit_lag_p99_s": _pct(lags, 99),
        "worst_room_lag_p99_s": max(per_room_p99, default=float("nan")),
        "staleness_p50_s": _pct(run.staleness, 50), "staleness_p99_s": _pct(run.staleness, 99),
        "staleness_max_s": max(run.staleness, default=float("nan")),
        "station_lines": run.station_lines,
        "server_cpu_s": cpu1[0] - cpu0[0], "recorders_cpu_s": cpu1[1] - cpu0[1],
        "station_cpu_s": cpu1[2] - cpu0[2],
    }


def _postmaster(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", default="4,8,16", help="comma-separated room counts (default 4,8,16)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run (default 60)")
    parser.add_argument("--engines", default="postgresql,sqlite", help="postgresql, sqlite or both")
    opts = parser.parse_args()
    counts = [int(n) for n in opts.rooms.split(",") if n.strip()]
    results = []
    for engine in [e.strip() for e in opts.engines.split(",") if e.strip()]:
        for rooms in counts:
            if engine == "postgresql":
                from pg_cluster import PgCluster

                cluster = PgCluster()
                try:
                    cluster.start()
                    for setting in ("fsync = on", "synchronous_commit = on", "full_page_writes = on"):
                        cluster.execute(f"ALTER SYSTEM SET {setting}")
                    cluster.execute("SELECT pg_reload_conf()")
                    url = cluster.create_database()
                    result = measure(url, rooms, opts.seconds, _postmaster(cluster.data_dir))
                finally:
                    cluster.close()
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    result = measure(str(Path(tmp) / "clinic.db"), rooms, opts.seconds, None)
            result["engine"] = engine
            results.append(result)
            print(json.dumps(result), flush=True)
    print()
    print(f"{'engine':<11}{'rooms':>6}{'lag p50':>9}{'lag p99':>9}{'worst':>8}{'stale p50':>10}"
          f"{'stale p99':>10}{'max':>7}{'server cpu':>11}{'rec. cpu':>9}{'stat. cpu':>10}")
    for r in results:
        print(f"{r['engine']:<11}{r['rooms']:>6}{r['commit_lag_p50_s']:>9.2f}{r['commit_lag_p99_s']:>9.2f}"
              f"{r['worst_room_lag_p99_s']:>8.2f}{r['staleness_p50_s']:>10.2f}{r['staleness_p99_s']:>10.2f}"
              f"{r['staleness_max_s']:>7.2f}{r['server_cpu_s']:>11.1f}{r['recorders_cpu_s']:>9.1f}"
              f"{r['station_cpu_s']:>10.1f}")
    print(f"(seconds per run: {opts.seconds:g}; CPU in seconds over the run; {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
