"""Privacy at rest, the log: what the therapist typed never reaches the log, and the log is owner-only.

The log says what happened ("check vitals_40_min dismissed with a reason (23 characters)"),
never what was written: a clinic's IT person reads it, it is copied into bug reports, and it
outlives the session record's access rules.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from log_capture import remove_kapmonitor_handlers

from db.journaled_store import JournaledStore
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.logs import describe_text, describe_values, setup_logging
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.types import ObservationKind, Reading, Stream

#: One marker per kind of free text; each must be absent from every log line.
MARKERS = {
    "client code": "K-ZQX-CLIENTCODE",
    "note": "zqx-note-client-spoke-of-her-father",
    "tag name": "zqx-tag-tearful",
    "observation author": "ZQX-AUTHOR",
    "check note": "zqx-checknote-bp-taken-left-arm",
    "dismissal reason": "zqx-dismissal-client-refused-cuff",
    "correction text": "zqx-corrected-text-was-crying",
    "correction reason": "zqx-correction-reason-typo",
    "deletion reason": "zqx-deletion-reason-wrong-client",
    "end reason": "zqx-endreason-left-with-partner",
}



def _all_logged(path: Path, caplog: pytest.LogCaptureFixture) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    records = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    return path.read_text(encoding="utf-8") + "\n" + records


def test_a_recorded_session_logs_what_happened_not_what_was_written(
    tmp_path: Path, logged: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    with JournaledStore.open(tmp_path / "k.db", clock=clock, journal_dir=tmp_path / "journal") as store:
        rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        sid = rec.start_session(SessionSpec(MARKERS["client code"], PRESETS["sublingual"], 150.0))
        for _ in range(30):
            clock.advance(1)
            rec.reading_received(Reading(Stream.HEART_RATE, 71.0, clock.now(), "strap:1"))
            rec.tick()
        rec.complete_check("vitals_pre_dose", MARKERS["check note"])
        rec.give_dose(amount=150)
        note = rec.add_observation(ObservationKind.NOTE, "note", text=MARKERS["note"],
                                   author=MARKERS["observation author"])
        rec.add_observation(ObservationKind.TAG, MARKERS["tag name"])
        clock.advance(60)
        rec.edit_observation(note.observation_id, text=MARKERS["correction text"],
                             reason=MARKERS["correction reason"])
        clock.advance(60)
        rec.delete_observation(note.observation_id, MARKERS["deletion reason"])
        clock.advance(40 * 60)
        rec.tick()
        rec.dismiss_check("vitals_40_min", MARKERS["dismissal reason"])
        clock.advance(60)
        rec.end_session(MARKERS["end reason"])
        store.wait_applied(10)
        rec.close()
    text = _all_logged(logged, caplog)
    # The log did record the session (the test would pass on an empty log otherwise) ...
    assert f"session {sid}" in text or "check_dismissed" in text
    assert "vitals_40_min" in text
    # ... and none of what was typed.
    leaked = {what: marker for what, marker in MARKERS.items() if marker.lower() in text.lower()}
    assert leaked == {}


def test_the_session_event_line_names_the_check_and_the_length_of_the_reason(
    logged: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kapmonitor.session import SessionState

    state = SessionState(PRESETS["sublingual"])
    clock = FakeClock()
    state.start(clock.now())
    state.give_dose(clock.now())
    clock.advance(41 * 60)
    state.due_events(clock.now())
    state.dismiss_check("vitals_40_min", clock.now(), "client refused the cuff")
    text = _all_logged(logged, caplog)
    assert "check_dismissed" in text
    assert "vitals_40_min" in text
    assert "(23 characters)" in text
    assert "client refused the cuff" not in text


def test_describe_keeps_names_and_numbers_and_measures_text() -> None:
    assert describe_text("") == "(empty)"
    assert describe_text("one") == "(3 characters)"
    assert describe_text("x") == "(1 character)"
    shown = describe_values({"check": "vitals_40_min", "reason": "refused", "amount": 150.0,
                             "unit": "mg", "note": ""})
    assert shown == "check=vitals_40_min reason=(7 characters) amount=150.0 unit=mg note=(empty)"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_log_folder_and_file_are_owner_only(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = setup_logging(level="info", log_dir=tmp_path / "new" / "logs")
        logging.getLogger("kapmonitor.test").warning("a line")
    finally:
        os.umask(old)
        remove_kapmonitor_handlers()
    assert path is not None
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_an_existing_log_folder_and_file_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "kapmonitor.log").write_text("an old line\n")
    (folder / "kapmonitor.log").chmod(0o644)
    (folder / "kapmonitor.log.1").write_text("an older line\n")
    (folder / "kapmonitor.log.1").chmod(0o644)
    try:
        path = setup_logging(level="info", log_dir=folder)
    finally:
        remove_kapmonitor_handlers()
    assert path is not None
    assert _mode(folder) == 0o700
    assert _mode(path) == 0o600
    assert _mode(folder / "kapmonitor.log.1") == 0o600
    assert path.read_text().startswith("an old line")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_rotated_log_files_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        path = setup_logging(level="info", log_dir=tmp_path / "logs", max_bytes=2_000)
        for i in range(200):
            logging.getLogger("kapmonitor.test").warning("line %d of a long log", i)
    finally:
        os.umask(old)
        remove_kapmonitor_handlers()
    assert path is not None
    files = sorted(path.parent.iterdir())
    assert len(files) > 2  # it did rotate
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_the_log_rotates_keeping_the_newest_files_and_every_recent_line(tmp_path: Path) -> None:
    """Rotation as the standard library's RotatingFileHandler does it: no file grows past the limit,
    ``.1`` is the newest of the older files, at most ``backup_count`` of them are kept, and the lines
    they hold are the last ones written, in order, none lost or doubled."""
    path = setup_logging(level="info", log_dir=tmp_path / "logs", max_bytes=1_000, backup_count=3)
    try:
        for i in range(400):
            logging.getLogger("kapmonitor.test").warning("line %03d of a long log", i)
    finally:
        remove_kapmonitor_handlers()
    assert path is not None
    names = sorted(f.name for f in path.parent.iterdir())
    assert names == ["kapmonitor.log", "kapmonitor.log.1", "kapmonitor.log.2", "kapmonitor.log.3"]
    oldest_first = [path.parent / n for n in ("kapmonitor.log.3", "kapmonitor.log.2", "kapmonitor.log.1",
                                             "kapmonitor.log")]
    assert all(0 < f.stat().st_size < 1_000 for f in oldest_first)
    numbers = [int(line.split("line ")[1][:3]) for f in oldest_first for line in f.read_text().splitlines()]
    assert numbers == list(range(numbers[0], 400)) and numbers[0] > 300
