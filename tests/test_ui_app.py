"""The composition root's menus: past sessions (and resuming from them) and clinic settings."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from db.store import SqlStore
from kapmonitor.alarms import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
from ui.app import AppParts, build_app, resume_from_list, save_settings

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def parts(qtbot, tmp_path: Path) -> Iterator[AppParts]:  # type: ignore[no-untyped-def]
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "app.db", clock=clock, flush_interval_s=0.05)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    built = build_app(argparse.Namespace(db=None, demo=False, speed=None), app, clock=clock, store=store,
                      sensors_for_session=list, autotick=False)
    yield built
    built.window.close_without_asking()
    if built.session_list is not None:
        built.session_list.close()
    built.shutdown()


def _spec(code: str) -> SessionSpec:
    return SessionSpec(client_code=code, protocol=PRESETS["sublingual"])


def test_menu_opens_past_sessions_and_settings_actions_exist(qtbot, parts: AppParts) -> None:  # type: ignore[no-untyped-def]
    actions = parts.menu_actions
    assert set(actions) >= {"new", "end", "past", "sensors", "settings", "quit"}
    assert actions["past"].shortcut().toString() == "Ctrl+O"
    actions["past"].trigger()
    assert parts.session_list is not None
    qtbot.waitUntil(lambda: parts.session_list is not None and parts.session_list.isVisible())
    first = parts.session_list
    actions["past"].trigger()
    assert parts.session_list is first, "the list is reused, not opened twice"


def test_resume_from_the_list_waits_for_the_running_session(
    qtbot, parts: AppParts, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: shown.append(str(a[2])))
    # an unfinished session left behind by a process that crashed
    crashed = Recorder(parts.store, parts.clock, AlarmSettings.defaults(), autotick=False)
    old_id = crashed.start_session(_spec("K-100"))
    crashed.close()
    parts.window.start_session(_spec("K-200"))
    qtbot.waitUntil(lambda: parts.recorder.session_id not in (None, old_id))
    assert resume_from_list(parts, old_id) is False
    assert "still running" in shown[0]


def test_saved_settings_apply_now_and_reach_the_database(qtbot, parts: AppParts) -> None:  # type: ignore[no-untyped-def]
    settings = ClinicSettings.defaults()
    changed = replace(settings, theme="light", default_dose_unit="mg/kg")
    changed.validate()
    save_settings(parts, changed)
    assert parts.settings is changed
    qtbot.waitUntil(lambda: parts.store.get_setting(SETTINGS_KEY) is not None, timeout=5000)
    assert ClinicSettings.from_dict(parts.store.get_setting(SETTINGS_KEY)) == changed


def test_window_says_while_notes_wait_for_the_database_and_when_they_reach_it(
    qtbot, parts: AppParts, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    from kapmonitor.ports import StoreError
    from kapmonitor.types import ObservationKind
    from ui.main_window import JOURNAL_CLEARED_TEXT

    window = parts.window
    window.show()
    qtbot.waitExposed(window)
    assert window.journal_status_text() == "" and window.journal_label.isHidden()
    parts.window.start_session(_spec("K-300"))
    qtbot.waitUntil(lambda: parts.recorder.session_id is not None, timeout=5000)
    parts.store.wait_applied(5.0)

    def locked(*_: object) -> int:
        raise StoreError("the database is locked by another program")

    monkeypatch.setattr(parts.database, "apply_journal", locked)  # the writer thread now gets refused
    parts.recorder.add_observation(ObservationKind.NOTE, "note", text="eyes closed")
    qtbot.waitUntil(lambda: "waiting for the database" in window.journal_status_text(), timeout=5000)
    line = window.journal_status_text()
    assert line.startswith("1 note is waiting for the database — kept safely on this computer")
    assert "locked by another program" in line
    assert window.journal_label.isVisible()

    window.journal_cleared_ms = 200
    monkeypatch.undo()  # the database takes the record again
    qtbot.waitUntil(lambda: window.journal_status_text() == JOURNAL_CLEARED_TEXT, timeout=10000)
    assert JOURNAL_CLEARED_TEXT == "All notes have reached the database"
    qtbot.waitUntil(lambda: window.journal_label.isHidden(), timeout=3000)
    sid = parts.recorder.session_id
    assert [o.text for o in parts.database.observations(sid)] == ["eyes closed"]
