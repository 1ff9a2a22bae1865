"""The command line: parsing, one-line errors with exit status 2, and the core-only commands."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from kapmonitor import __version__, cli
from kapmonitor.logs import setup_logging
from kapmonitor.protocols import PRESETS


def _run(argv: list[str], **handlers: cli.CommandHandler) -> int:
    return cli.run(argv, handlers)


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("protocols", "scan", "record", "sessions", "export"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"kapmonitor {__version__}"


def test_protocols_text_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["protocols"]) == 0
    out = capsys.readouterr().out
    for name, proto in PRESETS.items():
        assert name in out
        assert f"onset {proto.onset_min:g} min" in out
    assert "check at +40 min: Blood pressure at +40 min" in out
    assert "before dosing" in out


def test_protocols_json_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["protocols", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in data] == list(PRESETS)
    assert data[0]["onset_min"] == PRESETS["sublingual"].onset_min


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["frobnicate"], "invalid choice"),
        (["record", "--speed", "0"], "--speed must be a clock speed from 0.1 to 10000 times real time"),
        (["record", "--speed", "fast"], "--speed must be a number"),
        (["record", "--minutes", "-3"], "--minutes must be from 0 to 1440 minutes"),
        (["record", "--sensor", "polar"], "sensor must be 'simulated', 'simulated:SEED'"),
        (["record", "--client", "Jane Doe"], "client code must be 2-32 letters"),
        (["record", "--sensor", "ble:AA:BB", "--speed", "10"], "--speed works only with the simulated"),
        (["export", "zero"], "session must be a session id"),
        (["export", "0"], "session must be a session id"),
        (["report", "latest", "-o", "x.txt"], "ending in .pdf"),
        (["--log-level", "chatty"], "invalid choice"),
        (["--speed", "10"], "--speed before a command applies only with --demo"),
        (["--demo", "sessions"], "cannot be combined with a command"),
        (["scan", "--seconds", "nan"], "--seconds must be a number above 0 and at most 300 seconds"),
    ],
)
def test_bad_arguments_get_one_line_and_status_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(argv)
    assert exc.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("kapmonitor")
    assert fragment in err


def test_handlers_receive_parsed_arguments() -> None:
    seen: list[argparse.Namespace] = []

    def record(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    assert _run(["record", "--dose-mg", "200", "--client", "K-017", "--speed", "120"], record=record) == 0
    (args,) = seen
    assert args.dose_mg == 200.0
    assert args.client == "K-017"
    assert args.speed == 120.0
    assert args.sensor == "simulated"


def test_usage_error_from_a_handler_is_one_line_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    def sessions(args: argparse.Namespace) -> int:
        raise cli.UsageError("the database /x/y.db is locked by another program")

    assert _run(["sessions"], sessions=sessions) == cli.EXIT_USAGE
    assert capsys.readouterr().err == "kapmonitor: error: the database /x/y.db is locked by another program\n"


def test_missing_handler_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["sessions"]) == cli.EXIT_USAGE
    assert "not available" in capsys.readouterr().err


def test_no_command_means_gui() -> None:
    called: list[str] = []
    assert _run([], gui=lambda a: called.append("gui") or 0) == 0
    assert called == ["gui"]


def test_logging_writes_file_and_validates_level(tmp_path: Path) -> None:
    path = setup_logging("debug", tmp_path / "logs")
    assert path is not None
    logging.getLogger("kapmonitor.test").info("hello from the test")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "hello from the test" in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="log level must be one of"):
        setup_logging("loud")
    assert setup_logging("warning", None) is None


def test_logging_survives_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert setup_logging("info", blocker / "logs") is None


def test_python_m_kapmonitor_help_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kapmonitor", "protocols"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "sublingual" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "kapmonitor", "export"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
