"""A ``kapmonitor record`` process driven the way a person at a terminal would: notes on stdin,
acknowledgements read from stdout, progress and warnings from stderr."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = ["Run", "start_record"]


@dataclass
class Run:
    proc: subprocess.Popen[str]
    acked_observations: list[str] = field(default_factory=list)
    acked_events: list[tuple[str, datetime]] = field(default_factory=list)
    progress: list[tuple[float, datetime, str]] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    readers: list[threading.Thread] = field(default_factory=list)

    def type_line(self, text: str) -> None:
        """Type one line on the process's standard input."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stderr_text(self) -> str:
        with self.lock:
            return "".join(self.stderr_lines)

    def wait_for_stderr(self, text: str, timeout: float = 60.0) -> None:
        """Wait until a line containing ``text`` was printed on stderr (fails if the process exits)."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr_text():
            assert self.proc.poll() is None or text in self.stderr_text(), self.stderr_text()[-3000:]
            assert time.monotonic() < deadline, f"never saw {text!r} on stderr:\n{self.stderr_text()[-3000:]}"
            time.sleep(0.05)

    def close(self, timeout: float = 60.0) -> None:
        """Wait for the process and its pipe readers, then close the pipes (killed after ``timeout``)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise
        finally:
            self._close_pipes()

    def _close_pipes(self) -> None:
        for reader in self.readers:
            reader.join(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


def start_record(db: Path, *extra: str, speed: float = 60.0, baseline_min: float = 1.0,
                 seed: int = 7) -> Run:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kapmonitor", "--db", str(db), "record", "--sensor", "simulated",
         "--speed", str(speed), "--baseline-minutes", str(baseline_min), "--seed", str(seed), *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    run = Run(proc)

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            with run.lock:
                if line.startswith("saved observation "):
                    run.acked_observations.append(parts[2])
                elif line.startswith("recorded event "):
                    run.acked_events.append((parts[2], datetime.fromisoformat(parts[3])))

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with run.lock:
                run.stderr_lines.append(line)
                if line.startswith("progress now="):
                    fields = dict(p.split("=", 1) for p in line.split() if "=" in p)
                    run.progress.append(
                        (time.monotonic(), datetime.fromisoformat(fields["now"]), fields["phase"])
                    )

    run.readers = [
        threading.Thread(target=read_stdout, daemon=True),
        threading.Thread(target=read_stderr, daemon=True),
    ]
    for reader in run.readers:
        reader.start()
    return run
