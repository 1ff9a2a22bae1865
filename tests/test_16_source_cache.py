"""The source PySide6's import hook reads is not kept in memory (issue 16), and tracebacks still show it.

Each case runs in a fresh interpreter: the hook only sees modules imported after PySide6.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, linecache, sys, traceback
import PySide6.QtCore
forget = sys.argv[1] == "forget"
if forget:
    from ui.source_cache import forget_imported_sources
    assert forget_imported_sources() is True
    assert forget_imported_sources() is True  # a second call wraps nothing twice
import ui.review_window, kapmonitor.hrv
held = sum(len(line) for entry in linecache.cache.values() if len(entry) > 2 for line in entry[2])
hrv_held = kapmonitor.hrv.__file__ in linecache.cache
try:
    kapmonitor.hrv.time_domain([])
except Exception as exc:
    shown = "".join(traceback.format_exception(exc))
print(json.dumps({"hrv_held": hrv_held, "held_chars": held,
                  "traceback": shown}))
"""


def _probe(mode: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    found: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return found


def test_pyside_keeps_the_source_of_every_later_import_unless_told_not_to() -> None:
    kept = _probe("keep")
    assert kept["hrv_held"] is True, "PySide6's hook no longer reads sources: source_cache is not needed"
    assert int(kept["held_chars"]) > 2_000_000  # type: ignore[call-overload]

    forgot = _probe("forget")
    assert forgot["hrv_held"] is False
    assert int(forgot["held_chars"]) < int(kept["held_chars"]) // 20  # type: ignore[call-overload]


def test_a_traceback_still_shows_the_lines_of_a_forgotten_source() -> None:
    forgot = _probe("forget")
    shown = str(forgot["traceback"])
    assert "kapmonitor/hrv.py" in shown
    # the failing line's text, read again from the file when the traceback asked for it
    assert "    " in shown.split("kapmonitor/hrv.py", 1)[1].splitlines()[1]


_SAME_ANSWER = """
import json, sys
import PySide6.QtCore
from shibokensupport import feature
original = feature._mod_uses_pyside
from ui.source_cache import forget_imported_sources
forget_imported_sources()
import ui.app, ui.review_window  # the window's imports: SQLAlchemy, numpy, pyqtgraph, ours
wrapped = feature._mod_uses_pyside
differ = [name for name, module in list(sys.modules.items())
          if module is not None and wrapped(module) != original(module)]
said_yes = sum(1 for module in list(sys.modules.values()) if module is not None and wrapped(module))
print(json.dumps({"differ": differ, "said_yes": said_yes, "modules": len(sys.modules)}))
"""


def test_the_hook_answers_from_the_file_exactly_as_pyside_does_from_the_source() -> None:
    """The hook is answered without ``inspect.getsource`` (60-70 ms of the window's start-up): for each
    module the window imports, the answer is the one PySide6's own hook gives."""
    out = subprocess.run([sys.executable, "-c", _SAME_ANSWER], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.splitlines()[-1])
    assert found["differ"] == []
    assert found["said_yes"] > 20 and found["modules"] > 500, found  # ours and pyqtgraph use PySide6
