"""Session CSV export (format documented in ``docs/csv-format.md``).

One row per reading, event, observation revision and alarm transition, in time
order; ties at the same millisecond go events, alarms, observations, readings,
and within one kind in the order they were stored. Readings stream from the raw
DBAPI cursor (a 4-hour session is ~46 000 rows) and the few other rows are
merged in as the readings pass their time, so memory stays flat however long
the session. Time stamps are formatted from integer milliseconds with a
per-minute prefix cache instead of a ``datetime`` per row.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, TextIO

from db.sqltypes import EPOCH, to_epoch_ms
from db.store import SqlStore
from kapmonitor.phases import phase_changes
from kapmonitor.types import STREAM_UNITS, Phase, ReadingFlag, Stream

__all__ = ["COLUMNS", "export_session_csv"]

log = logging.getLogger(__name__)

COLUMNS = (
    "session_id", "client_code", "timestamp_utc", "elapsed_s", "phase", "kind", "name", "value", "unit",
    "text", "flags", "sensor_id", "priority", "state", "action", "limit", "detail", "data",
    "observation_id", "revision", "observation_kind", "recorded_at_utc", "deleted", "reason", "author",
    "added_later",
)
_WIDTH = len(COLUMNS)
_READING_PAD = ("",) * (_WIDTH - 12)
_EVENT, _ALARM, _OBSERVATION = 0, 1, 2
_FREE_TEXT_KEYS = frozenset({"reason", "note", "text", "comment"})
_UNITS = {s.value: u for s, u in STREAM_UNITS.items()}
_SHIFT_RANGE_S = (365 * 86_400, 3650 * 86_400)


def _flag_names(flags: int) -> str:
    return "|".join(f.name.lower() for f in ReadingFlag if f and flags & f and f.name)


class _Clockface:
    """Formats epoch milliseconds (after the de-identification shift) as text, quickly."""

    def __init__(self, shift_ms: int, dose_ms: int | None, changes: list[tuple[int, str]]) -> None:
        self._shift = shift_ms
        self._dose = dose_ms
        self._minute = -1
        self._prefix = ""
        self._changes = changes
        self._next = 0
        self._phase = Phase.PREPARATION.value

    def iso(self, t_ms: int) -> str:
        t = t_ms + self._shift
        minute, rest = divmod(t, 60_000)
        if minute != self._minute:
            self._minute = minute
            self._prefix = (EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
        s, ms = divmod(rest, 1000)
        return f"{self._prefix}{s:02d}.{ms:03d}Z"

    def elapsed(self, t_ms: int) -> str:
        return "" if self._dose is None else f"{(t_ms - self._dose) / 1000:.3f}"

    def phase(self, t_ms: int) -> str:
        """The phase at ``t_ms``; calls must come in non-decreasing time order."""
        changes = self._changes
        while self._next < len(changes) and changes[self._next][0] <= t_ms:
            self._phase = changes[self._next][1]
            self._next += 1
        return self._phase


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _event_data(data: Mapping[str, Any], deidentify: bool,
                sensor_alias: Callable[[str], str]) -> dict[str, Any]:
    if not deidentify:
        return dict(data)
    kept = {k: v for k, v in data.items() if k not in _FREE_TEXT_KEYS}
    if isinstance(kept.get("sensor_id"), str):
        kept["sensor_id"] = sensor_alias(kept["sensor_id"])
    return kept


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
            shift every time by one random offset (elapsed times unchanged),
            pseudonymise sensor addresses and drop author initials and free
            text (see ``docs/csv-format.md``).
        rng: the random source for de-identification (default: a fresh
            ``random.SystemRandom``).

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
    """
    record = store.session(session_id)
    if deidentify:
        rand = rng if rng is not None else random.SystemRandom()
        shift_ms = -rand.randint(*_SHIFT_RANGE_S) * 1000
        sid_text = f"S-{rand.getrandbits(40):010x}"
        code = f"C-{rand.getrandbits(40):010x}"
    else:
        shift_ms, sid_text, code = 0, str(session_id), record.spec.client_code
    aliases: dict[str, str] = {}

    def sensor_alias(sensor: str) -> str:
        if not deidentify:
            return sensor
        alias = aliases.get(sensor)
        if alias is None:
            alias = aliases[sensor] = f"sensor-{len(aliases) + 1}"
        return alias

    changes = [(to_epoch_ms(at), after.value) for at, _, after in
               phase_changes(record.spec.protocol, record.started_at, record.dose_at, record.ended_at)]
    face = _Clockface(shift_ms, None if record.dose_at is None else to_epoch_ms(record.dose_at), changes)
    others = _other_rows(store, session_id, deidentify, sensor_alias, face.iso)

    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    written = 0
    pending = next(others, None)
    flag_text: dict[int, str] = {}
    iso, elapsed, phase = face.iso, face.elapsed, face.phase
    with store.raw_cursor() as cur:
        cur.execute(
            "SELECT t_ms, stream, value, flags, sensor_id FROM readings WHERE session_id = "
            f"{'?' if store.engine.dialect.paramstyle == 'qmark' else '%s'} ORDER BY t_ms, id",
            (session_id,),
        )
        rows: list[Sequence[Any]] = []
        for t_ms, stream, value, flags, sensor in cur:
            while pending is not None and pending[0] <= t_ms:
                rows.append(_finish(pending, sid_text, code, iso, elapsed, phase))
                pending = next(others, None)
            ftext = flag_text.get(flags)
            if ftext is None:
                ftext = flag_text[flags] = _flag_names(flags)
            rows.append((sid_text, code, iso(t_ms), elapsed(t_ms), phase(t_ms), "reading", stream, value,
                         _UNITS.get(stream, ""), "", ftext, sensor_alias(sensor), *_READING_PAD))
            if len(rows) >= 4096:
                writer.writerows(rows)
                written += len(rows)
                rows.clear()
    while pending is not None:
        rows.append(_finish(pending, sid_text, code, iso, elapsed, phase))
        pending = next(others, None)
    writer.writerows(rows)
    return written + len(rows)


_Pending = tuple[int, int, int, list[Any]]


def _finish(pending: _Pending, sid: str, code: str, iso: Callable[[int], str],
            elapsed: Callable[[int], str], phase: Callable[[int], str]) -> list[Any]:
    t_ms, _, _, tail = pending
    return [sid, code, iso(t_ms), elapsed(t_ms), phase(t_ms), *tail]


def _other_rows(store: SqlStore, session_id: int, deidentify: bool, sensor_alias: Callable[[str], str],
                iso: Callable[[int], str]) -> Iterator[_Pending]:
    """Events, alarms and observation revisions as ``(t_ms, rank, stored order, columns from kind on)``."""
    out: list[_Pending] = []
    blank: list[Any] = [""] * (_WIDTH - 5)
    for i, e in enumerate(store.events(session_id)):
        data = _event_data(e.data, deidentify, sensor_alias)
        amount = data.get("amount")
        tail = blank.copy()
        tail[:5] = ["event", e.kind.value,
                    amount if isinstance(amount, int | float) and not isinstance(amount, bool) else "",
                    _text(data.get("unit")),
                    "" if deidentify else _text(data.get("reason") or data.get("note"))]
        tail[12] = json.dumps(data, sort_keys=True, separators=(",", ":"))
        out.append((to_epoch_ms(e.at), _EVENT, i, tail))
    for i, a in enumerate(store.alarms(session_id)):
        tail = blank.copy()
        tail[:5] = ["alarm", a.alarm_id, "" if a.value is None else a.value,
                    "" if a.stream is None else STREAM_UNITS[Stream(a.stream)], a.label]
        tail[7:12] = [a.priority.value, a.state.value, a.action, "" if a.limit is None else a.limit, a.detail]
        out.append((to_epoch_ms(a.at), _ALARM, i, tail))
    for i, o in enumerate(store.observations(session_id)):
        tail = blank.copy()
        tail[:5] = ["observation", o.name, "" if o.value is None else o.value, "",
                    "" if deidentify else o.text]
        tail[13:] = [o.observation_id, o.revision, o.kind.value,
                     iso(to_epoch_ms(o.recorded_at)),
                     "true" if o.deleted else "false", "" if deidentify else o.reason,
                     "" if deidentify else o.author, "true" if o.added_later else "false"]
        out.append((to_epoch_ms(o.occurred_at), _OBSERVATION, i, tail))
    out.sort(key=lambda p: (p[0], p[1], p[2]))
    yield from out
