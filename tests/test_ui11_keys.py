"""Bedside keys in a therapist's hands (issue 11): keys act whatever has focus unless a note is
being typed, digits-only vitals that give focus back, a digit-led note stays a note, scale keys,
Esc, and F1 printed from the dispatcher's own table.

The real bedside window (``ui.app.build_app``) on a temporary database and a FakeClock; keys go to
the widget that has focus, as a person's would (``qtbot.keyClick(QApplication.focusWidget(), …)``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.settings import ClinicSettings
from kapmonitor.types import Observation, ObservationKind, Stream
from ui.app import AppParts, build_app
from ui.bedside_keys import BEDSIDE_KEYS, TYPING_RULE
from ui.observation_panel import ObservationPanel
from ui.settings_dialog import SettingsDialog

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def bedside(qtbot: QtBot, tmp_path: Path) -> Iterator[AppParts]:
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "keys.db", clock=clock, flush_interval_s=0.05)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    parts = build_app(argparse.Namespace(db=None, demo=False, speed=None), app, clock=clock, store=store,
                      autotick=False)
    window = parts.window
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    window.start_session(SessionSpec("K-11", PRESETS["sublingual"], dose_amount=100.0))
    qtbot.waitUntil(lambda: parts.recorder.session_id is not None and window.end_button.isEnabled(),
                    timeout=5000)
    yield parts
    window.close_without_asking()
    parts.shutdown()


def _panel(parts: AppParts) -> ObservationPanel:
    panel = parts.window.observations
    assert panel is not None
    return panel


def _focus() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "something in the window has focus"
    return widget


def press(qtbot: QtBot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A key pressed the way a person presses it: it goes to whatever has focus."""
    qtbot.keyClick(_focus(), key, modifier)


def type_text(qtbot: QtBot, text: str) -> None:
    qtbot.keyClicks(_focus(), text)


def _wait(qtbot: QtBot, parts: AppParts, condition: Callable[[], bool]) -> None:
    def done() -> bool:
        parts.recorder.tick()
        return condition()

    qtbot.waitUntil(done, timeout=5000)


def _observations(parts: AppParts, kind: ObservationKind) -> list[Observation]:
    return [o for o in parts.recorder.observations() if o.kind is kind]


def test_vitals_by_keys_digits_only_then_focus_back_so_a_and_1_act(qtbot: QtBot, bedside: AppParts) -> None:
    window, panel = bedside.window, _panel(bedside)
    acks: list[str] = []
    window.banner.acknowledge_requested.connect(acks.append)
    press(qtbot, Qt.Key.Key_V)
    systolic, diastolic = panel.vital_fields["systolic"], panel.vital_fields["diastolic"]
    assert systolic.hasFocus()
    type_text(qtbot, "19x2")  # a stray letter is no digit: not typed
    assert systolic.text() == "192"
    press(qtbot, Qt.Key.Key_Tab)
    assert diastolic.hasFocus()
    type_text(qtbot, "112")
    press(qtbot, Qt.Key.Key_Return)
    _wait(qtbot, bedside, lambda: bedside.recorder.last_reading(Stream.BP_SYSTOLIC) is not None)
    assert not diastolic.hasFocus() and _focus() is window, "saving gives focus back to the window"
    assert diastolic.text() == ""
    _wait(qtbot, bedside, lambda: window.banner.shown_alarm_id is not None)  # 192/112 raises an alarm
    press(qtbot, Qt.Key.Key_1)  # the quick tag, not a "1" in DIA
    _wait(qtbot, bedside, lambda: [o.name for o in _observations(bedside, ObservationKind.TAG)] == ["nausea"])
    assert diastolic.text() == ""
    # even with the cursor back in a number field, a letter is a bedside key
    qtbot.mouseClick(diastolic, Qt.MouseButton.LeftButton)
    assert diastolic.hasFocus()
    press(qtbot, Qt.Key.Key_A)
    assert acks, "A acknowledged the alarm"
    assert diastolic.text() == ""
    press(qtbot, Qt.Key.Key_Escape)
    assert _focus() is window, "Esc leaves the number field"


def test_after_a_check_d_gives_the_dose_not_a_d_in_the_note(qtbot: QtBot, bedside: AppParts) -> None:
    panel = _panel(bedside)
    prompt = panel.check_prompt
    _wait(qtbot, bedside, prompt.isVisible)  # "Vitals before dosing" is due
    press(qtbot, Qt.Key.Key_C)
    assert prompt.systolic.hasFocus()
    type_text(qtbot, "126")
    press(qtbot, Qt.Key.Key_Tab)
    type_text(qtbot, "82")
    press(qtbot, Qt.Key.Key_Return)
    _wait(qtbot, bedside, lambda: any(c.name == "vitals_pre_dose" and c.state == "done"
                                      for c in bedside.recorder.snapshot().checks))
    assert not panel.text_line.hasFocus()

    def accept_dose() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QDialog), f"D opened the dose dialog, got {dialog!r}"
        dialog.accept()

    QTimer.singleShot(50, accept_dose)
    press(qtbot, Qt.Key.Key_D)
    _wait(qtbot, bedside, lambda: bedside.recorder.snapshot().first_dose_at is not None)
    assert panel.text_line.text() == ""


def test_a_note_that_starts_with_a_digit_is_a_note(qtbot: QtBot, bedside: AppParts) -> None:
    window, panel = bedside.window, _panel(bedside)
    press(qtbot, Qt.Key.Key_N)
    assert panel.text_line.hasFocus()
    type_text(qtbot, "2 tissues given, 10 min of crying")
    assert panel.text_line.text() == "2 tissues given, 10 min of crying"
    press(qtbot, Qt.Key.Key_Return)
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.NOTE)) == 1)
    assert _observations(bedside, ObservationKind.NOTE)[0].text == "2 tissues given, 10 min of crying"
    assert _focus() is window, "Enter saves the note and gives focus back"
    # a click into the line is typing too: the first digit is text, not a tag
    qtbot.mouseClick(panel.text_line, Qt.MouseButton.LeftButton)
    type_text(qtbot, "3 sips of water")
    press(qtbot, Qt.Key.Key_Return)
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.NOTE)) == 2)
    assert [o.text for o in _observations(bedside, ObservationKind.NOTE)][-1] == "3 sips of water"
    assert _observations(bedside, ObservationKind.TAG) == [], "no Anxiety, no Talking"


def test_esc_leaves_the_note_as_a_draft_and_keys_act_again(qtbot: QtBot, bedside: AppParts) -> None:
    window, panel = bedside.window, _panel(bedside)
    press(qtbot, Qt.Key.Key_N)
    type_text(qtbot, "client sobbing, asks")
    press(qtbot, Qt.Key.Key_A)  # while typing, A is a letter
    assert panel.text_line.text() == "client sobbing, asksa"
    press(qtbot, Qt.Key.Key_Backspace)
    press(qtbot, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)  # Alt+digit tags even while typing
    press(qtbot, Qt.Key.Key_Escape)
    assert _focus() is window and panel.text_line.text() == "client sobbing, asks", "the draft is kept"
    press(qtbot, Qt.Key.Key_9)  # no note is being typed: quick tag 9
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.TAG)) == 2)
    tags = sorted(o.name for o in _observations(bedside, ObservationKind.TAG))
    assert tags == ["anxiety", "needs_reassurance"]
    assert panel.text_line.text() == "client sobbing, asks"
    press(qtbot, Qt.Key.Key_N)  # back to the draft, where it was
    type_text(qtbot, " for a blanket")
    press(qtbot, Qt.Key.Key_Return)
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.NOTE)) == 1)
    assert _observations(bedside, ObservationKind.NOTE)[0].text == "client sobbing, asks for a blanket"


def test_focus_that_lands_in_the_empty_note_line_is_not_typing(qtbot: QtBot, bedside: AppParts) -> None:
    panel = _panel(bedside)
    panel.text_line.setFocus()  # as Qt moves focus when a prompt closes: not the therapist's doing
    press(qtbot, Qt.Key.Key_1)
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.TAG)) == 1)
    assert panel.text_line.text() == ""
    type_text(qtbot, "eyes closed")  # a key that is no bedside key starts the note
    assert panel.text_line.text() == "eyes closed"


def test_deep_sedation_scores_without_a_mouse(qtbot: QtBot, bedside: AppParts) -> None:
    window, panel = bedside.window, _panel(bedside)
    window.setFocus()
    press(qtbot, Qt.Key.Key_M)
    assert "MOAA/S" in window.statusBar().currentMessage()
    press(qtbot, Qt.Key.Key_0)
    press(qtbot, Qt.Key.Key_R)
    press(qtbot, Qt.Key.Key_Minus)
    press(qtbot, Qt.Key.Key_5)
    press(qtbot, Qt.Key.Key_I)
    press(qtbot, Qt.Key.Key_2)
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.SCALE)) == 3)
    scores = {o.name: o.value for o in _observations(bedside, ObservationKind.SCALE)}
    assert scores == {"moaa_s": 0.0, "rass": -5.0, "dissociation": 2.0}
    shown = panel.timeline.entry_texts()
    assert any("MOAA/S sedation 0 — No response to painful stimulus" in t for t in shown)
    assert any("RASS agitation-sedation -5 — Unarousable" in t for t in shown)
    # RASS needs its sign: R 3 records nothing (it could be +3 or −3), and says why
    press(qtbot, Qt.Key.Key_R)
    press(qtbot, Qt.Key.Key_3)
    assert "press − or +" in window.statusBar().currentMessage()
    press(qtbot, Qt.Key.Key_R)
    press(qtbot, Qt.Key.Key_Plus, Qt.KeyboardModifier.ShiftModifier)  # + is Shift+= on most keyboards
    press(qtbot, Qt.Key.Key_2)
    press(qtbot, Qt.Key.Key_M)
    press(qtbot, Qt.Key.Key_7)  # MOAA/S has no 7
    assert "no score 7" in window.statusBar().currentMessage()
    press(qtbot, Qt.Key.Key_M)
    press(qtbot, Qt.Key.Key_Escape)
    assert "not recorded" in window.statusBar().currentMessage()
    press(qtbot, Qt.Key.Key_4)  # the scale key was cancelled: 4 is quick tag 4 again
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.TAG)) == 1)
    scores_now = sorted((o.name, o.value) for o in _observations(bedside, ObservationKind.SCALE))
    assert scores_now == [("dissociation", 2.0), ("moaa_s", 0.0), ("rass", -5.0), ("rass", 2.0)]


def test_a_scale_key_left_waiting_is_cancelled(qtbot: QtBot, bedside: AppParts) -> None:
    window = bedside.window
    window.keys.scale_timeout_ms = 30
    window.setFocus()
    press(qtbot, Qt.Key.Key_M)
    assert window.keys.waiting_scale == "MOAA/S"
    qtbot.waitUntil(lambda: window.keys.waiting_scale is None, timeout=2000)
    assert "MOAA/S not recorded" in window.statusBar().currentMessage()
    press(qtbot, Qt.Key.Key_1)
    _wait(qtbot, bedside, lambda: len(_observations(bedside, ObservationKind.TAG)) == 1)
    assert _observations(bedside, ObservationKind.SCALE) == []


def test_f1_lists_every_bedside_key_from_the_dispatchers_table(qtbot: QtBot, bedside: AppParts) -> None:
    window = bedside.window
    assert window.keys.unbound() == [], "every key in the table does something in the bedside"
    press(qtbot, Qt.Key.Key_N)
    type_text(qtbot, "4 deep breaths")
    press(qtbot, Qt.Key.Key_F1)  # F1 works while typing
    assert window.help.isVisible()
    shown = window.help.label.text()
    for row in BEDSIDE_KEYS:
        assert row.keys.replace("&", "&amp;") in shown and row.description.split(" (")[0] in shown
    for word in ("Esc", "M, then 0 – 5", "RASS", "Dissociation", "Vitals by hand", TYPING_RULE.split(";")[0]):
        assert word in shown
    press(qtbot, Qt.Key.Key_Escape)  # closes the help and leaves the field, the draft kept
    assert not window.help.isVisible()
    assert _focus() is window and _panel(bedside).text_line.text() == "4 deep breaths"


def test_number_fields_are_digits_only(bedside: AppParts) -> None:
    panel = _panel(bedside)
    for field in (*panel.vital_fields.values(), panel.check_prompt.systolic, panel.check_prompt.diastolic):
        assert isinstance(field, QLineEdit)
        validator = field.validator()
        assert validator is not None
        assert validator.validate("12a", 3)[0].name == "Invalid"
        assert validator.validate("128", 3)[0].name == "Acceptable"


# ------------------------------------------------------- messages follow their field
def test_the_vitals_message_goes_as_soon_as_the_field_is_corrected(qtbot: QtBot, bedside: AppParts) -> None:
    panel = _panel(bedside)
    press(qtbot, Qt.Key.Key_V)
    systolic, diastolic = panel.vital_fields["systolic"], panel.vital_fields["diastolic"]
    type_text(qtbot, "80")
    press(qtbot, Qt.Key.Key_Tab)
    type_text(qtbot, "95")  # diastolic above systolic
    press(qtbot, Qt.Key.Key_Return)
    assert panel.vitals_message.text() == "Diastolic (95) must be below systolic (80)"
    assert "border" in diastolic.styleSheet(), "the field at fault is marked"
    assert diastolic.hasFocus()
    diastolic.selectAll()
    type_text(qtbot, "55")  # corrected, not yet saved
    assert panel.vitals_message.text() == "", "the message follows the field, not the next Save"
    assert diastolic.styleSheet() == ""
    press(qtbot, Qt.Key.Key_Backspace)
    press(qtbot, Qt.Key.Key_Backspace)
    assert diastolic.text() == "" and systolic.text() == "80"
    assert panel.vitals_message.text() == "", "no new complaint while still typing"
    press(qtbot, Qt.Key.Key_Return)
    assert panel.vitals_message.text() == "Blood pressure needs both systolic and diastolic values"


def test_the_check_prompt_message_goes_as_soon_as_the_bp_is_corrected(
        qtbot: QtBot, bedside: AppParts) -> None:
    prompt = _panel(bedside).check_prompt
    _wait(qtbot, bedside, prompt.isVisible)  # "Vitals before dosing" is due
    press(qtbot, Qt.Key.Key_C)
    type_text(qtbot, "126")
    press(qtbot, Qt.Key.Key_Return)  # only one of the two numbers
    assert prompt.message.text() == "Enter both BP numbers, e.g. 128 / 84, or leave both empty"
    press(qtbot, Qt.Key.Key_Tab)
    type_text(qtbot, "8")
    assert prompt.message.text() == "", "the message follows the fields, not the next Done"
    type_text(qtbot, "2")
    press(qtbot, Qt.Key.Key_Return)
    _wait(qtbot, bedside, lambda: any(c.name == "vitals_pre_dose" and c.state == "done"
                                      for c in bedside.recorder.snapshot().checks))


def test_a_settings_message_goes_as_soon_as_the_field_is_corrected(qtbot: QtBot) -> None:
    saved: list[ClinicSettings] = []
    dialog = SettingsDialog(ClinicSettings.defaults(), saved.append)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.tabs.setCurrentIndex(dialog._tab_index["quick_tags"])
    field = dialog.tag_edits["3"]
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, "x" * 61)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert saved == []
    error, summary = dialog.errors["tag:3"], dialog.message
    assert error.isVisible() and "at most 60 characters" in error.text()
    assert summary.isVisible()
    qtbot.keyClick(field, Qt.Key.Key_Backspace)  # 60 characters: right now
    assert not error.isVisible() and not summary.isVisible(), "the message follows the field"
    qtbot.keyClicks(field, "y")  # wrong again: said again, beside the same field
    assert error.isVisible() and summary.isVisible()
    qtbot.keyClick(field, Qt.Key.Key_Backspace)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert len(saved) == 1
