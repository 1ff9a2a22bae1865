"""Running a benchmark's measurement in a fresh process (not a benchmark itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_child(script: str, args: list[str], *, timeout: float) -> dict[str, Any]:
    """Run ``python SCRIPT ARGS`` on the offscreen platform; the JSON object of its last stdout line.

    Raises:
        SystemExit: the child failed (its exit status and the end of its stderr).
    """
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    argv = [sys.executable, str(Path(script).resolve()), *args]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
