"""The central station window on a real SQLite database: tiles, the alarm colour, opening a live timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from db.station import StationReader
from db.store import SqlStore
from kapmonitor.clock import SystemClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Reading,
    SessionEvent,
    Stream,
)
from ui.exports import window_exports
from ui.station_window import StationWindow
from ui.theme import DARK
from ui.worker import DbWorker


def _room(db: Path, room: str, client: str, hr: float) -> tuple[SqlStore, int]:
    store = SqlStore.open(db, room=room)
    now = datetime.now(UTC)
    sid = store.create_session(SessionSpec(client, PRESETS["sublingual"]), now - timedelta(minutes=30),
                               lease_holder=f"h-{room}")
    store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, now - timedelta(minutes=30)))
    store.append_event(sid, SessionEvent(EventKind.DOSE_GIVEN, now - timedelta(minutes=25),
                                         {"amount": 100.0, "unit": "mg"}))
    store.add_readings(sid, [Reading(Stream.HEART_RATE, hr, now - timedelta(seconds=s), "ble:AA")
                             for s in range(60, 0, -1)])
    store.flush()
    return store, sid


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[tuple[SqlStore, int], tuple[SqlStore, int]]]:
    a = _room(tmp_path / "c.db", "Room A", "K-0101", 132.0)
    b = _room(tmp_path / "c.db", "Room B", "K-0102", 66.0)
    a[0].log_alarm(a[1], AlarmTransition(
        at=datetime.now(UTC), alarm_id="hr_high", label="Heart rate high", priority=AlarmPriority.HIGH,
        category=AlarmCategory.PHYSIOLOGICAL, state=AlarmState.ACTIVE, action="raised",
        stream=Stream.HEART_RATE, value=132.0, limit=120.0))
    yield a, b
    a[0].close()
    b[0].close()


def test_tiles_alarm_colour_and_click_opens_the_live_timeline(
        qtbot: QtBot, stores: tuple[tuple[SqlStore, int], tuple[SqlStore, int]]) -> None:
    (store_a, sid_a), (store_b, sid_b) = stores
    worker = DbWorker()
    window = StationWindow(StationReader(store_a.engine), store=store_a, poll_worker=worker,
                           review_worker=None, clock=SystemClock(), theme=DARK,
                           exports=window_exports(store_a), interval_s=0.5)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.updated, timeout=10_000) as shown:
            window.start()
        assert shown.args == [2]
        tile_a, tile_b = window.tiles()
        assert (tile_a.room.text(), tile_b.room.text()) == ("Room A", "Room B")
        assert "132" in tile_a.heart_rate.value.text() and "ago" in tile_a.heart_rate.age.text()
        assert not tile_a.alarm.isHidden() and "HIGH  Heart rate high (132)" in tile_a.alarm.text()
        assert tile_b.alarm.isHidden()
        assert "Effect" in tile_a.phase.text() and "25 min after dose" in tile_a.phase.text()
        edge_a = tile_a.grab().toImage().pixelColor(3, tile_a.height() // 2).name()
        edge_b = tile_b.grab().toImage().pixelColor(3, tile_b.height() // 2).name()
        assert edge_a == DARK.alarm[AlarmPriority.HIGH]
        assert edge_b != DARK.alarm[AlarmPriority.HIGH]

        with qtbot.waitSignal(window.timeline_opened, timeout=10_000) as opened:
            qtbot.mouseClick(tile_b, Qt.MouseButton.LeftButton)
        assert opened.args == [sid_b]
        review = window.timelines[sid_b]
        assert review.isVisible() and review.following
        before = len(review.data.streams[Stream.HEART_RATE])
        store_b.add_readings(sid_b, [Reading(Stream.HEART_RATE, 67.0, datetime.now(UTC), "ble:AA")])
        store_b.flush()
        with qtbot.waitSignal(review.refreshed, timeout=10_000):
            review.refresh()
        assert len(review.data.streams[Stream.HEART_RATE]) == before + 1

        tile_a.setFocus()
        with qtbot.waitSignal(window.timeline_opened, timeout=10_000) as opened:
            qtbot.keyClick(tile_a, Qt.Key.Key_Return)
        assert opened.args == [sid_a]
        review.close()
        window.timelines[sid_a].close()
    finally:
        window.stop()
        worker.shutdown()
