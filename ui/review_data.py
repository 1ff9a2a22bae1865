"""Everything the review window and the PDF report show about one session, loaded in one go.

:func:`load_review` reads the session's record, events, observation revisions, alarm
log and streams (numpy arrays, PITFALLS #5) and computes the per-phase summary
(:mod:`kapmonitor.summary`). It does blocking database work: run it on the DB
worker (``ui/worker.py``) or, for one session, synchronously. Most of its time is the
per-phase HRV (a second or more for an 8-hour session); ``load_review(..., hrv=False)``
leaves it out, for the review window to paint first and add it after
(:meth:`ReviewData.with_hrv`; ``benchmarks/review_open.py``).

The formatting helpers (:func:`fmt_elapsed`, :func:`fmt_clock`...) are shared by the
review window, the session list and the report so that the screen and the paper
say the same thing the same way: elapsed time since the first dose as ``T+1:05``,
clock time in the computer's local time zone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from kapmonitor.alarm_settings import AlarmSettings, AlarmSettingsError, LimitRule
from kapmonitor.discharge import Discharge
from kapmonitor.ports import SessionArchive, SessionRecord, StreamData
from kapmonitor.settings import ClinicSettings
from kapmonitor.settings_items import SettingsError
from kapmonitor.summary import SessionReport, summarize
from kapmonitor.types import AlarmTransition, EventKind, Observation, SessionEvent, Stream

__all__ = [
    "REVIEW_STREAMS",
    "ReviewData",
    "current_observations",
    "fmt_clock",
    "fmt_date",
    "fmt_elapsed",
    "fmt_minutes",
    "load_review",
    "session_rules",
    "session_settings",
]

log = logging.getLogger(__name__)

REVIEW_STREAMS = (Stream.HEART_RATE, Stream.RR_INTERVAL, Stream.SPO2, Stream.BP_SYSTOLIC, Stream.BP_DIASTOLIC)


@dataclass(frozen=True)
class ReviewData:
    """One session as loaded for review.

    Attributes:
        observations: every revision, in write order (the history); see :func:`current_observations`.
        anchor: the time axis origin: the first dose, or the session start without a dose.
        last_activity: the end of the record (the session end, or the last thing stored).
        rules: the alarm rules in force for the session (its settings snapshot, else defaults).
    """

    record: SessionRecord
    events: tuple[SessionEvent, ...]
    observations: tuple[Observation, ...]
    alarms: tuple[AlarmTransition, ...]
    streams: Mapping[Stream, StreamData]
    report: SessionReport
    rules: tuple[LimitRule, ...]
    anchor: datetime
    last_activity: datetime

    @property
    def session_id(self) -> int:
        return self.record.session_id

    def elapsed_s(self, moment: datetime) -> float:
        """Seconds from the axis origin (the first dose) to ``moment``."""
        return (moment - self.anchor).total_seconds()

    @property
    def discharge(self) -> Discharge | None:
        """The clinician's structured answers kept with the session's end (None: none, or no end)."""
        for event in self.events:
            if event.kind is EventKind.SESSION_ENDED:
                return Discharge.from_data(event.data)
        return None

    def with_observations(self, observations: tuple[Observation, ...]) -> ReviewData:
        """A copy with a new observation history (after a late correction)."""
        return replace(self, observations=observations)

    def with_report(self, report: SessionReport) -> ReviewData:
        """A copy with another summary of the same session (its HRV added)."""
        return replace(self, report=report)

    def with_hrv(self) -> ReviewData:
        """This data with the summary's per-phase HRV computed (itself when it has it; seconds for a
        long session, so off the GUI thread)."""
        return self if not self.report.hrv_pending else self.with_report(self.report.with_hrv(self.streams))


def session_rules(record: SessionRecord) -> tuple[LimitRule, ...]:
    """The alarm rules stored with the session, or the defaults if it has none (older sessions)."""
    raw = record.spec.settings.get("alarms") if isinstance(record.spec.settings, Mapping) else None
    if isinstance(raw, Mapping):
        try:
            return AlarmSettings.from_dict(raw).rules
        except (AlarmSettingsError, ValueError) as exc:
            log.warning("session %d: stored alarm settings unreadable (%s); using defaults",
                        record.session_id, exc)
    return AlarmSettings.defaults().rules


def session_settings(record: SessionRecord) -> ClinicSettings:
    """The clinic settings stored with the session (scales, tags...), else the defaults.

    The start dialog stores the whole settings snapshot; a session recorded without one (the
    command line, older sessions) is described with the default scales and tags.
    """
    raw = record.spec.settings
    if isinstance(raw, Mapping) and raw:
        try:
            return ClinicSettings.from_dict(raw)
        except (SettingsError, ValueError, TypeError, KeyError) as exc:
            log.warning("session %d: stored settings unreadable (%s); describing with the defaults",
                        record.session_id, exc)
    return ClinicSettings.defaults()


def _last_activity(record: SessionRecord, events: tuple[SessionEvent, ...],
                   observations: tuple[Observation, ...], alarms: tuple[AlarmTransition, ...],
                   streams: Mapping[Stream, StreamData]) -> datetime:
    if record.ended_at is not None:
        return record.ended_at
    latest = record.started_at.timestamp()
    for data in streams.values():
        if len(data):
            latest = max(latest, float(data.t[-1]))
    moments = [e.at for e in events] + [o.occurred_at for o in observations] + [a.at for a in alarms]
    found = datetime.fromtimestamp(latest, tz=record.started_at.tzinfo)
    return max([found, *moments])


def load_review(store: SessionArchive, session_id: int, *, hrv: bool = True) -> ReviewData:
    """Load one session for review (blocking; see the module docstring).

    ``hrv=False`` leaves the summary's per-phase HRV to :meth:`ReviewData.with_hrv`.

    Raises:
        KeyError: there is no such session.
        kapmonitor.ports.StoreError: the database could not be read.
        kapmonitor.summary.SummaryError: the session has no start event (a damaged record).
    """
    record = store.session(session_id)
    events = tuple(store.events(session_id))
    observations = tuple(store.observations(session_id))
    alarms = tuple(store.alarms(session_id))
    streams = {s: store.load_stream(session_id, s) for s in REVIEW_STREAMS}
    rules = session_rules(record)
    last = _last_activity(record, events, observations, alarms, streams)
    report = summarize(record.spec.protocol, events, streams, rules=rules, alarms=alarms, until=last, hrv=hrv)
    anchor = record.dose_at if record.dose_at is not None else record.started_at
    return ReviewData(record, events, observations, alarms, streams, report, rules, anchor, last)


def current_observations(history: tuple[Observation, ...] | list[Observation]) -> list[Observation]:
    """The latest revision of each observation, in ``occurred_at`` order (withdrawn ones included)."""
    latest: dict[str, Observation] = {}
    for obs in history:
        known = latest.get(obs.observation_id)
        if known is None or obs.revision > known.revision:
            latest[obs.observation_id] = obs
    return sorted(latest.values(), key=lambda o: (o.occurred_at, o.recorded_at))


# ------------------------------------------------------------------------------ formatting
def fmt_elapsed(seconds: float, *, with_seconds: bool = False) -> str:
    """``T+1:05`` (hours:minutes since the dose), ``T-0:04`` before it; ``T+1:05:09`` with seconds."""
    sign = "-" if seconds < 0 else "+"
    total = int(abs(seconds)) if with_seconds else int(abs(seconds) // 60) * 60
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"T{sign}{h}:{m:02d}:{s:02d}" if with_seconds else f"T{sign}{h}:{m:02d}"


def fmt_minutes(seconds: float) -> str:
    """A duration as ``2 h 05 min`` or ``7 min`` (rounded down to the minute)."""
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def fmt_clock(moment: datetime | None, *, seconds: bool = False) -> str:
    """Local clock time ``09:47`` (``09:47:12`` with seconds); empty for None."""
    if moment is None:
        return ""
    return moment.astimezone().strftime("%H:%M:%S" if seconds else "%H:%M")


def fmt_date(moment: datetime) -> str:
    """Local date ``2026-03-02``."""
    return moment.astimezone().strftime("%Y-%m-%d")
