"""The application's one event filter (issue 16): the wheel guard and every window's bedside keys
share it, each called only for its own event types, and a window's keys leave it with the window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEvent, QObject
from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QWidget
from pytestqt.qtbot import QtBot

from ui.app_events import AppEvents, app_events
from ui.bedside_keys import BedsideKeys
from ui.no_wheel import guard_wheel


def _filters(app: QCoreApplication) -> list[AppEvents]:
    return [c for c in app.children() if isinstance(c, AppEvents)]


def test_the_guard_and_each_windows_keys_share_one_filter_and_see_only_their_events(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert app is not None
    guard_wheel(app)
    first, second = QWidget(), QWidget()
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    BedsideKeys(first, lambda _text: None)
    BedsideKeys(second, lambda _text: None)
    assert len(_filters(app)) == 1 and app_events(app) is _filters(app)[0]
    seen: list[tuple[QObject, QEvent.Type]] = []

    def note(watched: QObject, _event: QEvent, kind: QEvent.Type) -> bool:
        seen.append((watched, kind))
        return False

    remove = app_events(app).add([QEvent.Type.Polish], note)
    box = QDoubleSpinBox(first)
    box.ensurePolished()
    remove()
    remove()  # idempotent
    assert {kind for _, kind in seen} == {QEvent.Type.Polish}, "only the types it was added for"
    assert box in [watched for watched, _ in seen]
    assert box.focusPolicy().name == "StrongFocus", "the wheel guard ran in the same filter"
    count = len(seen)
    QDoubleSpinBox(first).ensurePolished()
    assert len(seen) == count, "removed, it is called no more"


def test_a_windows_keys_leave_the_filter_with_the_window(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert app is not None
    events = app_events(app)
    before = events.handled_types()
    window = QWidget()
    BedsideKeys(window, lambda _text: None)
    assert QEvent.Type.KeyPress in events.handled_types()
    key_handlers = len(events._handlers[QEvent.Type.KeyPress])
    window.deleteLater()
    qtbot.waitUntil(lambda: len(events._handlers.get(QEvent.Type.KeyPress, ())) == key_handlers - 1)
    assert events.handled_types() <= before | {QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride,
                                               QEvent.Type.FocusIn, QEvent.Type.FocusOut,
                                               QEvent.Type.MouseButtonPress}
