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

* :class:`AlarmAudio` (a ``QObject``) plays what the policy decides through one
  ``QAudioSink`` opened when the window starts and kept open: the sink pulls a
  stream that is silence except while a chime plays, so starting or silencing
  a chime never opens or closes an audio stream. (Qt 6.11's ``QSoundEffect``
  does that on every play and stop; on PulseAudio it can leave a socket
  notifier on a closed descriptor, after which the GUI thread spins printing
  "QSocketNotifier: Invalid socket" and the bedside freezes: reproduced here
  within a minute of random play/stop calls on a PulseAudio null sink, and seen
  as a frozen bedside in ``tests/test_audio_pause.py``.) When audio cannot work -- Qt
  Multimedia does not load (e.g. ``libpulse0`` missing), no output device, or
  the sink reports an error (PITFALLS #13: Qt Multimedia never raises) -- it
  degrades to visual-only and emits ``audio_unavailable(reason)`` once. It
  never raises.
"""

from __future__ import annotations

import logging
import threading
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QCoreApplication, QIODevice, QObject, QTimer, Signal

from kapmonitor.settings_items import AudioSettings
from kapmonitor.types import AlarmPriority
from ui.sounds import SAMPLE_RATE, SOUND_FILES, sounds_dir

__all__ = ["REPEAT_S", "AlarmAudio", "AlarmSoundPolicy", "Chime", "SoundingAlarm", "start_audio_only"]

log = logging.getLogger(__name__)

REPEAT_S: dict[AlarmPriority, float] = {AlarmPriority.HIGH: 15.0, AlarmPriority.MEDIUM: 30.0}
"""Seconds between repeats of a still-audible alarm's chime (low never repeats)."""

_RANK = {AlarmPriority.HIGH: 3, AlarmPriority.MEDIUM: 2, AlarmPriority.LOW: 1}
_POLL_MS = 250
HEALTH_MS = 1000
"""How often the audio sink's error state is read (a failed device turns alarms visual-only)."""
BUFFER_S = 0.1
"""Audio buffered ahead in the stream: how long a chime can still be heard after it is silenced."""


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


class _ChimeStream(QIODevice):
    """The alarm audio's one endless stream: the chime being played, scaled, then silence.

    The sink pulls from it (possibly on the audio system's own thread, hence the lock). A chime is
    started or silenced by swapping the buffer it reads from; the stream itself is never closed,
    so no audio stream is ever created or torn down while a session runs.
    """

    def __init__(self, encode: Callable[[npt.NDArray[np.float32]], bytes], frame_bytes: int) -> None:
        super().__init__()
        self._encode = encode
        self._frame_bytes = frame_bytes
        self._lock = threading.Lock()
        self._samples: npt.NDArray[np.float32] | None = None
        self._pos = 0

    def play(self, samples: npt.NDArray[np.float32], volume: float) -> None:
        with self._lock:
            self._samples = samples * np.float32(volume)
            self._pos = 0

    def silence(self) -> None:
        with self._lock:
            self._samples = None

    @property
    def playing(self) -> bool:
        return self._samples is not None

    def readData(self, maxlen: int) -> bytes:
        frames = maxlen // self._frame_bytes
        out = np.zeros(frames, dtype=np.float32)
        with self._lock:
            if self._samples is not None:
                chunk = self._samples[self._pos:self._pos + frames]
                out[:chunk.size] = chunk
                self._pos += chunk.size
                if self._pos >= self._samples.size:
                    self._samples = None
        return self._encode(out)

    def writeData(self, data: bytes) -> int:
        return -1

    def bytesAvailable(self) -> int:
        return 1 << 20  # endless: silence when no chime plays

    def isSequential(self) -> bool:
        return True


def _read_chime(path: Path) -> tuple[npt.NDArray[np.float32], int]:
    """A 16-bit mono WAV as float samples in [-1, 1] and its sample rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise wave.Error("not 16-bit mono")
        raw = w.readframes(w.getnframes())
        rate = w.getframerate()
    return (np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0), rate


def _resampled(samples: npt.NDArray[np.float32], rate: int, to_rate: int) -> npt.NDArray[np.float32]:
    if rate == to_rate:
        return samples
    n = round(samples.size * to_rate / rate)
    return np.interp(np.arange(n) * (rate / to_rate), np.arange(samples.size), samples).astype(np.float32)


def _encoder(fmt: Any) -> tuple[Callable[[npt.NDArray[np.float32]], bytes], int] | None:
    """How to turn mono float samples into the device format's bytes, and its frame size (None: unknown)."""
    from PySide6.QtMultimedia import QAudioFormat

    kinds: dict[Any, tuple[str, float, float]] = {
        QAudioFormat.SampleFormat.Int16: ("<i2", 32767.0, 0.0),
        QAudioFormat.SampleFormat.Int32: ("<i4", 2147483647.0, 0.0),
        QAudioFormat.SampleFormat.Float: ("<f4", 1.0, 0.0),
        QAudioFormat.SampleFormat.UInt8: ("u1", 127.0, 128.0),
    }
    kind = kinds.get(fmt.sampleFormat())
    channels = fmt.channelCount()
    if kind is None or channels < 1:
        return None
    dtype, scale, offset = kind

    def encode(samples: npt.NDArray[np.float32]) -> bytes:
        values = np.clip(samples, -1.0, 1.0) * scale + offset
        frames = np.repeat(values[:, None], channels, axis=1) if channels > 1 else values
        return frames.astype(dtype).tobytes()

    return encode, np.dtype(dtype).itemsize * channels


def start_audio_only() -> None:
    """Start Qt Multimedia with its audio-only integration (call before anything else of it is used).

    Qt Multimedia picks its media backend the first time any of it is used, from the plugins it
    finds in the library paths: on Linux the FFmpeg backend, which loads FFmpeg, Qt Quick, QML and
    OpenSSL for video playback, capture and recording (12 MiB more resident memory, measured
    beside a QAudioSink playing on PulseAudio). kapmonitor uses none of that. With no backend plugin
    in sight Qt uses its fallback integration, which has all of Qt Multimedia that kapmonitor uses
    (``QMediaDevices``, ``QAudioDevice``, ``QAudioSink``); so the library paths are emptied for
    that first use and put back at once. Once Qt Multimedia has started (in this process, with
    either backend), this only lists the outputs again.

    Raises:
        ImportError: Qt Multimedia cannot load (e.g. ``libpulse.so.0`` missing).
    """
    from PySide6.QtMultimedia import QMediaDevices

    paths = QCoreApplication.libraryPaths()
    QCoreApplication.setLibraryPaths([])
    try:
        QMediaDevices.audioOutputs()  # creates Qt Multimedia's integration, once per process
    finally:
        QCoreApplication.setLibraryPaths(paths)


class AlarmAudio(QObject):
    """Plays soft alarm chimes; degrades to visual-only (with a notice) when audio cannot work.

    Args:
        audio: the clinic's audio settings (volume, visual-only).
        monotonic: seconds on a monotonic scale (injected for tests).
        sounds: directory holding the WAV files (default: the packaged ones).
        load: open the sound system and read the chimes now (default). ``False`` leaves it to
            :meth:`load`, for the window's start (``ui.launch``), which calls it on the event
            loop's turn after the start dialog opens: before any session, and so any alarm, can
            be started. Until then nothing chimes and no chime is counted as played.

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
        load: bool = True,
    ) -> None:
        super().__init__(parent)
        self._audio = audio
        self._monotonic = monotonic
        self._policy = AlarmSoundPolicy()
        self._alarms: tuple[SoundingAlarm, ...] = ()
        self._chimes: dict[AlarmPriority, npt.NDArray[np.float32]] = {}
        self._stream: _ChimeStream | None = None
        self._sink: Any = None
        self._closing = False
        self._health: QTimer | None = None
        self._reason = ""
        self._reported = False
        self._timer = QTimer(self)
        self._timer.setInterval(_POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._sounds = sounds or sounds_dir()
        self._loaded = False
        if load:
            self.load()

    def load(self) -> None:
        """Open the sound system and read the chimes (once; later calls do nothing)."""
        if self._loaded or self._closing:
            return
        self._loaded = True
        self._load(self._sounds)
        if self._alarms:
            self._poll()

    @property
    def loaded(self) -> bool:
        """True once :meth:`load` has run (whether or not sound then turned out to work)."""
        return self._loaded

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
        if not any(a.audio_on for a in self._alarms) and self._stream is not None:
            self._stream.silence()
        if not self._alarms:
            self._timer.stop()

    def stop(self) -> None:
        """Stop polling and silence anything playing (window closing)."""
        self._timer.stop()
        self._closing = True
        if self._health is not None:
            self._health.stop()
        if self._stream is not None:
            self._stream.silence()
        if self._sink is not None:
            self._sink.stop()

    # --- internals ---------------------------------------------------------------------------

    def _poll(self) -> None:
        if not self._loaded:
            return  # not yet loaded (:meth:`load`): nothing is decided, so nothing counts as played
        chime = self._policy.decide(self._alarms, self._monotonic(), self._audio)
        if chime is None or self._stream is None:
            return
        self._check_sink()
        if not self.available:
            return
        samples = self._chimes.get(chime.priority)
        if samples is None:
            return
        self._stream.play(samples, chime.volume)
        self.chime_played.emit(chime.priority.value, chime.volume)

    def _load(self, directory: Path) -> None:
        try:
            from PySide6.QtMultimedia import QAudioFormat, QAudioSink, QMediaDevices

            start_audio_only()
        except ImportError as exc:  # e.g. libpulse.so.0 missing
            self._fail(f"the sound system could not be loaded ({exc})")
            return
        if not QMediaDevices.audioOutputs():
            self._fail("no audio output device was found")
            return
        sounds: dict[AlarmPriority, tuple[npt.NDArray[np.float32], int]] = {}
        for priority, name in SOUND_FILES.items():
            path = directory / name
            if not path.is_file():
                self._fail(f"alarm sound file {path} is missing")
                return
            try:
                sounds[priority] = _read_chime(path)
            except (OSError, EOFError, wave.Error) as exc:
                self._fail(f"alarm sound file {path} could not be read ({exc})")
                return
        device = QMediaDevices.defaultAudioOutput()
        fmt = QAudioFormat()
        fmt.setSampleRate(SAMPLE_RATE)
        fmt.setChannelCount(1)
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        if not device.isNull() and not device.isFormatSupported(fmt):
            fmt = device.preferredFormat()
        encoding = _encoder(fmt)
        if encoding is None or fmt.sampleRate() <= 0:
            self._fail("the alarm sounds could not be played on this computer's audio device "
                       "(it offers no sample format kapmonitor can write)")
            return
        encode, frame_bytes = encoding
        rate_out = fmt.sampleRate()
        self._chimes = {p: _resampled(samples, rate, rate_out) for p, (samples, rate) in sounds.items()}
        self._stream = _ChimeStream(encode, frame_bytes)
        self._stream.open(QIODevice.OpenModeFlag.ReadOnly)
        self._sink = QAudioSink(device, fmt, self)
        self._sink.setBufferSize(int(fmt.sampleRate() * BUFFER_S) * frame_bytes)
        self._sink.start(self._stream)
        # PySide6 cannot pass QAudio::State to Python (stateChanged raises TypeError on every
        # emission), so the sink's health is read on a slow timer instead.
        self._health = QTimer(self)
        self._health.setInterval(HEALTH_MS)
        self._health.timeout.connect(self._check_sink)
        self._health.start()
        self._check_sink()

    def _check_sink(self) -> None:
        if self._sink is None or self._closing or not self.available:
            return
        from PySide6.QtMultimedia import QtAudio

        error = self._sink.error()
        if error != QtAudio.Error.NoError:
            self._fail("the alarm sounds could not be played on this computer's audio device "
                       f"({error.name})")

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
