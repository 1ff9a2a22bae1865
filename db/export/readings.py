"""What the research exports (EDF+, FHIR, RR) read of one session, and who and when they show it as.

:func:`load_content` reads a session once through the store: its record, events, observation
revisions, alarm transitions, sensors and the streams an export asks for (numpy arrays, epoch
seconds, :class:`~kapmonitor.ports.StreamData`). :class:`ExportIdentity` is the one place the
three formats ask "what do I write for the client, the session, this time, this text": the
record as it is, or de-identified by the CSV's rules (:mod:`db.export.deidentify`: random tokens,
every absolute time moved by one random whole-second offset, free text and names dropped).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db.export.deidentify import Deidentifier
from db.export.source import SessionSource
from kapmonitor.ports import SessionRecord, StreamData
from kapmonitor.types import AlarmTransition, Observation, ObservationKind, SensorInfo, SessionEvent, Stream

__all__ = ["ExportIdentity", "SessionContent", "current_observations", "load_content"]


@dataclass(frozen=True, slots=True)
class SessionContent:
    """One session as the research exports read it (everything stored, nothing corrected).

    Attributes:
        record: the session's spec and anchoring times.
        events: every stored event, in time order.
        observations: every observation revision, in the order stored.
        alarms: every alarm transition, in time order.
        sensors: the sensors recorded for the session.
        streams: the streams asked for, each in time order (empty arrays when none were recorded).
    """

    record: SessionRecord
    events: list[SessionEvent]
    observations: list[Observation]
    alarms: list[AlarmTransition]
    sensors: list[SensorInfo]
    streams: Mapping[Stream, StreamData]

    def first_s(self) -> float:
        """Epoch seconds of the earliest thing recorded: the start, or anything stamped before it."""
        times = [self.record.started_at.timestamp()]
        times += [float(d.t[0]) for d in self.streams.values() if len(d)]
        times += [e.at.timestamp() for e in self.events[:1]]
        times += [a.at.timestamp() for a in self.alarms[:1]]
        times += [o.occurred_at.timestamp() for o in self.observations]
        return min(times)

    def last_s(self) -> float:
        """Epoch seconds of the latest thing recorded (the end, the last reading, event, alarm...)."""
        times = [self.record.started_at.timestamp()]
        if self.record.ended_at is not None:
            times.append(self.record.ended_at.timestamp())
        times += [float(d.t[-1]) for d in self.streams.values() if len(d)]
        times += [e.at.timestamp() for e in self.events[-1:]]
        times += [a.at.timestamp() for a in self.alarms[-1:]]
        times += [o.occurred_at.timestamp() for o in self.observations]
        return max(times)


def load_content(store: SessionSource, session_id: int, streams: Iterable[Stream]) -> SessionContent:
    """Read session ``session_id`` and the given ``streams`` from ``store`` (one query per part).

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
    """
    record = store.session(session_id)
    return SessionContent(
        record=record, events=store.events(session_id), observations=store.observations(session_id),
        alarms=store.alarms(session_id), sensors=store.sensors(session_id),
        streams={s: store.load_stream(session_id, s) for s in streams})


def current_observations(revisions: Iterable[Observation]) -> list[Observation]:
    """The latest revision of each observation that is not deleted, in order of ``occurred_at``.

    What the review window shows: an edit replaces the text, a deletion removes the entry. The
    whole audit trail (every revision, deletions with their reasons) is in the CSV only.
    """
    latest: dict[str, Observation] = {}
    for o in revisions:
        seen = latest.get(o.observation_id)
        if seen is None or o.revision >= seen.revision:
            latest[o.observation_id] = o
    kept = [o for o in latest.values() if not o.deleted]
    kept.sort(key=lambda o: (o.occurred_at, o.recorded_at))
    return kept


@dataclass(frozen=True, slots=True)
class ExportIdentity:
    """What one export file writes for the client, the session, a time or a text.

    Identified (``ident`` None): the record as stored. De-identified: the CSV's rules
    (``docs/csv-format.md``, "De-identified export"), through one
    :class:`~db.export.deidentify.Deidentifier` per file.

    Attributes:
        ident: the de-identifier of this file, None for an identified export.
        client: the client code, or a random token (``C-...``).
        session: the session id, or a random token (``S-...``).
        shift: what every absolute time is moved by (zero, or 1 to 10 years back in whole seconds).
    """

    ident: Deidentifier | None
    client: str
    session: str
    shift: timedelta

    @classmethod
    def of(cls, content: SessionContent, deidentify: bool,
           rng: random.Random | None = None) -> ExportIdentity:
        """The identity of one export of ``content`` (``rng``: the de-identification's random source,
        default ``random.SystemRandom()``)."""
        if not deidentify:
            return cls(None, content.record.spec.client_code, str(content.record.session_id), timedelta(0))
        ident = Deidentifier(rng if rng is not None else random.SystemRandom(), content.sensors)
        return cls(ident, ident.client_token, ident.session_token, timedelta(milliseconds=ident.shift_ms))

    @property
    def deidentified(self) -> bool:
        """True for a de-identified export."""
        return self.ident is not None

    def moment(self, at: datetime) -> datetime:
        """``at`` as the file shows it (shifted when de-identified)."""
        return at + self.shift

    def typed(self, text: str) -> str:
        """Free text or a name someone typed: left out (``""``) when de-identified."""
        return "" if self.ident is not None else text

    def event_data(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """An event's data: as stored, or without free text, sensors as tokens, dates shifted."""
        return dict(data) if self.ident is None else self.ident.event_data(data)

    def observation_name(self, kind: ObservationKind, name: str) -> str:
        """An observation's name: built-in names are kept, a clinic's own become ``<kind>-N``."""
        return name if self.ident is None else self.ident.observation_name(kind, name)

    def alarm(self, alarm_id: str, label: str, detail: str) -> tuple[str, str, str]:
        """An alarm's id, label and detail with sensors, checks and dates de-identified."""
        if self.ident is None:
            return alarm_id, label, detail
        ident = self.ident
        return ident.alarm_id(alarm_id), ident.alarm_label(alarm_id, label), ident.scrub(detail)

    def protocol(self, name: str) -> str:
        """The protocol's name: a built-in one, or the clinic's own as a token when de-identified."""
        return name if self.ident is None else self.ident.protocol(name)
