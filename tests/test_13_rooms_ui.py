"""Rooms in the window (issue 13): the settings dialog's "This workstation's room" (a local file,
the core's rule), the start-up resume offer of the room's own sessions only, and taking over
another room's session from the session list: refused while its lease is live, confirmed after,
recorded as an event.

The real window, recorder and journaled store (``ui.app.build_app``) on a SQLite file, with a
FakeClock that is also the lease clock (SQLite's "server time" is the store's clock).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.settings import ClinicSettings
from kapmonitor.types import EventKind, SessionEvent
from kapmonitor.workstation import resolve_room
from ui.app import AppParts, build_app, offer_resume, resume_from_list
from ui.settings_dialog import SettingsDialog

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
ARGS = argparse.Namespace(db=None, demo=False, speed=None)
LEASE_S = 30.0


def test_the_workstation_room_is_saved_to_the_local_file_with_the_core_rule(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("KAPMONITOR_ROOM", raising=False)
    file = tmp_path / "config" / "workstation.json"
    saved: list[ClinicSettings] = []
    dialog = SettingsDialog(ClinicSettings.defaults(), saved.append, workstation_file=file, room="host-7")
    qtbot.addWidget(dialog)
    assert dialog.room_edit is not None
    assert dialog.room_edit.text() == "host-7"  # what this computer records as now
    dialog.room_edit.setText("   ")
    dialog.try_save()
    assert saved == []
    assert "1 to 64 printable characters" in dialog.errors["room"].text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Sound && display"
    assert not file.exists()
    dialog.room_edit.setText(" Room 7 ")
    dialog.try_save()
    assert len(saved) == 1
    assert resolve_room(None, file) == "Room 7"


def test_an_unchanged_default_room_is_not_written_down(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / "workstation.json"
    saved: list[ClinicSettings] = []
    dialog = SettingsDialog(ClinicSettings.defaults(), saved.append, workstation_file=file, room="host-7")
    qtbot.addWidget(dialog)
    dialog.try_save()
    assert len(saved) == 1
    assert not file.exists()


@pytest.fixture
def rooms(qtbot, tmp_path: Path) -> Iterator[tuple[AppParts, SqlStore, FakeClock]]:  # type: ignore[no-untyped-def]
    """Room A's bedside window, and Room B's store (another workstation) on the same database."""
    clock = FakeClock(T0)
    db = tmp_path / "clinic.db"
    other = SqlStore.open(db, clock=clock, room="Room B", lease_s=LEASE_S)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    mine = SqlStore.open(db, clock=clock, flush_interval_s=0.05, room="Room A", lease_s=LEASE_S)
    parts = build_app(ARGS, app, clock=clock, store=mine, sensors_for_session=list, autotick=False)
    yield parts, other, clock
    parts.window.close_without_asking()
    parts.shutdown()
    other.close()


def _room_b_session(other: SqlStore) -> int:
    sid = other.create_session(SessionSpec("K-B", PRESETS["sublingual"]), T0, lease_holder="ws-b")
    other.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, T0))
    return sid


def test_the_start_up_offer_leaves_another_rooms_session_alone(
        rooms: tuple[AppParts, SqlStore, FakeClock], monkeypatch: pytest.MonkeyPatch) -> None:
    parts, other, clock = rooms
    _room_b_session(other)
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    assert not offer_resume(parts, parts.window)
    clock.advance(LEASE_S * 3)  # even once Room B has stopped: taking over is explicit, not offered
    assert not offer_resume(parts, parts.window)
    assert asked == []


def test_taking_over_from_the_list_is_refused_while_live_then_confirmed_and_recorded(
        qtbot, rooms: tuple[AppParts, SqlStore, FakeClock],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    parts, other, clock = rooms
    sid = _room_b_session(other)
    warnings: list[str] = []
    questions: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: questions.append(a[2]) or QMessageBox.StandardButton.No)
    clock.advance(10)
    assert not resume_from_list(parts, sid)
    assert questions == []
    assert warnings == [f"Session {sid} cannot be resumed here: session {sid} is being recorded in "
                        "Room B (lease renewed 10 s ago); it can be taken over only once Room B has "
                        "stopped for 30 s"]

    clock.advance(LEASE_S)  # Room B stopped renewing 40 s ago
    assert not resume_from_list(parts, sid)  # asked, answered No: nothing changes
    (question,) = questions
    assert question.startswith(f"Session {sid} belongs to Room B. It stopped renewing its hold on the "
                               "session 40 s ago.")
    assert "Take it over in Room A?" in question
    assert other.session_room(sid) == "Room B"

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert resume_from_list(parts, sid)
    qtbot.waitUntil(lambda: "K-B" in parts.window.session_label.text(), timeout=5000)
    assert parts.recorder.session_id == sid
    assert other.session_room(sid) == "Room A"
    taken = [e for e in other.events(sid) if e.kind is EventKind.SESSION_TAKEN_OVER]
    assert [dict(e.data) for e in taken] == [{"from_room": "Room B", "to_room": "Room A", "by": ""}]
    assert not other.renew(sid, "ws-b")  # Room B, back, is told it no longer holds it
