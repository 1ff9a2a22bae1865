"""The session CSV (format documented in ``docs/csv-format.md``): the ``csv`` export format.

The session's own fields first (``kind=session`` rows: protocol, dose, lot, clinician,
discharge answers; :mod:`db.export.session_rows`), then one row per reading, event,
observation revision and alarm transition, in time order. Ties at the same millisecond:
session rows, events, alarms, observations, readings; within one kind, the order they were
stored. Text cells that a spreadsheet could take for a formula are made inert (:func:`inert`);
de-identification is :class:`db.export.deidentify.Deidentifier`. Readings stream from the raw DBAPI
cursor in chunks (a 4-hour session is ~46 000 rows; memory stays flat however
long the session), each chunk's columns formatted as lists (time stamps from a
memo of minutes, phases by bisection) and ``zip`` rather than row by row; the few
other rows are merged in by time. Plain Python, no numpy: importing it would cost
an export more start-up than the formatting it could save (issue 16).
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import io
import json
import random
from collections.abc import Callable, Iterable
from datetime import date
from itertools import repeat
from typing import Any, BinaryIO, TextIO

from db.export.deidentify import Deidentifier
from db.export.session_rows import session_fields
from db.export.source import SessionSource, StoredSession
from db.rows import to_epoch_ms
from kapmonitor.exporters import ExportOptions
from kapmonitor.phases import phase_changes
from kapmonitor.ports import SessionRecord
from kapmonitor.streams import STREAM_UNITS
from kapmonitor.types import AlarmCategory, Phase, ReadingFlag, SessionEvent, Stream

__all__ = ["COLUMNS", "alarm_unit", "export_session_csv", "inert", "write_csv"]

COLUMNS = (
    "session_id", "client_code", "timestamp_utc", "elapsed_s", "phase", "kind", "name", "value", "unit",
    "text", "flags", "sensor_id", "priority", "state", "action", "limit", "detail", "data",
    "observation_id", "revision", "observation_kind", "recorded_at_utc", "deleted", "reason", "author",
    "added_later",
)
_WIDTH = len(COLUMNS)
_TAIL = _WIDTH - 5
"""Columns from ``kind`` on (the first five are filled in the same way for every row)."""
_SESSION, _EVENT, _ALARM, _OBSERVATION = -1, 0, 1, 2
_UNITS = {s.value: u for s, u in STREAM_UNITS.items()}
_CHUNK = 8192
_NUMERIC = frozenset({"elapsed_s", "value", "limit", "revision"})
_TEXT_AT = tuple(i for i, c in enumerate(COLUMNS) if c not in _NUMERIC)
"""Indexes of the columns whose cells are made inert (every column but the numeric ones)."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula (OWASP, "CSV Injection")."""
_TECHNICAL_UNITS = {"no_data": "s", "no_contact": "s", "battery_low": "%", "implausible": "values",
                    "check_overdue": "s"}
"""Technical alarm kind -> the unit of its value (the rule of ``kapmonitor.alarm_words.value_with_unit``)."""

_Pending = tuple[int, int, int, list[Any]]
"""``(t_ms, kind rank, stored order, columns from 'kind' on)``."""


class _FlagText(dict[int, str]):
    """``ReadingFlag`` bits -> ``artifact|no_contact`` (memoised)."""

    def __missing__(self, flags: int) -> str:
        text = self[flags] = "|".join(f.name.lower() for f in ReadingFlag if f and flags & f and f.name)
        return text


class _InertText(dict[str, str]):
    """A text cell -> the same made inert (memoised: a session has a handful of sensor ids)."""

    def __missing__(self, text: str) -> str:
        safe = self[text] = inert(text)
        return safe


def inert(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it: ``'`` before a formula's first character.

    A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return can be taken
    for a formula (``=HYPERLINK(...)``); OWASP's advice is a leading single quote, which the
    spreadsheet shows as text. Only text cells pass through here: numbers stay numbers.
    """
    return "'" + text if text.startswith(_FORMULA_START) else text


def alarm_unit(alarm_id: str, category: AlarmCategory, stream: Stream | None) -> str:
    """The unit of an alarm's ``value`` and ``limit``: a technical alarm's own, else its stream's.

    Seconds for no data, no skin contact and an overdue check (the number as stored, seconds),
    ``%`` for a low battery, ``values`` for implausible values, none for signal lost -- the same
    rule the bedside uses (:func:`kapmonitor.alarm_words.value_with_unit`).
    """
    if category is AlarmCategory.TECHNICAL and "." in alarm_id:
        return _TECHNICAL_UNITS.get(alarm_id.split(".", 1)[0], "")
    return "" if stream is None else STREAM_UNITS.get(stream, "")


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class _Minutes(dict[int, str]):
    """Minutes since the epoch -> ``2026-12-02T18:44:`` (memoised: a session spans a few hundred)."""

    def __missing__(self, minute: int) -> str:
        day, minute_of_day = divmod(minute, 1440)
        hour, minute_of_hour = divmod(minute_of_day, 60)
        text = self[minute] = (f"{date.fromordinal(_EPOCH_ORDINAL + day).isoformat()}"
                               f"T{hour:02d}:{minute_of_hour:02d}:")
        return text


def _iso(t_ms: Iterable[int], minutes: _Minutes | None = None) -> list[str]:
    """ISO 8601 UTC with milliseconds and ``Z`` for epoch milliseconds (``2026-12-02T18:44:06.851Z``),
    as numpy's ``datetime_as_string(..., unit="ms", timezone="UTC")`` writes them."""
    prefix = _Minutes() if minutes is None else minutes
    out: list[str] = []
    append = out.append
    for t in t_ms:
        minute, rest = divmod(t, 60_000)
        second, ms = divmod(rest, 1000)
        append(f"{prefix[minute]}{second:02d}.{ms:03d}Z")
    return out


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def export_session_csv(
    store: SessionSource,
    session_id: int,
    out: TextIO,
    *,
    deidentify: bool = False,
    rng: random.Random | None = None,
) -> int:
    """Write one session as CSV to ``out`` (open it with ``newline=""``); return the rows written.

    Args:
        deidentify: replace the client code, session id, sensors, observation ids and
            clinic-typed names by tokens, shift every time by one random whole-second offset
            (elapsed times unchanged), and drop free text, reasons, the lot, initials and the
            setting's name (:mod:`db.export.deidentify`, ``docs/csv-format.md``).
        rng: the random source for de-identification (default: ``random.SystemRandom()``).

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
    """
    record = store.session(session_id)
    ident: Deidentifier | None = None
    if deidentify:
        ident = Deidentifier(rng if rng is not None else random.SystemRandom(), store.sensors(session_id))
        shift_ms, sid_text, code = ident.shift_ms, ident.session_token, ident.client_token
    else:
        shift_ms, sid_text, code = 0, str(session_id), inert(record.spec.client_code)
    dose_ms = None if record.dose_at is None else to_epoch_ms(record.dose_at)
    changes = phase_changes(record.spec.protocol, record.started_at, record.dose_at, record.ended_at)
    change_ms = [to_epoch_ms(at) for at, _, _ in changes]
    phase_names = [Phase.PREPARATION.value] + [after.value for _, _, after in changes]
    minutes = _Minutes()
    phase_index = bisect.bisect_right

    def heads(t_ms: list[int]) -> tuple[list[str], list[str] | repeat[str], list[str]]:
        """``timestamp_utc``, ``elapsed_s`` and ``phase`` for a run of times."""
        stamps = _iso(t_ms if not shift_ms else [t + shift_ms for t in t_ms], minutes)
        if dose_ms is None:
            elapsed: list[str] | repeat[str] = repeat("")
        else:
            elapsed = [f"{(t - dose_ms) / 1000.0:.3f}" for t in t_ms]
        phases = [phase_names[phase_index(change_ms, t)] for t in t_ms]
        return stamps, elapsed, phases

    events = store.events(session_id)
    others = _session_rows(record, events, ident) + _other_rows(store, session_id, events, ident)
    others.sort(key=lambda p: (p[0], p[1], p[2]))
    other_t = [p[0] for p in others]
    other_rows = _with_heads(others, sid_text, code, heads)

    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    # Reading rows leave the columns after sensor_id empty: their writer ends each line with the
    # separators of those empty fields instead of formatting 14 empty strings per row.
    reading_writer = csv.writer(out, lineterminator="," * (_WIDTH - 12) + "\r\n")
    written = 0
    next_other = 0
    flag_text = _FlagText()
    sensor_text: Callable[[str], str] = (_InertText() if ident is None else ident.sensor).__getitem__
    ph = store.placeholder
    with store.raw_cursor() as cur:
        cur.execute(f"SELECT t_ms, stream, value, flags, sensor_id FROM readings WHERE session_id = {ph} "
                    "ORDER BY t_ms, id", (session_id,))
        while chunk := cur.fetchmany(_CHUNK):
            t_ms, streams, values, flags, sensors = (list(c) for c in zip(*chunk, strict=True))
            stamps, elapsed, phases = heads(t_ms)
            rows = zip(
                repeat(sid_text), repeat(code), stamps, elapsed, phases, repeat("reading"), streams, values,
                map(_UNITS.get, streams, repeat("")), repeat(""), map(flag_text.__getitem__, flags),
                map(sensor_text, sensors),
            )
            # Other rows at or before this chunk's last reading go in front of equal-time readings.
            end = bisect.bisect_right(other_t, t_ms[-1], lo=next_other)
            if end == next_other:
                reading_writer.writerows(rows)
            else:
                listed = list(rows)
                start = 0
                for i in range(next_other, end):
                    cut = bisect.bisect_left(t_ms, other_t[i], lo=start)
                    reading_writer.writerows(listed[start:cut])
                    writer.writerow(other_rows[i])
                    start = cut
                reading_writer.writerows(listed[start:])
            written += len(t_ms) + end - next_other
            next_other = end
    rest = other_rows[next_other:]
    writer.writerows(rest)
    return written + len(rest)


def write_csv(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    """The ``csv`` format: :func:`export_session_csv` as UTF-8 to a binary stream; return the rows.

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
        OSError: ``out`` could not be written.
    """
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    try:
        rows = export_session_csv(session.store, session.session_id, text, deidentify=options.deidentify)
        text.flush()
    finally:
        with contextlib.suppress(ValueError, OSError):
            text.detach()  # hand ``out`` back open: it belongs to the caller
    return rows


def _with_heads(others: list[_Pending], sid: str, code: str,
                heads: Callable[[list[int]], tuple[Any, Any, Any]]) -> list[list[Any]]:
    """Whole rows (the five head columns in front), every text cell made inert."""
    if not others:
        return []
    stamps, elapsed, phases = heads([p[0] for p in others])
    rows = []
    for p, s, e, ph in zip(others, stamps, elapsed, phases, strict=False):
        row = [sid, code, s, e, ph, *p[3]]
        for i in _TEXT_AT:
            if isinstance(row[i], str):
                row[i] = inert(row[i])
        rows.append(row)
    return rows


def _session_rows(record: SessionRecord, events: list[SessionEvent],
                  ident: Deidentifier | None) -> list[_Pending]:
    """The ``kind=session`` rows, stamped with the session's start and put before its other rows."""
    t_ms = to_epoch_ms(record.started_at)
    out: list[_Pending] = []
    for i, (name, value, unit, text) in enumerate(session_fields(record, events, ident)):
        tail: list[Any] = [""] * _TAIL
        tail[:5] = ["session", name, value, unit, text]
        out.append((t_ms, _SESSION, i, tail))
    return out


def _other_rows(store: SessionSource, session_id: int, events: list[SessionEvent],
                ident: Deidentifier | None) -> list[_Pending]:
    """Events, alarms and observation revisions, unsorted."""
    out: list[_Pending] = []
    for i, e in enumerate(events):
        data = dict(e.data) if ident is None else ident.event_data(e.data)
        amount = data.get("amount")
        tail: list[Any] = [""] * _TAIL
        tail[:5] = ["event", e.kind.value,
                    amount if isinstance(amount, int | float) and not isinstance(amount, bool) else "",
                    _text(data.get("unit")),
                    "" if ident is not None else _text(data.get("reason") or data.get("note"))]
        tail[12] = json.dumps(data, sort_keys=True, separators=(",", ":"))
        out.append((to_epoch_ms(e.at), _EVENT, i, tail))
    for i, a in enumerate(store.alarms(session_id)):
        tail = [""] * _TAIL
        name, label, detail = a.alarm_id, a.label, a.detail
        if ident is not None:
            name, label, detail = ident.alarm_id(name), ident.alarm_label(name, label), ident.scrub(detail)
        unit = alarm_unit(a.alarm_id, a.category, a.stream)
        tail[:5] = ["alarm", name, "" if a.value is None else a.value, unit, label]
        tail[7:12] = [a.priority.value, a.state.value, a.action, "" if a.limit is None else a.limit, detail]
        out.append((to_epoch_ms(a.at), _ALARM, i, tail))
    observations = store.observations(session_id)
    shift_ms = 0 if ident is None else ident.shift_ms
    recorded = _iso(to_epoch_ms(o.recorded_at) + shift_ms for o in observations)
    for i, (o, rec) in enumerate(zip(observations, recorded, strict=True)):
        tail = [""] * _TAIL
        if ident is None:
            name, oid, text, reason, author = o.name, o.observation_id, o.text, o.reason, o.author
        else:
            name, oid = ident.observation_name(o.kind, o.name), ident.observation_id(o.observation_id)
            text = reason = author = ""
        tail[:5] = ["observation", name, "" if o.value is None else o.value, "", text]
        tail[13:] = [oid, o.revision, o.kind.value, rec, "true" if o.deleted else "false",
                     reason, author, "true" if o.added_later else "false"]
        out.append((to_epoch_ms(o.occurred_at), _OBSERVATION, i, tail))
    return out
