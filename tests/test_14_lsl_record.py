"""``kapmonitor record --lsl`` end to end: an inlet in another process receives the heart rate and the
markers on the loopback interface, and the session's CSV holds the same values, in the same order,
at consistent times.

Both processes run with LSLAPICFG naming tests/lsl14_inlet.py's loopback-only configuration.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from lsl14_inlet import write_loopback_config
from record_process import start_record

ROOM = "LSL room 1"
SPEED = 30.0
"""A clock second is 1/30 real second; the stamps are real LSL seconds (ui/lsl_outlets.py)."""
TOLERANCE_S = 2.0
"""Session seconds a stamp may differ from the CSV's time once mapped (67 ms real at 30x: scheduling)."""
INLET = Path(__file__).with_name("lsl14_inlet.py")
UNUSABLE = ("artifact", "no_contact", "implausible")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _rows(csv_file: Path) -> list[dict[str, str]]:
    with csv_file.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _best_alignment(received: list[tuple[float, float]],
                    csv_hr: list[tuple[float, float]]) -> tuple[int, float]:
    """Where the received run of values sits in the CSV's heart rates: (first index, worst time error s).

    A candidate start must match every value; of those, the one whose times agree best wins (heart
    rate repeats, so the values alone could match in several places).
    """
    values = [v for _, v in received]
    best: tuple[int, float] | None = None
    for j in range(len(csv_hr) - len(values) + 1):
        if [v for _, v in csv_hr[j:j + len(values)]] != values:
            continue
        offset = csv_hr[j][0] - received[0][0] * SPEED
        worst = max(abs(t_csv - (offset + stamp * SPEED))
                    for (stamp, _), (t_csv, _) in zip(received, csv_hr[j:j + len(values)], strict=True))
        if best is None or worst < best[1]:
            best = (j, worst)
    assert best is not None, f"the {len(values)} received heart rates are not a run of the CSV's"
    return best


def _marker_of(row: dict[str, str]) -> str:
    """The marker label the outlets send for a CSV event, observation or alarm row."""
    if row["kind"] == "alarm":
        return f"alarm:{row['name']}:{row['action']}"
    return f"{row['kind']}:{row['name']}"


@pytest.mark.slow
def test_record_lsl_streams_what_the_csv_later_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSLAPICFG", str(write_loopback_config(tmp_path)))
    monkeypatch.setenv("KAPMONITOR_ROOM", ROOM)
    db, received_file = tmp_path / "lsl.db", tmp_path / "received.json"
    inlet = subprocess.Popen(
        [sys.executable, str(INLET), str(received_file), "--room", ROOM, "--timeout", "60"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = start_record(db, "--lsl", "--protocol", "intravenous", "--dose-mg", "35", "--minutes", "3",
                       speed=SPEED, baseline_min=2.0, seed=11)
    try:
        assert inlet.stdout is not None
        ready = inlet.stdout.readline()  # the inlets are open: every sample from here on must arrive
        assert ready.startswith("ready "), (ready, inlet.stderr.read() if inlet.poll() is not None else "")
        run.type_line("Client calm, eyes closed")
        run.type_line("!nausea")
        run.close(timeout=60)
        assert run.proc.returncode == 0, run.stderr_text()[-3000:]
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
        _, inlet_err = inlet.communicate(input="", timeout=30)  # end of input: the inlet writes its file
    assert inlet.returncode == 0, inlet_err[-3000:]
    got: dict[str, Any] = json.loads(received_file.read_text(encoding="utf-8"))
    ready_at: float = got["ready_at"]
    hr_stream, marker_stream = got["streams"]["HeartRate"], got["streams"]["Markers"]

    csv_file = tmp_path / "session.csv"
    subprocess.run([sys.executable, "-m", "kapmonitor", "--db", str(db), "export", "latest", "-o",
                    str(csv_file)], check=True, timeout=60, capture_output=True)
    rows = _rows(csv_file)
    session_id = rows[0]["session_id"]
    for stream in (hr_stream, marker_stream):
        assert stream["source_id"].startswith(f"kapmonitor/{ROOM}/session-{session_id}/")
    assert (hr_stream["labels"], hr_stream["units"]) == (["heart_rate"], ["bpm"])

    # heart rate: the received values are a run of the CSV's usable heart rates, at consistent times
    received = [(stamp, values[0]) for stamp, values in hr_stream["samples"]]
    csv_hr = [(_epoch(r["timestamp_utc"]), float(r["value"])) for r in rows
              if r["kind"] == "reading" and r["name"] == "heart_rate"
              and not any(flag in r["flags"].split("|") for flag in UNUSABLE)]
    assert len(received) >= 60, f"only {len(received)} heart rates received"
    start, worst = _best_alignment(received, csv_hr)
    assert worst < TOLERANCE_S
    offset = csv_hr[start][0] - received[0][0] * SPEED
    # the stream's own reference moment maps LSL time to session time the same way
    kap = ElementTree.fromstring(hr_stream["desc_xml"]).find("desc/kapmonitor")
    assert kap is not None
    assert kap.findtext("clock_speed") == "30"
    reference_utc, reference_lsl = kap.findtext("reference_utc", ""), kap.findtext("reference_lsl", "")
    reference = _epoch(reference_utc) - float(reference_lsl) * SPEED
    assert abs(reference - offset) < TOLERANCE_S
    # and none was lost from the moment the inlet was open to the end of the session
    first_due = next(i for i, (t, _) in enumerate(csv_hr) if (t - offset) / SPEED > ready_at + 0.2)
    assert start <= first_due
    assert start + len(received) == len(csv_hr), "every heart rate up to the end of the session arrived"

    # markers: each is an event, observation or alarm row of the CSV, at its time; none is missing
    # from the inlet's opening on (things recorded at the same moment by two threads, a dose and
    # the phase change it starts, may come in either order)
    markers = [(stamp, values[0]) for stamp, values in marker_stream["samples"]]
    timeline = [r for r in rows if r["kind"] in ("event", "observation", "alarm")]
    due = [r for r in timeline if (_epoch(r["timestamp_utc"]) - offset) / SPEED > ready_at + 0.2]
    labels = [text.split(" ", 1)[0] for _, text in markers]
    tail = markers[-len(due):]
    assert sorted(labels[-len(due):]) == sorted(_marker_of(r) for r in due), "every marker from then on"
    for row in due:
        t_row = _epoch(row["timestamp_utc"])
        stamp, text = min((m for m in tail if m[1].split(" ", 1)[0] == _marker_of(row)),
                          key=lambda m: abs(t_row - (offset + m[0] * SPEED)))
        tail.remove((stamp, text))
        assert abs(t_row - (offset + stamp * SPEED)) < TOLERANCE_S, (text, row)
        details = json.loads(text.split(" ", 1)[1]) if " " in text else {}
        if row["kind"] == "event":
            assert details == (json.loads(row["data"]) if row["data"] else {})
        elif row["kind"] == "observation":
            assert (details["id"], str(details["revision"]), details["text"]) == (
                row["observation_id"], row["revision"], row["text"])
    wanted = {"observation:note", "observation:nausea", "event:dose_given", "event:phase_changed",
              "event:session_ended"}
    assert wanted <= set(labels), labels
    note = next(json.loads(t.split(" ", 1)[1]) for _, t in markers if t.startswith("observation:note "))
    assert note["text"] == "Client calm, eyes closed"
