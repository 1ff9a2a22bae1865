"""The bedside's alarm audio driven hard, to show the GUI thread never freezes in the sound system.

Run by ``tests/test_audio_pause.py`` as its own process with a private PulseAudio server. For
``SECONDS`` it hands the app's :class:`ui.audio.AlarmAudio` a random set of alarms every 0-400 ms
(new, acknowledged, paused, escalated, gone: each a chime started, restarted or silenced), while a
10 ms heartbeat timer measures how long the GUI thread is ever away. Qt 6.11's ``QSoundEffect``
froze the GUI thread here within 4-31 s ("QSocketNotifier: Invalid socket ..., disabling..." without
end). Writes ``{"chimes": N, "max_gap_s": S, "available": bool, "reason": str}`` to ``OUT.json``.

Usage: ``python tests/audio_stress.py OUT.json SECONDS SEED``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class _Alarm:
    alarm_id: str
    priority: object
    audio_on: bool
    escalated: bool


def main(argv: list[str]) -> int:
    out_path, seconds, seed = Path(argv[0]), float(argv[1]), int(argv[2])
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from kapmonitor.settings_items import AudioSettings
    from kapmonitor.types import AlarmPriority
    from ui.audio import AlarmAudio

    app = QApplication(["audio-stress"])
    audio = AlarmAudio(AudioSettings(volume=60))
    chimes = [0]
    audio.chime_played.connect(lambda _p, _v: chimes.__setitem__(0, chimes[0] + 1))
    rng = random.Random(seed)
    priorities = list(AlarmPriority)
    last_beat = [time.monotonic()]
    max_gap = [0.0]
    t0 = time.monotonic()

    def beat() -> None:
        now = time.monotonic()
        max_gap[0] = max(max_gap[0], now - last_beat[0])
        last_beat[0] = now

    def step() -> None:
        alarms = [_Alarm(f"a{rng.randint(0, 9)}", rng.choice(priorities), rng.random() < 0.7,
                         rng.random() < 0.2) for _ in range(rng.randint(0, 4))]
        audio.set_alarms(alarms)  # type: ignore[arg-type]
        if time.monotonic() - t0 >= seconds:
            result = {"chimes": chimes[0], "max_gap_s": max_gap[0], "available": audio.available,
                      "reason": audio.unavailable_reason}
            out_path.write_text(json.dumps(result))
            audio.stop()
            app.quit()
            return
        QTimer.singleShot(rng.choice([0, 1, 5, 20, 100, 400]), step)

    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    QTimer.singleShot(500, step)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
