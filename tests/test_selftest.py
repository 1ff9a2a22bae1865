"""``kapmonitor --self-test``: passes on a good installation, and says what failed on a broken one.

The full run goes through the console script in a subprocess, exactly as an IT person would
type it, with the clinic database pointed at a file that must never be created. The failure
paths run in-process with parts of the installation broken on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from ui import selftest
from ui.selftest import CheckFailed, SelfTest, run_self_test


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("kapmonitor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kapmonitor"]


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "XDG_", "KAPMONITOR_"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_STATE_HOME=str(home / "state"))
    return env


@pytest.mark.slow
def test_self_test_passes_in_a_checkout_and_leaves_the_clinic_database_alone(tmp_path: Path) -> None:
    clinic_db = tmp_path / "clinic" / "kapmonitor.db"
    env = _clean_env(tmp_path)
    env["KAPMONITOR_DB"] = str(clinic_db)
    proc = subprocess.run([*_console_script(), "--self-test"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = [line for line in lines if line.startswith(("ok ", "FAIL"))]
    assert len(checks) >= 12
    assert all(line.startswith("ok   ") for line in checks), proc.stdout
    for name in ("migrations are bundled", "bedside window opens", "effect window", "observation typed",
                 "database is intact", "exports to CSV"):
        assert any(name in line for line in checks), f"no check mentions {name!r}:\n{proc.stdout}"
    assert lines[0].startswith("kapmonitor ") and "self-test" in lines[0]
    assert lines[-1].startswith("self-test passed")
    assert not clinic_db.exists() and not clinic_db.parent.exists()
    assert not list(tmp_path.glob("kapmonitor-selftest-*"))


def test_failed_checks_are_reported_and_the_files_kept(qapp, monkeypatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(selftest.tempfile, "tempdir", None)  # re-read TMPDIR
    (tmp_path / "no-sounds").mkdir()
    monkeypatch.setattr("ui.sounds.sounds_dir", lambda: tmp_path / "no-sounds")

    def broken_window(self: object) -> str:
        raise RuntimeError("the window could not be built")

    monkeypatch.setattr(selftest.SessionRun, "open_window", broken_window)
    status = run_self_test(None)
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert any(line.startswith("FAIL alarm sounds are bundled:") and "alarm_high.wav is missing" in line
               for line in out), out
    assert any(line.startswith("FAIL database opens and migrates; bedside window opens: RuntimeError: "
                               "the window could not be built") for line in out), out
    assert any(line.startswith("FAIL session exports to CSV: not run") for line in out), out
    assert any(line.startswith("ok   migrations are bundled") for line in out), out
    kept = [line for line in out if "files kept for inspection in" in line]
    assert len(kept) == 1
    assert Path(kept[0].rsplit(" ", 1)[1]).is_dir()
    assert out[-1].startswith("self-test FAILED: 8 of ")


def test_check_prints_one_line_per_check_with_the_reason() -> None:
    class Out:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    out = Out()
    test = SelfTest(out)

    def missing() -> str:
        raise CheckFailed("the thing is missing")

    def crashes() -> str:
        raise KeyError("session")

    assert test.check("good", lambda: "detail") is True
    assert test.check("bad", missing) is False
    assert test.check("worse", crashes) is False
    assert out.text.splitlines() == ["ok   good (detail)", "FAIL bad: the thing is missing",
                                     "FAIL worse: KeyError: 'session'"]
    assert test.passed == 1
    assert test.failed == ["bad", "worse"]


def test_a_frozen_bundle_without_qt_multimedia_fails(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)
    assert "visual only" in selftest.check_audio()  # a checkout may lack libpulse0: only a note
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(CheckFailed, match="does not load in this bundle"):
        selftest.check_audio()
