"""Issue 14, RR for Kubios: the file holds exactly the session's RR stream as recorded (values, order,
flagged intervals kept, full precision), one value in ms per line and nothing else, the same as the
CSV's RR rows; the de-identified file is the same file; the command line writes it; an unknown
session leaves no file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from export14_session import Recorded, export, record_session

from db.export import EXPORTERS
from db.export.rr import export_session_rr
from db.export.source import StoredSession
from db.store import SqlStore
from kapmonitor.exporters import ExportOptions
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import Reading, ReadingFlag, Stream
from ui.main import main

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record_session(tmp_path_factory.mktemp("rr14") / "k.db")


def test_the_file_is_the_rr_stream_as_recorded_and_the_csvs_rr_rows(recorded: Recorded,
                                                                     tmp_path: Path) -> None:
    target = tmp_path / "rr.txt"
    count = export(recorded, "rr", target)
    raw = target.read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw and raw.isascii()
    lines = raw.decode("ascii").split("\n")[:-1]
    assert count == len(lines) > 200
    with SqlStore.open(recorded.path) as store:
        stored = store.load_stream(recorded.session_id, Stream.RR_INTERVAL).value
    assert [float(x) for x in lines] == stored.tolist(), "every interval, in order, exactly"
    assert all(x.replace(".", "", 1).isdigit() for x in lines), "plain numbers: no header, sign or exponent"
    assert any(len(x.split(".")[-1]) >= 5 for x in lines if "." in x), "full precision (1/1024 s in ms)"
    export(recorded, "csv", tmp_path / "s.csv")
    with open(tmp_path / "s.csv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "reading" and r["name"] == "rr_interval"]
    assert [float(r["value"]) for r in rows] == [float(x) for x in lines]
    np.testing.assert_array_equal(np.loadtxt(target), stored)


def test_flagged_intervals_are_kept_and_a_deidentified_file_is_the_same(recorded: Recorded,
                                                                        tmp_path: Path) -> None:
    with SqlStore.open(tmp_path / "flags.db") as store:
        sid = store.create_session(SessionSpec("K-0042", PRESETS["sublingual"], 100.0), T0)
        store.add_readings(sid, [
            Reading(Stream.RR_INTERVAL, 812.5, T0, "AA:BB"),
            Reading(Stream.RR_INTERVAL, 1625.0, T0, "AA:BB", ReadingFlag.ARTIFACT),
            Reading(Stream.RR_INTERVAL, 90.0, T0, "AA:BB", ReadingFlag.IMPLAUSIBLE),
            Reading(Stream.HEART_RATE, 72.0, T0, "AA:BB"),
        ])
        store.flush()
        out = io.BytesIO()
        assert export_session_rr(store, sid, out) == 3
        assert out.getvalue() == b"812.5\n1625\n90\n", "raw: Kubios corrects artifacts itself"
        empty = store.create_session(SessionSpec("K-0043", PRESETS["sublingual"], 100.0), T0)
        out = io.BytesIO()
        assert export_session_rr(store, empty, out) == 0 and out.getvalue() == b""
        with pytest.raises(KeyError):
            EXPORTERS.export_file(EXPORTERS.get("rr"), StoredSession(store, 404), tmp_path / "none.txt",
                                  ExportOptions(generated_at=T0))
    assert not (tmp_path / "none.txt").exists()
    plain, hidden = tmp_path / "plain.txt", tmp_path / "hidden.txt"
    export(recorded, "rr", plain)
    export(recorded, "rr", hidden, deidentify=True)
    assert plain.read_bytes() == hidden.read_bytes(), "nothing identifying to remove"


def test_the_command_line_writes_the_rr_file(recorded: Recorded, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "rr.txt"
    assert main(["--db", str(recorded.path), "export", "latest", "--format", "rr", "-o", str(target)]) == 0
    n = len(target.read_text(encoding="ascii").splitlines())
    assert f"wrote {n} intervals of session {recorded.session_id} to {target}" in capsys.readouterr().err
    assert main(["--db", str(recorded.path), "export", "latest", "--format", "rr"]) == 0
    assert capsys.readouterr().out == target.read_text(encoding="ascii"), "standard output: the same file"
    rr = EXPORTERS.get("rr")
    assert (rr.suffix, rr.counts, rr.can_deidentify, rr.paints) == (".txt", "intervals", True, False)
