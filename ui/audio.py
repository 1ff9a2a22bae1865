"""Soft alarm sounds that never startle, and fall back to visual-only when there is no audio.

Two parts:

* :class:`AlarmSoundPolicy` (plain Python) decides *whether* a chime is due,
  from the active alarms and a monotonic time in seconds -- never from counted
  timer ticks. Rules:

  - only *audible* alarms sound (``ActiveAlarm.audio_on``): an acknowledged
    or audio-paused alarm is silent (the engine turns audio back on when the
    pause runs out and the condition persists). Acknowledge and pause act on
    the whole bedside in the engine (:mod:`kapmonitor.alarms`), so during a
    pause no alarm behind the shown one is audible, and none chimes;
  - the highest audible priority picks the chime (``ui/sounds.py``);
  - a newly raised alarm chimes at once; high repeats every
    :data:`REPEAT_S` [high] seconds, medium every [medium] seconds, as long as
    it stays audible (IEC 60601-1-8 burst intervals, at the slow end);
  - a low alarm chimes once, a single soft tone, and never repeats;
  - the clinic's volume is the starting level; only an alarm the engine marks
    ``escalated`` (unacknowledged too long) plays louder;
  - visual-only mode never plays anything.

* :class:`AlarmAudio` (a ``QObject``) plays what the policy decides through
  ``QSoundEffect``. When audio cannot work -- Qt Multimedia does not load
  (e.g. ``libpulse0`` missing), no output device, or a sound reports status
  ``Error`` (PITFALLS #13: QSoundEffect never raises) -- it degrades to
  visual-only and emits ``audio_unavailable(reason)`` once. It never raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, QUrl, Signal

from kapmonitor.settings_items import AudioSettings
from kapmonitor.types import AlarmPriority
from ui.sounds import SOUND_FILES, sounds_dir

__all__ = ["REPEAT_S", "AlarmAudio", "AlarmSoundPolicy", "Chime", "SoundingAlarm"]

log = logging.getLogger(__name__)

REPEAT_S: dict[AlarmPriority, float] = {AlarmPriority.HIGH: 15.0, AlarmPriority.MEDIUM: 30.0}
"""Seconds between repeats of a still-audible alarm's chime (low never repeats)."""

_RANK = {AlarmPriority.HIGH: 3, AlarmPriority.MEDIUM: 2, AlarmPriority.LOW: 1}
_POLL_MS = 250


class SoundingAlarm(Protocol):
    """What the audio needs from an active alarm (``kapmonitor.alarm_record.ActiveAlarm`` fits)."""

    @property
    def alarm_id(self) -> str: ...
    @property
    def priority(self) -> AlarmPriority: ...
    @property
    def audio_on(self) -> bool: ...
    @property
    def escalated(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Chime:
    """A decision to play ``priority``'s chime at ``volume`` (0.0-1.0)."""

    priority: AlarmPriority
    volume: float


def escalated_volume(base: float) -> float:
    """Volume for an escalated alarm: clearly louder than ``base``, capped at full."""
    return min(1.0, max(base * 1.8, base + 0.25))


class AlarmSoundPolicy:
    """Decides when a chime is due; see the module docstring for the rules."""

    def __init__(self, repeat_s: dict[AlarmPriority, float] | None = None) -> None:
        self._repeat_s = dict(REPEAT_S if repeat_s is None else repeat_s)
        self._last_play_s: float | None = None
        self._heard: set[str] = set()
        self._low_played: set[str] = set()

    def decide(self, alarms: Sequence[SoundingAlarm], now_s: float, audio: AudioSettings) -> Chime | None:
        """The chime to play now, or None. ``now_s`` is monotonic seconds."""
        present = {a.alarm_id for a in alarms}
        self._low_played &= present  # a low alarm that went away may chime again if it returns
        audible = [a for a in alarms if a.audio_on]
        if audio.visual_only or not audible:
            self._heard = set()
            self._last_play_s = None
            return None
        top = max(audible, key=lambda a: _RANK[a.priority])
        base = audio.volume / 100.0
        if top.priority is AlarmPriority.LOW:
            fresh = {a.alarm_id for a in audible} - self._low_played
            self._heard = set()
            self._last_play_s = None
            if not fresh:
                return None
            self._low_played |= fresh
            return Chime(AlarmPriority.LOW, base)
        sounding = [a for a in audible if a.priority is top.priority]
        ids = {a.alarm_id for a in audible}
        new = ids - self._heard
        self._heard = ids
        self._low_played |= {a.alarm_id for a in audible if a.priority is AlarmPriority.LOW}
        interval = self._repeat_s[top.priority]
        if not new and self._last_play_s is not None and now_s - self._last_play_s < interval:
            return None
        self._last_play_s = now_s
        volume = escalated_volume(base) if any(a.escalated for a in sounding) else base
        return Chime(top.priority, volume)


class AlarmAudio(QObject):
    """Plays soft alarm chimes; degrades to visual-only (with a notice) when audio cannot work.

    Args:
        audio: the clinic's audio settings (volume, visual-only).
        monotonic: seconds on a monotonic scale (injected for tests).
        sounds: directory holding the WAV files (default: the packaged ones).

    Signals:
        audio_unavailable(str reason): emitted once, from the event loop, when sound cannot
            play; alarms remain visual. Read :attr:`unavailable_reason` if you connect late.
        chime_played(str priority, float volume): a chime was started.
    """

    audio_unavailable = Signal(str)
    chime_played = Signal(str, float)

    def __init__(
        self,
        audio: AudioSettings,
        parent: QObject | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sounds: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self._audio = audio
        self._monotonic = monotonic
        self._policy = AlarmSoundPolicy()
        self._alarms: tuple[SoundingAlarm, ...] = ()
        self._effects: dict[AlarmPriority, Any] = {}
        self._reason = ""
        self._reported = False
        self._timer = QTimer(self)
        self._timer.setInterval(_POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._load(sounds or sounds_dir())

    @property
    def available(self) -> bool:
        """True while sound can play (False after any failure; it does not come back)."""
        return not self._reason

    @property
    def unavailable_reason(self) -> str:
        return self._reason

    @property
    def settings(self) -> AudioSettings:
        return self._audio

    def set_settings(self, audio: AudioSettings) -> None:
        self._audio = audio
        self._poll()

    def set_alarms(self, active: Sequence[SoundingAlarm]) -> None:
        """Give the current active alarms (call on every ``alarms_arrived``); may chime at once.

        When nothing is audible any more (acknowledged, audio paused, resolved), a chime still
        playing stops at once: the bedside is quiet from the moment the therapist says so.
        """
        self._alarms = tuple(active)
        if self._alarms and not self._timer.isActive():
            self._timer.start()
        self._poll()
        if not any(a.audio_on for a in self._alarms):
            for effect in self._effects.values():
                effect.stop()
        if not self._alarms:
            self._timer.stop()

    def stop(self) -> None:
        """Stop polling and silence anything playing (window closing)."""
        self._timer.stop()
        for effect in self._effects.values():
            effect.stop()

    # --- internals ---------------------------------------------------------------------------

    def _poll(self) -> None:
        chime = self._policy.decide(self._alarms, self._monotonic(), self._audio)
        if chime is None or not self.available:
            return
        effect = self._effects.get(chime.priority)
        if effect is None:
            return
        effect.setVolume(chime.volume)
        effect.play()
        self.chime_played.emit(chime.priority.value, chime.volume)

    def _load(self, directory: Path) -> None:
        try:
            from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
        except ImportError as exc:  # e.g. libpulse.so.0 missing
            self._fail(f"the sound system could not be loaded ({exc})")
            return
        if not QMediaDevices.audioOutputs():
            self._fail("no audio output device was found")
            return
        for priority, name in SOUND_FILES.items():
            path = directory / name
            if not path.is_file():
                self._fail(f"alarm sound file {path} is missing")
                return
            effect = QSoundEffect(self)
            effect.statusChanged.connect(lambda e=effect, n=name: self._check_status(e, n))
            effect.setSource(QUrl.fromLocalFile(str(path)))
            self._effects[priority] = effect

    def _check_status(self, effect: Any, name: str) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        if effect.status() == QSoundEffect.Status.Error:
            self._fail(f"the alarm sound {name} could not be played on this computer's audio device")

    def _fail(self, reason: str) -> None:
        if self._reason:
            return
        self._reason = reason
        log.warning("alarm audio unavailable, alarms are visual only: %s", reason)
        QTimer.singleShot(0, self._report)

    def _report(self) -> None:
        if not self._reported:
            self._reported = True
            self.audio_unavailable.emit(self._reason)
