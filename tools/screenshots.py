"""Screenshots of the bedside window at three moments of a simulated session.

Usage::

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--theme dark|light] [--offscreen]

Without a display it re-runs itself under ``xvfb-run`` (Debian: ``apt-get install
xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xkb1``), so the window is
a real X11 window; ``--offscreen`` uses Qt's offscreen platform instead.

The session is the real app (``ui.app.build_app``: recorder, SQLite store in a
temporary folder, bridge, DB worker) with the simulated sensor, on a clock the
script moves forward (a fast clock: two hours take a few seconds). It saves:

* ``1-preparation.png``  -- baseline being recorded, pre-dose check due;
* ``2-effect-alarm.png`` -- 40 min after the dose, a high blood pressure entered at
  the +40 min check raises a high-priority alarm;
* ``3-integration.png``  -- 80 min after the dose, alarm handled, notes on the plot;
* ``4-database-waiting.png`` -- another program holds the database's write lock while a note is
  typed: saved in the journal, and the window says it waits for the database.

With ``--bedside-at WxH`` it saves one picture instead, ``bedside-WxH.png``: the window on a
W x H screen (Xvfb's screen is made that size), filling the screen less a 40-pixel taskbar and a
30-pixel title bar as a maximised window would, 41 minutes after the dose with the +40 min blood
pressure check due and a high blood pressure alarm::

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python tools/screenshots.py --bedside-at 1366x768
    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python tools/screenshots.py --bedside-at 1920x1080
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.app import AppParts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _reexec_under_xvfb(opts: argparse.Namespace) -> int:
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        print("no display and no xvfb-run: install xvfb or pass --offscreen", file=sys.stderr)
        return 2
    screen = f"{opts.bedside_at[0]}x{opts.bedside_at[1]}" if opts.bedside_at else "1920x1200"
    cmd = [xvfb, "-a", "-s", f"-screen 0 {screen}x24", sys.executable, *sys.argv]
    return subprocess.call(cmd, env=dict(os.environ, KAPMONITOR_UNDER_XVFB="1"))


TASKBAR_AND_TITLE_PX = 70
"""What a desktop takes from a maximised window's height: a taskbar and the title bar."""


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def main() -> int:
    parser = argparse.ArgumentParser(description="Save screenshots of the bedside window.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--theme", default="dark", choices=("dark", "light"))
    parser.add_argument("--offscreen", action="store_true", help="use Qt's offscreen platform, not Xvfb")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--bedside-at", type=_size, default=None, metavar="WxH",
                        help="save only bedside-WxH.png: a check due and an alarm on a W x H screen")
    opts = parser.parse_args()
    if opts.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif not os.environ.get("DISPLAY") and not os.environ.get("KAPMONITOR_UNDER_XVFB"):
        return _reexec_under_xvfb(opts)
    return _shoot(opts)


def _shoot(opts: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    from db.store import SqlStore
    from devices.simulated import SimulatedSensor
    from kapmonitor.clock import FakeClock
    from kapmonitor.ports import SessionSpec
    from kapmonitor.protocols import PRESETS
    from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
    from kapmonitor.types import ObservationKind
    from ui.app import build_app

    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))

    app = QApplication.instance() or QApplication(["kapmonitor-screenshots"])
    assert isinstance(app, QApplication)
    sensor = SimulatedSensor(clock, seed=11, manual=True)
    opts.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore.open(Path(tmp) / "shots.db", clock=clock, flush_interval_s=0.05)
        store.put_setting(SETTINGS_KEY, ClinicSettings.defaults().with_changes(theme=opts.theme).to_dict())
        parts = build_app(argparse.Namespace(db=None, demo=True, speed=None), app, clock=clock, store=store,
                          sensors_for_session=lambda: [sensor], autotick=False)  # type: ignore[list-item]
        window, recorder = parts.window, parts.recorder
        if opts.bedside_at:
            width, height = opts.bedside_at
            window.show()
            window.setGeometry(0, 0, width, height - TASKBAR_AND_TITLE_PX)
        else:
            window.resize(opts.width, opts.height)
            window.show()

        def settle(rounds: int = 30) -> None:
            for _ in range(rounds):
                recorder.tick()
                app.processEvents()
            while parts.worker.pending:
                app.processEvents()
            window.clock_panel.refresh()
            window.vitals.refresh()
            window.plots.render_frame(full=True)
            app.processEvents()

        def run(seconds: float, step: float = 5.0) -> None:
            done = 0.0
            while done < seconds:
                clock.advance(step)
                done += step
                sensor.advance_to()
                recorder.tick()
                app.processEvents()

        def shot(name: str) -> None:
            settle()
            path = opts.out / name
            window.grab().save(str(path))
            print(f"saved {path}")

        window.start_session(SessionSpec("K-104", PRESETS["sublingual"], dose_amount=100.0,
                                         clinician_initials="AB"))
        settle()
        run(7 * 60, step=1.0)
        if opts.bedside_at:
            return _shoot_check_due(opts, parts, run, shot)
        shot("1-preparation.png")

        recorder.complete_check("vitals_pre_dose")
        recorder.record_manual_vitals(systolic=124, diastolic=78)
        run(60, step=1.0)
        recorder.give_dose()
        run(6 * 60)
        recorder.add_observation(ObservationKind.TAG, "nausea")
        run(9 * 60)
        recorder.add_observation(ObservationKind.SCALE, "moaa_s", value=4)
        run(14 * 60)
        recorder.add_observation(ObservationKind.NOTE, "note", text="describes floating, calm")
        run(11 * 60)
        recorder.record_manual_vitals(systolic=186, diastolic=112)  # the +40 min check: high
        run(25, step=1.0)
        shot("2-effect-alarm.png")

        recorder.acknowledge_alarm()
        recorder.add_observation(ObservationKind.INTERVENTION, "reassurance", text="BP explained, resting")
        run(10 * 60)
        recorder.record_manual_vitals(systolic=152, diastolic=94)
        recorder.complete_check("vitals_40_min", note="recheck 152/94")
        run(30 * 60)
        recorder.add_observation(ObservationKind.NOTE, "note", text="talking about the experience")
        run(5 * 60)
        shot("3-integration.png")

        # Another program holds the database's write lock: the note is saved in the journal and the
        # window says it waits for the database (the writer's first attempt ends after the 5 s busy
        # timeout).
        blocker = sqlite3.connect(Path(tmp) / "shots.db", timeout=0)
        blocker.execute("BEGIN IMMEDIATE")
        recorder.add_observation(ObservationKind.NOTE, "note", text="asks for a blanket")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not parts.store.journal_status().waiting:
            app.processEvents()
            time.sleep(0.05)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        shot("4-database-waiting.png")
        blocker.rollback()
        blocker.close()

        window.close_without_asking()
        parts.shutdown()
    return 0


def _shoot_check_due(opts: argparse.Namespace, parts: AppParts, run: Callable[..., None],
                     shot: Callable[[str], None]) -> int:
    """41 min after the dose: the +40 min blood pressure check is due and 192/112 raised an alarm."""
    recorder = parts.recorder
    recorder.complete_check("vitals_pre_dose")
    recorder.record_manual_vitals(systolic=124, diastolic=78)
    run(60, step=1.0)
    recorder.give_dose()
    run(41 * 60)
    recorder.record_manual_vitals(systolic=192, diastolic=112)
    run(20, step=1.0)
    width, height = opts.bedside_at
    shot(f"bedside-{width}x{height}.png")
    parts.window.close_without_asking()
    parts.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
