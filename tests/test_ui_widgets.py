"""UI-B widgets: alarm banner and list, alarm audio, observation entry, dialogs, device panel."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import threading
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import itertools

import numpy as np
import pytest
from discharge_answers import answer_discharge
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from db.journaled_store import JournaledStore
from db.store import SqlStore
from devices.errors import NoAdapterError
from devices.scanner import DiscoveredSensor
from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.clock import FakeClock
from kapmonitor.journal import JournalError
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder, RecorderError
from kapmonitor.settings import ClinicSettings
from kapmonitor.settings_items import AudioSettings, QuickTag
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    Observation,
    ObservationKind,
    ReadingFlag,
    SensorKind,
    Stream,
)
from ui.alarm_banner import AlarmBanner, flash_lit
from ui.alarm_list import AlarmListWidget
from ui.audio import AlarmAudio, AlarmSoundPolicy
from ui.bedside_keys import BedsideKeys
from ui.bridge import RecorderBridge
from ui.device_panel import NO_ADAPTER_TEXT, DevicePanel
from ui.end_session_dialog import EndSessionDialog
from ui.observation_commands import ObservationCommands
from ui.observation_inputs import VitalsError, parse_vitals
from ui.observation_panel import RETRY_INTERVAL_MS, ObservationPanel
from ui.sensor_activity import SIMULATED_ADDRESS
from ui.session_dialog import StartSessionDialog
from ui.settings_dialog import SettingsDialog
from ui.sounds import SOUND_FILES, generate_sounds, sounds_dir
from ui.theme import DARK, apply_theme
from ui.worker import DbWorker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _themed(qapp: QApplication) -> None:
    apply_theme(qapp, DARK)


def _alarm(
    alarm_id: str = "hr_very_high",
    priority: AlarmPriority = AlarmPriority.HIGH,
    state: AlarmState = AlarmState.ACTIVE,
    *,
    escalated: bool = False,
    since: datetime = T0,
    value: float | None = 152.0,
    limit: float | None = 140.0,
    stream: Stream = Stream.HEART_RATE,
) -> ActiveAlarm:
    audio_on = state in (AlarmState.ACTIVE, AlarmState.LATCHED)
    return ActiveAlarm(
        alarm_id,
        alarm_id.replace("_", " ").capitalize(),
        priority,
        AlarmCategory.PHYSIOLOGICAL,
        state,
        since,
        value,
        limit,
        stream,
        audio_on,
        state is not AlarmState.LATCHED,
        escalated,
    )


# ------------------------------------------------------------------ alarm banner
class _Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_banner_is_calm_without_alarms(qtbot: QtBot) -> None:
    banner = AlarmBanner(DARK, clock=FakeClock(T0))
    qtbot.addWidget(banner)
    assert banner.title_text == "No alarms"
    assert not banner.is_flashing
    assert banner.is_lit
    assert not banner.ack_button.isVisible()
    assert not banner._timer.isActive()  # nothing repaints when nothing flashes


@pytest.mark.parametrize(
    ("priority", "state", "unlit_at"),
    [
        (AlarmPriority.HIGH, AlarmState.ACTIVE, 0.3),  # 2 Hz: lit 0-0.25 s, dark 0.25-0.5 s
        (AlarmPriority.MEDIUM, AlarmState.ACTIVE, 1.2),  # 0.5 Hz: lit 0-1 s, dark 1-2 s
        (AlarmPriority.HIGH, AlarmState.AUDIO_PAUSED, 0.3),  # pausing audio never hides the light
        (AlarmPriority.HIGH, AlarmState.LATCHED, 0.3),
    ],
)
def test_banner_flash_phase_follows_real_time(
    qtbot: QtBot, priority: AlarmPriority, state: AlarmState, unlit_at: float
) -> None:
    mono = _Mono()
    banner = AlarmBanner(DARK, clock=FakeClock(T0), monotonic=mono)
    qtbot.addWidget(banner)
    banner.set_alarms([_alarm(priority=priority, state=state)])
    assert banner.is_flashing
    assert banner.is_lit
    mono.t += unlit_at
    banner._refresh()
    assert not banner.is_lit
    # Many seconds later, one refresh is enough: the phase comes from elapsed time, not tick counts.
    mono.t += 1000.0 - unlit_at
    banner._refresh()
    assert banner.is_lit


@pytest.mark.parametrize(
    ("priority", "state"),
    [
        (AlarmPriority.LOW, AlarmState.ACTIVE),
        (AlarmPriority.HIGH, AlarmState.ACKNOWLEDGED),
        (AlarmPriority.MEDIUM, AlarmState.ACKNOWLEDGED),
    ],
)
def test_banner_steady_for_low_and_acknowledged(
    qtbot: QtBot, priority: AlarmPriority, state: AlarmState
) -> None:
    mono = _Mono()
    banner = AlarmBanner(DARK, clock=FakeClock(T0), monotonic=mono)
    qtbot.addWidget(banner)
    banner.set_alarms([_alarm(priority=priority, state=state)])
    assert not banner.is_flashing
    for dt in (0.3, 0.7, 1.2, 1.6):
        mono.t = 100.0 + dt
        banner._refresh()
        assert banner.is_lit
    assert not banner._timer.isActive()


def test_flash_rates_are_within_iec_ranges() -> None:
    def transitions(priority: AlarmPriority) -> int:
        samples = [flash_lit(priority, AlarmState.ACTIVE, i / 1000) for i in range(10_000)]
        return sum(a != b for a, b in itertools.pairwise(samples))

    high_hz = transitions(AlarmPriority.HIGH) / 2 / 10
    medium_hz = transitions(AlarmPriority.MEDIUM) / 2 / 10
    assert 1.4 <= high_hz <= 2.8
    assert 0.4 <= medium_hz <= 0.8


def test_banner_real_timer_flashes_only_while_alarm(qtbot: QtBot) -> None:
    banner = AlarmBanner(DARK, clock=FakeClock(T0))
    qtbot.addWidget(banner)
    banner.set_alarms([_alarm()])
    assert banner._timer.isActive()
    seen: set[bool] = set()

    def both_phases_seen() -> bool:
        seen.add(banner.is_lit)
        return seen == {True, False}

    qtbot.waitUntil(both_phases_seen, timeout=5000)  # it really flashes (2 Hz) with the real timer
    banner.set_alarms([])
    assert not banner._timer.isActive()
    assert banner.is_lit
    assert banner.title_text == "No alarms"


def test_banner_shows_most_urgent_and_counts_others(qtbot: QtBot) -> None:
    clock = FakeClock(T0 + timedelta(minutes=3))
    banner = AlarmBanner(DARK, clock=clock)
    qtbot.addWidget(banner)
    banner.set_alarms(
        [
            _alarm("hr_very_high", AlarmPriority.HIGH, AlarmState.ACKNOWLEDGED),
            _alarm("spo2_low", AlarmPriority.MEDIUM, value=90.0, limit=92.0, stream=Stream.SPO2),
            _alarm("battery", AlarmPriority.LOW, value=None, limit=None, stream=Stream.BATTERY),
        ]
    )
    assert banner.shown_alarm_id == "spo2_low"  # unacknowledged first
    assert banner.title_text.startswith("MEDIUM")
    assert "90% when raised · limit 92%" in banner.detail_text  # never passed off as a live value
    assert "(3 min)" in banner.detail_text
    clock.advance(120)  # no new alarm update: the elapsed time still moves on
    assert banner._text_timer.isActive()
    banner._text_timer.timeout.emit()
    assert "(5 min)" in banner.detail_text
    assert banner.others_text == "+2 other alarms"


def test_banner_keys_acknowledge_and_pause_but_not_while_typing(qtbot: QtBot) -> None:
    window = QWidget()
    layout = QVBoxLayout(window)
    banner = AlarmBanner(DARK, clock=FakeClock(T0))
    note = QLineEdit()
    layout.addWidget(banner)
    layout.addWidget(note)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitActive(window):
        window.activateWindow()
    # A and P are bedside keys (ui.bedside_keys): they press the banner's buttons, as in the bedside
    keys = BedsideKeys(window, lambda _text: None)
    keys.bind({"acknowledge": lambda _k: banner.ack_button.click() is None,
               "pause": lambda _k: banner.pause_button.click() is None})
    banner.set_alarms([_alarm()])
    acks: list[str] = []
    pauses: list[str] = []
    banner.acknowledge_requested.connect(acks.append)
    banner.pause_requested.connect(pauses.append)
    qtbot.mouseClick(note, Qt.MouseButton.LeftButton)  # the therapist puts the cursor there: typing
    qtbot.keyClicks(note, "ap")
    assert note.text() == "ap"
    assert acks == []
    assert pauses == []
    banner.ack_button.setFocus()
    qtbot.keyClick(banner.ack_button, Qt.Key.Key_P)
    qtbot.keyClick(banner.ack_button, Qt.Key.Key_A)
    assert pauses == ["hr_very_high"]
    assert acks == ["hr_very_high"]


def test_alarm_list_newest_first(qtbot: QtBot) -> None:
    lst = AlarmListWidget(DARK)
    qtbot.addWidget(lst)
    assert lst.rowCount() == 0
    raised = AlarmTransition(
        T0,
        "hr_high",
        "Heart rate high",
        AlarmPriority.MEDIUM,
        AlarmCategory.PHYSIOLOGICAL,
        AlarmState.ACTIVE,
        "raised",
        Stream.HEART_RATE,
        125.0,
        120.0,
    )
    acked = dataclasses.replace(
        raised, at=T0 + timedelta(seconds=30), state=AlarmState.ACKNOWLEDGED, action="acknowledged"
    )
    lst.add_transitions([raised, acked])
    assert lst.rowCount() == 2
    assert lst.item(0, 3).text() == "acknowledged"
    assert lst.item(1, 3).text() == "raised"
    assert lst.item(1, 4).text() == "125 bpm"
    assert lst.item(0, 0).text() == (T0 + timedelta(seconds=30)).astimezone().strftime("%H:%M:%S")


# ------------------------------------------------------------------------ audio
def test_policy_high_repeats_from_time_and_ack_silences() -> None:
    policy = AlarmSoundPolicy()
    audio = AudioSettings(volume=30)
    high = [_alarm()]
    first = policy.decide(high, 0.0, audio)
    assert first is not None
    assert first.priority is AlarmPriority.HIGH
    assert first.volume == pytest.approx(0.30)
    assert policy.decide(high, 5.0, audio) is None
    assert policy.decide(high, 15.0, audio) is not None
    assert policy.decide([_alarm(state=AlarmState.ACKNOWLEDGED)], 40.0, audio) is None
    assert policy.decide([_alarm(state=AlarmState.AUDIO_PAUSED)], 41.0, audio) is None
    louder = policy.decide([_alarm(escalated=True)], 42.0, audio)
    assert louder is not None
    assert louder.volume > 0.30


def test_policy_new_alarm_chimes_at_once_low_only_once_visual_only_never() -> None:
    policy = AlarmSoundPolicy()
    audio = AudioSettings(volume=40)
    medium = _alarm("hr_high", AlarmPriority.MEDIUM)
    assert policy.decide([medium], 0.0, audio) is not None
    assert policy.decide([medium, _alarm()], 1.0, audio) is not None  # a new alarm does not wait
    low = _alarm("battery", AlarmPriority.LOW)
    policy2 = AlarmSoundPolicy()
    chime = policy2.decide([low], 0.0, audio)
    assert chime is not None
    assert chime.priority is AlarmPriority.LOW
    assert all(policy2.decide([low], t, audio) is None for t in (10.0, 100.0, 1000.0))
    silent = AudioSettings(volume=100, visual_only=True)
    assert AlarmSoundPolicy().decide([_alarm(escalated=True)], 0.0, silent) is None


def test_audio_without_device_falls_back_to_visual_with_notice(qtbot: QtBot) -> None:
    audio = AlarmAudio(AudioSettings())
    if audio.available:  # pragma: no cover - a machine with a sound server
        pytest.skip("this machine has working audio output")
    reasons: list[str] = []
    audio.audio_unavailable.connect(reasons.append)
    played: list[str] = []
    audio.chime_played.connect(lambda p, v: played.append(p))
    qtbot.waitUntil(lambda: bool(reasons), timeout=2000)
    assert reasons == [audio.unavailable_reason]
    assert reasons[0]
    audio.set_alarms([_alarm()])  # never raises, never plays
    audio.set_alarms([])
    assert played == []
    audio.stop()


def test_audio_loaded_later_decides_nothing_before_and_loads_once(qtbot: QtBot) -> None:
    """The window's start loads the sound system after the start dialog opens (``ui.launch``): an
    alarm given before that is not counted as chimed (it chimes at once when loaded)."""
    audio = AlarmAudio(AudioSettings(), load=False)
    reasons: list[str] = []
    audio.audio_unavailable.connect(reasons.append)
    assert not audio.loaded and audio.available
    alarm = _alarm()
    audio.set_alarms([alarm])
    assert audio._policy.decide([alarm], time.monotonic(), audio.settings) is not None, \
        "nothing was decided before the sound system loaded: the alarm still chimes at once"
    audio.set_alarms([])
    audio.load()
    audio.load()
    assert audio.loaded
    if not audio.available:  # no sound server here: said once, as when loaded at construction
        qtbot.waitUntil(lambda: bool(reasons), timeout=2000)
        qtbot.wait(50)
        assert reasons == [audio.unavailable_reason]
    audio.stop()


def test_sound_files_are_small_soft_and_reproducible(tmp_path: Path) -> None:
    generate_sounds(tmp_path)
    for name in SOUND_FILES.values():
        committed = sounds_dir() / name
        assert committed.stat().st_size < 100_000
        assert committed.read_bytes() == (tmp_path / name).read_bytes()
        with wave.open(str(committed), "rb") as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
        peak = np.max(np.abs(samples))
        assert peak < 0.3 * 32767  # about -12 dBFS: the volume setting is the real loudness
        assert np.max(np.abs(samples[:220])) < 0.3 * peak  # gentle attack: no click in the first 10 ms


# -------------------------------------------------------------- observation entry
@pytest.fixture
def session(tmp_path: Path, qtbot: QtBot) -> Iterator[tuple[Recorder, FakeClock, DbWorker, ObservationPanel]]:
    clock = FakeClock(T0)
    store = SqlStore.open(tmp_path / "obs.db", clock=clock)
    recorder = Recorder(store, clock, ClinicSettings.defaults().alarms, autotick=False)
    recorder.start_session(SessionSpec("K-001", PRESETS["sublingual"]))
    worker = DbWorker()
    panel = ObservationPanel(
        ClinicSettings.defaults(), ObservationCommands(recorder, worker.run_in_worker, clock), DARK
    )
    bridge = RecorderBridge()  # as in the app: the recorder's listener also delivers each observation
    recorder.add_listener(bridge)
    bridge.observation_arrived.connect(panel.observation_arrived)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    with qtbot.waitActive(panel):
        panel.activateWindow()
    yield recorder, clock, worker, panel
    worker.shutdown()
    recorder.close()
    store.close()


def _wait_saved(qtbot: QtBot, worker: DbWorker) -> None:
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=5000)


def test_note_shows_saving_until_committed(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    panel.text_line.setFocus()
    qtbot.keyClicks(panel.text_line, "client calm, eyes closed")
    qtbot.keyClick(panel.text_line, Qt.Key.Key_Return)
    assert panel.text_line.text() == ""
    texts = panel.timeline.entry_texts()
    assert len(texts) == 1
    assert texts[0].startswith("saving…")  # not shown as saved before the commit callback
    _wait_saved(qtbot, worker)
    assert panel.timeline.pending_tokens() == []
    assert "client calm, eyes closed" in panel.timeline.entry_texts()[0]
    assert not panel.timeline.entry_texts()[0].startswith("saving")
    notes = [o for o in recorder.observations() if o.kind is ObservationKind.NOTE]
    assert [o.text for o in notes] == ["client calm, eyes closed"]


def test_digit_keys_record_quick_tags_without_looking(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    panel.text_line.setFocus()
    qtbot.keyClick(panel.text_line, Qt.Key.Key_1)  # empty line: tag 1 = nausea
    assert panel.text_line.text() == ""
    qtbot.keyClicks(panel.text_line, "HR 1")  # while typing a digit is text
    assert panel.text_line.text() == "HR 1"
    qtbot.keyClick(panel.text_line, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)  # Alt+2 = anxiety
    assert panel.text_line.text() == "HR 1"
    panel.tag_buttons["7"].click()
    _wait_saved(qtbot, worker)
    tags = [o.name for o in recorder.observations() if o.kind is ObservationKind.TAG]
    assert sorted(tags) == ["anxiety", "nausea", "water_given"]
    texts = panel.timeline.entry_texts()
    assert len(texts) == 3
    assert not any(t.startswith("saving") for t in texts)


def test_minutes_ago_applies_to_next_entry_only(qtbot: QtBot, session: tuple) -> None:
    recorder, clock, worker, panel = session
    clock.advance(1800)
    panel.minutes_ago.setValue(10)
    panel.record_scale("moaa_s", 4)
    assert panel.minutes_ago.value() == 0
    panel.record_scale("rass", -2)
    _wait_saved(qtbot, worker)
    by_name = {o.name: o for o in recorder.observations()}
    assert by_name["moaa_s"].value == 4.0
    assert by_name["moaa_s"].occurred_at == clock.now() - timedelta(minutes=10)
    assert by_name["rass"].occurred_at == clock.now()
    assert any("RASS agitation-sedation -2" in t for t in panel.timeline.entry_texts())


def test_scale_buttons_exist_for_each_shown_scale(session: tuple) -> None:
    panel = session[3]
    assert list(panel.scale_buttons["moaa_s"]) == [5, 4, 3, 2, 1, 0]
    assert list(panel.scale_buttons["rass"]) == list(range(4, -6, -1))
    assert panel.scale_buttons["dissociation"][2].text() == "Moderate"
    assert panel.scale_buttons["rass"][4].text() == "+4"


@pytest.mark.parametrize(
    ("texts", "field", "fragment"),
    [
        ({"systolic": "250x"}, "systolic", "enter a number"),
        ({"systolic": "120"}, "diastolic", "both systolic and diastolic"),
        ({"systolic": "120", "diastolic": "130"}, "diastolic", "below systolic"),
        ({"spo2": "101"}, "spo2", "between 50 and 100"),
        ({}, "systolic", "at least one"),
    ],
)
def test_vitals_validation(texts: dict[str, str], field: str, fragment: str) -> None:
    with pytest.raises(VitalsError) as info:
        parse_vitals(texts)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_manual_vitals_saved_as_manual_readings(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    panel.vital_fields["systolic"].setText("250x")
    panel.save_vitals()
    assert "enter a number" in panel.vitals_message.text()
    assert panel.timeline.entry_texts() == []
    panel.vital_fields["systolic"].setText("132")
    panel.vital_fields["diastolic"].setText("84")
    qtbot.keyClick(panel.vital_fields["diastolic"], Qt.Key.Key_Return)
    assert panel.vitals_message.text() == ""
    _wait_saved(qtbot, worker)
    reading = recorder.last_reading(Stream.BP_SYSTOLIC)
    assert reading is not None
    assert reading.value == 132.0
    assert reading.flags & ReadingFlag.MANUAL
    assert any("BP 132/84" in t for t in panel.timeline.entry_texts())


def test_edit_and_delete_keep_history(qtbot: QtBot, session: tuple) -> None:
    recorder, clock, worker, panel = session
    panel.text_line.setText("nausae")
    panel.save_note()
    _wait_saved(qtbot, worker)
    (obs,) = recorder.observations()
    commands = panel._commands
    assert commands is not None
    clock.advance(60)
    commands.edit(
        obs.observation_id, text="nausea, mild", reason="typo", on_saved=panel.timeline.add_observation
    )
    _wait_saved(qtbot, worker)
    assert [o.text for o in panel.timeline.history(obs.observation_id)] == ["nausae", "nausea, mild"]
    assert "(edited)" in panel.timeline.entry_texts()[0]
    commands.delete(obs.observation_id, "wrong client", on_saved=panel.timeline.add_observation)
    _wait_saved(qtbot, worker)
    assert "deleted: wrong client" in panel.timeline.entry_texts()[0]
    panel.timeline.select(obs.observation_id)
    assert not panel.timeline.edit_button.isEnabled()
    assert panel.timeline.history_button.isEnabled()


class _RefusingRecorder:
    """Refuses every observation the way the recorder does without a session (not a store failure)."""

    clock = FakeClock(T0)
    session_id = None

    def add_observation(self, *args: object, **kwargs: object) -> None:
        raise RecorderError("no session is running; start or resume one first")


def test_refused_save_is_never_shown_as_saved_and_text_comes_back(qtbot: QtBot) -> None:
    worker = DbWorker()
    panel = ObservationPanel(
        ClinicSettings.defaults(),
        ObservationCommands(
            _RefusingRecorder(),  # type: ignore[arg-type]
            worker.run_in_worker,  # type: ignore[arg-type]
            FakeClock(T0),
        ),
        DARK,
    )
    qtbot.addWidget(panel)
    panel.text_line.setText("client asked for water")
    panel.save_note()
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=5000)
    assert panel.text_line.text() == "client asked for water"
    assert "No session is running" in panel.status.text()
    assert panel.timeline.entry_texts() == []
    panel.record_tag("1")
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=5000)
    assert panel.timeline.entry_texts()[0].startswith("NOT SAVED")
    assert panel.unsaved_count() == 0, "a refusal is not retried by itself"
    worker.shutdown()


class _FullDiskStore:
    """A real journaled store whose first ``failures`` observation saves fail as on a full disk."""

    def __init__(self, store: JournaledStore, failures: int) -> None:
        self._store = store
        self.failures = failures
        self.attempts: list[Observation] = []

    def save_observation(self, session_id: int, observation: Observation) -> None:
        self.attempts.append(observation)
        if len(self.attempts) <= self.failures:
            raise JournalError("the recording journal cannot be written: the disk is full")
        self._store.save_observation(session_id, observation)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_note_that_cannot_be_saved_stays_on_screen_and_is_retried_until_saved(
    qtbot: QtBot, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    store = JournaledStore.open(tmp_path / "retry.db", clock=clock, journal_dir=tmp_path / "journal")
    full_disk = _FullDiskStore(store, failures=3)
    recorder = Recorder(full_disk, clock, ClinicSettings.defaults().alarms, autotick=False)  # type: ignore[arg-type]
    sid = recorder.start_session(SessionSpec("K-002", PRESETS["sublingual"]))
    worker = DbWorker()
    panel = ObservationPanel(
        ClinicSettings.defaults(), ObservationCommands(recorder, worker.run_in_worker, clock), DARK
    )
    assert panel.retry_timer.interval() == RETRY_INTERVAL_MS == 2000
    panel.retry_timer.setInterval(200)  # the same timer, faster, so the test does not wait 3 × 2 s
    qtbot.addWidget(panel)
    panel.show()
    try:
        entered_at = recorder.clock.now()
        panel.text_line.setFocus()
        qtbot.keyClicks(panel.text_line, "client asked for water")
        qtbot.keyClick(panel.text_line, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: panel.unsaved_count() == 1, timeout=5000)
        (shown,) = panel.timeline.entry_texts()
        assert shown.startswith(
            "not saved — The recording journal cannot be written: the disk is full; retrying")
        assert "client asked for water" in shown
        assert panel.text_line.text() == "", "kept in the list (it will be saved), not handed back to retype"
        assert "retried" in panel.status.text()
        clock.advance(30)  # session time passes while it waits
        qtbot.waitUntil(lambda: panel.unsaved_count() == 0 and not panel.timeline.pending_tokens(),
                        timeout=5000)
        assert len(full_disk.attempts) == 4, "three failures, then saved by the automatic retry"
        assert len({o.observation_id for o in full_disk.attempts}) == 1, "every retry is the same note"
        assert {o.occurred_at for o in full_disk.attempts} == {entered_at}, "stamped when it was typed"
        (saved,) = panel.timeline.entry_texts()
        assert "client asked for water" in saved and "not saved" not in saved.lower()
        assert panel.status.text().startswith("Saved")
        notes = [o for o in store.observations(sid) if o.kind is ObservationKind.NOTE]
        assert [(o.observation_id, o.text, o.occurred_at) for o in notes] == [
            (full_disk.attempts[0].observation_id, "client asked for water", entered_at)
        ]
        assert not panel.retry_timer.isActive(), "nothing left to retry"
    finally:
        worker.shutdown()
        recorder.close()
        store.close()


def test_check_prompt_done_with_blood_pressure(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    snap = recorder.snapshot()
    panel.snapshot_arrived(snap)
    prompt = panel.check_prompt
    assert prompt.isVisible()
    assert prompt.check_name == "vitals_pre_dose"
    prompt.systolic.setText("128")
    prompt.diastolic.setText("82")
    prompt.done_button.click()
    assert not prompt.isVisible()
    _wait_saved(qtbot, worker)  # vitals, then the check (queued from the vitals callback)
    qtbot.waitUntil(lambda: worker.pending == 0, timeout=5000)
    snap = recorder.tick()
    assert snap is not None
    status = {c.name: c for c in snap.checks}["vitals_pre_dose"]
    assert status.state == "done"
    assert "BP 128/82" in status.note
    panel.snapshot_arrived(snap)
    assert not prompt.isVisible()


# ---------------------------------------------------------------------- dialogs
def test_start_session_dialog_validates_next_to_fields(qtbot: QtBot) -> None:
    dialog = StartSessionDialog(ClinicSettings.defaults(), ["K-017"])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    focused = dialog.focusWidget()
    assert focused is not None
    qtbot.keyClicks(focused, "K-9")
    assert dialog.client.currentText() == "K-9", "the client code is typed at once"
    dialog.client.setCurrentText("Jane Doe")
    dialog.dose.setText("lots")
    dialog.try_accept()
    assert dialog.result() == 0
    assert "2-32 letters" in dialog.client_error.text()
    assert "must be a number" in dialog.dose_error.text()
    assert "initials" in dialog.clinician_error.text()
    dialog.client.setCurrentText("K-017")
    dialog.dose.setText("150")
    dialog.clinician.setText("AB")
    dialog.limits.limit["hr_low"].setValue(125)  # above the 120 high limit: refused beside the rule
    dialog.try_accept()
    assert "must be above" in dialog.limits.errors["hr_high"].text()
    dialog.limits.limit["hr_low"].setValue(45)
    dialog.limits.limit["hr_high"].setValue(130)
    dialog.try_accept()
    spec, alarms = dialog.result_spec()
    assert spec.client_code == "K-017"
    assert spec.dose_amount == 150.0
    assert spec.protocol.name == "sublingual"
    assert alarms.rule("hr_high").limit == 130.0
    assert spec.settings["alarms"]["rules"] == alarms.to_dict()["rules"]
    assert ClinicSettings.from_dict(spec.settings).alarms == alarms


def test_settings_dialog_error_beside_field_then_saves(qtbot: QtBot) -> None:
    saved: list[ClinicSettings] = []
    dialog = SettingsDialog(ClinicSettings.defaults(), saved.append)
    qtbot.addWidget(dialog)
    dialog.tag_edits["3"].setText("x" * 70)
    dialog.try_save()
    assert saved == []
    assert "at most 60 characters" in dialog.errors["tag:3"].text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Quick tags"
    dialog.tag_edits["3"].setText("Tearful")
    dialog.tag_edits["9"].setText("")
    dialog.visual_only.setChecked(True)
    dialog.theme_combo.setCurrentText("light")
    dialog.battery_low_pct.setValue(20)
    dialog.try_save()
    (new,) = saved
    assert new.tag_for_key("3") is not None
    assert new.tag_for_key("3").label == "Tearful"  # type: ignore[union-attr]
    assert new.tag_for_key("3").name == "crying"  # type: ignore[union-attr]  # stored name kept
    assert new.tag_for_key("9") is None
    assert new.audio.visual_only
    assert new.theme == "light"
    assert new.alarms.technical.battery_low_pct == 20
    assert ClinicSettings.from_dict(new.to_dict()) == new


def test_end_session_requires_reason_when_early_or_unchecked(qtbot: QtBot) -> None:
    items = ClinicSettings.defaults().discharge_checklist
    early = EndSessionDialog(85 * 60, 120, items)
    qtbot.addWidget(early)
    assert early.reason_required()
    assert not early.end_button.isEnabled()
    answer_discharge(qtbot, early)
    assert not early.end_button.isEnabled(), "the answers alone do not end early"
    early.reason.setText("client transferred to ER for review")
    assert early.end_button.isEnabled()
    assert "ended early at 85 of 120 min" in early.end_reason()
    assert "client transferred" in early.end_reason()
    done = EndSessionDialog(130 * 60, 120, items)
    qtbot.addWidget(done)
    assert done.items["min_observation_met"].isChecked()
    for box in done.items.values():
        box.setChecked(True)
    assert not done.reason_required()
    assert not done.end_button.isEnabled(), "after a dose the discharge questions need answers"
    answer_discharge(qtbot, done)
    assert done.end_button.isEnabled()
    assert done.end_reason() == "observed 130 min; discharge checklist complete"


# ------------------------------------------------------------------ device panel
class _FakeScanner:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.sensors: list[DiscoveredSensor] = []
        self.stopped = False

    def start(self, on_update: object = None) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.on_update = on_update

        def run() -> None:  # like the BLE thread: never the GUI thread
            if self.error is not None:
                future.set_exception(self.error)
                return
            future.set_result(None)
            self.sensors = [
                DiscoveredSensor("AA:01", "Polar H10 12345678", -60, (SensorKind.HEART_RATE,), ())
            ]
            on_update(self.current())  # type: ignore[operator]

        threading.Thread(target=run).start()
        return future

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped = True

    def current(self) -> list[DiscoveredSensor]:
        return list(self.sensors)


def test_device_panel_without_adapter_offers_simulated(qtbot: QtBot) -> None:
    panel = DevicePanel(_FakeScanner(NoAdapterError("org.bluez not found")), DARK)
    qtbot.addWidget(panel)
    panel.start_scan()
    qtbot.waitUntil(lambda: panel.message.text() == NO_ADAPTER_TEXT, timeout=3000)
    assert panel.addresses() == [SIMULATED_ADDRESS]
    assert not panel.connect_button.isEnabled()
    requested: list[tuple[str, str]] = []
    panel.connect_requested.connect(lambda a, n: requested.append((a, n)))
    panel.set_checked(SIMULATED_ADDRESS)
    panel.connect_button.click()
    assert requested == [(SIMULATED_ADDRESS, "Simulated sensor")]


def test_device_panel_lists_sensors_from_ble_thread(qtbot: QtBot) -> None:
    scanner = _FakeScanner()
    panel = DevicePanel(scanner, DARK)
    qtbot.addWidget(panel)
    panel.start_scan()
    qtbot.waitUntil(lambda: len(panel.addresses()) == 2, timeout=3000)
    assert panel.addresses() == [SIMULATED_ADDRESS, "AA:01"]
    assert panel.table.item(1, 2).text() == "strong (-60 dBm)"
    requested: list[str] = []
    panel.connect_requested.connect(lambda a, n: requested.append(a))
    panel.set_checked("AA:01")
    panel.set_checked(SIMULATED_ADDRESS)
    panel.connect_button.click()
    assert sorted(requested) == ["AA:01", SIMULATED_ADDRESS]
    assert panel.discovered("AA:01") is not None
    panel.stop_scan()
    assert scanner.stopped


def test_device_panel_without_bluetooth_at_all(qtbot: QtBot) -> None:
    panel = DevicePanel(None, DARK)
    qtbot.addWidget(panel)
    panel.start_scan()
    assert panel.message.text() == NO_ADAPTER_TEXT
    assert panel.addresses() == [SIMULATED_ADDRESS]


def test_audio_reports_missing_sound_system(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)  # import fails, as without libpulse0
    audio = AlarmAudio(AudioSettings())
    with qtbot.waitSignal(audio.audio_unavailable, timeout=2000) as blocker:
        pass
    assert "sound system could not be loaded" in blocker.args[0]
    assert not audio.available


def test_audio_sound_error_status_degrades_to_visual(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """PITFALLS #13: Qt Multimedia never raises; the sink reports an error. Needs libpulse0."""
    try:
        from PySide6 import QtMultimedia
    except ImportError:
        pytest.skip("Qt Multimedia cannot load here (libpulse0 missing)")
    if QtMultimedia.QMediaDevices.audioOutputs():  # pragma: no cover - a machine with a sound server
        pytest.skip("this machine has a real audio output")
    monkeypatch.setattr(QtMultimedia.QMediaDevices, "audioOutputs", staticmethod(lambda: ["fake device"]))
    audio = AlarmAudio(AudioSettings())
    with qtbot.waitSignal(audio.audio_unavailable, timeout=3000) as blocker:
        pass
    assert "could not be played" in blocker.args[0]
    audio.set_alarms([_alarm()])
    audio.stop()


def test_digits_in_number_fields_are_numbers_not_tags(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    panel.vital_fields["systolic"].setFocus()
    qtbot.keyClicks(panel.vital_fields["systolic"], "128")
    assert panel.vital_fields["systolic"].text() == "128"
    panel.minutes_ago.setFocus()
    panel.minutes_ago.selectAll()
    qtbot.keyClicks(panel.minutes_ago, "5")
    assert panel.minutes_ago.value() == 5
    _wait_saved(qtbot, worker)
    assert recorder.observations() == []
    assert panel.timeline.entry_texts() == []


def test_new_settings_rebuild_tags_and_keys(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    base = ClinicSettings.defaults()
    tags = (QuickTag("1", "Vomiting", "vomiting"),)
    panel.set_settings(dataclasses.replace(base, quick_tags=tags))
    assert list(panel.tag_buttons) == ["1"]
    panel.text_line.setFocus()
    qtbot.keyClick(panel.text_line, Qt.Key.Key_1)
    qtbot.keyClick(panel.text_line, Qt.Key.Key_2)  # no tag on 2 any more: it is just text
    assert panel.text_line.text() == "2"
    _wait_saved(qtbot, worker)
    assert [o.name for o in recorder.observations()] == ["vomiting"]


def test_settings_dialog_protocol_error_beside_its_row(qtbot: QtBot) -> None:
    saved: list[ClinicSettings] = []
    dialog = SettingsDialog(ClinicSettings.defaults(), saved.append)
    qtbot.addWidget(dialog)
    dialog.protocol_rows[1].onset.setValue(0)
    dialog.try_save()
    assert saved == []
    assert "onset_min must be a positive number" in dialog.errors["protocols[1]"].text()
    assert dialog.tabs.currentIndex() == 0
    dialog.protocol_rows[1].onset.setValue(6)
    dialog.try_save()
    assert saved[0].protocol("intranasal").onset_min == 6.0


def _answer_next_dialog(text: str) -> None:
    """Fill the next modal dialog's reason / text field and accept it."""

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert dialog is not None
        field = getattr(dialog, "reason", None) or getattr(dialog, "text_edit", None)
        assert isinstance(field, QLineEdit)
        field.setText(text)
        dialog.accept()  # type: ignore[attr-defined]

    QTimer.singleShot(50, answer)


def test_check_prompt_dismissed_with_reason(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    panel.snapshot_arrived(recorder.snapshot())
    prompt = panel.check_prompt
    assert prompt.check_name == "vitals_pre_dose"
    _answer_next_dialog("cuff unavailable")
    prompt.dismiss_button.click()
    assert not prompt.isVisible()
    _wait_saved(qtbot, worker)
    snap = recorder.tick()
    assert snap is not None
    status = {c.name: c for c in snap.checks}["vitals_pre_dose"]
    assert status.state == "dismissed"
    assert status.reason == "cuff unavailable"


def test_delete_from_timeline_asks_for_reason(qtbot: QtBot, session: tuple) -> None:
    recorder, _, worker, panel = session
    panel.record_tag("1")
    _wait_saved(qtbot, worker)
    (obs,) = recorder.observations()
    panel.timeline.select(obs.observation_id)
    _answer_next_dialog("pressed by mistake")
    panel.timeline.delete_button.click()
    _wait_saved(qtbot, worker)
    (latest,) = recorder.observations()
    assert latest.deleted
    assert latest.reason == "pressed by mistake"
    assert "deleted: pressed by mistake" in panel.timeline.entry_texts()[0]


def test_device_panel_scans_while_visible(qtbot: QtBot) -> None:
    scanner = _FakeScanner()
    panel = DevicePanel(scanner, DARK)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.scanning
    qtbot.waitUntil(lambda: len(panel.addresses()) == 2, timeout=3000)
    panel.hide()
    assert not panel.scanning
    assert scanner.stopped


def test_a_field_message_goes_as_soon_as_the_field_is_corrected(qtbot: QtBot) -> None:
    dialog = StartSessionDialog(ClinicSettings.defaults(), ["K-017"])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.client.setCurrentText("K-017")
    dialog.clinician.setText("AB")
    dialog.dose.setText("lots")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.dose_error.isVisible() and "must be a number" in dialog.dose_error.text()
    dialog.dose.clear()
    qtbot.keyClicks(dialog.dose, "150")
    assert not dialog.dose_error.isVisible(), "the message stayed after the dose was fixed"
    qtbot.keyClicks(dialog.clinician, "9")  # a new mistake is shown as it is made
    assert dialog.clinician_error.isVisible()
