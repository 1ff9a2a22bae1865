"""The session's RR intervals for Kubios HRV, the ``rr`` export format (``docs/export-formats.md``).

Kubios HRV imports RR interval data from a plain text file with the intervals in one column, in
seconds or milliseconds. This format writes exactly that: every RR interval of the session as
recorded, in milliseconds, one per line, in the order the beats arrived (``load_stream``: time,
then arrival), nothing else (no header, no time column).

* **Raw, uncorrected.** Values are written as stored (the sensor's 1/1024 s units converted
  exactly, at full precision: ``833.984375``); flags (``artifact``, ``no_contact``...) are not
  written and the intervals they mark are kept: Kubios applies its own artifact correction. Only a
  value that is not a finite number (which no sensor sends) is left out, since it cannot be written
  as one.
* **No times.** The layout has none: a stretch without RR (the strap lost) is invisible, and
  Kubios' time axis, the running sum of the intervals, runs on across it. The EDF+ and CSV exports
  carry each interval's time.
* **Nothing identifying**: no client, session, date or text, so the de-identified file is the same
  file (``can_deidentify`` holds trivially).
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from db.export.source import SessionSource, StoredSession
from kapmonitor.exporters import ExportOptions
from kapmonitor.types import Stream

__all__ = ["export_session_rr", "write_rr"]


def export_session_rr(store: SessionSource, session_id: int, out: BinaryIO) -> int:
    """Write the session's RR intervals (ms, one per line, ``\\n``) to ``out``; return how many.

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
        OSError: ``out`` could not be written.
    """
    store.session(session_id)  # KeyError for an unknown session, as every format raises
    values = store.load_stream(session_id, Stream.RR_INTERVAL).value
    values = values[np.isfinite(values)]
    lines = [_decimal(v) for v in values.tolist()]
    out.write("".join(f"{line}\n" for line in lines).encode("ascii"))
    return len(lines)


def _decimal(value: float) -> str:
    """The shortest decimal that reads back as ``value``, never in exponent notation (``812.5``, ``1625``)."""
    text = repr(value)
    if "e" in text or "n" in text:  # very small or large: write it out in full
        return np.format_float_positional(value, unique=True, trim="-")
    return text.removesuffix(".0")


def write_rr(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    """The ``rr`` format: :func:`export_session_rr` (the same file identified or not); return how many."""
    return export_session_rr(session.store, session.session_id, out)
