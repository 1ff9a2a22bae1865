"""A screenshot of the end-of-session dialog as a clinician sees it after a real session.

Usage (under a display, e.g. ``xvfb-run -a -s "-screen 0 1366x768x24"``)::

    .venv/bin/python tools/end_session_shot.py [--out docs/screenshots/end-session.png]

A session is recorded through the real recorder and SQLite store (in a temporary folder) on a
clock the script moves: blood pressure before the dose, the dose, a pulse oximeter every 5 s,
MOAA/S 3 at 45 min, the oximeter silent for the last 20 minutes, a blood pressure and MOAA/S 5 at
the end. The dialog is then built from what the record says (:func:`facts_for_session`), exactly
as the window does, partly answered, and saved as a PNG on a 1366x768 screen's height.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "end-session.png")
    opts = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from db.store import SqlStore
    from kapmonitor.alarm_settings import AlarmSettings
    from kapmonitor.clock import FakeClock
    from kapmonitor.discharge import facts_for_session
    from kapmonitor.ports import SessionSpec
    from kapmonitor.protocols import PRESETS
    from kapmonitor.recording import Recorder
    from kapmonitor.settings import ClinicSettings
    from kapmonitor.types import ObservationKind, Reading, Stream
    from ui.end_session_dialog import EndSessionDialog
    from ui.theme import DARK, apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app, DARK)
    settings = ClinicSettings.defaults()
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
        store = SqlStore.open(Path(tmp) / "shot.db", clock=clock)
        rec = Recorder(store, clock, AlarmSettings.defaults(), autotick=False)
        sid = rec.start_session(SessionSpec("K-0107", PRESETS["sublingual"], dose_amount=100.0, lot="L-5521",
                                            clinician_initials="CD"))

        def oximeter(minutes: float) -> None:
            for _ in range(int(minutes * 12)):
                rec.reading_received(Reading(Stream.SPO2, 97.0, clock.now(), "oxi:1"))
                clock.advance(5)
                rec.tick()

        rec.record_manual_vitals(systolic=122, diastolic=78)
        oximeter(5)
        rec.give_dose(amount=100.0)
        oximeter(45)
        rec.add_observation(ObservationKind.SCALE, "moaa_s", value=3)
        oximeter(57)
        for _ in range(20 * 6):  # the probe slipped off
            clock.advance(10)
            rec.tick()
        rec.record_manual_vitals(systolic=128, diastolic=80)
        rec.add_observation(ObservationKind.SCALE, "moaa_s", value=5)
        clock.advance(30)
        rec.tick()
        store.flush()
        facts = facts_for_session(store, sid, settings.discharge_checklist, clock.now())
        snapshot = rec.snapshot()
        assert snapshot is not None
        dialog = EndSessionDialog.from_snapshot(
            snapshot, PRESETS["sublingual"].min_observation_min, settings.discharge_checklist, DARK, None,
            facts=facts, medications=settings.medications, clinician="CD", now=clock.now())
        dialog.adverse.no.setChecked(True)
        dialog.items["spo2_room_air"].setChecked(True)  # ticked although the oximeter has been silent
        dialog.items["bp_near_baseline"].setChecked(True)
        dialog.resize(820, 740)
        dialog.show()
        for _ in range(20):
            app.processEvents()
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(opts.out))
        rec.close()
        store.close()
    print(f"saved {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
