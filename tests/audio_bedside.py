"""A bedside window that plays its alarms for real, driven by clicks on a schedule in real time.

Run by ``tests/test_audio_pause.py`` as its own process (Qt Multimedia picks its sound server up
once per process, so the test starts PulseAudio first and then this). The whole app is built with
``build_app``: readings go into its recorder, the therapist clicks the banner's *Pause audio* and
*Acknowledge*, and the app's own ``AlarmAudio`` plays through its one long-lived ``QAudioSink`` stream.

Usage: ``python tests/audio_bedside.py OUT.json DB_PATH PAUSE_S``. Writes, in seconds after the
first readings: when each chime was started, when Pause and Acknowledge were clicked, and the
alarms present at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    out_path, db_path, pause_s = Path(argv[0]), Path(argv[1]), float(argv[2])
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from db.store import SqlStore
    from kapmonitor.alarm_settings import AlarmSettings
    from kapmonitor.ports import SessionSpec
    from kapmonitor.protocols import PRESETS
    from kapmonitor.types import Reading, Stream
    from ui.app import build_app

    app = QApplication(["audio-bedside"])
    store = SqlStore.open(db_path)
    parts = build_app(argparse.Namespace(db=None, demo=False, speed=None), app, store=store,
                      sensors_for_session=list)
    window, recorder, clock = parts.window, parts.recorder, parts.clock
    result: dict[str, Any] = {"available": parts.audio.available, "reason": parts.audio.unavailable_reason,
                              "chimes": [], "pause_s": pause_s}
    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0

    parts.audio.chime_played.connect(lambda priority, volume: result["chimes"].append((now(), priority)))
    alarms = dataclasses.replace(AlarmSettings.defaults(), audio_pause_s=pause_s)
    window.show()
    window.start_session(SessionSpec("AUDIO", PRESETS["sublingual"], settings={"alarms": alarms.to_dict()}))

    def readings() -> None:
        recorder.reading_received(Reading(Stream.SPO2, 85.0, clock.now(), "oximeter"))
        recorder.reading_received(Reading(Stream.BP_SYSTOLIC, 195.0, clock.now(), "cuff"))

    def click(name: str, button_of: str) -> None:
        button = getattr(window.banner, button_of)
        result[name] = now()
        result[f"{name}_enabled"] = button.isEnabled()
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)

    def finish() -> None:
        result["end"] = now()
        result["active"] = sorted(f"{a.alarm_id}:{a.state.value}" for a in recorder.active_alarms())
        result["available_at_end"] = parts.audio.available
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            result["media_backends_loaded"] = sorted({line.rsplit("/", 1)[-1].strip() for line in maps
                                                      if "/plugins/multimedia/" in line})
        result["reason"] = parts.audio.unavailable_reason
        out_path.write_text(json.dumps(result))
        window.close_without_asking()
        parts.shutdown()
        app.quit()

    feed = QTimer()
    feed.setInterval(1000)
    feed.timeout.connect(readings)

    def begin() -> None:
        nonlocal t0
        t0 = time.monotonic()
        readings()
        feed.start()
        pause_at = 3.0
        ack_at = pause_at + pause_s + 3.0
        QTimer.singleShot(int(pause_at * 1000), lambda: click("pause", "pause_button"))
        QTimer.singleShot(int(ack_at * 1000), lambda: click("ack", "ack_button"))
        QTimer.singleShot(int((ack_at + pause_s + 3.0) * 1000), finish)

    QTimer.singleShot(1500, begin)  # the sound effects load first
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
