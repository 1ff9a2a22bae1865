"""Issue 12: the structured end of a session at the bedside, driven as a clinician drives it.

The real window, recorder, journaled store and DB worker (``ui.app.build_app``) on a FakeClock; a
pulse oximeter and hand-entered vitals feed the record; the clinician presses End session, reads
what the record says beside each item, answers with clicks and typing, and ends.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from discharge_answers import answer_discharge, click
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.discharge import Discharge, Support
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import EventKind, ObservationKind, Reading, Stream
from ui.app import AppParts, build_app, connect_dialogs
from ui.end_session_dialog import EndSessionDialog

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def bedside(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[AppParts, FakeClock]]:
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "discharge.db", clock=clock, flush_interval_s=0.05)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    parts = build_app(argparse.Namespace(db=None, demo=False, speed=None), app, clock=clock, store=store,
                      sensors_for_session=list, autotick=False)
    connect_dialogs(parts)  # End session opens the end dialog, as in the app
    parts.window.show()
    qtbot.waitExposed(parts.window)
    parts.window.start_session(SessionSpec("K-12", PRESETS["sublingual"], dose_amount=100.0, lot="L-7",
                                           clinician_initials="JQ"))
    qtbot.waitUntil(lambda: parts.recorder.session_id is not None, timeout=3000)
    yield parts, clock
    parts.window.close_without_asking()
    parts.shutdown()


def _oximeter(parts: AppParts, clock: FakeClock, minutes: float, value: float = 97.0) -> None:
    for _ in range(int(minutes * 12)):
        parts.recorder.reading_received(Reading(Stream.SPO2, value, clock.now(), "oxi:1"))
        clock.advance(5)
        parts.recorder.tick()


def _session_with_a_dose(parts: AppParts, clock: FakeClock, *, oximeter_falls_off: bool) -> None:
    rec = parts.recorder
    rec.record_manual_vitals(systolic=124, diastolic=80)
    _oximeter(parts, clock, 5)
    rec.give_dose(amount=100.0)
    _oximeter(parts, clock, 45)
    rec.add_observation(ObservationKind.SCALE, "moaa_s", value=3)
    _oximeter(parts, clock, 5 if oximeter_falls_off else 76)
    if oximeter_falls_off:  # nothing from the oximeter for 72 minutes: a no-data alarm
        for _ in range(72 * 6):
            clock.advance(10)
            rec.tick()
    rec.record_manual_vitals(systolic=130, diastolic=84)
    rec.add_observation(ObservationKind.SCALE, "moaa_s", value=5)
    if oximeter_falls_off:
        clock.advance(60)
        rec.tick()
    else:
        _oximeter(parts, clock, 1)


def _in_end_dialog(qtbot: QtBot, parts: AppParts, act: Callable[[EndSessionDialog], None]) -> None:
    """Press End session and, once its dialog is open (it is modal), ``act`` in it.

    A failed assertion in ``act`` cancels the dialog and fails the test here.
    """
    done: list[BaseException | None] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, EndSessionDialog) or not dialog.isVisible():
            QTimer.singleShot(20, poll)
            return
        try:
            act(dialog)
            done.append(None)
        except BaseException as exc:
            done.append(exc)
            dialog.reject()

    QTimer.singleShot(20, poll)
    QTimer.singleShot(0, lambda: parts.window.end_button.click())
    qtbot.waitUntil(lambda: bool(done), timeout=10000)
    if done[0] is not None:
        raise done[0]


def _stored(parts: AppParts) -> Discharge | None:
    sid = parts.recorder.session_id
    assert sid is not None
    parts.store.wait_applied(10.0)
    ended = [e for e in parts.database.events(sid) if e.kind is EventKind.SESSION_ENDED]
    return Discharge.from_data(ended[0].data) if ended else None


def test_the_record_speaks_beside_each_item_and_the_answers_are_filed(
        qtbot: QtBot, bedside: tuple[AppParts, FakeClock]) -> None:
    parts, clock = bedside
    _session_with_a_dose(parts, clock, oximeter_falls_off=False)
    _in_end_dialog(qtbot, parts, lambda dialog: _answer_first(qtbot, dialog))
    qtbot.waitUntil(lambda: parts.recorder.snapshot().ended_at is not None, timeout=5000)  # type: ignore[union-attr]
    stored = _stored(parts)
    assert stored is not None
    assert stored.adverse_events is True and stored.adverse_event_details == "nausea at 40 min, vomited once"
    assert stored.serious_adverse_event is False and stored.serious_outcomes == ()
    assert (stored.sedation, stored.dissociation, stored.respiratory_depression) == (True, False, False)
    assert stored.concomitant_medications == ("benzodiazepines",)
    assert stored.fit_to_leave_by == "JQ"
    assert [(i.name, i.met, i.support) for i in stored.items] == [
        ("spo2_room_air", True, Support.SUPPORTED), ("bp_near_baseline", True, Support.SUPPORTED),
        ("alert_oriented", True, Support.SUPPORTED), ("min_observation_met", True, Support.SUPPORTED),
        ("accompanied_home", True, Support.CLINICIAN)]
    dose = parts.recorder.snapshot().first_dose_at  # type: ignore[union-attr]
    assert stored.ready_to_leave_at is not None and dose is not None
    assert timedelta(minutes=120) <= stored.ready_to_leave_at - dose <= timedelta(minutes=127)


def _answer_first(qtbot: QtBot, dialog: EndSessionDialog) -> None:
    assert dialog.item_evidence["spo2_room_air"].text().startswith("SpO₂ 97 % at ")
    assert "130/84 mmHg" in dialog.item_evidence["bp_near_baseline"].text()
    assert dialog.item_evidence["alert_oriented"].text().startswith("MOAA/S 5 at ")
    # sedation suggested from the MOAA/S 3, respiratory depression "no" from the SpO2
    assert dialog.monitoring["sedation"].value() is True
    assert dialog.monitoring["respiratory_depression"].value() is False
    assert dialog.monitoring["dissociation"].value() is None, "no rating: the clinician must answer"
    assert dialog.fit_by.text() == "JQ", "the session's clinician by default"
    assert "min after the first dose" in dialog.ready_words.text()
    assert not dialog.end_button.isEnabled()
    assert dialog.message.text().startswith("To end the session: Answer whether there was any adverse event")
    for name in ("spo2_room_air", "bp_near_baseline", "alert_oriented", "accompanied_home"):
        click(qtbot, dialog.items[name])
    assert not any(r.isVisible() for r in dialog.item_reasons.values()), "the record supports each item"
    click(qtbot, dialog.adverse.yes)
    assert dialog.adverse_details.isVisible()
    qtbot.keyClicks(dialog.adverse_details, "nausea at 40 min, vomited once")
    click(qtbot, dialog.serious.no)
    click(qtbot, dialog.monitoring["dissociation"].no)
    click(qtbot, dialog.medications["benzodiazepines"])
    assert dialog.end_button.isEnabled(), dialog.message.text()
    click(qtbot, dialog.end_button)


def test_spo2_cannot_be_ticked_without_a_reason_after_73_minutes_without_data(
        qtbot: QtBot, bedside: tuple[AppParts, FakeClock]) -> None:
    parts, clock = bedside
    _session_with_a_dose(parts, clock, oximeter_falls_off=True)
    assert any("spo2" in a.alarm_id for a in parts.recorder.active_alarms()), "a no-data alarm is on"
    _in_end_dialog(qtbot, parts, lambda dialog: _tick_spo2_with_a_reason(qtbot, dialog))
    qtbot.waitUntil(lambda: parts.recorder.snapshot().ended_at is not None, timeout=5000)  # type: ignore[union-attr]
    stored = _stored(parts)
    assert stored is not None
    spo2 = next(i for i in stored.items if i.name == "spo2_room_air")
    assert spo2.met and spo2.support is Support.NO_DATA
    assert spo2.reason == "probe off; finger oximeter 98 % at 11:55"
    assert spo2.evidence.startswith("no SpO₂ data for 73 min")


def _tick_spo2_with_a_reason(qtbot: QtBot, dialog: EndSessionDialog) -> None:
    assert dialog.item_evidence["spo2_room_air"].text().startswith("no SpO₂ data for 73 min (last 97 % at ")
    answer_discharge(qtbot, dialog)
    for name in dialog.items:
        if not dialog.items[name].isChecked():
            click(qtbot, dialog.items[name])
    reason = dialog.item_reasons["spo2_room_air"]
    assert reason.isVisible(), "ticked against the record: a reason is asked beside the item"
    assert not dialog.end_button.isEnabled()
    assert "is ticked but no data supports it" in dialog.message.text()
    qtbot.keyClicks(reason, "probe off; finger oximeter 98 % at 11:55")
    assert dialog.end_button.isEnabled(), dialog.message.text()
    click(qtbot, dialog.end_button)


def test_a_session_abandoned_before_the_dose_needs_only_its_reason(
        qtbot: QtBot, bedside: tuple[AppParts, FakeClock]) -> None:
    parts, _clock = bedside

    def abandon(dialog: EndSessionDialog) -> None:
        assert dialog.time_label.text() == "No dose was given in this session."
        qtbot.keyClicks(dialog.reason, "client decided not to go ahead")
        assert dialog.end_button.isEnabled()
        click(qtbot, dialog.end_button)

    _in_end_dialog(qtbot, parts, abandon)
    qtbot.waitUntil(lambda: parts.recorder.snapshot().ended_at is not None, timeout=5000)  # type: ignore[union-attr]
    assert _stored(parts) is None, "no dose: no monitoring to file"


def test_the_healthcare_setting_and_medications_are_clinic_settings(qtbot: QtBot) -> None:
    from kapmonitor.settings import ClinicSettings
    from ui.settings_dialog import SettingsDialog

    saved: list[ClinicSettings] = []
    start = ClinicSettings.defaults().with_changes(setting_name="Riverside Psychiatry", setting_id="RS-0042")
    dialog = SettingsDialog(start, saved.append)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.setting_name.text() == "Riverside Psychiatry" and dialog.setting_id.text() == "RS-0042"
    assert [e.text() for e in dialog.medication_edits[:5]] == [m.label for m in start.medications]
    dialog.medication_edits[5].setFocus()
    qtbot.keyClicks(dialog.medication_edits[5], "Opioids")
    dialog.setting_id.selectAll()
    qtbot.keyClicks(dialog.setting_id, "RS-0043")
    click(qtbot, dialog.save_button)
    (new,) = saved
    assert new.setting_name == "Riverside Psychiatry" and new.setting_id == "RS-0043"
    assert [m.label for m in new.medications][-1] == "Opioids" and new.medications[-1].name == "opioids"
    assert ClinicSettings.from_dict(new.to_dict()) == new
