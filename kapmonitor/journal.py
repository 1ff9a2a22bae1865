"""The recording journal: an append-only, fsync'd local file between the recorder and the store.

Everything the recorder records (readings, session events, observations,
alarm transitions, sensor details) is appended here first, on the thread that
recorded it, and only then applied to the database by one writer thread
(``db.journal_writer``). The database may be locked by another program, full,
or a PostgreSQL server may be unreachable: the journal is on this computer and
keeps the record meanwhile.

Durability:

* ``append(..., durable=True)`` (session events, observations) returns only
  after the lines are written *and* fsync'd: a therapist's note is acknowledged
  as saved once it is here, whatever the database does.
* ``append(..., durable=False)`` (readings, alarm transitions, sensor details)
  only numbers and queues the entries (a sensor's thread spends microseconds;
  readings are converted to database rows once, there: :func:`reading_rows`);
  the writer encodes, writes and fsyncs them with :meth:`Journal.sync` every
  cycle (from a thread of its own, so a database that makes it wait does not
  delay this), and any durable append writes them first. A crash or a power
  cut loses at most the last cycle (0.25 s), well within a second.
* Where the journal itself cannot be written (the disk is full), a durable
  append raises :class:`JournalError` and leaves the file as it was (the caller
  keeps the note and retries); non-durable lines are kept in memory, in order,
  and written with the next append or sync that succeeds.

Layout: a folder per workstation and database, holding a ``journal-id`` file
(the identity under which the store remembers how far it has applied this
journal), a ``lock`` file (one recording process per journal) and segment
files ``<first seq>.jsonl`` of one JSON array per line. Entries carry a
strictly increasing sequence number; the store applies them in order and
records the highest applied number in the same transaction, so replaying a
journal after a crash applies each entry exactly once. Segments wholly applied
are deleted.

Lines (see :func:`encode_entries`, :func:`decode_entries`):

* ``[seq, session_id, kind, payload]``: one entry (an event, an observation, an
  alarm transition, sensor details; ``"r"``: a :class:`ReadingBatch`, the
  format readings had before ``"R"``, still read).
* ``[first_seq, "R", [packet, packet, ...]]``: consecutive sensor packets
  (:data:`ReadingRows`), the k-th numbered ``first_seq + k``; a packet is its
  readings' database rows ``session_id, stream, t_ms, value, sensor_id,
  flags`` one after the other in one flat list (6 values per reading). The
  writer encodes a cycle's packets this way, up to :data:`PACKETS_PER_LINE`
  per line, with one call of the C JSON encoder.

A line is whole (it ends in a newline) or the torn tail of a write a crash
interrupted, which was never acknowledged (a durable append fsyncs first) and
is cut off on opening.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

from kapmonitor.ports import StoreError
from kapmonitor.types import (
    AlarmCategory,
    AlarmPriority,
    AlarmState,
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Reading,
    ReadingFlag,
    SensorInfo,
    SensorKind,
    SessionEvent,
    Stream,
)

__all__ = [
    "DURABLE_KINDS",
    "PACKETS_PER_LINE",
    "ROW_FIELDS",
    "AnyEntry",
    "Entry",
    "Item",
    "Journal",
    "JournalError",
    "ReadingBatch",
    "ReadingRow",
    "ReadingRows",
    "decode_entries",
    "decode_line",
    "encode_entries",
    "encode_entry",
    "kind_of",
    "reading_rows",
    "rows_of",
]

log = logging.getLogger(__name__)

SEGMENT_BYTES: Final = 4 * 1024 * 1024
"""A segment is closed and a new one begun past this size, so applied history can be deleted."""

PACKETS_PER_LINE: Final = 256
"""Consecutive sensor packets encoded into one ``"R"`` line at most (a damaged line loses no more)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class JournalError(StoreError):
    """The journal could not be written (disk full, folder not writable, held by another process)."""


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """The readings of one sensor packet as :class:`Reading` objects (lines of kind ``"r"``, written
    by earlier versions and still read; the recorder's packets are :data:`ReadingRows`)."""

    readings: tuple[Reading, ...]


ReadingRow = tuple[int, str, int, float, str, int]
"""``(session_id, stream, t_ms, value, sensor_id, flags)``: a reading as the database stores it
(``t_ms``: milliseconds since the Unix epoch, rounded half up, as ``db.sqltypes.to_epoch_ms``)."""


ROW_FIELDS: Final = 6
"""Values per reading in :data:`ReadingRows` (the fields of :data:`ReadingRow`)."""

ReadingRows = tuple[int | float | str, ...]
"""The readings of one sensor packet (a heart rate with its RR intervals; one BP measurement) as
the database's rows, flattened: the :data:`ROW_FIELDS` values of each :data:`ReadingRow`, one
reading after the other (:func:`rows_of` gives the rows back).

Made once, on the recording thread (:func:`reading_rows`); the journal line holds these values
as they are and the store inserts them as they are: nothing is converted per reading after that.
Every row carries the session id of the entry holding it. Sub-millisecond parts of a time are not
kept (the database never had them).

A plain flat ``tuple`` (an entry's item is a sensor packet when ``type(item) is tuple``), not a
class nor a tuple of row tuples: a plain tuple of numbers and strings is one the garbage collector
stops tracking at its first pass, and so is the plain ``(seq, session_id, rows)`` entry holding it
soon after. Instances of a class of ours, or tuples nested deeper, stay tracked into the oldest
generation and are traversed again by every full collection while they wait (hundreds of
thousands during an outage).
"""


def rows_of(rows: ReadingRows) -> list[ReadingRow]:
    """The :data:`ReadingRow` tuples of a packet."""
    it = iter(rows)
    return list(zip(it, it, it, it, it, it, strict=True))


Item = ReadingRows | ReadingBatch | SessionEvent | Observation | AlarmTransition | SensorInfo

_KIND_CODES: Final[dict[type, str]] = {
    tuple: "r", ReadingBatch: "r", SessionEvent: "e", Observation: "o", AlarmTransition: "a",
    SensorInfo: "s",
}
DURABLE_KINDS: Final = frozenset({"e", "o"})
"""Entry kinds acknowledged to a person (events and observations): fsync'd before ``append`` returns."""


def kind_of(item: Item) -> str:
    """The one-letter code of an item's kind (``r`` readings, ``e`` event, ``o`` observation...)."""
    return _KIND_CODES[type(item)]


class Entry(NamedTuple):
    """One journal entry: a sequence number, the session it belongs to and what was recorded."""

    seq: int
    session_id: int
    item: Item

    @property
    def kind(self) -> str:
        return kind_of(self.item)


AnyEntry = tuple[int, int, Item]
"""``(seq, session_id, item)``: an :class:`Entry`, or the plain tuple the journal queues for a
sensor packet (:meth:`Journal.append_readings`; plain for the garbage collector, see
:data:`ReadingRows`). Code handed entries (subscribers, the store) unpacks them by position."""


# -- sensor packets as database rows ----------------------------------------------------------

_STREAM_NAMES: Final[dict[Stream, str]] = {stream: stream.value for stream in Stream}
_EPOCH_LESS_HALF_MS: Final = datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=500)


def reading_rows(session_id: int, readings: Sequence[Reading]) -> ReadingRows:
    """One packet's readings as rows of session ``session_id`` (the recording thread's one pass).

    Raises:
        ValueError: a reading has a naive time, a value that is not a finite number, an unknown
            stream or flags that are not an integer, or there is no reading (nothing is converted).
    """
    names, base, isfinite = _STREAM_NAMES, _EPOCH_LESS_HALF_MS, math.isfinite
    values: list[int | float | str] = []
    add = values.extend
    try:
        for r in readings:
            # at - (epoch - 0.5 ms), floored to whole milliseconds from its normalised parts:
            # db.sqltypes.to_epoch_ms's rounding half up, without timedelta // timedelta (slow).
            # A naive time cannot be subtracted from an aware one (TypeError).
            d = r.at - base
            value = float(r.value)
            if not isfinite(value):
                raise ValueError(value)
            add((session_id, names[r.stream], d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000,
                 value, r.sensor_id, int(r.flags)))
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        raise _refusal(readings) from None
    if not values:
        raise ValueError("a sensor packet holds at least one reading")
    return tuple(values)


def _refusal(readings: Sequence[Reading]) -> ValueError:
    """Why :func:`reading_rows` refuses ``readings``: the first reading it cannot store."""
    for r in readings:
        try:
            at, value = r.at, float(r.value)
            fine = at.utcoffset() is not None and math.isfinite(value)
            if fine:
                if r.stream not in _STREAM_NAMES:
                    return ValueError(f"reading of unknown stream {r.stream!r} refused")
                int(r.flags)
        except (TypeError, ValueError, AttributeError, OverflowError):
            fine = False
        if not fine:
            at_text = r.at.isoformat() if isinstance(r.at, datetime) else repr(r.at)
            return ValueError(f"reading {r.stream} at {at_text} refused: times must be aware UTC "
                              f"and values finite (got {r.value!r})")
    return ValueError(f"readings refused: {list(readings)!r}")


# -- the line format --------------------------------------------------------------------------

def _us(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _payload(item: Item) -> Any:
    if isinstance(item, ReadingBatch):
        return [[r.stream.value, _us(r.at), r.value, r.sensor_id, int(r.flags)] for r in item.readings]
    if isinstance(item, SessionEvent):
        return {"kind": item.kind.value, "at": _us(item.at), "data": dict(item.data)}
    if isinstance(item, Observation):
        return {"id": item.observation_id, "rev": item.revision, "kind": item.kind.value, "name": item.name,
                "occ": _us(item.occurred_at), "rec": _us(item.recorded_at), "value": item.value,
                "text": item.text, "author": item.author, "deleted": item.deleted, "reason": item.reason,
                "later": item.added_later}
    if isinstance(item, AlarmTransition):
        return {"at": _us(item.at), "id": item.alarm_id, "label": item.label,
                "priority": item.priority.value, "category": item.category.value, "state": item.state.value,
                "action": item.action, "stream": None if item.stream is None else item.stream.value,
                "value": item.value, "limit": item.limit, "detail": item.detail}
    if isinstance(item, SensorInfo):
        return {"id": item.sensor_id, "name": item.name, "kinds": [k.value for k in item.kinds],
                "manufacturer": item.manufacturer, "model": item.model, "serial": item.serial,
                "firmware": item.firmware, "location": item.body_location}
    raise TypeError(f"a sensor packet has no JSON payload of its own: {item!r}")


_JSON_STR_CACHE: dict[str, str] = {}


def _json_str(text: str) -> str:
    found = _JSON_STR_CACHE.get(text)
    if found is None:
        found = json.dumps(text)
        if len(_JSON_STR_CACHE) < 4096:
            _JSON_STR_CACHE[text] = found
    return found


_STREAM_JSON: Final = {stream: json.dumps(stream.value) for stream in Stream}
_ONE_US: Final = timedelta(microseconds=1)


def _encode_readings(entry: AnyEntry, batch: ReadingBatch) -> bytes:
    """The hot path (every sensor packet): the same JSON as :func:`json.dumps` would write, built
    directly (``repr`` of a finite float is valid JSON; strings go through ``json.dumps``, cached)."""
    parts = []
    for r in batch.readings:
        value = float(r.value)
        if value - value != 0.0:  # NaN or an infinity
            raise ValueError(f"reading {r.stream} value {value!r} is not finite")
        parts.append(f"[{_STREAM_JSON[r.stream]},{(r.at - _EPOCH) // _ONE_US},{value!r},"
                     f"{_json_str(r.sensor_id)},{int(r.flags)}]")
    return f'[{entry[0]},{entry[1]},"r",[{",".join(parts)}]]\n'.encode()


_ROWS_JSON: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False)
"""The C encoder for ``"R"`` lines (rows are tuples of ints, floats and strings: no cycles)."""


def encode_entry(entry: AnyEntry) -> bytes:
    """One line of JSON (no NaN), newline-terminated."""
    seq, session_id, item = entry
    if type(item) is tuple:
        return _encode_packets([entry])
    if isinstance(item, ReadingBatch):
        return _encode_readings(entry, item)
    line = json.dumps([seq, session_id, kind_of(item), _payload(item)],
                      separators=(",", ":"), allow_nan=False)
    return line.encode("utf-8") + b"\n"


def _encode_packets(run: Sequence[AnyEntry]) -> bytes:
    """One ``"R"`` line of consecutive sensor packets (``run``, in sequence order)."""
    return (_ROWS_JSON.encode([run[0][0], "R", [e[2] for e in run]]) + "\n").encode()


def encode_entries(entries: Sequence[AnyEntry]) -> bytes:
    """The lines of ``entries`` (sequence order): consecutive sensor packets share ``"R"`` lines of up
    to :data:`PACKETS_PER_LINE`, anything else is a line of its own.

    Raises:
        ValueError: an entry cannot be encoded (a value is not finite); nothing is returned.
        TypeError: an item holds something JSON cannot take.
    """
    out: list[bytes] = []
    run: list[AnyEntry] = []
    for entry in entries:
        if type(entry[2]) is tuple:
            if run and (entry[0] != run[-1][0] + 1 or len(run) >= PACKETS_PER_LINE):
                out.append(_encode_packets(run))
                run = []
            run.append(entry)
            continue
        if run:
            out.append(_encode_packets(run))
            run = []
        out.append(encode_entry(entry))
    if run:
        out.append(_encode_packets(run))
    return b"".join(out)


def _decode_item(kind: str, p: Any) -> Item:
    if kind == "r":
        return ReadingBatch(tuple(Reading(Stream(s), float(v), _at(t), sid, ReadingFlag(f))
                                  for s, t, v, sid, f in p))
    if kind == "e":
        return SessionEvent(EventKind(p["kind"]), _at(p["at"]), p["data"])
    if kind == "o":
        return Observation(observation_id=p["id"], revision=p["rev"], kind=ObservationKind(p["kind"]),
                           name=p["name"], occurred_at=_at(p["occ"]), recorded_at=_at(p["rec"]),
                           value=p["value"], text=p["text"], author=p["author"], deleted=p["deleted"],
                           reason=p["reason"], added_later=p["later"])
    if kind == "a":
        return AlarmTransition(at=_at(p["at"]), alarm_id=p["id"], label=p["label"],
                               priority=AlarmPriority(p["priority"]), category=AlarmCategory(p["category"]),
                               state=AlarmState(p["state"]), action=p["action"],
                               stream=None if p["stream"] is None else Stream(p["stream"]),
                               value=p["value"], limit=p["limit"], detail=p["detail"])
    if kind == "s":
        return SensorInfo(sensor_id=p["id"], name=p["name"], kinds=tuple(SensorKind(k) for k in p["kinds"]),
                          manufacturer=p["manufacturer"], model=p["model"], serial=p["serial"],
                          firmware=p["firmware"], body_location=p["location"])
    raise ValueError(f"unknown journal entry kind {kind!r}")


def _decode_packet(seq: int, packet: Any) -> Entry:
    if not isinstance(packet, list) or not packet or len(packet) % ROW_FIELDS:
        raise ValueError(f"entry {seq}: a packet is a non-empty list of {ROW_FIELDS} values per reading")
    values: list[int | float | str] = []
    it = iter(packet)
    for sid, stream, t_ms, value, sensor, flags in zip(it, it, it, it, it, it, strict=True):
        if not math.isfinite(float(value)):
            raise ValueError(f"entry {seq}: a value is not finite ({value!r})")
        values.extend((int(sid), Stream(stream).value, int(t_ms), float(value), str(sensor), int(flags)))
    session_id = values[0]
    if any(sid != session_id for sid in values[::ROW_FIELDS]):
        raise ValueError(f"entry {seq} holds readings of several sessions")
    assert isinstance(session_id, int)
    return Entry(seq, session_id, tuple(values))


def decode_entries(line: bytes) -> list[Entry]:
    """Parse one journal line into its entries (several for an ``"R"`` line, in sequence order).

    Raises:
        ValueError: the line is not complete and well-formed (e.g. torn by a crash); none of its
            entries is returned.
    """
    try:
        parsed = json.loads(line)
        if len(parsed) == 3 and parsed[1] == "R":
            first, _, packets = parsed
            if type(first) is not int or not isinstance(packets, list):
                raise ValueError("an 'R' line needs a first sequence number and a list of packets")
            return [_decode_packet(first + k, packet) for k, packet in enumerate(packets)]
        seq, session_id, kind, payload = parsed
        return [Entry(int(seq), int(session_id), _decode_item(str(kind), payload))]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"malformed journal line ({exc})") from exc


def decode_line(line: bytes) -> Entry:
    """Parse a journal line holding one entry.

    Raises:
        ValueError: the line is not a complete, well-formed entry (e.g. torn by a crash), or it
            holds several (an ``"R"`` line of several packets: see :func:`decode_entries`).
    """
    entries = decode_entries(line)
    if len(entries) != 1:
        raise ValueError(f"the journal line holds {len(entries)} entries, not one")
    return entries[0]


# -- locking a folder (one recording process per journal) -------------------------------------

def _try_lock(handle: IO[bytes]) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cannot_open(exc: OSError, folder: Path) -> JournalError:
    return JournalError(f"The recording journal cannot be opened: {_describe(exc, folder)}.")


def _describe(exc: OSError, where: Path) -> str:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {where} is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where} cannot be written (permission denied or read-only)"
    return f"{where} cannot be written ({exc.strerror or exc})"


class Journal:
    """One workstation's recording journal (see the module docstring); open it with :meth:`open`.

    Thread-safe: any thread may append; lines are written in sequence order.
    """

    def __init__(self, folder: Path, lock_handle: IO[bytes], journal_id: str) -> None:
        self._folder = folder
        self._lock_handle = lock_handle
        self._journal_id = journal_id
        self._io = threading.Lock()
        self._segments: list[tuple[int, Path]] = sorted(
            (int(p.stem), p) for p in folder.glob("*.jsonl") if p.stem.isdigit())
        self._recovered = self._scan()
        self._next_seq = max((self._recovered[-1].seq + 1) if self._recovered else 1, self._first_free_seq())
        self._fd: int | None = None
        self._size = 0
        self._dirty = False
        self._unwritten: list[AnyEntry] = []
        self._failing = False
        self._subscribers: list[Callable[[Sequence[AnyEntry]], None]] = []
        self._closed = False

    @classmethod
    def open(cls, base: Path) -> Journal:
        """Open (creating it if needed) the first journal folder under ``base`` no other process holds.

        A recording process takes ``base/0``; a second one at the same time takes ``base/1``, and so on.

        Raises:
            JournalError: the folder cannot be created or written.
        """
        for slot in range(64):
            folder = base / str(slot)
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(folder / "lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                handle = os.fdopen(fd, "ab")  # held for the journal's life
            except OSError as exc:
                raise _cannot_open(exc, folder) from exc
            if not _try_lock(handle):
                handle.close()
                continue
            try:
                journal_id = cls._identity(folder)
                return cls(folder, handle, journal_id)
            except OSError as exc:
                handle.close()
                raise _cannot_open(exc, folder) from exc
        raise JournalError(f"Every recording journal under {base} is held by another kapmonitor process.")

    @staticmethod
    def _identity(folder: Path) -> str:
        path = folder / "journal-id"
        if path.exists():
            text = path.read_text(encoding="ascii").strip()
            if text:
                return text
        journal_id = uuid.uuid4().hex
        tmp = folder / "journal-id.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(journal_id + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        _fsync_dir(folder)
        return journal_id

    # -- identity and recovery ------------------------------------------------------------------

    @property
    def journal_id(self) -> str:
        """The identity under which the store records how far it has applied this journal."""
        return self._journal_id

    @property
    def folder(self) -> Path:
        return self._folder

    def recovered(self, after_seq: int) -> list[Entry]:
        """Entries found on disk at opening with a sequence number above ``after_seq``, in order."""
        return [e for e in self._recovered if e.seq > after_seq]

    def forget_recovered(self) -> None:
        """Drop the entries read at opening from memory (the writer has taken them)."""
        self._recovered = []

    def _scan(self) -> list[Entry]:
        entries: list[Entry] = []
        for index, (_, path) in enumerate(self._segments):
            last_segment = index == len(self._segments) - 1
            data = path.read_bytes()
            lines = data.split(b"\n")
            complete, tail = lines[:-1], lines[-1]
            for number, line in enumerate(complete, start=1):
                try:
                    entries.extend(decode_entries(line))
                except ValueError as exc:
                    log.error("journal %s line %d skipped: %s", path, number, exc)
            if tail:
                # A line without its newline: the write was torn by a crash before it was
                # acknowledged (durable appends fsync the whole line first). Cut it off.
                if last_segment:
                    log.warning("journal %s: removing a torn last line (%d bytes)", path, len(tail))
                    with open(path, "r+b") as handle:
                        handle.truncate(len(data) - len(tail))
                        os.fsync(handle.fileno())
                else:
                    log.error("journal %s ends in an incomplete line; skipped", path)
        return entries

    def _first_free_seq(self) -> int:
        # An empty segment is named after the number its first entry will get.
        return max((first for first, _ in self._segments), default=1)

    @property
    def next_seq(self) -> int:
        """The number the next entry will get."""
        with self._io:
            return self._next_seq

    def advance_to(self, seq: int) -> None:
        """Number new entries from ``seq`` on at least (the store has applied this journal further
        than its files reach, e.g. after they were deleted by hand)."""
        with self._io:
            if seq > self._next_seq and not self._unwritten:
                self._next_seq = seq

    # -- writing --------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Sequence[AnyEntry]], None]) -> None:
        """Hear of every entry once it is written to the file (called with the journal's lock held:
        the callback must only queue, never block)."""
        self._subscribers.append(callback)

    def append_readings(self, session_id: int, readings: Sequence[Reading]) -> int:
        """Number and queue one sensor packet (non-durable, see :meth:`append`) and return its
        sequence number: the recording thread's hot path, converting the readings to rows once
        (:func:`reading_rows`) and queueing a plain ``(seq, session_id, rows)`` tuple.

        Raises:
            ValueError: a reading cannot be stored (naive time, value not finite); nothing is queued.
            JournalError: the journal is closed.
        """
        rows = reading_rows(session_id, readings)
        with self._io:
            if self._closed:
                raise JournalError("The recording journal is closed.")
            seq = self._next_seq
            self._next_seq = seq + 1
            self._unwritten.append((seq, session_id, rows))
        return seq

    def append(self, session_id: int, items: Sequence[Item], *, durable: bool) -> list[Entry]:
        """Write ``items`` as entries; with ``durable`` return only once they are fsync'd.

        Raises:
            JournalError: a durable append could not be written (nothing of it is kept); a
                non-durable one is never refused: what cannot be written yet stays in memory.
        """
        with self._io:
            if self._closed:
                raise JournalError("The recording journal is closed.")
            first = self._next_seq
            entries = [Entry(first + i, session_id, item) for i, item in enumerate(items)]
            if not durable:
                self._next_seq += len(entries)
                self._unwritten.extend(entries)
                return entries
            data = encode_entries(entries)  # ValueError/TypeError: refused, nothing numbered
            self._next_seq += len(entries)
            try:
                self._write_unwritten(raise_errors=True)
                self._write(data, first)
                self._sync_locked()
            except OSError as exc:
                self._next_seq = first  # the refused entries' numbers are free again
                self._failing = True
                raise JournalError(f"Not saved on this computer: {_describe(exc, self._folder)}.") from exc
            self._failing = False
            self._publish(entries)
            return entries

    def sync(self) -> None:
        """Write what is still in memory and fsync the file (the writer calls this every cycle)."""
        with self._io:
            if self._closed:
                return
            self._write_unwritten()
            if self._dirty:
                try:
                    self._sync_locked()
                except OSError as exc:
                    log.error("journal fsync failed: %s", _describe(exc, self._folder))

    @property
    def unwritten(self) -> int:
        """Entries kept in memory because the journal file could not take them (its disk is full).

        Read without the journal's lock (a length read is atomic), so a status callback may ask
        from inside :meth:`subscribe`'s callback. Entries merely queued for the next cycle's write
        do not count.
        """
        return len(self._unwritten) if self._failing else 0

    def _write_unwritten(self, *, raise_errors: bool = False) -> None:
        if not self._unwritten:
            return
        try:
            data = encode_entries(self._unwritten)
        except (ValueError, TypeError):  # refused at the door by the store's checks; never expected here
            lines: list[bytes] = []
            for entry in self._unwritten:
                try:
                    lines.append(encode_entry(entry))
                except (ValueError, TypeError) as exc:
                    log.error("journal entry %d (%s) cannot be encoded and is dropped: %s",
                              entry[0], kind_of(entry[2]), exc)
            data = b"".join(lines)
        try:
            self._write(data, self._unwritten[0][0])
        except OSError as exc:
            self._failing = True
            if raise_errors:
                raise
            log.error("journal write failed (%d entries kept in memory): %s",
                      len(self._unwritten), _describe(exc, self._folder))
            return
        self._failing = False
        written, self._unwritten = self._unwritten, []
        self._publish(written)

    def _publish(self, entries: Sequence[AnyEntry]) -> None:
        for callback in self._subscribers:
            callback(entries)

    def _write(self, data: bytes, first_seq: int) -> None:
        """Append ``data`` (lines from ``first_seq`` on) whole or not at all (a failed write is cut
        back off the file)."""
        if self._fd is None or self._size >= SEGMENT_BYTES:
            self._rotate(first_seq)
        assert self._fd is not None
        start = self._size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            try:
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
            except OSError:
                log.exception("could not cut a partial journal write back off")
            raise
        self._size = start + len(data)
        self._dirty = True

    def _sync_locked(self) -> None:
        if self._fd is not None:
            if hasattr(os, "fdatasync"):
                os.fdatasync(self._fd)
            else:
                os.fsync(self._fd)
        self._dirty = False

    def _rotate(self, first_seq: int) -> None:
        if self._fd is not None:
            self._sync_locked()
            os.close(self._fd)
            self._fd = None
        last = self._segments[-1] if self._segments else None
        # Reopen the newest segment after a restart unless it is full; else begin one named after
        # the first entry it will hold.
        if last is not None and last[1].stat().st_size < SEGMENT_BYTES:
            path = last[1]
        else:
            path = self._folder / f"{first_seq:016d}.jsonl"
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o600)
        self._fd = fd
        self._size = os.fstat(fd).st_size
        if not any(p == path for _, p in self._segments):
            self._segments.append((int(path.stem), path))
            _fsync_dir(self._folder)

    # -- housekeeping ---------------------------------------------------------------------------

    def applied(self, seq: int) -> None:
        """The store holds every entry up to ``seq``: delete segments that hold nothing newer."""
        with self._io:
            keep: list[tuple[int, Path]] = []
            for index, (first, path) in enumerate(self._segments):
                following = self._segments[index + 1][0] if index + 1 < len(self._segments) else None
                current = index == len(self._segments) - 1
                if not current and following is not None and following - 1 <= seq:
                    try:
                        path.unlink()
                    except OSError as exc:
                        log.warning("could not delete applied journal segment %s: %s", path, exc)
                        keep.append((first, path))
                else:
                    keep.append((first, path))
            self._segments = keep

    def close(self) -> None:
        """Write and fsync what is left, and release the folder for the next process."""
        with self._io:
            if self._closed:
                return
            self._write_unwritten()
            if self._unwritten:
                log.error("%d journal entries could not be written before closing (disk full?)",
                          len(self._unwritten))
            if self._fd is not None:
                try:
                    self._sync_locked()
                except OSError as exc:
                    log.error("journal fsync on close failed: %s", exc)
                os.close(self._fd)
                self._fd = None
            self._closed = True
            self._lock_handle.close()
