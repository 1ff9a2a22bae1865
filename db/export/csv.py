"""The session CSV (format documented in ``docs/csv-format.md``): the ``csv`` export format.

One row per reading, event, observation revision and alarm transition, in time
order. Ties at the same millisecond: events, alarms, observations, readings;
within one kind, the order they were stored. Readings stream from the raw DBAPI
cursor in chunks (a 4-hour session is ~46 000 rows; memory stays flat however
long the session), each chunk formatted with numpy (time stamps, phases) and
``zip`` rather than row by row; the few other rows are merged in by time.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import io
import json
import random
from collections.abc import Callable, Mapping
from itertools import repeat
from typing import Any, BinaryIO, TextIO

import numpy as np

from db.export.source import StoredSession
from db.sqltypes import to_epoch_ms
from db.store import SqlStore
from kapmonitor.exporters import Exporter, ExportOptions
from kapmonitor.phases import phase_changes
from kapmonitor.streams import STREAM_UNITS
from kapmonitor.types import Phase, ReadingFlag, Stream

__all__ = ["COLUMNS", "CSV_EXPORTER", "export_session_csv", "write_csv"]

COLUMNS = (
    "session_id", "client_code", "timestamp_utc", "elapsed_s", "phase", "kind", "name", "value", "unit",
    "text", "flags", "sensor_id", "priority", "state", "action", "limit", "detail", "data",
    "observation_id", "revision", "observation_kind", "recorded_at_utc", "deleted", "reason", "author",
    "added_later",
)
_WIDTH = len(COLUMNS)
_TAIL = _WIDTH - 5
"""Columns from ``kind`` on (the first five are filled in the same way for every row)."""
_EVENT, _ALARM, _OBSERVATION = 0, 1, 2
_FREE_TEXT_KEYS = frozenset({"reason", "note", "text", "comment"})
_UNITS = {s.value: u for s, u in STREAM_UNITS.items()}
_SHIFT_RANGE_S = (365 * 86_400, 3650 * 86_400)
_CHUNK = 8192

_Pending = tuple[int, int, int, list[Any]]
"""``(t_ms, kind rank, stored order, columns from 'kind' on)``."""


class _FlagText(dict[int, str]):
    """``ReadingFlag`` bits -> ``artifact|no_contact`` (memoised)."""

    def __missing__(self, flags: int) -> str:
        text = self[flags] = "|".join(f.name.lower() for f in ReadingFlag if f and flags & f and f.name)
        return text


class _Aliases(dict[str, str]):
    """Sensor address -> ``sensor-N`` in order of first appearance (de-identified exports)."""

    def __missing__(self, sensor: str) -> str:
        alias = self[sensor] = f"sensor-{len(self) + 1}"
        return alias


def _iso(t_ms: np.ndarray[Any, np.dtype[np.int64]]) -> list[str]:
    """ISO 8601 UTC with milliseconds and ``Z`` for epoch milliseconds."""
    return np.datetime_as_string(t_ms.astype("datetime64[ms]"), unit="ms", timezone="UTC").tolist()  # type: ignore[no-any-return]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def export_session_csv(
    store: SqlStore,
    session_id: int,
    out: TextIO,
    *,
    deidentify: bool = False,
    rng: random.Random | None = None,
) -> int:
    """Write one session as CSV to ``out`` (open it with ``newline=""``); return the rows written.

    Args:
        deidentify: replace the client code and session id by random tokens,
            shift every time by one random whole-second offset (elapsed times
            unchanged), pseudonymise sensor addresses, and drop author
            initials and free text (see ``docs/csv-format.md``).
        rng: the random source for de-identification (default: ``random.SystemRandom()``).

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
    """
    record = store.session(session_id)
    aliases = _Aliases()
    if deidentify:
        rand = rng if rng is not None else random.SystemRandom()
        shift_ms = -rand.randint(*_SHIFT_RANGE_S) * 1000
        sid_text = f"S-{rand.getrandbits(40):010x}"
        code = f"C-{rand.getrandbits(40):010x}"
    else:
        shift_ms, sid_text, code = 0, str(session_id), record.spec.client_code
    dose_ms = None if record.dose_at is None else to_epoch_ms(record.dose_at)
    changes = phase_changes(record.spec.protocol, record.started_at, record.dose_at, record.ended_at)
    change_ms = np.array([to_epoch_ms(at) for at, _, _ in changes], dtype=np.int64)
    phase_names = np.array([Phase.PREPARATION.value] + [after.value for _, _, after in changes], dtype=object)

    def heads(t_ms: list[int]) -> tuple[list[str], list[str] | repeat[str], list[str]]:
        """``timestamp_utc``, ``elapsed_s`` and ``phase`` for a run of times."""
        t = np.array(t_ms, dtype=np.int64)
        stamps = _iso(t + shift_ms)
        if dose_ms is None:
            elapsed: list[str] | repeat[str] = repeat("")
        else:
            elapsed = [f"{x:.3f}" for x in ((t - dose_ms) / 1000.0).tolist()]
        phases = phase_names[np.searchsorted(change_ms, t, side="right")].tolist()
        return stamps, elapsed, phases

    others = _other_rows(store, session_id, deidentify, aliases, shift_ms)
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
    ph = "?" if store.engine.dialect.paramstyle == "qmark" else "%s"
    with store.raw_cursor() as cur:
        cur.execute(f"SELECT t_ms, stream, value, flags, sensor_id FROM readings WHERE session_id = {ph} "
                    "ORDER BY t_ms, id", (session_id,))
        while chunk := cur.fetchmany(_CHUNK):
            t_ms, streams, values, flags, sensors = (list(c) for c in zip(*chunk, strict=True))
            stamps, elapsed, phases = heads(t_ms)
            rows = zip(
                repeat(sid_text), repeat(code), stamps, elapsed, phases, repeat("reading"), streams, values,
                map(_UNITS.get, streams, repeat("")), repeat(""), map(flag_text.__getitem__, flags),
                map(aliases.__getitem__, sensors) if deidentify else sensors,
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


CSV_EXPORTER = Exporter(
    name="csv", title="CSV", suffix=".csv", write=write_csv, counts="rows", can_deidentify=True,
    description="every reading, event, observation and alarm in time order, for analysis "
                "(docs/csv-format.md)",
)


def _with_heads(others: list[_Pending], sid: str, code: str,
                heads: Callable[[list[int]], tuple[Any, Any, Any]]) -> list[list[Any]]:
    if not others:
        return []
    stamps, elapsed, phases = heads([p[0] for p in others])
    return [[sid, code, s, e, ph, *p[3]]
            for p, s, e, ph in zip(others, stamps, elapsed, phases, strict=False)]


def _event_data(data: Mapping[str, Any], deidentify: bool, aliases: _Aliases) -> dict[str, Any]:
    if not deidentify:
        return dict(data)
    kept = {k: v for k, v in data.items() if k not in _FREE_TEXT_KEYS}
    if isinstance(kept.get("sensor_id"), str):
        kept["sensor_id"] = aliases[kept["sensor_id"]]
    return kept


def _other_rows(store: SqlStore, session_id: int, deidentify: bool, aliases: _Aliases,
                shift_ms: int) -> list[_Pending]:
    """Events, alarms and observation revisions, sorted by (time, kind rank, stored order)."""
    out: list[_Pending] = []
    for i, e in enumerate(store.events(session_id)):
        data = _event_data(e.data, deidentify, aliases)
        amount = data.get("amount")
        tail: list[Any] = [""] * _TAIL
        tail[:5] = ["event", e.kind.value,
                    amount if isinstance(amount, int | float) and not isinstance(amount, bool) else "",
                    _text(data.get("unit")),
                    "" if deidentify else _text(data.get("reason") or data.get("note"))]
        tail[12] = json.dumps(data, sort_keys=True, separators=(",", ":"))
        out.append((to_epoch_ms(e.at), _EVENT, i, tail))
    for i, a in enumerate(store.alarms(session_id)):
        tail = [""] * _TAIL
        tail[:5] = ["alarm", a.alarm_id, "" if a.value is None else a.value,
                    "" if a.stream is None else STREAM_UNITS[Stream(a.stream)], a.label]
        tail[7:12] = [a.priority.value, a.state.value, a.action, "" if a.limit is None else a.limit, a.detail]
        out.append((to_epoch_ms(a.at), _ALARM, i, tail))
    observations = store.observations(session_id)
    recorded = _iso(np.array([to_epoch_ms(o.recorded_at) for o in observations], dtype=np.int64) + shift_ms)
    for i, (o, rec) in enumerate(zip(observations, recorded, strict=True)):
        tail = [""] * _TAIL
        tail[:5] = ["observation", o.name, "" if o.value is None else o.value, "",
                    "" if deidentify else o.text]
        tail[13:] = [o.observation_id, o.revision, o.kind.value, rec, "true" if o.deleted else "false",
                     "" if deidentify else o.reason, "" if deidentify else o.author,
                     "true" if o.added_later else "false"]
        out.append((to_epoch_ms(o.occurred_at), _OBSERVATION, i, tail))
    out.sort(key=lambda p: (p[0], p[1], p[2]))
    return out
