"""Issue 11: after a crash and resume, the panel shows what it showed; the note being typed survives.

The real window, recorder, journaled store and DB worker are assembled by ``ui.app.build_app`` on a
FakeClock. A "crash" is the window dropped without ending the session (nothing saved from the note
line), then a new ``build_app`` on the same database. The therapist acts through keys (N, typing,
Enter, a quick-tag digit) and clicks (an entry in the list, Edit…, Delete…, the dialogs' buttons).
"""

from __future__ import annotations

import argparse
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from discharge_answers import click
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QLabel, QLineEdit, QMessageBox

from db.store import SqlStore
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording.closing import close_unfinished
from kapmonitor.types import ObservationKind, Reading, Stream
from ui.app import AppParts, ask_end_session, build_app, offer_resume, resume_from_list
from ui.note_draft import drafts_folder
from ui.observation_panel import ObservationPanel

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
ARGS = argparse.Namespace(db=None, demo=False, speed=None)


class Bedside:
    """Builds bedside windows on one database; each one can be 'crashed' and a new one started."""

    def __init__(self, qtbot, db: Path) -> None:  # type: ignore[no-untyped-def]
        self.qtbot = qtbot
        self.db = db
        self.clock = FakeClock(T0)
        self.open: list[AppParts] = []

    def start(self) -> AppParts:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        store = SqlStore.open(self.db, clock=self.clock, flush_interval_s=0.05)
        parts = build_app(ARGS, app, clock=self.clock, store=store, sensors_for_session=list, autotick=False)
        parts.window.resize(1600, 1000)
        parts.window.show()
        self.qtbot.waitExposed(parts.window)
        parts.window.activateWindow()
        self.open.append(parts)
        return parts

    def crash(self, parts: AppParts) -> None:
        """The window goes away mid-session: not ended, the note line not saved."""
        parts.window.close_without_asking()
        parts.shutdown()
        self.open.remove(parts)

    def close_all(self) -> None:
        for parts in list(self.open):
            self.crash(parts)


@pytest.fixture
def bedside(qtbot, tmp_path: Path) -> Iterator[Bedside]:  # type: ignore[no-untyped-def]
    b = Bedside(qtbot, tmp_path / "resume.db")
    yield b
    b.close_all()


def _panel(parts: AppParts) -> ObservationPanel:
    panel = parts.window.observations
    assert panel is not None
    return panel


def _start_session(qtbot, parts: AppParts, code: str) -> int:  # type: ignore[no-untyped-def]
    parts.window.start_session(SessionSpec(code, PRESETS["sublingual"]))
    qtbot.waitUntil(lambda: code in parts.window.session_label.text(), timeout=5000)
    sid = parts.recorder.session_id
    assert sid is not None
    return sid


def _type_note(qtbot, parts: AppParts, text: str, *, save: bool = True) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(parts)
    parts.window.setFocus()
    qtbot.keyClick(parts.window, Qt.Key.Key_N)
    assert panel.text_line.hasFocus()
    qtbot.keyClicks(panel.text_line, text)
    if save:
        qtbot.keyClick(panel.text_line, Qt.Key.Key_Return)
        _wait_listed(qtbot, parts, text)


def _saved_entries(parts: AppParts) -> list[str]:
    return [t for t in _panel(parts).timeline.entry_texts()
            if not t.startswith(("saving", "NOT SAVED", "not saved"))]


def _wait_listed(qtbot, parts: AppParts, text: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: any(text in t for t in _saved_entries(parts)), timeout=5000)


def _click_entry(qtbot, parts: AppParts, text: str) -> None:  # type: ignore[no-untyped-def]
    timeline = _panel(parts).timeline
    for row in range(timeline.list.count()):
        item = timeline.list.item(row)
        if text in item.text():
            timeline.list.scrollToItem(item)
            qtbot.mouseClick(timeline.list.viewport(), Qt.MouseButton.LeftButton,
                             pos=timeline.list.visualItemRect(item).center())
            assert timeline.list.currentItem() is item
            return
    raise AssertionError(f"no entry with {text!r} in {timeline.entry_texts()}")


def _in_next_dialog(qtbot, act: Callable[[QDialog], None]) -> list[bool]:  # type: ignore[no-untyped-def]
    """Act in the next modal dialog as soon as it is open (it blocks the click that opened it)."""
    done: list[bool] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QDialog) or not dialog.isVisible():
            QTimer.singleShot(20, poll)
            return
        act(dialog)
        done.append(True)

    QTimer.singleShot(20, poll)
    return done


def _correct(qtbot, parts: AppParts, entry: str, new_text: str) -> None:  # type: ignore[no-untyped-def]
    """Select the entry, click Edit…, replace its text, click Save."""

    def edit(dialog: QDialog) -> None:
        field = dialog.text_edit  # type: ignore[attr-defined]
        assert isinstance(field, QLineEdit)
        field.setFocus()
        field.selectAll()
        qtbot.keyClick(field, Qt.Key.Key_Backspace)
        qtbot.keyClicks(field, new_text)
        save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)

    _click_entry(qtbot, parts, entry)
    done = _in_next_dialog(qtbot, edit)
    qtbot.mouseClick(_panel(parts).timeline.edit_button, Qt.MouseButton.LeftButton)
    assert done
    qtbot.waitUntil(lambda: any(new_text in t and "edited" in t for t in _saved_entries(parts)), timeout=5000)


def _delete(qtbot, parts: AppParts, entry: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Select the entry, click Delete…, give the reason, click OK."""

    def delete(dialog: QDialog) -> None:
        field = dialog.reason  # type: ignore[attr-defined]
        qtbot.keyClicks(field, reason)
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    _click_entry(qtbot, parts, entry)
    done = _in_next_dialog(qtbot, delete)
    qtbot.mouseClick(_panel(parts).timeline.delete_button, Qt.MouseButton.LeftButton)
    assert done
    qtbot.waitUntil(lambda: any(entry in t and f"deleted: {reason}" in t for t in _saved_entries(parts)),
                    timeout=5000)


def _says_no_observations(parts: AppParts) -> bool:
    return any(label.text() == "No observations yet" and label.isVisible()
               for label in _panel(parts).timeline.findChildren(QLabel))


def _draft_file(parts: AppParts, session_id: int) -> Path:
    return drafts_folder(parts.store.location) / f"session-{session_id}.txt"


def test_resumed_panel_lists_earlier_observations_and_edits_and_deletes_them(
    qtbot, bedside: Bedside, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    first = bedside.start()
    sid = _start_session(qtbot, first, "K-311")
    _type_note(qtbot, first, "client calm, eyes closed")
    bedside.clock.advance(60)
    _type_note(qtbot, first, "asked for water")
    bedside.clock.advance(60)
    first.window.setFocus()
    qtbot.keyClick(first.window, Qt.Key.Key_2)  # quick tag 2
    tag_label = first.settings.tag_for_key("2")
    assert tag_label is not None
    _wait_listed(qtbot, first, tag_label.label)
    _correct(qtbot, first, "client calm, eyes closed", "client calm, eyes closed, smiling")
    before = _saved_entries(first)
    bedside.crash(first)

    # the start-up offer to resume the unfinished session, answered Yes
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    second = bedside.start()
    assert offer_resume(second, second.window)
    qtbot.waitUntil(lambda: "K-311" in second.window.session_label.text(), timeout=5000)
    qtbot.waitUntil(lambda: len(_saved_entries(second)) == 3, timeout=5000)
    assert _saved_entries(second) == before, "the panel shows what it showed before the crash"
    assert not _says_no_observations(second)
    assert any("smiling" in t and "(edited)" in t for t in _saved_entries(second))

    # both kinds of change, through the panel, exactly as in the first run
    _correct(qtbot, second, "asked for water", "asked for water, drank a little")
    _delete(qtbot, second, tag_label.label, "pressed by mistake")
    oid = _panel(second).timeline.selected_id()
    assert oid is not None and len(_panel(second).timeline.history(oid)) == 2

    second.store.wait_applied(10.0)
    stored = second.database.observations(sid)
    latest = {o.observation_id: o for o in sorted(stored, key=lambda o: o.revision)}
    texts = {o.text for o in latest.values() if o.kind is ObservationKind.NOTE and not o.deleted}
    assert texts == {"client calm, eyes closed, smiling", "asked for water, drank a little"}
    tags = [o for o in latest.values() if o.kind is ObservationKind.TAG]
    assert len(tags) == 1 and tags[0].deleted and tags[0].reason == "pressed by mistake"


def test_the_note_being_typed_survives_a_crash_and_saving_it_removes_the_draft(
    qtbot, bedside: Bedside  # type: ignore[no-untyped-def]
) -> None:
    first = bedside.start()
    sid = _start_session(qtbot, first, "K-312")
    _type_note(qtbot, first, "client says the room feels", save=False)
    draft = _draft_file(first, sid)
    qtbot.waitUntil(draft.exists, timeout=3000)  # written shortly after the last keystroke
    assert draft.read_text(encoding="utf-8") == "client says the room feels"
    assert stat.S_IMODE(draft.stat().st_mode) == 0o600, "the client's words: owner only"
    assert draft.is_relative_to(os.environ["XDG_DATA_HOME"])
    assert not list(draft.parent.glob(".draft-*")), "no temporary file left behind"
    bedside.crash(first)

    second = bedside.start()
    panel = _panel(second)
    assert resume_from_list(second, sid)
    qtbot.waitUntil(lambda: panel.text_line.text() == "client says the room feels", timeout=5000)
    assert "draft kept from before the restart" in panel.status.text()
    assert draft.exists(), "still a draft until it is saved"

    # the therapist goes on where the draft ended and saves it
    _type_note(qtbot, second, " warm", save=False)
    assert panel.text_line.text() == "client says the room feels warm"
    qtbot.keyClick(panel.text_line, Qt.Key.Key_Return)
    _wait_listed(qtbot, second, "client says the room feels warm")
    qtbot.waitUntil(lambda: not draft.exists(), timeout=3000)
    second.store.wait_applied(10.0)
    notes = [o.text for o in second.database.observations(sid) if o.kind is ObservationKind.NOTE]
    assert notes == ["client says the room feels warm"]


def test_emptying_the_note_line_removes_the_draft_and_focus_out_writes_it_at_once(
    qtbot, bedside: Bedside  # type: ignore[no-untyped-def]
) -> None:
    parts = bedside.start()
    sid = _start_session(qtbot, parts, "K-313")
    panel = _panel(parts)
    draft = _draft_file(parts, sid)
    _type_note(qtbot, parts, "nausea easing", save=False)
    qtbot.keyClick(panel.text_line, Qt.Key.Key_Escape)  # leaves the line: the draft is written now
    assert not panel.text_line.hasFocus()
    assert draft.read_text(encoding="utf-8") == "nausea easing"

    qtbot.keyClick(parts.window, Qt.Key.Key_N)
    panel.text_line.selectAll()
    qtbot.keyClick(panel.text_line, Qt.Key.Key_Backspace)
    assert panel.text_line.text() == ""
    assert not draft.exists(), "an emptied line keeps no draft"
    bedside.crash(parts)

    again = bedside.start()
    assert resume_from_list(again, sid)
    qtbot.waitUntil(lambda: "K-313" in again.window.session_label.text(), timeout=5000)
    assert _panel(again).text_line.text() == ""


def test_the_alarm_list_after_resume_has_the_alarms_from_before_the_crash(
    qtbot, bedside: Bedside  # type: ignore[no-untyped-def]
) -> None:
    first = bedside.start()
    sid = _start_session(qtbot, first, "K-314")
    first.recorder.reading_received(Reading(Stream.BP_SYSTOLIC, 192.0, bedside.clock.now(), "cuff"))
    first.recorder.reading_received(Reading(Stream.BP_DIASTOLIC, 112.0, bedside.clock.now(), "cuff"))
    banner = first.window.banner
    qtbot.waitUntil(lambda: banner.title_text == "HIGH   Systolic BP very high", timeout=3000)
    first.window.setFocus()
    qtbot.keyClick(first.window, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: banner.alarm_list.log.rowCount() == 8, timeout=3000)  # 4 raised, 4 acknowledged
    before = _log_rows(first)
    first.store.wait_applied(10.0)
    bedside.crash(first)
    bedside.clock.advance(120)

    second = bedside.start()
    assert resume_from_list(second, sid)
    qtbot.waitUntil(lambda: "K-314" in second.window.session_label.text(), timeout=5000)
    qtbot.waitUntil(lambda: _log_rows(second) == before, timeout=5000)

    # a new alarm in the resumed run goes on top of the restored log, nothing twice
    second.recorder.reading_received(Reading(Stream.SPO2, 85.0, bedside.clock.now(), "oximeter"))
    qtbot.waitUntil(lambda: second.window.banner.title_text == "HIGH   SpO2 very low", timeout=3000)
    second.window.banner.open_alarm_list()
    qtbot.waitUntil(second.window.banner.alarm_list.isVisible, timeout=2000)
    rows = _log_rows(second)
    assert rows[1:] == before and rows[0][1:] == ("SpO2 very low", "raised")


def _log_rows(parts: AppParts) -> list[tuple[str, str, str]]:
    log = parts.window.banner.alarm_list.log
    return [tuple(log.item(r, c).text() for c in (0, 1, 3)) for r in range(log.rowCount())]  # type: ignore[misc]


def test_drafts_of_sessions_closed_elsewhere_are_removed_at_the_next_start(
    qtbot, bedside: Bedside  # type: ignore[no-untyped-def]
) -> None:
    first = bedside.start()
    closed_sid = _start_session(qtbot, first, "K-315")
    _type_note(qtbot, first, "words for a session closed elsewhere", save=False)
    closed_draft = _draft_file(first, closed_sid)
    qtbot.waitUntil(closed_draft.exists, timeout=3000)
    bedside.crash(first)

    second = bedside.start()
    open_sid = _start_session(qtbot, second, "K-316")
    _type_note(qtbot, second, "words for a session still open", save=False)
    open_draft = _draft_file(second, open_sid)
    qtbot.waitUntil(open_draft.exists, timeout=3000)
    bedside.crash(second)

    # another workstation on the same database closes K-315 from its session list
    other = SqlStore.open(bedside.db, clock=bedside.clock)
    try:
        close_unfinished(other, closed_sid, "closed at the front desk")
    finally:
        other.close()

    third = bedside.start()
    qtbot.waitUntil(lambda: not closed_draft.exists(), timeout=5000)
    third.store.wait_applied(10.0)
    assert open_draft.read_text(encoding="utf-8") == "words for a session still open"


def _end_with_unsaved_note(qtbot, parts: AppParts, *, save: bool) -> list[str]:  # type: ignore[no-untyped-def]
    """Press End session; in the dialog read the unsaved note, (un)tick saving it, give a reason, end."""
    seen: list[str] = []

    def end(dialog: QDialog) -> None:
        seen.extend(label.text() for label in dialog.findChildren(QLabel) if "not yet saved" in label.text())
        box = dialog.save_note_box  # type: ignore[attr-defined]
        assert box is not None and box.isChecked(), "saving the note is offered, ticked"
        if not save:
            click(qtbot, box)
        qtbot.keyClicks(dialog.reason, "client collected early")  # type: ignore[attr-defined]
        qtbot.mouseClick(dialog.end_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]

    done = _in_next_dialog(qtbot, end)
    ask_end_session(parts)  # the dialog opens once the record was read
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    return seen


@pytest.mark.parametrize("save", [True, False], ids=["saved", "dropped"])
def test_ending_with_an_unsaved_note_offers_to_save_it_and_leaves_no_draft(
    qtbot, bedside: Bedside, save: bool  # type: ignore[no-untyped-def]
) -> None:
    parts = bedside.start()
    sid = _start_session(qtbot, parts, "K-317")
    _type_note(qtbot, parts, "client steady, walking with help", save=False)
    draft = _draft_file(parts, sid)
    qtbot.waitUntil(draft.exists, timeout=3000)
    seen = _end_with_unsaved_note(qtbot, parts, save=save)
    assert seen == ["The note line holds a note not yet saved:\n“client steady, walking with help”"]
    qtbot.waitUntil(lambda: parts.database.session(sid).ended_at is not None, timeout=5000)
    notes = [o.text for o in parts.database.observations(sid) if o.kind is ObservationKind.NOTE]
    assert notes == (["client steady, walking with help"] if save else [])
    qtbot.waitUntil(lambda: not draft.exists(), timeout=3000)
    assert _panel(parts).text_line.text() == ""


def test_the_draft_survives_a_real_crash_of_the_bedside_process(
    qtbot, bedside: Bedside  # type: ignore[no-untyped-def]
) -> None:
    """A real bedside process types a note and is killed (SIGKILL: no clean-up of any kind)."""
    script = Path(__file__).with_name("draft_process.py")
    proc = subprocess.Popen([sys.executable, str(script), str(bedside.db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the draft is on disk (the script times out at 20 s)
        assert line.startswith("DRAFTED "), proc.stderr.read() if proc.stderr else line
        _, sid_text, draft_path = line.split(maxsplit=2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    sid = int(sid_text)
    draft = Path(draft_path.strip())
    assert draft.read_text(encoding="utf-8") == "client describes floating, asks for"

    bedside.clock = FakeClock(datetime.now(UTC))
    parts = bedside.start()
    assert resume_from_list(parts, sid)
    panel = _panel(parts)
    qtbot.waitUntil(lambda: panel.text_line.text() == "client describes floating, asks for", timeout=5000)
    assert any("client settled on the couch" in t for t in _saved_entries(parts)), "the saved note is back"
    assert draft.exists()
