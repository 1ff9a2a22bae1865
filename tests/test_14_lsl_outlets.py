"""The LSL outlets on a real recorder: streams, descriptions, values, stamps and markers as an inlet
on this computer receives them (loopback only: LSLAPICFG names tests/lsl14_inlet.py's configuration).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pylsl
import pytest
from lsl14_inlet import live_sources, open_inlet, pull_samples, wait_until_gone, write_loopback_config

from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import ScaledClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import ObservationKind, Reading, ReadingFlag, Stream
from ui.lsl_config import CONFIG_ENV_VAR
from ui.lsl_outlets import LslOutlets, attach_lsl

ROOM = "Room 7"
SPEED = 10.0
"""The recorder's clock runs 10x: stamps must convert a reading's age to real seconds."""
TYPES = ("HeartRate", "RRInterval", "SpO2", "BloodPressure", "Markers")
Streaming = tuple[Recorder, LslOutlets, int, SqlStore]
"""A recorder with its outlets, the session it started and its store."""


@pytest.fixture
def loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """liblsl on the loopback interface only (set before this process's first LSL call)."""
    path = write_loopback_config(tmp_path)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(path))
    return path


@pytest.fixture
def streaming(loopback: Path, tmp_path: Path) -> Iterator[Streaming]:
    store = SqlStore.open(tmp_path / "lsl.db", flush_interval_s=0.05)
    recorder = Recorder(store, ScaledClock(SPEED), AlarmSettings.defaults(), autotick=False)
    outlets = attach_lsl(recorder, ROOM, "machine", tmp_path / "config")
    session_id = recorder.start_session(SessionSpec(client_code="K-014", protocol=PRESETS["sublingual"],
                                                    dose_amount=100.0, dose_unit="mg"))
    yield recorder, outlets, session_id, store
    recorder.remove_listener(outlets)
    outlets.close()
    recorder.close()
    store.close()


def _source(session_id: int, lsl_type: str) -> str:
    return f"kapmonitor/{ROOM}/session-{session_id}/{lsl_type}"


def test_each_stream_describes_itself(streaming: Streaming) -> None:
    recorder, _, session_id, _ = streaming
    expected = {
        "HeartRate": (["heart_rate"], ["bpm"], pylsl.cf_float32),
        "RRInterval": (["rr_interval"], ["ms"], pylsl.cf_float32),
        "SpO2": (["spo2"], ["%"], pylsl.cf_float32),
        "BloodPressure": (["systolic", "diastolic"], ["mmHg", "mmHg"], pylsl.cf_float32),
        "Markers": (["marker"], None, pylsl.cf_string),
    }
    for lsl_type, (labels, units, fmt) in expected.items():
        info = open_inlet(_source(session_id, lsl_type)).info(timeout=5.0)
        assert info.type() == lsl_type
        assert info.name() == f"kapmonitor {ROOM} {lsl_type}"
        assert info.nominal_srate() == pylsl.IRREGULAR_RATE
        assert info.channel_format() == fmt
        assert info.get_channel_labels() == labels
        assert info.get_channel_units() == units
        kap = info.desc().child("kapmonitor")
        assert kap.child_value("room") == ROOM
        assert kap.child_value("session_id") == str(session_id)
        assert kap.child_value("clock_speed") == "10"
        opened = datetime.fromisoformat(kap.child_value("reference_utc"))  # one moment on both clocks
        assert abs((recorder.clock.now() - opened).total_seconds() / SPEED
                   - (pylsl.local_clock() - float(kap.child_value("reference_lsl")))) < 0.05
        assert info.desc().child("acquisition").child_value("manufacturer") == "kapmonitor"


def test_usable_values_arrive_stamped_with_their_receive_time(streaming: Streaming) -> None:
    recorder, _, session_id, _ = streaming
    inlets = {t: open_inlet(_source(session_id, t)) for t in TYPES[:4]}
    clock = recorder.clock
    at = clock.now() - timedelta(seconds=20)  # 20 s of the 10x clock ago: 2 real seconds
    lsl_at = pylsl.local_clock() - 2.0
    packet = [
        Reading(Stream.HEART_RATE, 0.0, at, "strap:1", ReadingFlag.NO_CONTACT),  # not shown, not sent
        Reading(Stream.HEART_RATE, 72.0, at + timedelta(seconds=1), "strap:1"),
        Reading(Stream.RR_INTERVAL, 812.5, at + timedelta(seconds=1), "strap:1"),
        Reading(Stream.RR_INTERVAL, 4000.0, at + timedelta(seconds=1), "strap:1"),  # impossible: not sent
        Reading(Stream.RR_INTERVAL, 790.0, at + timedelta(seconds=1), "strap:1"),
        Reading(Stream.PULSE_RATE, 71.0, at + timedelta(seconds=1), "oxi:1"),  # not streamed
        Reading(Stream.SPO2, 97.0, at + timedelta(seconds=1), "oxi:1"),
    ]
    cuff = [Reading(Stream.BP_SYSTOLIC, 121.0, at, "cuff:1"),
            Reading(Stream.BP_DIASTOLIC, 79.0, at, "cuff:1"), Reading(Stream.BP_MEAN, 93.0, at, "cuff:1")]
    moved = [Reading(Stream.BP_SYSTOLIC, 500.0, at + timedelta(seconds=2), "cuff:1"),  # impossible: NaN
             Reading(Stream.BP_DIASTOLIC, 70.0, at + timedelta(seconds=2), "cuff:1")]
    for readings in (packet, cuff, moved):
        recorder.readings_received(readings)
    (hr,) = pull_samples(inlets["HeartRate"], 1)
    rr = pull_samples(inlets["RRInterval"], 2)
    (spo2,) = pull_samples(inlets["SpO2"], 1)
    bp = pull_samples(inlets["BloodPressure"], 2)
    assert hr[1] == [72.0]
    assert [s[1] for s in rr] == [[812.5], [790.0]], "beat order kept, the impossible interval left out"
    assert spo2[1] == [97.0]
    assert bp[0][1] == [121.0, 79.0]
    assert math.isnan(bp[1][1][0]) and bp[1][1][1] == 70.0
    # each stamp: LSL's clock at arrival (a clock second is a tenth of a real second)
    assert hr[0] == pytest.approx(lsl_at + 0.1, abs=0.05)
    assert [s[0] for s in rr] == pytest.approx([lsl_at + 0.1] * 2, abs=0.05)
    assert bp[0][0] == pytest.approx(lsl_at, abs=0.05)
    assert bp[1][0] == pytest.approx(lsl_at + 0.2, abs=0.05)
    for inlet in inlets.values():
        assert inlet.pull_sample(timeout=0.3) == (None, None), "nothing else was sent"


def test_markers_follow_events_observations_and_alarms(streaming: Streaming) -> None:
    recorder, _, session_id, store = streaming
    markers = open_inlet(_source(session_id, "Markers"))
    recorder.give_dose(amount=100.0)
    seen = pull_samples(markers, 2)
    assert [s[1][0].split(" ", 1)[0] for s in seen] == ["event:dose_given", "event:phase_changed"]
    assert json.loads(seen[0][1][0].split(" ", 1)[1]) == {"amount": 100.0, "unit": "mg"}
    assert json.loads(seen[1][1][0].split(" ", 1)[1]) == {"from": "preparation", "phase": "onset"}

    lsl_now = pylsl.local_clock()
    happened = recorder.clock.now() - timedelta(seconds=30)  # written 30 clock seconds (3 s) late
    note = recorder.add_observation(ObservationKind.NOTE, "note", text="Eyes closed, says: \"calm\"",
                                    occurred_at=happened)
    ((stamp, (text,)),) = pull_samples(markers, 1)
    label, details = text.split(" ", 1)
    assert label == "observation:note"
    assert json.loads(details) == {"id": note.observation_id, "revision": 1, "kind": "note", "value": None,
                                   "text": "Eyes closed, says: \"calm\"", "deleted": False, "reason": ""}
    assert stamp == pytest.approx(lsl_now - 3.0, abs=0.05), "stamped when it happened"

    now = recorder.clock.now()
    recorder.readings_received([Reading(Stream.SPO2, 85.0, now, "oxi:1")])  # SpO2 very low: at once
    recorder.readings_received([Reading(Stream.SPO2, 97.0, now + timedelta(seconds=1), "oxi:1")])
    raised, cleared = pull_samples(markers, 2)
    label, details = raised[1][0].split(" ", 1)
    assert label == "alarm:spo2_very_low:raised"
    fields = json.loads(details)
    assert {k: fields[k] for k in ("label", "priority", "state", "value", "limit")} == {
        "label": "SpO2 very low", "priority": "high", "state": "active", "value": 85.0, "limit": 88.0}
    assert cleared[1][0].startswith("alarm:spo2_very_low:condition_cleared ")
    log = [t for t in store.alarms(session_id) if t.alarm_id == "spo2_very_low"]
    assert [t.action for t in log] == ["raised", "condition_cleared"], "as the alarm log has them"
    assert cleared[0] - raised[0] == pytest.approx((log[1].at - log[0].at).total_seconds() / SPEED, abs=0.02)

    recorder.end_session("done")
    (end,) = pull_samples(markers, 1)
    assert end[1][0] == 'event:session_ended {"reason":"done"}'
    assert recorder.state is not None and recorder.state.is_ended
    assert wait_until_gone(f"kapmonitor/{ROOM}/") == set(), "the outlets closed with the session"


def test_a_resumed_session_streams_again_under_the_same_source_ids(loopback: Path, tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path / "resume.db", flush_interval_s=0.05)
    try:
        first = Recorder(store, ScaledClock(SPEED), AlarmSettings.defaults(), autotick=False)
        outlets = attach_lsl(first, ROOM, "machine", tmp_path / "config")
        session_id = first.start_session(SessionSpec(client_code="K-015", protocol=PRESETS["sublingual"]))
        assert live_sources(f"kapmonitor/{ROOM}/") == {_source(session_id, t) for t in TYPES}
        first.remove_listener(outlets)  # the app stops mid-session (the session stays open)
        outlets.close()
        first.close()
        assert live_sources(f"kapmonitor/{ROOM}/") == set()

        again = Recorder(store, ScaledClock(SPEED), AlarmSettings.defaults(), autotick=False)
        outlets = attach_lsl(again, ROOM, "machine", tmp_path / "config")
        again.resume_session(session_id)
        markers = open_inlet(_source(session_id, "Markers"))  # what a recorder re-finds by source id
        again.give_dose(amount=50.0)
        assert pull_samples(markers, 2)[0][1][0] == 'event:dose_given {"amount":50.0,"unit":"mg"}'
        again.remove_listener(outlets)
        outlets.close()
        again.close()
    finally:
        store.close()


def test_pylsl_is_not_loaded_while_lab_streaming_is_off() -> None:
    code = ("import sys, ui.main, ui.app, ui.cli.record, ui.settings_dialog, ui.lsl_outlets;"
            "print('pylsl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
