"""``kapmonitor export SESSION|latest [--format NAME] [--interval-s SECONDS] [-o FILE]``: one session in
a format of :data:`db.export.EXPORTERS` (CSV by default; EDF+, FHIR R4, RR for Kubios:
``docs/export-formats.md``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kapmonitor.cli import EXIT_OK, UsageError, stdout_to_devnull
from ui.cli.stores import open_reader, resolve_session


def cmd_export(args: argparse.Namespace) -> int:
    from db.export import EXPORTERS
    from db.export.source import StoredSession
    from kapmonitor.clock import SystemClock
    from kapmonitor.exporters import (
        DEFAULT_SUMMARY_INTERVAL_S,
        ExportError,
        ExportOptions,
        UnknownFormatError,
    )

    try:
        exporter = EXPORTERS.get(args.format)
    except UnknownFormatError as exc:
        raise UsageError(str(exc)) from None
    given = getattr(args, "interval_s", None)  # absent from a Namespace built by hand
    interval_s = DEFAULT_SUMMARY_INTERVAL_S if given is None else given
    options = ExportOptions(generated_at=SystemClock().now(), deidentify=args.deidentify,
                            summary_interval_s=interval_s)
    with open_reader(args) as store:
        session_id = resolve_session(store, args.session)
        source = StoredSession(store, session_id)
        try:
            if args.output is None:
                sys.stdout.flush()
                try:
                    exporter.write_to(source, sys.stdout.buffer, options)
                    sys.stdout.buffer.flush()
                except BrokenPipeError:
                    raise  # the reader went away (`| head`): kapmonitor.cli.run says so in one line
                except OSError as exc:  # a full disk behind a redirection, an I/O error
                    stdout_to_devnull()  # what could not be written is not tried again at exit
                    raise UsageError("could not write the export to standard output: "
                                     f"{exc.strerror or exc}") from exc
                return EXIT_OK
            path = Path(args.output)
            count = EXPORTERS.export_file(exporter, source, path, options)
        except ExportError as exc:
            raise UsageError(str(exc)) from exc
    print(f"kapmonitor: wrote {count} {exporter.counts} of session {session_id} to {path}", file=sys.stderr)
    return EXIT_OK



