"""Issue 11, alarms: one alarm per problem, one acknowledge, the bedside alarm list, bedside-wide
pause with the clinic's length and a countdown, colour always the priority's, alarms in words.

The bedside window is the real one (``build_app``); readings go into its recorder as a sensor's
would, and the therapist clicks the banner's buttons.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.alarms import AlarmEngine
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.settings_items import AudioSettings
from kapmonitor.types import AlarmPriority, AlarmState, Reading, Stream
from ui.alarm_banner import AlarmBanner
from ui.app import AppParts, build_app
from ui.audio import AlarmSoundPolicy
from ui.theme import DARK, apply_theme

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
PAUSE_S = 30.0


@pytest.fixture
def bedside(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[AppParts, FakeClock]]:
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "alarms.db", clock=clock, flush_interval_s=0.05)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    parts = build_app(argparse.Namespace(db=None, demo=False, speed=None), app, clock=clock, store=store,
                      sensors_for_session=list, autotick=False)
    alarms = dataclasses.replace(AlarmSettings.defaults(), audio_pause_s=PAUSE_S)
    spec = SessionSpec("K-11", PRESETS["sublingual"], settings={"alarms": alarms.to_dict()})
    parts.window.show()
    qtbot.waitExposed(parts.window)
    parts.window.start_session(spec)
    qtbot.waitUntil(lambda: parts.recorder.session_id is not None, timeout=3000)
    yield parts, clock
    parts.window.close_without_asking()
    parts.shutdown()


def _reading(parts: AppParts, clock: FakeClock, stream: Stream, value: float) -> None:
    parts.recorder.reading_received(Reading(stream, value, clock.now(), "cuff"))


def _active(parts: AppParts) -> dict[str, AlarmState]:
    return {a.alarm_id: a.state for a in parts.recorder.active_alarms()}


def test_one_blood_pressure_is_one_alarm_and_one_click_acknowledges_it(
    qtbot: QtBot, bedside: tuple[AppParts, FakeClock]
) -> None:
    parts, clock = bedside
    banner = parts.window.banner
    _reading(parts, clock, Stream.BP_SYSTOLIC, 192.0)
    _reading(parts, clock, Stream.BP_DIASTOLIC, 112.0)
    qtbot.waitUntil(lambda: len(_active(parts)) == 4, timeout=3000)
    qtbot.waitUntil(lambda: "Diastolic BP high" in banner.also_text, timeout=3000)
    assert banner.title_text == "HIGH   Systolic BP very high"
    assert banner.detail_text.startswith("192 mmHg when raised · limit 180 mmHg")
    assert banner.also_text == "Also: Diastolic BP very high, Systolic BP high, Diastolic BP high"
    assert banner.others_text == ""  # one problem, nothing else to open
    qtbot.mouseClick(banner.ack_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: set(_active(parts).values()) == {AlarmState.ACKNOWLEDGED}, timeout=3000)
    qtbot.waitUntil(lambda: not banner.ack_button.isEnabled(), timeout=3000)
    assert "acknowledged" in banner.detail_text
    # the alarm log keeps every rule: four raised, four acknowledged
    session_id = parts.recorder.session_id
    assert session_id is not None

    def logged() -> list[tuple[str, str]]:
        return sorted((t.alarm_id, t.action) for t in parts.store.alarms(session_id))

    qtbot.waitUntil(lambda: len(logged()) == 8, timeout=3000)
    assert {a for a, _ in logged()} == {"sbp_very_high", "sbp_high", "dbp_very_high", "dbp_high"}


def test_plus_n_other_alarms_opens_the_bedside_alarm_list(
    qtbot: QtBot, bedside: tuple[AppParts, FakeClock]
) -> None:
    parts, clock = bedside
    banner = parts.window.banner
    _reading(parts, clock, Stream.BP_SYSTOLIC, 165.0)
    clock.advance(1.0)
    _reading(parts, clock, Stream.SPO2, 85.0)
    qtbot.waitUntil(lambda: banner.others_text == "+1 other alarm", timeout=3000)
    assert banner.title_text == "HIGH   SpO2 very low"
    qtbot.mouseClick(banner.others_button, Qt.MouseButton.LeftButton)
    popup = banner.alarm_list
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    rows = [popup.current.item(r, 0).text() for r in range(popup.current.rowCount())]
    assert rows == ["SpO2 very low", "Systolic BP high"]
    assert popup.current.item(1, 3).text() == "165 mmHg when raised · limit 160 mmHg"
    assert popup.log.rowCount() == 2  # the session's alarm log: two raised
    qtbot.keyClick(popup.close_button, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=2000)


def test_pause_silences_the_whole_bedside_for_the_clinics_length_with_a_countdown(
    qtbot: QtBot, bedside: tuple[AppParts, FakeClock]
) -> None:
    parts, clock = bedside
    banner = parts.window.banner
    _reading(parts, clock, Stream.BP_SYSTOLIC, 165.0)  # medium, behind
    _reading(parts, clock, Stream.SPO2, 85.0)  # high, shown
    qtbot.waitUntil(lambda: banner.shown_alarm_id == "spo2_very_low", timeout=3000)
    assert banner.pause_text == "Pause audio 30 s  (P)"
    qtbot.mouseClick(banner.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: set(_active(parts).values()) == {AlarmState.AUDIO_PAUSED}, timeout=3000)
    qtbot.waitUntil(lambda: banner.pause_text == "Audio paused 0:30  (P)", timeout=3000)
    policy, audio = AlarmSoundPolicy(), AudioSettings()
    assert policy.decide(parts.recorder.active_alarms(), clock.monotonic(), audio) is None
    for _ in range(12):
        clock.advance(1.0)
        parts.recorder.tick()
        assert policy.decide(parts.recorder.active_alarms(), clock.monotonic(), audio) is None
    qtbot.waitUntil(lambda: banner.pause_text == "Audio paused 0:18  (P)", timeout=3000)
    _reading(parts, clock, Stream.BP_SYSTOLIC, 170.0)  # still high: the alarms stay, quietly
    for _ in range(17):
        clock.advance(1.0)
        parts.recorder.tick()
        assert policy.decide(parts.recorder.active_alarms(), clock.monotonic(), audio) is None
    clock.advance(1.0)
    parts.recorder.tick()
    qtbot.waitUntil(lambda: banner.pause_text == "Pause audio 30 s  (P)", timeout=3000)
    assert set(_active(parts).values()) == {AlarmState.ACTIVE}
    chime = policy.decide(parts.recorder.active_alarms(), clock.monotonic(), audio)
    assert chime is not None and chime.priority is AlarmPriority.HIGH


def _border_colour(banner: AlarmBanner) -> str:
    image = banner.grab().toImage()
    colour: QColor = image.pixelColor(1, image.height() // 2)
    return str(colour.name())


class _Mono:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_colour_always_matches_the_shown_priority(qtbot: QtBot) -> None:
    clock, mono = FakeClock(T0), _Mono()
    engine = AlarmEngine(AlarmSettings.defaults(), clock)
    banner = AlarmBanner(DARK, clock=clock, monotonic=mono)
    qtbot.addWidget(banner)
    banner.resize(1200, 110)
    banner.show()
    qtbot.waitExposed(banner)

    def acknowledge(alarm_id: str) -> None:  # the window's part: tell the engine, show the result
        engine.acknowledge(alarm_id)
        banner.set_alarms(engine.active())

    banner.acknowledge_requested.connect(acknowledge)
    engine.on_reading(Reading(Stream.HEART_RATE, 150.0, clock.now(), "strap"))
    banner.set_alarms(engine.active())
    qtbot.mouseClick(banner.ack_button, Qt.MouseButton.LeftButton)  # a high alarm, acknowledged
    clock.advance(200.0)
    engine.on_reading(Reading(Stream.BP_SYSTOLIC, 165.0, clock.now(), "cuff"))  # then a medium one
    banner.set_alarms(engine.active())
    assert banner.title_text.startswith("MEDIUM")
    assert _border_colour(banner) == QColor(DARK.alarm[AlarmPriority.MEDIUM]).name()
    mono.t += 1.5  # 0.5 Hz flashing: now in its unlit phase
    banner._refresh()
    assert not banner.is_lit
    clock.advance(1.0)
    engine.on_reading(Reading(Stream.SPO2, 85.0, clock.now(), "oximeter"))  # a new high alarm
    banner.set_alarms(engine.active())
    assert banner.title_text == "HIGH   SpO2 very low"
    assert _border_colour(banner) == QColor(DARK.alarm[AlarmPriority.HIGH]).name()


def test_technical_alarms_read_in_words_with_their_units(qtbot: QtBot) -> None:
    clock = FakeClock(T0)
    engine = AlarmEngine(AlarmSettings.defaults(), clock)
    banner = AlarmBanner(DARK, clock=clock)
    qtbot.addWidget(banner)
    banner.show()
    engine.watch_stream(Stream.SPO2, "oximeter")
    engine.on_reading(Reading(Stream.SPO2, 97.0, clock.now(), "oximeter"))
    clock.advance(10.0)
    engine.tick()
    banner.set_alarms(engine.active())
    assert banner.title_text == "MEDIUM   No SpO2 data"
    clock.advance(61.0)
    qtbot.waitUntil(lambda: banner.detail_text.startswith("for 71 s · alarm after 10 s"), timeout=3000)
    assert "%" not in banner.detail_text


def test_the_alarm_text_is_never_cut_off_top_or_bottom(qtbot: QtBot) -> None:
    clock = FakeClock(T0)
    engine = AlarmEngine(AlarmSettings.defaults(), clock)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    apply_theme(app, DARK)  # the application's style sheet and font, as in the window
    window = QWidget()  # the banner sits at the top of the window, at its own height, as in the bedside
    qtbot.addWidget(window)
    banner = AlarmBanner(DARK, clock=clock)
    column = QVBoxLayout(window)
    column.addWidget(banner)
    column.addStretch(1)
    window.resize(1366, 700)
    window.show()
    qtbot.waitExposed(window)
    engine.on_reading(Reading(Stream.BP_SYSTOLIC, 192.0, clock.now(), "cuff"))
    engine.on_reading(Reading(Stream.BP_DIASTOLIC, 112.0, clock.now(), "cuff"))
    banner.set_alarms(engine.active())
    qtbot.waitUntil(lambda: banner.also_text != "", timeout=2000)
    QApplication.processEvents()
    for name in ("alarmTitle", "alarmDetail", "alarmAlso"):
        label = banner.findChild(QLabel, name)
        assert label is not None and label.isVisible()
        needed = label.fontMetrics().height()
        assert label.height() >= needed, f"{name} is {label.height()} px high, its text needs {needed}"
        assert banner.rect().contains(label.geometry()), f"{name} sticks out of the banner"
