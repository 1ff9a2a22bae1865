"""The session as EDF+ (European Data Format, EDF+C), the ``edf`` export format (``docs/export-formats.md``).

What a sleep lab, EEGLAB, MNE or EDFbrowser opens beside its own recordings:

* **Signals**, 1 Hz on one time base from the recording start: heart rate (``HR``, bpm), SpO2
  (``SpO2``, %), systolic and diastolic blood pressure (``BP systolic``, ``BP diastolic``, mmHg).
  Sample ``k`` covers ``[start + k s, start + k + 1 s)`` and holds the last *usable* reading in that
  second (:func:`kapmonitor.review_series.usable_mask`: unflagged and physically possible). A second
  without a reading holds the previous usable reading while consecutive readings are at most
  :data:`HOLD_S` apart (the review's plots draw a line across such steps, too); a second with only
  unusable readings, or inside a longer silence, is **no data**. Blood pressure is a measurement,
  not a stream: each one is held for the one second it was taken in, every other second is no data.
* **No data** is the digital minimum, -32768, reserved for it (the convention of PhysioNet's WFDB
  tools for EDF); it reads back as the physical minimum, :data:`NO_DATA` (-1 in the signal's unit),
  a value none of these signals can take. Never a zero, never a plausible value. The physical
  maximum is the highest possible value of the stream (:mod:`kapmonitor.streams`); resolution
  :data:`RESOLUTION` (0.01 of the unit). Each run of no data of heart rate and SpO2 is also an
  annotation (``no data: HR``, with its duration).
* **Annotations** (EDF+ TALs, onsets in seconds from the start, to the millisecond): every event
  (``dose_given 150 mg``, ``phase_changed ...``), the current revision of every observation that is
  not deleted (``note: calm``, ``scale rass = -1``), every alarm transition
  (``alarm hr_high raised: Heart rate high [medium] value 131 bpm limit 120 bpm``) and every RR
  interval as recorded (``RR 833.984375 ms``, flags after it): RR is irregular by nature, so an
  annotation keeps each beat's time and raw value exactly where a sampled signal would drop or
  repeat beats.
* **Header**: times are UTC (EDF has no time zone field; MNE reads the start as UTC; the recording
  field says ``UTC``). Patient field ``<client code> X X X`` (sex, birth date and name are never
  stored by kapmonitor); recording field ``Startdate <date> <session id> <clinician initials>
  kapmonitor-<version> UTC``. De-identified (:class:`db.export.readings.ExportIdentity`, the CSV's
  rules): ``X X X X``, ``Startdate <date> X X kapmonitor-<version> UTC``, the start date and time
  moved by the file's random offset (onsets are relative, so they do not change), no free text,
  clinic-typed names and sensors as tokens.

Data records last :data:`RECORD_S` (64) seconds (the end is padded with no data), so the annotation
space EDF+ reserves per record stays small whatever about a minute holds. Written with ``edfio``.
"""

from __future__ import annotations

import io
import math
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final

import edfio
import numpy as np
import numpy.typing as npt

from db.export.csv import alarm_unit
from db.export.readings import ExportIdentity, SessionContent, current_observations, load_content
from db.export.source import SessionSource, StoredSession
from kapmonitor.exporters import ExportOptions
from kapmonitor.ports import StreamData
from kapmonitor.review_series import usable_mask
from kapmonitor.streams import STREAM_UNITS, STREAMS
from kapmonitor.types import AlarmTransition, Observation, ReadingFlag, SessionEvent, Stream

__all__ = [
    "CHANNELS",
    "HOLD_S",
    "NO_DATA",
    "RECORD_S",
    "RESOLUTION",
    "EdfChannel",
    "export_session_edf",
    "one_hertz",
    "write_edf",
]

RECORD_S: Final = 64
"""Seconds per EDF data record (64 samples of each signal).

A power of two, not a minute: ``edfio`` (0.4.18) checks that every signal lasts the same by dividing
the annotation signal's sample count by its rate, ``samples per record / RECORD_S``, rounded to 12
decimals. With 60 that rate is inexact in binary for about one annotation width in six, and a
session of 76 records or more could not be written at all (``Inconsistent signal durations``; the
upstream report is the-siesta-group/edfio#101). Divided by a power of two the rate is exact, and so
is every duration. ``tests/test_14_edf.py`` exports sessions of 2 h 10 min with 40 annotation widths."""
NO_DATA: Final = -1.0
"""What a second without data reads back as (the physical minimum), in the signal's unit."""
RESOLUTION: Final = 0.01
"""The step between two representable values, in the signal's unit."""
HOLD_S: Final = 5.0
"""Readings at most this far apart are one continuous signal (the review plots' gap, 5 s)."""
_DIGITAL_MIN: Final = -32768
_TEXT_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]+")
_HEADER_UNSAFE: Final = re.compile(r"[^\x21-\x7e]+")
_FREE_TEXT: Final = ("reason", "note", "text", "comment")
"""Event data keys holding what someone typed (written after a colon; never when de-identified)."""
_SKIPPED_KEYS: Final = ("discharge",)
"""Event data left out of annotation texts: the structured discharge answers (in the CSV)."""


@dataclass(frozen=True, slots=True)
class EdfChannel:
    """One EDF signal: the stream it samples, its label and how it is sampled.

    Attributes:
        stream: the stored stream.
        label: the EDF signal label.
        hold: True for a continuous stream (a short silence holds the last value), False for a
            measurement held only for its own second (blood pressure).
    """

    stream: Stream
    label: str
    hold: bool

    @property
    def unit(self) -> str:
        """The stream's unit (``bpm``, ``%``, ``mmHg``), the EDF physical dimension."""
        return STREAM_UNITS[self.stream]

    @property
    def physical_max(self) -> float:
        """The stream's highest possible value (:mod:`kapmonitor.streams`)."""
        return STREAMS[self.stream].high

    @property
    def digital_max(self) -> int:
        """The digital value of :attr:`physical_max` at :data:`RESOLUTION` above the reserved minimum."""
        return _DIGITAL_MIN + round((self.physical_max - NO_DATA) / RESOLUTION)

    @property
    def prefiltering(self) -> str:
        """What the EDF header's prefiltering field says about how the signal was made."""
        rule = (f"last usable reading per 1 s, held up to {HOLD_S:g} s" if self.hold
                else "measurement held 1 s")
        return f"{rule}; {NO_DATA:g} = no data"


CHANNELS: Final = (
    EdfChannel(Stream.HEART_RATE, "HR", hold=True),
    EdfChannel(Stream.SPO2, "SpO2", hold=True),
    EdfChannel(Stream.BP_SYSTOLIC, "BP systolic", hold=False),
    EdfChannel(Stream.BP_DIASTOLIC, "BP diastolic", hold=False),
)
"""The signals, in file order."""


def one_hertz(data: StreamData, t0: float, n: int, *, hold_s: float) -> npt.NDArray[np.float64]:
    """``n`` one-second samples of ``data`` from epoch second ``t0``; NaN where there is no data.

    Method: sample ``k`` is the last usable reading (:func:`~kapmonitor.review_series.usable_mask`)
    received in ``[t0 + k, t0 + k + 1)``. With none there: NaN if an unusable reading was received
    in that second; otherwise the last reading before it, if that reading is usable and the next
    reading after it (usable or not) came at most ``hold_s`` seconds later; else NaN. ``hold_s=0``
    holds nothing (a sparse measurement shows in its own second only).
    """
    out = np.full(n, np.nan)
    if not len(data):
        return out
    t = np.asarray(data.t, dtype=np.float64)
    ok = usable_mask(data)
    starts = t0 + np.arange(n, dtype=np.float64)
    # Last usable reading before each second's end; is it inside the second?
    tu, vu = t[ok], np.asarray(data.value, dtype=np.float64)[ok]
    if len(tu):
        iu = np.searchsorted(tu, starts + 1.0, side="left") - 1
        iu_c = np.clip(iu, 0, len(tu) - 1)
        inside = (iu >= 0) & (tu[iu_c] >= starts)
        out[inside] = vu[iu_c[inside]]
    else:
        inside = np.zeros(n, dtype=np.bool_)
    # Any reading, usable or not, before each second's end.
    ia = np.searchsorted(t, starts + 1.0, side="left") - 1
    ia_c = np.clip(ia, 0, len(t) - 1)
    seen_in_second = (ia >= 0) & (t[ia_c] >= starts)
    if hold_s > 0:
        nxt = np.clip(ia + 1, 0, len(t) - 1)
        bridged = (~inside & ~seen_in_second & (ia >= 0) & (ia + 1 < len(t)) & ok[ia_c]
                   & (t[nxt] - t[ia_c] <= hold_s))
        out[bridged] = np.asarray(data.value, dtype=np.float64)[ia_c[bridged]]
    return out


def _digital(values: npt.NDArray[np.float64], channel: EdfChannel) -> npt.NDArray[np.int16]:
    """Physical values (NaN: no data) as the channel's 16-bit digital samples."""
    digital = np.full(values.shape, _DIGITAL_MIN, dtype=np.int16)
    present = np.isfinite(values)
    steps = np.round((values[present] - NO_DATA) / RESOLUTION)
    digital[present] = np.clip(steps + _DIGITAL_MIN, _DIGITAL_MIN + 1, channel.digital_max).astype(np.int16)
    return digital


def _no_data_runs(values: npt.NDArray[np.float64]) -> Iterator[tuple[int, int]]:
    """``(first sample, length)`` of each run of NaN."""
    missing = np.concatenate(([False], ~np.isfinite(values), [False]))
    edges = np.flatnonzero(missing[1:] != missing[:-1])
    for start, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        yield start, end - start


def _text(text: str) -> str:
    """An annotation text without the control characters EDF+ uses as delimiters."""
    return _TEXT_UNSAFE.sub(" ", text).strip()


def _header(text: str) -> str:
    """An EDF+ header subfield: printable ASCII, no spaces (``_`` instead), ``X`` when empty."""
    return _HEADER_UNSAFE.sub("_", text.strip()) or "X"


def _number(value: float) -> str:
    """A number as people write it (``150``, ``-1``, ``10.1``)."""
    return f"{value:g}" if math.isfinite(value) else str(value)


def _details(data: Mapping[str, Any]) -> str:
    """``150 mg key=value ...`` of an event's data (free text, nested values and None left out)."""
    parts: list[str] = []
    amount, unit = data.get("amount"), data.get("unit")
    if isinstance(amount, int | float) and not isinstance(amount, bool):
        parts.append(f"{_number(float(amount))} {unit}" if isinstance(unit, str) else _number(float(amount)))
    for key in sorted(data):
        value = data[key]
        if key in ("amount", "unit", *_FREE_TEXT) or key.startswith(_SKIPPED_KEYS):
            continue
        if isinstance(value, bool):
            parts.append(f"{key}={'yes' if value else 'no'}")
        elif isinstance(value, int | float):
            parts.append(f"{key}={_number(float(value))}")
        elif isinstance(value, str) and value:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def event_text(event: SessionEvent, identity: ExportIdentity) -> str:
    """``<kind> <details>[: <free text>]`` (free text only in an identified export)."""
    data = identity.event_data(event.data)
    words = " ".join(w for w in (event.kind.value, _details(data)) if w)
    free = next((v for k in _FREE_TEXT if isinstance(v := data.get(k), str) and v), "")
    return _text(f"{words}: {free}" if free else words)


def observation_text(o: Observation, identity: ExportIdentity) -> str:
    """``<kind> <name>[ = value][: text][ (edited)][ (added later)]``; a note is ``note: <text>``."""
    name = identity.observation_name(o.kind, o.name)
    head = o.kind.value if name == o.kind.value else f"{o.kind.value} {name}"
    if o.value is not None:
        head += f" = {_number(o.value)}"
    text = identity.typed(o.text)
    if text:
        head += f": {text}"
    if o.revision > 1:
        head += " (edited)"
    if o.added_later:
        head += " (added later)"
    return _text(head)


def alarm_text(a: AlarmTransition, identity: ExportIdentity, unit: str) -> str:
    """``alarm <id> <action>: <label> [<priority>][ value <v> <unit>][ limit <l> <unit>]``."""
    alarm_id, label, detail = identity.alarm(a.alarm_id, a.label, a.detail)
    text = f"alarm {alarm_id} {a.action}: {label} [{a.priority.value}]"
    if a.value is not None:
        text += f" value {_number(a.value)} {unit}".rstrip()
    if a.limit is not None:
        text += f" limit {_number(a.limit)} {unit}".rstrip()
    if detail:
        text += f" ({detail})"
    return _text(text)


def rr_text(value_ms: float, flags: int) -> str:
    """``RR <ms> ms`` and the reading's flags (``artifact``, ``no_contact``...) after it."""
    names = [f.name.lower() for f in ReadingFlag if f and flags & f and f.name]
    return " ".join([f"RR {np.format_float_positional(value_ms, unique=True, trim='-')} ms", *names])


def _annotations(content: SessionContent, identity: ExportIdentity, t0: float,
                 sampled: Mapping[EdfChannel, npt.NDArray[np.float64]]) -> list[edfio.EdfAnnotation]:
    """Events, current observations, alarm transitions, RR intervals and no-data runs, onsets from ``t0``."""
    def onset(at: datetime) -> float:
        return round(at.timestamp() - t0, 3)

    notes = [edfio.EdfAnnotation(onset(e.at), None, event_text(e, identity)) for e in content.events]
    notes += [edfio.EdfAnnotation(onset(o.occurred_at), None, observation_text(o, identity))
              for o in current_observations(content.observations)]
    notes += [edfio.EdfAnnotation(onset(a.at), None,
                                  alarm_text(a, identity, alarm_unit(a.alarm_id, a.category, a.stream)))
              for a in content.alarms]
    rr = content.streams[Stream.RR_INTERVAL]
    onsets = np.round(rr.t - t0, 3).tolist()
    notes += [edfio.EdfAnnotation(at, None, rr_text(v, f))
              for at, v, f in zip(onsets, rr.value.tolist(), rr.flags.tolist(), strict=True)]
    for channel, values in sampled.items():
        if channel.hold:
            notes += [edfio.EdfAnnotation(float(start), float(length), f"no data: {channel.label}")
                      for start, length in _no_data_runs(values)]
    return notes


def session_edf(content: SessionContent, identity: ExportIdentity) -> edfio.Edf:
    """The EDF+ file of ``content`` as :mod:`edfio` holds it (see the module docstring)."""
    t0 = math.floor(content.first_s())
    n = (math.floor(content.last_s() - t0) // RECORD_S + 1) * RECORD_S
    sampled = {c: one_hertz(content.streams[c.stream], t0, n, hold_s=HOLD_S if c.hold else 0.0)
               for c in CHANNELS}
    signals = [edfio.EdfSignal.from_digital(
        _digital(values, c), 1.0, label=c.label, physical_dimension=c.unit,
        physical_range=(NO_DATA, c.physical_max), digital_range=(_DIGITAL_MIN, c.digital_max),
        prefiltering=c.prefiltering) for c, values in sampled.items()]
    start = identity.moment(datetime.fromtimestamp(t0, UTC))
    spec = content.record.spec
    equipment = _header(f"kapmonitor-{spec.app_version}" if spec.app_version else "kapmonitor")
    if identity.deidentified:
        patient = edfio.Patient()
        recording = edfio.Recording(startdate=start.date(), equipment_code=equipment, additional=("UTC",))
    else:
        patient = edfio.Patient(code=_header(identity.client))
        recording = edfio.Recording(
            startdate=start.date(), hospital_administration_code=_header(identity.session),
            investigator_technician_code=_header(spec.clinician_initials), equipment_code=equipment,
            additional=("UTC",))
    return edfio.Edf(signals, patient=patient, recording=recording, starttime=start.time(),
                     data_record_duration=RECORD_S, annotations=_annotations(content, identity, t0, sampled))


def export_session_edf(store: SessionSource, session_id: int, out: BinaryIO, *, deidentify: bool = False,
                       rng: random.Random | None = None) -> int:
    """Write one session as EDF+ to ``out``; return the number of signals written (4).

    Args:
        deidentify: the CSV's de-identification (see the module docstring).
        rng: the random source for de-identification (default: ``random.SystemRandom()``).

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
        OSError: ``out`` could not be written.
    """
    content = load_content(store, session_id, [*(c.stream for c in CHANNELS), Stream.RR_INTERVAL])
    edf = session_edf(content, ExportIdentity.of(content, deidentify, rng))
    buffer = io.BytesIO()
    edf.write(buffer)
    out.write(buffer.getbuffer())
    return len(CHANNELS)


def write_edf(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    """The ``edf`` format: :func:`export_session_edf`; return the number of signals."""
    return export_session_edf(session.store, session.session_id, out, deidentify=options.deidentify)
