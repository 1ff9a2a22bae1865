"""``kapmonitor sessions [--json]``: the recorded sessions, most recent first."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from kapmonitor.cli import EXIT_OK
from ui.cli.stores import open_reader


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def _duration(start: datetime, end: datetime) -> str:
    minutes = int((end - start).total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def cmd_sessions(args: argparse.Namespace) -> int:
    with open_reader(args) as store:
        rows = store.sessions()
    if args.json:
        payload = [
            {
                "session_id": s.session_id,
                "client_code": s.client_code,
                "protocol": s.protocol_name,
                "started_at": s.started_at.isoformat(),
                "dose_at": s.dose_at.isoformat() if s.dose_at else None,
                "ended_at": s.ended_at.isoformat() if s.ended_at else None,
                "duration_s": round(((s.ended_at or s.last_activity_at) - s.started_at).total_seconds(), 3),
                "phase_reached": s.phase_reached.value,
                "finished": s.ended_at is not None,
                "readings": s.reading_count,
                "observations": s.observation_count,
                "alarms": s.alarm_count,
            }
            for s in rows
        ]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not rows:
        print("no sessions recorded yet")
        return EXIT_OK
    header = f"{'id':>5}  {'client':<12} {'start (local)':<16} {'duration':>8}  {'phase reached':<13}"
    header += f" {'readings':>9} {'observ.':>7} {'alarms':>6}"
    print(header)
    for s in rows:
        end = s.ended_at or s.last_activity_at
        flag = "" if s.ended_at else "  (unfinished)"
        print(
            f"{s.session_id:>5}  {s.client_code:<12} {_local(s.started_at):<16} "
            f"{_duration(s.started_at, end):>8}  {s.phase_reached.value:<13} {s.reading_count:>9} "
            f"{s.observation_count:>7} {s.alarm_count:>6}{flag}"
        )
    return EXIT_OK


