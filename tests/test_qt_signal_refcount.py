"""Regression guard for PITFALLS #1: PySide6 6.12.0 on Python 3.11 drops a
reference to ``True`` on every Python-side ``Signal.emit`` with arguments and
aborts the interpreter after a few hundred emits. A 1 Hz sensor would kill the
app within minutes. This test emits 10 000 signals (in a subprocess, so an
abort fails the test instead of killing pytest) and checks the count of
references to ``True`` did not drift.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, Signal

    class Emitter(QObject):
        pair = Signal(float, float)
        reading = Signal(str, float, float, int, str)

    app = QCoreApplication([])
    emitter = Emitter()
    received = []
    emitter.pair.connect(lambda a, b: received.append(a))
    emitter.reading.connect(lambda s, v, t, f, i: None)
    before = sys.getrefcount(True)
    for i in range(10_000):
        emitter.pair.emit(float(i), 1.0)
        emitter.reading.emit("heart_rate", 60.0, float(i), 0, "simulated:1")
    after = sys.getrefcount(True)
    assert len(received) == 10_000, len(received)
    print(before, after)
    """
)


def test_emit_does_not_leak_references_to_true() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert proc.returncode == 0, (
        f"interpreter died emitting Qt signals (exit {proc.returncode}); this PySide6 build leaks "
        f"references (PITFALLS #1):\n{proc.stderr[-2000:]}"
    )
    before, after = (int(x) for x in proc.stdout.split())
    # Immortal objects (3.12+) report a huge constant; mortal ones must not drift by thousands.
    assert abs(after - before) < 100, f"refcount of True drifted from {before} to {after}"
