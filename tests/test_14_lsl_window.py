"""The window streams its sessions on the Lab Streaming Layer while the clinic setting is on, and
stops when it is switched off (loopback only: LSLAPICFG names tests/lsl14_inlet.py's configuration).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from lsl14_inlet import live_sources, open_inlet, pull_samples, wait_until_gone, write_loopback_config
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
from kapmonitor.settings_items import LabStreamingSettings
from kapmonitor.types import Reading, Stream
from ui.app import AppParts, build_app, save_settings

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
ROOM = "Window room"


@pytest.fixture
def parts(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppParts]:
    monkeypatch.setenv("LSLAPICFG", str(write_loopback_config(tmp_path)))
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "app.db", clock=clock, flush_interval_s=0.05, room=ROOM)
    on = ClinicSettings.defaults().with_changes(lab_streaming=LabStreamingSettings(enabled=True))
    store.put_setting(SETTINGS_KEY, on.to_dict())
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    built = build_app(argparse.Namespace(db=None, demo=False, speed=None), app, clock=clock, store=store,
                      sensors_for_session=list, autotick=False)
    yield built
    built.window.close_without_asking()
    built.shutdown()


def test_the_window_streams_its_session_while_the_setting_is_on(qtbot: QtBot, parts: AppParts) -> None:
    assert parts.lsl is not None, "the clinic setting is on: the outlets listen from the start"
    prefix = f"kapmonitor/{ROOM}/"
    assert live_sources(prefix, wait_s=0.5) == set(), "no outlets before a session"
    parts.window.start_session(SessionSpec(client_code="K-021", protocol=PRESETS["sublingual"]))
    qtbot.waitUntil(lambda: parts.recorder.session_id is not None, timeout=10_000)
    session_id = parts.recorder.session_id
    hr = open_inlet(f"{prefix}session-{session_id}/HeartRate")
    parts.recorder.readings_received([Reading(Stream.HEART_RATE, 64.0, parts.clock.now(), "strap:1")])
    assert pull_samples(hr, 1)[0][1] == [64.0]

    save_settings(parts, replace(parts.settings, lab_streaming=LabStreamingSettings(enabled=False)))
    assert parts.lsl is None
    assert wait_until_gone(prefix) == set(), "switched off: the outlets are gone"
    parts.recorder.readings_received([Reading(Stream.HEART_RATE, 65.0, parts.clock.now(), "strap:1")])

    # on again mid-session: the running session is streamed from now on
    save_settings(parts, replace(parts.settings, lab_streaming=LabStreamingSettings(enabled=True)))
    assert parts.lsl is not None
    markers = open_inlet(f"{prefix}session-{session_id}/Markers")
    parts.window.end_session("done")
    ((_, (text,)),) = pull_samples(markers, 1)
    assert text == 'event:session_ended {"reason":"done"}'
    assert wait_until_gone(prefix) == set(), "the outlets close with the session"
