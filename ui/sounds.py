"""Generates the soft alarm chimes in ``ui/assets/sounds`` (stdlib ``wave`` + numpy).

The WAV files are committed, and regenerated bit-for-bit by
``python -m ui.sounds`` (a test checks that the committed files match).

Design (IEC 60601-1-8 practice, softened for a dim therapy room):

* every note is a sine with a quiet octave partial, a gentle 60 ms attack and
  an exponential decay (a chime, not a beep); peak level about -12 dBFS, so
  the playback volume set by the clinic is the real loudness;
* the *pattern* tells the priority without looking, as IEC 60601-1-8 burst
  counts do: high = 3 + 2 notes (a five-note burst), medium = 3 rising notes,
  low = 2 falling notes, played once;
* 22.05 kHz mono 16-bit keeps each file well under 100 KB.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kapmonitor.types import AlarmPriority

__all__ = ["SAMPLE_RATE", "SOUND_FILES", "generate_sounds", "render_pattern", "sounds_dir"]

SAMPLE_RATE = 22050
PEAK = 0.25
"""Peak amplitude (about -12 dBFS)."""

SOUND_FILES: dict[AlarmPriority, str] = {
    AlarmPriority.HIGH: "alarm_high.wav",
    AlarmPriority.MEDIUM: "alarm_medium.wav",
    AlarmPriority.LOW: "alarm_low.wav",
}

# (frequency Hz, start s, duration s) for each note of a pattern.
_C5, _E5, _G5, _A5, _C6 = 523.25, 659.25, 783.99, 880.0, 1046.5
_PATTERNS: dict[AlarmPriority, tuple[tuple[float, float, float], ...]] = {
    AlarmPriority.HIGH: (
        (_C5, 0.0, 0.22),
        (_E5, 0.20, 0.22),
        (_G5, 0.40, 0.22),
        (_A5, 0.85, 0.22),
        (_C6, 1.05, 0.40),
    ),
    AlarmPriority.MEDIUM: ((_C5, 0.0, 0.28), (_E5, 0.30, 0.28), (_G5, 0.60, 0.45)),
    AlarmPriority.LOW: ((_G5, 0.0, 0.45), (_E5, 0.45, 0.65)),
}
_TAIL_S = 0.15


def sounds_dir() -> Path:
    """Where the packaged WAV files live."""
    return Path(__file__).resolve().parent / "assets" / "sounds"


def _note(freq: float, duration_s: float) -> npt.NDArray[np.float64]:
    n = round(duration_s * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * freq * t) + 0.18 * np.sin(2 * np.pi * 2 * freq * t)
    attack = np.minimum(1.0, t / 0.06)
    decay = np.exp(-t / (duration_s * 0.45))
    release = np.minimum(1.0, (duration_s - t) / 0.03)  # no click at the end
    envelope: npt.NDArray[np.float64] = attack * decay * np.clip(release, 0.0, 1.0)
    return np.asarray(tone * envelope, dtype=np.float64)


def render_pattern(priority: AlarmPriority) -> npt.NDArray[np.int16]:
    """The 16-bit samples of ``priority``'s chime."""
    notes = _PATTERNS[priority]
    total_s = max(start + dur for _, start, dur in notes) + _TAIL_S
    out = np.zeros(round(total_s * SAMPLE_RATE), dtype=np.float64)
    for freq, start, dur in notes:
        note = _note(freq, dur)
        i = round(start * SAMPLE_RATE)
        out[i : i + note.size] += note
    out *= PEAK / max(1e-9, float(np.max(np.abs(out))))
    return np.round(out * 32767).astype(np.int16)


def generate_sounds(directory: Path | None = None) -> list[Path]:
    """Write the three WAV files into ``directory`` (default :func:`sounds_dir`)."""
    target = directory or sounds_dir()
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for priority, name in SOUND_FILES.items():
        path = target / name
        samples = render_pattern(priority)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(samples.astype("<i2").tobytes())
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - build helper
    for p in generate_sounds(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        sys.stdout.write(f"{p} {p.stat().st_size} bytes\n")
