"""The bedside window paints before the database opens, then becomes the same window as before (issue 16).

Started as a therapist starts it (``ui.launch.run_gui`` on the real event loop, in this process) and
in a fresh process (what is imported before the first paint), on real SQLite databases.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

import ui.app
import ui.launch
from db.store import SqlStore
from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
from ui.app import AppParts
from ui.main_window import OPENING_TEXT, BedsideWindow
from ui.theme import DARK, LIGHT

ROOT = Path(__file__).resolve().parents[1]


def _args(db: Path) -> argparse.Namespace:
    return argparse.Namespace(db=str(db), demo=False, speed=None)


def _start(monkeypatch: pytest.MonkeyPatch, db: Path) -> tuple[int, dict[str, object]]:
    """Run the window until the start dialog would open; what it was then, and the exit status."""
    seen: dict[str, object] = {}

    def instead_of_the_start_dialog(parts: AppParts) -> None:
        seen["parts"] = parts
        seen["maximised"] = parts.window.isMaximized()
        seen["theme"] = parts.window.theme
        seen["new_enabled"] = parts.window.new_button.isEnabled()
        seen["audio_loaded_with_the_dialog"] = parts.audio.loaded
        seen["session_line"] = parts.window.session_label.text()
        seen["windows"] = [w for w in QApplication.topLevelWidgets()
                           if isinstance(w, BedsideWindow) and w.isVisible()]
        QTimer.singleShot(0, parts.app.quit)

    monkeypatch.setattr(ui.app, "ask_new_session", instead_of_the_start_dialog)
    return ui.launch.run_gui(_args(db)), seen


def test_the_window_is_shown_waiting_then_attached_and_maximised(qtbot, real_loop, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                 monkeypatch) -> None:
    painted: list[tuple[bool, bool, str]] = []
    real_after = ui.launch.after_first_paint

    def watch(window, then):  # type: ignore[no-untyped-def]
        # what the person sees before the database has opened: the window, nothing to start yet
        painted.append((window.isVisible(), window.new_button.isEnabled(), window.session_label.text()))
        real_after(window, then)

    monkeypatch.setattr(ui.launch, "after_first_paint", watch)
    status, seen = _start(monkeypatch, tmp_path / "clinic.db")
    assert status == 0
    assert painted == [(True, False, OPENING_TEXT)]
    assert seen["maximised"] is True
    assert seen["new_enabled"] is True and seen["session_line"] == ""
    parts = seen["parts"]
    assert isinstance(parts, AppParts) and parts.window.attached
    assert seen["audio_loaded_with_the_dialog"] is False and parts.audio.loaded, \
        "the sound system loads on the event loop's turn after the start dialog opens"
    assert parts.window.observations is not None, \
        "the observation panel was added once the settings were read"


def test_the_clinic_theme_is_remembered_for_the_next_first_paint(qtbot, real_loop, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                 monkeypatch) -> None:
    db = tmp_path / "clinic.db"
    store = SqlStore.open(str(db))
    store.put_setting(SETTINGS_KEY, {**ClinicSettings.defaults().to_dict(), "theme": "light"})
    store.close()
    assert ui.launch.first_paint_theme() is DARK, "a workstation that never ran paints dark first"

    status, seen = _start(monkeypatch, db)
    assert status == 0
    assert seen["theme"] is LIGHT, "the window the therapist works in has the clinic's colours"
    assert len(seen["windows"]) == 1, "the window first painted dark was replaced, not left open"  # type: ignore[arg-type]
    assert ui.launch.first_paint_theme() is LIGHT

    status, seen = _start(monkeypatch, db)
    assert status == 0 and seen["theme"] is LIGHT and len(seen["windows"]) == 1  # type: ignore[arg-type]


def test_an_unreadable_theme_file_paints_dark(tmp_path: Path) -> None:
    path = tmp_path / "window-theme"
    path.write_bytes(b"\xff\xfe")
    assert ui.launch.first_paint_theme(path) is DARK
    path.write_text("sepia", encoding="utf-8")
    assert ui.launch.first_paint_theme(path) is DARK
    ui.launch.remember_theme(LIGHT, path)
    assert path.read_text(encoding="utf-8") == "light"


def test_a_database_that_cannot_be_opened_is_said_over_the_window(qtbot, real_loop, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  monkeypatch) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as con:  # another program's SQLite file
        con.execute("CREATE TABLE contacts (name TEXT)")
    said: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda parent, title, text: said.append(text)))
    assert ui.launch.run_gui(_args(db)) == 1
    assert len(said) == 1 and "another program's tables (contacts)" in said[0]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("contacts",)], "nothing changed"


def test_nothing_of_the_database_layer_is_imported_before_the_first_paint(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import gc, os, sys
        os.environ["KAPMONITOR_STARTUP_PROBE"] = "1"
        import ui.startup_probe as probe
        HEAVY = ("sqlalchemy", "alembic", "db.store", "db.journaled_store", "bleak", "dbus_fast",
                 "PySide6.QtMultimedia", "pylsl", "edfio", "kapmonitor.recording", "ui.app")
        full = []
        gc.callbacks.append(lambda phase, info: full.append(1) if phase == "stop" and info["generation"] == 2
                            else None)
        def say(what):
            print(what, *[m for m in HEAVY if m in sys.modules], flush=True)
            print("full-collections-" + what, len(full), flush=True)
            if what == "interactive":
                os._exit(0)
        probe._say = say
        from ui.main import main
        main(["--db", {str(tmp_path / "clinic.db")!r}])
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=ROOT, stdin=subprocess.DEVNULL)
    lines = {}
    for line in out.stdout.splitlines():
        key, _, rest = line.partition(" ")
        lines[key] = rest.strip()
    assert "first-paint" in lines, out.stderr[-3000:]
    assert lines["first-paint"] == "", f"imported before the first paint: {lines['first-paint']}"
    assert "sqlalchemy" in lines["interactive"] and "ui.app" in lines["interactive"], \
        "a session can be started once the database layer is there"
    assert lines["full-collections-interactive"] == "0", \
        "no full garbage collection on the way: the window's imports run without the collector, and what " \
        "start-up made is frozen out of its reach (ui.main, ui.launch)"
