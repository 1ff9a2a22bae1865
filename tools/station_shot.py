"""A screenshot of the central station watching four rooms, one alarming and one silent.

Usage (under a display, e.g. ``xvfb-run -a -s "-screen 0 1920x1080x24"``)::

    .venv/bin/python tools/station_shot.py [--out docs/screenshots/station.png]

Four sessions are recorded through the real recorder and SQLite store (one temporary file shared
by four rooms, as several processes on one machine would), each on a clock the script moves up to
the present: Room 1 45 minutes after the dose, its client's SpO₂ falling to 85 % (a high-priority
alarm); Room 2 in its effect window with the +40 min blood pressure check due; Room 3 before the
dose; Room 4 stopped renewing its lease 45 seconds ago (the workstation went away). Each room
holds its session's lease as a recording workstation does. The station window then reads the
database exactly as ``kapmonitor station`` does and is saved as a PNG.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "station.png")
    opts = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from db.station import StationReader
    from db.store import SqlStore
    from kapmonitor.alarm_settings import AlarmSettings
    from kapmonitor.clock import FakeClock, SystemClock
    from kapmonitor.ports import SessionSpec
    from kapmonitor.protocols import PRESETS
    from kapmonitor.recording import Recorder
    from kapmonitor.types import EventKind, Reading, SensorInfo, SensorKind, SessionEvent, Stream
    from ui.exports import window_exports
    from ui.station_window import StationWindow
    from ui.theme import DARK, apply_theme
    from ui.worker import DbWorker

    app = QApplication(sys.argv[:1])
    apply_theme(app, DARK)

    def record(db: Path, room: str, client: str, *, dose_min_ago: float | None, spo2_end: float = 97.0,
               silent_s: float = 0.0, bp: tuple[float, float] | None = None) -> SqlStore:
        end = datetime.now(UTC) + timedelta(seconds=2) - timedelta(seconds=silent_s)
        before_dose_min = 6.0
        total_min = before_dose_min + (dose_min_ago or 0.0)
        clock = FakeClock(end - timedelta(minutes=total_min))
        store = SqlStore.open(db, clock=clock, room=room)
        rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        sid = rec.start_session(SessionSpec(client, PRESETS["sublingual"], dose_amount=100.0,
                                            clinician_initials="CD"))
        store.claim(sid, room, f"station-shot-{room}")
        store.save_sensor(sid, SensorInfo("ble:C4:1A", "Polar H10", (SensorKind.HEART_RATE,)))
        store.save_sensor(sid, SensorInfo("ble:0F:22", "Nonin 3230", (SensorKind.PULSE_OXIMETER,)))
        for sensor in ("ble:C4:1A", "ble:0F:22"):
            store.append_event(sid, SessionEvent(EventKind.SENSOR_CONNECTED, clock.now(),
                                                 {"sensor_id": sensor}))
        if bp is not None:
            rec.record_manual_vitals(systolic=bp[0] - 14, diastolic=bp[1] - 8)
        steps = int(total_min * 60 / 2)
        for i in range(steps):
            if dose_min_ago is not None and i == int(before_dose_min * 30):
                rec.complete_check("vitals_pre_dose")
                rec.give_dose(amount=100.0)
            left = steps - i
            spo2 = spo2_end if left < 40 else 97.0
            rec.readings_received([Reading(Stream.HEART_RATE, 68.0 + (i % 7) + (8 if left < 40 else 0),
                                           clock.now(), "ble:C4:1A"),
                                   Reading(Stream.SPO2, spo2, clock.now(), "ble:0F:22")])
            clock.advance(2)
            rec.tick()
        if bp is not None:
            rec.record_manual_vitals(systolic=bp[0], diastolic=bp[1])
        store.flush()
        store.renew(sid, f"station-shot-{room}")
        return store

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "clinic.db"
        stores = [
            record(db, "Room 1", "K-0107", dose_min_ago=45.0, spo2_end=85.0, bp=(138.0, 86.0)),
            record(db, "Room 2", "K-0112", dose_min_ago=41.0, bp=(131.0, 82.0)),
            record(db, "Room 3", "K-0120", dose_min_ago=None),
            record(db, "Room 4", "K-0093", dose_min_ago=70.0, silent_s=75.0, bp=(124.0, 78.0)),
        ]
        time.sleep(1.0)
        worker = DbWorker()
        reader = StationReader(stores[0].engine)
        window = StationWindow(reader, store=stores[0], poll_worker=worker, review_worker=None,
                               clock=SystemClock(), theme=DARK, exports=window_exports(stores[0]),
                               location="clinic.db (demo data)")
        window.resize(1920, 1050)
        window.show()
        window.show_update(reader.poll())
        for _ in range(30):
            app.processEvents()
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(opts.out))
        worker.shutdown()
        for store in stores:
            store.close()
    print(f"saved {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
