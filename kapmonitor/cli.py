"""The command line: argument parsing, validation and the core-only commands.

The parser lives in the core so every command's arguments are validated in one
place, without Qt, Bluetooth or a database. Commands that need those layers are
handed to the composition root (``ui.main``), which passes a handler per
command to :func:`run`.

Every bad argument gets one line on stderr naming what was wrong and what is
accepted, and exit status 2 (:data:`EXIT_USAGE`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from kapmonitor import __version__
from kapmonitor.clients import is_valid_client_code
from kapmonitor.exporters import DEFAULT_SUMMARY_INTERVAL_S, MAX_SUMMARY_INTERVAL_S
from kapmonitor.logs import LOG_LEVELS, setup_logging
from kapmonitor.protocols import PRESETS, CheckTiming, TreatmentProtocol
from kapmonitor.sensor import SensorSpec
from kapmonitor.workstation import check_room_name

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandHandler",
    "UsageError",
    "build_parser",
    "cmd_protocols",
    "parse_args",
    "run",
]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

MIN_SPEED, MAX_SPEED = 0.1, 10_000.0
"""Accepted clock speeds (``--speed``): slower than a tenth freezes a demo, faster than 10 000x overflows
a 24-hour session's clock in minutes of real time."""
MAX_MINUTES = 24 * 60.0
"""The longest session, in minutes, ``record --minutes`` (and ``--ready-to-leave``) accepts: a day."""
MAX_ID = 2**63 - 1
"""The largest id a database row can have (a signed 64-bit integer)."""

CommandHandler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A command's arguments or the data it names are unusable; exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _number(text: str, label: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{label} must be a number, got {text!r}") from None
    return value


def _positive_float(label: str, most: float, unit: str = "") -> Callable[[str], float]:
    """A number above 0 and at most ``most`` (a bound that keeps a typo from overflowing a clock)."""
    def convert(text: str) -> float:
        value = _number(text, label)
        if not math.isfinite(value) or value <= 0 or value > most:
            raise argparse.ArgumentTypeError(
                f"{label} must be a number above 0 and at most {most:g}{unit}, got {text!r}")
        return value

    return convert


def _non_negative_float(label: str, most: float, unit: str = "") -> Callable[[str], float]:
    def convert(text: str) -> float:
        value = _number(text, label)
        if not math.isfinite(value) or value < 0 or value > most:
            raise argparse.ArgumentTypeError(f"{label} must be from 0 to {most:g}{unit}, got {text!r}")
        return value

    return convert


def _speed(label: str) -> Callable[[str], float]:
    def convert(text: str) -> float:
        value = _number(text, label)
        if not math.isfinite(value) or not MIN_SPEED <= value <= MAX_SPEED:
            raise argparse.ArgumentTypeError(
                f"{label} must be a clock speed from {MIN_SPEED:g} to {MAX_SPEED:g} times real time, "
                f"got {text!r}")
        return value

    return convert


def _text_at_most(label: str, most: int) -> Callable[[str], str]:
    """Free text that must fit its database column (``most`` characters), without control characters."""
    def convert(text: str) -> str:
        if len(text) > most:
            raise argparse.ArgumentTypeError(f"{label} must be at most {most} characters, got {len(text)}")
        if any(not c.isprintable() for c in text):
            raise argparse.ArgumentTypeError(f"{label} must be printable text (no tabs or line breaks)")
        return text

    return convert


def _room_name(text: str) -> str:
    try:
        return check_room_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(label: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{label} needs a whole number above 0, got {text!r}") from None
        if not 0 < value <= MAX_ID:
            raise argparse.ArgumentTypeError(f"{label} needs a whole number from 1 to {MAX_ID}, got {text!r}")
        return value

    return convert


def _client_code(text: str) -> str:
    if not is_valid_client_code(text):
        raise argparse.ArgumentTypeError(
            f"client code must be 2-32 letters, digits, '-' or '_' (a pseudonym, never a name), got {text!r}"
        )
    return text


def _sensor_spec(text: str) -> str:
    try:
        SensorSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


EXPORT_FORMATS = ("csv", "edf", "fhir", "rr")
"""The export formats ``--format`` names in its help (the registry, ``db.export.EXPORTERS``, decides;
tests/test_14_edf.py checks the two agree)."""


def _summary_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= MAX_SUMMARY_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"--interval-s must be a number of seconds above 0 and at most {MAX_SUMMARY_INTERVAL_S:g} "
            f"(e.g. 60), got {text!r}")
    return value


def _session_ref(text: str) -> str:
    if text == "latest" or (text.isdigit() and 0 < int(text) <= MAX_ID):
        return text
    raise argparse.ArgumentTypeError(
        f"session must be a session id (a whole number from 1 to {MAX_ID}) or 'latest', got {text!r}"
    )


def _yes_no(option: str, *extra: str) -> Callable[[str], str]:
    accepted = ("yes", "no", *extra)

    def parse(text: str) -> str:
        if text.lower() in accepted:
            return text.lower()
        raise argparse.ArgumentTypeError(f"{option} must be one of {', '.join(accepted)}, got {text!r}")

    return parse


def _discharge_arguments(p: argparse.ArgumentParser) -> None:
    """The structured end of a headless session (what the monitoring form asks), given up front.

    With none of them the session ends without discharge answers (the form says "not recorded").
    """
    g = p.add_argument_group(
        "discharge (kept with the end of the session; see docs/discharge.md)")
    g.add_argument("--ready-to-leave", metavar="MIN",
                   type=_non_negative_float("--ready-to-leave", MAX_MINUTES, " minutes"),
                   help="minutes after the first dose the client would have been ready to leave "
                        "(default: when the record first showed every criterion met)")
    g.add_argument("--adverse-events", type=_yes_no("--adverse-events"), metavar="yes|no",
                   help="any adverse event during the session")
    g.add_argument("--adverse-details", metavar="TEXT", default="",
                   help="what happened (with --adverse-events yes)")
    g.add_argument("--serious", type=_yes_no("--serious"), metavar="yes|no", help="any adverse event serious")
    g.add_argument("--serious-outcome", metavar="NAME", action="append", default=[],
                   help="what made it serious (repeatable): hospitalisation, life_threatening, "
                        "disability, death, other_serious")
    for name in ("sedation", "dissociation", "respiratory-depression"):
        g.add_argument(f"--{name}", type=_yes_no(f"--{name}", "record"), default="record",
                       metavar="yes|no|record",
                       help=f"{name.replace('-', ' ')} during monitoring; 'record' (default): as the record "
                            "suggests, unanswered where it cannot say")
    g.add_argument("--medications", metavar="LIST",
                   help="concomitant medications: comma-separated names from the clinic's list "
                        "(e.g. benzodiazepines,psychostimulants) or 'none'")
    g.add_argument("--fit-to-leave-by", metavar="INITIALS", help="who judged the client fit to leave "
                   "(default: --clinician)")
    g.add_argument("--discharge-item", metavar="NAME[=REASON]", action="append", default=[],
                   help="a discharge checklist item that was met (repeatable); a REASON is needed where "
                        "the record does not support it")


def build_parser() -> argparse.ArgumentParser:
    """The full ``kapmonitor`` argument parser."""
    parser = _Parser(
        prog="kapmonitor",
        description=(
            "Bedside monitoring for ketamine-assisted psychotherapy sessions. "
            "With no command, opens the bedside window."
        ),
        epilog=(
            "The database lives in your user data directory unless --db or KAPMONITOR_DB names "
            "another file or a SQLAlchemy URL."
        ),
    )
    parser.add_argument("--version", action="version", version=f"kapmonitor {__version__}")
    parser.add_argument(
        "--db", metavar="PATH", help="database file or SQLAlchemy URL (default: user data directory)"
    )
    parser.add_argument(
        "--room", metavar="NAME", type=_room_name, default=None,
        help="this workstation's room name, stored with each session it records and used to find "
             "its own sessions to resume (default: the room set on this computer, else its host name)",
    )
    parser.add_argument(
        "--log-level", default="info", type=str.lower, choices=LOG_LEVELS,
        help="how much to log (default: info)",
    )
    parser.add_argument("--demo", action="store_true", help="open the window with the simulated sensor")
    parser.add_argument(
        "--speed", type=_speed("--speed"), default=None,
        help="with --demo: run the clock this many times faster (training)",
    )
    parser.add_argument(
        "--self-test", action="store_true",
        help="check this installation: window, simulated session, export; exit 0 if all worked",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("protocols", help="list the treatment protocols and their timings")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("scan", help="list nearby Bluetooth sensors")
    p.add_argument("--seconds", type=_positive_float("--seconds", 300, " seconds"), default=5.0,
                   help="scan time (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("record", help="record a session without the window")
    p.add_argument("--sensor", type=_sensor_spec, default="simulated",
                   help="simulated, simulated:SEED or ble:ADDRESS")
    p.add_argument("--client", type=_client_code, default="DEMO", help="pseudonymous client code")
    p.add_argument("--protocol", default="sublingual", help="protocol name (see 'kapmonitor protocols')")
    p.add_argument("--dose-mg", type=_positive_float("--dose-mg", 5000, " mg"), default=None,
                   help="dose in mg")
    p.add_argument("--lot", type=_text_at_most("--lot", 64), default="", help="lot number of the dose")
    p.add_argument("--clinician", type=_text_at_most("--clinician", 16), default="",
                   help="clinician initials")
    p.add_argument(
        "--baseline-minutes", type=_non_negative_float("--baseline-minutes", 240, " minutes"), default=5.0,
        help="minutes of baseline before the dose (default 5)",
    )
    p.add_argument(
        "--minutes", type=_non_negative_float("--minutes", MAX_MINUTES, " minutes"), default=120.0,
        help="minutes to record after the dose (default 120)",
    )
    p.add_argument(
        "--speed", type=_speed("--speed"), default=1.0,
        help="clock speed multiplier (simulated sensor only; default 1)",
    )
    p.add_argument("--seed", type=int, default=None, help="simulated sensor seed (default: random)")
    p.add_argument(
        "--resume", action="store_true",
        help="continue this room's most recent unfinished session with its clock anchored at the "
             "original dose",
    )
    p.add_argument(
        "--take-over", metavar="SESSION_ID", type=_positive_int("--take-over"), default=None,
        help="with --resume: take over another room's session (only once its room has stopped renewing "
             "its lease; recorded as an event)",
    )
    p.add_argument(
        "--lsl", action="store_true",
        help="stream heart rate, RR, SpO2, blood pressure and markers on the Lab Streaming Layer while "
             "recording (needs the 'research' extra; the clinic's scope, default this computer only; "
             "docs/research.md)",
    )
    _discharge_arguments(p)

    p = sub.add_parser("station", help="the central station: every room's live session on this database")
    p.add_argument("--json", action="store_true",
                   help="no window: print one JSON line per update (every --interval seconds)")
    p.add_argument("--interval", type=_positive_float("--interval", 3600, " seconds"), default=1.0,
                   help="seconds between updates (default 1)")
    p.add_argument("--count", type=_positive_int("--count"), default=None,
                   help="with --json: stop after this many updates (default: until interrupted)")

    p = sub.add_parser("sessions", help="list recorded sessions")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("export", help="write a session's CSV (or another export format)")
    p.add_argument("session", type=_session_ref, help="session id or 'latest'")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: standard output)")
    p.add_argument("--format", default="csv", metavar="NAME",
                   help=f"export format: {', '.join(EXPORT_FORMATS)} (default: csv; docs/export-formats.md; "
                        "the printable PDF report is 'kapmonitor report')")
    p.add_argument(
        "--interval-s", metavar="SECONDS", type=_summary_interval, default=None,
        help=f"with --format fhir: seconds of heart rate and SpO2 summarised into one value (default "
             f"{DEFAULT_SUMMARY_INTERVAL_S:g}; above 0, at most {MAX_SUMMARY_INTERVAL_S:g})",
    )
    p.add_argument(
        "--deidentify", action="store_true",
        help="for research sharing: tokens for the client, session, sensors and observations; every "
             "time shifted by one random offset; free text, names, lot and initials removed "
             "(docs/csv-format.md)",
    )

    p = sub.add_parser("report", help="write a session's printable PDF report or monitoring form")
    p.add_argument("session", type=_session_ref, help="session id or 'latest'")
    p.add_argument("-o", "--output", metavar="FILE.pdf", required=True, help="output PDF file")
    p.add_argument("--form", choices=("session", "monitoring"), default="session",
                   help="session: the session report (default); monitoring: the patient monitoring form "
                        "pre-filled from the record, for transcription")

    p = sub.add_parser("settings", help="export the clinic settings to a file, or import them from one "
                                        "(one configuration for every room)")
    settings_sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    q = settings_sub.add_parser("export",
                                help="write the clinic settings to FILE (JSON; '-': standard output)")
    q.add_argument("file", metavar="FILE")
    q = settings_sub.add_parser("import", help="check FILE field by field, then make it the clinic settings "
                                               "(nothing changes if any field is invalid)")
    q.add_argument("file", metavar="FILE")

    p = sub.add_parser("backup", help="back up the SQLite database, safely while a session records")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="the backup file, which must not exist (default: backups/<name>-<UTC time>.db "
                        "beside the database)")

    p = sub.add_parser("restore", help="replace the SQLite database with a checked backup (the replaced "
                                       "one is kept beside it)")
    p.add_argument("file", metavar="FILE", help="the backup to restore (made by 'kapmonitor backup')")
    return parser


_NEW_SESSION_OPTIONS = ("--client", "--protocol", "--lot")
"""``record`` options that describe a session being started, so meaningless with ``--resume`` (the
baseline and the dose still apply to a resumed session that was not dosed yet, and ``--clinician``
names who takes a session over)."""


def _split_at_command(tokens: Sequence[str], command: str | None) -> tuple[list[str], list[str]]:
    """The arguments before the command's name and after it (all "before" without a command)."""
    if command is None or command not in tokens:
        return list(tokens), []
    at = tokens.index(command)
    return list(tokens[:at]), list(tokens[at + 1:])


def _given(tokens: Sequence[str], option: str) -> bool:
    return any(t == option or t.startswith(option + "=") for t in tokens)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check arguments; exits with status 2 and one line on error."""
    parser = build_parser()
    tokens = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(tokens)
    if args.db is not None and not args.db.strip():
        parser.error("--db needs a database file or URL, got an empty value (leave --db out for the "
                     "default database)")
    before, after = _split_at_command(tokens, args.command)
    if args.command is not None and _given(before, "--speed"):
        parser.error(f"--speed before a command applies only with --demo; put it after the command "
                     f"('kapmonitor {args.command} --speed N')")
    if args.command == "record" and args.resume:
        fixed = [o for o in _NEW_SESSION_OPTIONS if _given(after, o)]
        if fixed:
            parser.error(f"{fixed[0]} describes a new session; --resume continues the session as it was "
                         "started (its client, protocol and lot)")
    if args.command is not None and (args.demo or args.self_test):
        parser.error("--demo and --self-test open the window; they cannot be combined with a command")
    if args.speed is not None and not args.demo and args.command is None:
        parser.error("--speed before a command applies only with --demo")
    if args.command == "record" and args.speed != 1.0 and SensorSpec.parse(args.sensor).kind != "simulated":
        parser.error("--speed works only with the simulated sensor; a real sensor runs in real time")
    if args.command == "record" and args.take_over is not None and not args.resume:
        parser.error("--take-over applies only with --resume")
    if args.command == "station" and args.count is not None and not args.json:
        parser.error("--count applies only with --json (the window runs until closed)")
    if args.command == "export" and args.output is not None and not args.output.strip():
        parser.error("-o needs a file name")
    if args.command == "export" and args.interval_s is not None and args.format != "fhir":
        parser.error("--interval-s applies only with --format fhir (the other formats write every reading)")
    if args.command == "backup" and args.output is not None and not args.output.strip():
        parser.error("-o needs a file name")
    if args.command == "report" and not args.output.lower().endswith(".pdf"):
        parser.error(f"the report is a PDF; give an output name ending in .pdf, got {args.output!r}")
    return args


def _format_minutes(value: float) -> str:
    return f"{value:g} min"


def cmd_protocols(args: argparse.Namespace, out: TextIO, protocols: Sequence[TreatmentProtocol]) -> int:
    """Print the protocols: timings and scheduled checks."""
    if args.json:
        json.dump([p.to_dict() for p in protocols], out, indent=2)
        out.write("\n")
        return EXIT_OK
    for proto in protocols:
        out.write(f"{proto.name}  ({proto.route.label})\n")
        if proto.description:
            out.write(f"  {proto.description}\n")
        out.write(
            f"  onset {_format_minutes(proto.onset_min)}; effect window "
            f"{_format_minutes(proto.effect_window_min)} after onset (until "
            f"+{proto.onset_min + proto.effect_window_min:g} min); minimum observation "
            f"{_format_minutes(proto.min_observation_min)} after the first dose\n"
        )
        for check in proto.checks:
            if check.timing is CheckTiming.PRE_DOSE:
                when = "before dosing"
            elif check.timing is CheckTiming.AFTER_DOSE:
                when = f"at +{check.at_min or 0:g} min"
            else:
                when = f"before discharge (+{proto.min_observation_min:g} min)"
            out.write(f"  check {when}: {check.label}\n")
        out.write("\n")
    return EXIT_OK


def run(
    argv: Sequence[str] | None,
    handlers: Mapping[str, CommandHandler],
    *,
    log_dir: Path | None = None,
    protocols: Callable[[], Sequence[TreatmentProtocol]] | None = None,
) -> int:
    """Parse ``argv``, set up logging and run the command.

    Args:
        handlers: command name -> handler; ``"gui"`` opens the window (no command).
        log_dir: where the log file goes (None: stderr only).
        protocols: the clinic's protocols (default: the presets).
    """
    args = parse_args(argv)
    setup_logging(args.log_level, log_dir)
    command = args.command or ("self-test" if args.self_test else "gui")
    try:
        if command == "protocols":
            chosen = list(protocols()) if protocols is not None else list(PRESETS.values())
            return cmd_protocols(args, sys.stdout, chosen)
        handler = handlers.get(command)
        if handler is None:
            print(f"kapmonitor: error: '{command}' is not available in this installation", file=sys.stderr)
            return EXIT_USAGE
        return handler(args)
    except UsageError as exc:
        print(f"kapmonitor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kapmonitor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of standard output went away (``kapmonitor export latest | head -1``): one line,
        # and standard output pointed at /dev/null so the interpreter's last flush raises nothing more.
        stdout_to_devnull()
        print("kapmonitor: error: standard output was closed before everything was written",
              file=sys.stderr)
        return EXIT_USAGE


def stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (a test's captured stdout)
        pass
