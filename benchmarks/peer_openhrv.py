"""Live CPU side by side with OpenHRV, the closest open bedside-style HRV app (issue 16).

Both run in fresh processes on the offscreen platform at the same window size, in real time, each
on its own simulated sensor: kapmonitor's bedside window (the self-test's real window, recording a
demo session at 1x into SQLite through its journal) and OpenHRV's window with the mock sensor its
repository ships (``test/app.py``: an inter-beat interval every 0.9 s), connected by pressing its
Scan and Connect buttons. After a warm-up, each process reports the CPU seconds (user + system) it
used over the measured stretch; runs alternate (kapmonitor, OpenHRV, kapmonitor, ...).

Reported: CPU seconds per minute of each, and the ratio kapmonitor / OpenHRV (goal: at most 0.3).

Run: ``.venv/bin/python benchmarks/peer_openhrv.py PATH_TO_OPENHRV_CHECKOUT [--quick]`` (--quick:
20 s per run, 2 runs each, instead of 60 s and 3). Without a path it says so and exits 0: OpenHRV
is not a dependency of kapmonitor, only a yardstick (``git clone`` it anywhere).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _children import run_child

WINDOW = (1280, 800)
WARM_UP_S = 5.0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(app: Any, seconds: float) -> dict[str, float]:
    """Run the app's own Qt event loop for the warm-up, then ``seconds`` more; the CPU used over the latter.

    ``app.exec()`` with a timer that ends it, as each app runs when a user starts it: the loop sleeps
    until a timer or an event wakes it. (A harness that polls ``processEvents`` every few
    milliseconds costs ~1 CPU s per minute on its own with an empty window, measured here, and that
    cost was added to both figures.) ``exit``, not ``quit``: the windows stay open between loops.
    """
    from PySide6.QtCore import QTimer

    def run_loop(duration: float) -> None:
        QTimer.singleShot(round(duration * 1000), lambda: app.exit(0))
        app.exec()

    run_loop(WARM_UP_S)
    cpu0, wall0 = _cpu_s(), time.monotonic()
    run_loop(seconds)
    cpu, wall = _cpu_s() - cpu0, time.monotonic() - wall0
    return {"cpu_s": cpu, "wall_s": wall, "cpu_per_min": cpu / wall * 60}


def kapmonitor_child(seconds: float) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from kapmonitor import __version__
    from kapmonitor.ports import SessionSpec
    from kapmonitor.protocols import find_protocol
    from ui.selftest_session import SessionRun, wait_for

    app = QApplication.instance() or QApplication(["kapmonitor-peer"])
    run = SessionRun(app, Path(tempfile.mkdtemp(prefix="kap-peer-")) / "k.db", speed=1.0)
    run.open_window()
    run.parts.window.resize(*WINDOW)
    run.parts.window.start_session(SessionSpec(client_code="PEER", protocol=find_protocol("sublingual"),
                                               app_version=__version__))
    wait_for(app, lambda: run.readings_seen > 0, "the first reading")
    result = _measure(app, seconds)
    run.end()
    run.close()
    return result


def _as_if_installed(checkout: Path) -> Path:
    """A folder with OpenHRV's distribution metadata (it reads its version from there), so a plain
    checkout runs without being pip-installed into kapmonitor's environment."""
    import tomllib

    with (checkout / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    meta = Path(tempfile.mkdtemp(prefix="openhrv-meta-"))
    info = meta / f"{project['name']}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n", encoding="utf-8")
    return meta


def openhrv_child(checkout: Path, seconds: float) -> dict[str, float]:
    sys.path[:0] = [str(checkout), str(checkout / "test"), str(_as_if_installed(checkout))]
    import app as mock  # OpenHRV's test/app.py: its mock sensor classes
    from openhrv import sensor

    sensor.SensorClient = mock.MockSensorClient  # as test/app.py's main() does
    sensor.SensorScanner = mock.MockSensorScanner
    from openhrv.app import Application
    from PySide6.QtCore import QEventLoop

    app = Application([sys.argv[0]])
    view = app._view
    view.resize(*WINDOW)
    view.show()
    view.scan_button.click()
    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 200)
    view.connect_button.click()
    return _measure(app, seconds)


def _child(kind: str, seconds: float, checkout: Path | None) -> dict[str, float]:
    where = [] if checkout is None else [str(checkout)]
    return run_child(__file__, [*where, "--child", kind, "--seconds", str(seconds)],
                     timeout=seconds * 4 + 120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openhrv", nargs="?", type=Path,
                        help="an OpenHRV checkout (git clone of JanCBrammer/OpenHRV)")
    parser.add_argument("--quick", action="store_true", help="20 s per run, 2 runs each")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--child", choices=("kapmonitor", "openhrv"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.seconds or (20.0 if args.quick else 60.0)
    if args.child == "kapmonitor":
        print(json.dumps(kapmonitor_child(seconds)))
        return
    if args.child == "openhrv":
        print(json.dumps(openhrv_child(args.openhrv, seconds)), flush=True)
        os._exit(0)  # OpenHRV's threads are still running: its teardown is not ours to measure or fix
    if args.openhrv is None or not (args.openhrv / "openhrv" / "app.py").is_file():
        print("peer_openhrv: skipped: give the path of an OpenHRV checkout (git clone "
              "https://github.com/JanCBrammer/OpenHRV) to measure kapmonitor beside it")
        return
    runs = 2 if args.quick else 3
    kap: list[float] = []
    peer: list[float] = []
    for _ in range(runs):
        kap.append(_child("kapmonitor", seconds, None)["cpu_per_min"])
        peer.append(_child("openhrv", seconds, args.openhrv)["cpu_per_min"])
    k, o = statistics.median(kap), statistics.median(peer)
    print(f"live CPU, {runs} alternating runs of {seconds:g} s each, {WINDOW[0]}x{WINDOW[1]} offscreen, "
          "real time")
    kap_runs, peer_runs = [round(v, 2) for v in kap], [round(v, 2) for v in peer]
    print(f"kapmonitor bedside window (demo session, 1 Hz)   {k:6.2f} CPU s per minute   runs {kap_runs}")
    print(f"OpenHRV with its mock sensor                    {o:6.2f} CPU s per minute   runs {peer_runs}")
    print(f"ratio kapmonitor / OpenHRV                      {k / o:6.2f}   goal: <= 0.3")


if __name__ == "__main__":
    main()
