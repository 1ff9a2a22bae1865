"""The structured end of a session: what a clinic files (the monitoring form's questions).

At the end the clinician answers, and :class:`Discharge` keeps, what the Spravato REMS Patient
Monitoring Form (CLINICAL.md) and many KAP clinics ask: when the client would have been ready to
leave, adverse events (and whether any was serious, and what), sedation, dissociation and
respiratory depression during monitoring, concomitant medications, who judged the client fit to
leave, and each discharge checklist item on its own.

:func:`discharge_facts` reads the record first and says what the data can: each checklist item is
*supported*, *contradicted* or without data (or a matter for the clinician alone: "accompanied
home"), the three yes/no questions get a suggested answer with the reason, and the ready-to-leave
time a default (when every criterion the data can check was first met). The clinician confirms or
overrides; an item ticked although the data contradicts it or cannot support it needs a reason
(:meth:`Discharge.problems`).

Storage: the answers travel in the ``session_ended`` event's data as flat ``discharge.*`` keys
(:meth:`Discharge.to_data`, :meth:`Discharge.from_data`), so they are journaled, replayed and
exported with the end itself; nothing else changes the record.

Pure functions over the summary (:class:`kapmonitor.summary.SessionReport`), the observations, the
SpO2 stream and the alarm log; no clock, no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from kapmonitor.clients import is_valid_initials
from kapmonitor.clock import ensure_utc
from kapmonitor.types import AlarmCategory, AlarmTransition, EventValue, Observation, ObservationKind, Stream

if TYPE_CHECKING:
    # The answers' classes (:class:`Discharge`) are all a de-identified CSV export needs of this module;
    # the facts' numpy and the summary (the recording package) load when facts are asked for (issue 16).
    import numpy as np

    from kapmonitor.ports import SessionArchive, StreamData
    from kapmonitor.review_series import BpPoint
    from kapmonitor.settings_items import DischargeItem
    from kapmonitor.summary import SessionReport

__all__ = [
    "DATA_MAX_AGE_S",
    "PREFIX",
    "SERIOUS_OUTCOMES",
    "Discharge",
    "DischargeFacts",
    "DischargeProblem",
    "Evidence",
    "ItemAnswer",
    "Suggestion",
    "Support",
    "discharge_facts",
    "facts_for_session",
    "latest_scores",
]

PREFIX: Final = "discharge."
"""Every key of the answers in the ``session_ended`` event's data starts with this."""

DATA_MAX_AGE_S: Final = 300.0
"""A SpO2 value older than this (5 min) does not speak for the client's state at the end."""

SERIOUS_OUTCOMES: Final[tuple[tuple[str, str], ...]] = (
    ("hospitalisation", "Hospitalisation (initial or prolonged)"),
    ("life_threatening", "Life-threatening"),
    ("disability", "Disability or permanent damage"),
    ("death", "Death"),
    ("other_serious", "Other serious or medically important event"),
)
"""What made an adverse event serious (the FDA MedWatch outcome categories)."""

_FACT_STREAMS: Final = (Stream.SPO2, Stream.BP_SYSTOLIC, Stream.BP_DIASTOLIC)
_SERIOUS_NAMES: Final = frozenset(name for name, _ in SERIOUS_OUTCOMES)
_MAX_TEXT: Final = 2000


class Support(StrEnum):
    """What the record says about a discharge checklist item."""

    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    NO_DATA = "no_data"
    """The data could say but does not: nothing measured, or too long ago."""
    CLINICIAN = "clinician"
    """The data cannot say ("accompanied home"): the clinician's word alone."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One checklist item against the record: ``words`` say what the data showed."""

    support: Support
    words: str

    @property
    def needs_reason_if_ticked(self) -> bool:
        """True when ticking the item goes against the record (contradicted, or no data)."""
        return self.support in (Support.CONTRADICTED, Support.NO_DATA)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A suggested yes/no answer (None: the record cannot say) and why."""

    value: bool | None
    why: str


@dataclass(frozen=True, slots=True)
class ItemAnswer:
    """One discharge checklist item as answered: ``met`` as ticked, and what the data said."""

    name: str
    label: str
    met: bool
    support: Support = Support.CLINICIAN
    evidence: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DischargeProblem:
    """An answer that cannot be filed as it is: ``field`` names it, ``message`` says why."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class DischargeFacts:
    """What the record says at the end, for the clinician to confirm (see the module docstring).

    Attributes:
        at: the moment the facts describe (the end).
        first_dose_at: the first administration (None: no dose was given).
        ready_to_leave_at: the suggested ready-to-leave time (None: no dose); ``ready_why`` says how.
        items: evidence per checklist item name.
        sedation, dissociation, respiratory_depression: suggested answers.
    """

    at: datetime
    first_dose_at: datetime | None
    ready_to_leave_at: datetime | None
    items: Mapping[str, Evidence]
    sedation: Suggestion
    dissociation: Suggestion
    respiratory_depression: Suggestion
    ready_why: str = ""
    """How the suggested ready-to-leave time was found, in words."""

    def evidence(self, item_name: str) -> Evidence:
        return self.items.get(item_name, Evidence(Support.CLINICIAN, "the clinician's judgement"))


@dataclass(frozen=True, slots=True)
class Discharge:
    """The clinician's answers at the end of a session (None: not answered).

    Attributes:
        ready_to_leave_at: when the client would have been ready to leave (UTC).
        adverse_events: any adverse event during the session; ``adverse_event_details`` says what.
        serious_adverse_event: any of them serious; ``serious_outcomes`` from :data:`SERIOUS_OUTCOMES`.
        sedation, dissociation, respiratory_depression: during monitoring, as confirmed.
        concomitant_medications: names from the clinic's list; ``()`` = none; None = not asked.
        fit_to_leave_by: initials of whoever judged the client fit to leave.
        items: each discharge checklist item.
    """

    ready_to_leave_at: datetime | None = None
    adverse_events: bool | None = None
    adverse_event_details: str = ""
    serious_adverse_event: bool | None = None
    serious_outcomes: tuple[str, ...] = ()
    sedation: bool | None = None
    dissociation: bool | None = None
    respiratory_depression: bool | None = None
    concomitant_medications: tuple[str, ...] | None = None
    fit_to_leave_by: str = ""
    items: tuple[ItemAnswer, ...] = field(default_factory=tuple)

    # ----------------------------------------------------------------- checks
    def problems(self, *, started_at: datetime | None = None, ended_at: datetime | None = None,
                 medications: Sequence[str] | None = None) -> list[DischargeProblem]:
        """Everything that stops these answers from being filed, in the order the form asks.

        Args:
            started_at, ended_at: the session's bounds (the ready-to-leave time lies within).
            medications: the clinic's medication names (answers must come from it).
        """
        out: list[DischargeProblem] = []

        def need(name: str, message: str) -> None:
            out.append(DischargeProblem(name, message))

        if self.ready_to_leave_at is None:
            need("ready_to_leave_at", "say when the client would have been ready to leave")
        else:
            at = ensure_utc(self.ready_to_leave_at)
            if started_at is not None and at < ensure_utc(started_at):
                need("ready_to_leave_at", "the ready-to-leave time is before the session started")
            if ended_at is not None and at > ensure_utc(ended_at) + timedelta(minutes=1):
                need("ready_to_leave_at", "the ready-to-leave time is after the end of monitoring")
        if self.adverse_events is None:
            need("adverse_events", "answer whether there was any adverse event")
        elif self.adverse_events:
            if not self.adverse_event_details.strip():
                need("adverse_event_details", "describe the adverse event")
            if self.serious_adverse_event is None:
                need("serious_adverse_event", "answer whether the adverse event was serious")
        elif self.serious_adverse_event:
            need("serious_adverse_event", "a serious adverse event is an adverse event: answer yes above")
        if self.serious_adverse_event and not self.serious_outcomes:
            need("serious_outcomes", "say what made it serious (e.g. hospitalisation)")
        unknown = [o for o in self.serious_outcomes if o not in _SERIOUS_NAMES]
        if unknown:
            known = ", ".join(sorted(_SERIOUS_NAMES))
            need("serious_outcomes", f"unknown outcome {unknown[0]!r}; one of {known}")
        for name, answer in (("sedation", self.sedation), ("dissociation", self.dissociation),
                             ("respiratory_depression", self.respiratory_depression)):
            if answer is None:
                need(name, f"answer whether there was {name.replace('_', ' ')} during monitoring")
        if self.concomitant_medications is None:
            need("concomitant_medications", "tick the concomitant medications, or None")
        elif medications is not None:
            unknown = [m for m in self.concomitant_medications if m not in medications]
            if unknown:
                need("concomitant_medications",
                     f"unknown medication {unknown[0]!r}; one of {', '.join(medications)}")
        if not self.fit_to_leave_by.strip():
            need("fit_to_leave_by", "give the initials of whoever judged the client fit to leave")
        elif not is_valid_initials(self.fit_to_leave_by.strip()):
            need("fit_to_leave_by", f"initials are letters (up to 8, e.g. AB), got {self.fit_to_leave_by!r}")
        for item in self.items:
            against = item.support in (Support.CONTRADICTED, Support.NO_DATA)
            if item.met and against and not item.reason.strip():
                what = ("the record contradicts it" if item.support is Support.CONTRADICTED
                        else "no data supports it")
                need(f"item.{item.name}",
                     f"“{item.label}” is ticked but {what} ({item.evidence}): give a reason")
        for name, text in (("adverse_event_details", self.adverse_event_details),
                           *((f"item.{i.name}", i.reason) for i in self.items)):
            if len(text) > _MAX_TEXT:
                need(name, f"at most {_MAX_TEXT} characters, got {len(text)}")
        return out

    def unmet_items(self) -> list[ItemAnswer]:
        return [i for i in self.items if not i.met]

    # ------------------------------------------------------------------ storage
    def to_data(self) -> dict[str, EventValue]:
        """The answers as flat ``discharge.*`` keys for the ``session_ended`` event's data."""
        data: dict[str, EventValue] = {
            "ready_to_leave_at": None if self.ready_to_leave_at is None
            else ensure_utc(self.ready_to_leave_at).isoformat(),
            "adverse_events": self.adverse_events,
            "adverse_event_details": self.adverse_event_details.strip(),
            "serious_adverse_event": self.serious_adverse_event,
            "serious_outcomes": ",".join(self.serious_outcomes),
            "sedation": self.sedation,
            "dissociation": self.dissociation,
            "respiratory_depression": self.respiratory_depression,
            "concomitant_medications": None if self.concomitant_medications is None
            else ",".join(self.concomitant_medications),
            "fit_to_leave_by": self.fit_to_leave_by.strip(),
            "items": ",".join(i.name for i in self.items),
        }
        for item in self.items:
            data[f"item.{item.name}.label"] = item.label
            data[f"item.{item.name}.met"] = item.met
            data[f"item.{item.name}.support"] = item.support.value
            data[f"item.{item.name}.evidence"] = item.evidence
            data[f"item.{item.name}.reason"] = item.reason.strip()
        return {PREFIX + k: v for k, v in data.items()}

    @classmethod
    def from_data(cls, data: Mapping[str, EventValue]) -> Discharge | None:
        """The answers stored by :meth:`to_data` in an event's data; None if it holds none."""
        raw = {k.removeprefix(PREFIX): v for k, v in data.items() if k.startswith(PREFIX)}
        if not raw:
            return None

        def text(key: str) -> str:
            value = raw.get(key)
            return value if isinstance(value, str) else ""

        def yes_no(key: str) -> bool | None:
            value = raw.get(key)
            return value if isinstance(value, bool) else None

        def names(key: str) -> tuple[str, ...]:
            return tuple(n for n in text(key).split(",") if n)

        when = text("ready_to_leave_at")
        meds = raw.get("concomitant_medications")
        items = tuple(
            ItemAnswer(name=name, label=text(f"item.{name}.label") or name,
                       met=raw.get(f"item.{name}.met") is True,
                       support=_support(text(f"item.{name}.support")),
                       evidence=text(f"item.{name}.evidence"), reason=text(f"item.{name}.reason"))
            for name in names("items"))
        return cls(
            ready_to_leave_at=datetime.fromisoformat(when) if when else None,
            adverse_events=yes_no("adverse_events"),
            adverse_event_details=text("adverse_event_details"),
            serious_adverse_event=yes_no("serious_adverse_event"),
            serious_outcomes=names("serious_outcomes"),
            sedation=yes_no("sedation"),
            dissociation=yes_no("dissociation"),
            respiratory_depression=yes_no("respiratory_depression"),
            concomitant_medications=(None if not isinstance(meds, str)
                                     else tuple(n for n in meds.split(",") if n)),
            fit_to_leave_by=text("fit_to_leave_by"),
            items=items,
        )


def _support(value: str) -> Support:
    try:
        return Support(value)
    except ValueError:
        return Support.CLINICIAN


# ------------------------------------------------------------------------ the facts
def latest_scores(observations: Sequence[Observation], scale: str) -> list[Observation]:
    """The current revision of each score on ``scale`` (withdrawn ones left out), in time order."""
    latest: dict[str, Observation] = {}
    for obs in observations:
        if obs.kind is ObservationKind.SCALE and obs.name == scale:
            seen = latest.get(obs.observation_id)
            if seen is None or obs.revision > seen.revision:
                latest[obs.observation_id] = obs
    return sorted((o for o in latest.values() if not o.deleted and o.value is not None),
                  key=lambda o: o.occurred_at)


def _hm(at: datetime) -> str:
    return at.astimezone().strftime("%H:%M")


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{int(seconds)} s" if seconds < 60 else f"{minutes} min"


@dataclass(frozen=True, slots=True)
class _Series:
    """The usable SpO2 readings as (epoch seconds, value) arrays."""

    t: np.ndarray
    v: np.ndarray

    def latest(self, at: float) -> tuple[float, float] | None:
        import numpy as np

        i = int(np.searchsorted(self.t, at, side="right"))
        return (float(self.t[i - 1]), float(self.v[i - 1])) if i else None


def _spo2_evidence(spo2: _Series, at: datetime, silent: bool) -> Evidence | None:
    """SpO2 above the discharge minimum at ``at``; None if the session has no SpO2 at all."""
    from kapmonitor.summary import DISCHARGE_SPO2_MIN_PCT

    if not len(spo2.t):
        return None
    latest = spo2.latest(at.timestamp())
    if latest is None:
        return Evidence(Support.NO_DATA, "no SpO₂ reading yet")
    t, value = latest
    age = at.timestamp() - t
    when = datetime.fromtimestamp(t).astimezone()
    if silent or age > DATA_MAX_AGE_S:
        return Evidence(Support.NO_DATA, f"no SpO₂ data for {_age(age)} (last {value:.0f} % at {_hm(when)})")
    if value > DISCHARGE_SPO2_MIN_PCT:
        return Evidence(Support.SUPPORTED, f"SpO₂ {value:.0f} % at {_hm(when)}")
    return Evidence(Support.CONTRADICTED, f"SpO₂ {value:.0f} % at {_hm(when)}")


def _bp_evidence(points: Sequence[BpPoint], baseline: BpPoint | None, first_dose_at: datetime | None,
                 at: datetime) -> Evidence | None:
    """BP within the tolerance of the baseline at ``at``; None if no BP after the dose exists."""
    from kapmonitor.summary import DISCHARGE_BP_TOLERANCE_MMHG

    after = [p for p in points if first_dose_at is not None and p.at > first_dose_at]
    if not after:
        return None
    if baseline is None:
        return Evidence(Support.NO_DATA, "no blood pressure before the dose to compare with")
    current = [p for p in after if p.at <= at]
    if not current:
        return Evidence(Support.NO_DATA, "no blood pressure since the dose yet")
    p = current[-1]
    ds, dd = p.systolic - baseline.systolic, p.diastolic - baseline.diastolic
    words = (f"{p.systolic:.0f}/{p.diastolic:.0f} mmHg at {_hm(p.at)} ({ds:+.0f}/{dd:+.0f} from "
             f"{baseline.systolic:.0f}/{baseline.diastolic:.0f} before the dose)")
    tol = DISCHARGE_BP_TOLERANCE_MMHG
    ok = abs(ds) <= tol and abs(dd) <= tol
    return Evidence(Support.SUPPORTED if ok else Support.CONTRADICTED, words)


def _alert_evidence(moaa_s: Sequence[Observation], rass: Sequence[Observation],
                    at: datetime) -> Evidence | None:
    """The latest sedation score by ``at``: alert (MOAA/S 5, RASS 0) or not; None if none scored."""
    scored = [(o, "MOAA/S", o.value == 5) for o in moaa_s if o.occurred_at <= at]
    scored += [(o, "RASS", o.value == 0) for o in rass if o.occurred_at <= at]
    if not scored:
        return None
    obs, name, alert = max(scored, key=lambda s: s[0].occurred_at)
    value = obs.value or 0.0
    shown = f"{value:+.0f}" if name == "RASS" and value else f"{value:.0f}"
    words = f"{name} {shown} at {_hm(obs.occurred_at)}"
    return Evidence(Support.SUPPORTED if alert else Support.CONTRADICTED, words)


def _min_obs_evidence(report: SessionReport, at: datetime) -> Evidence:
    if report.first_dose_at is None or report.min_observation_at is None:
        return Evidence(Support.NO_DATA, "no dose recorded")
    observed = (at - report.first_dose_at).total_seconds() / 60.0
    minimum = (report.min_observation_at - report.first_dose_at).total_seconds() / 60.0
    if at >= report.min_observation_at:
        return Evidence(Support.SUPPORTED,
                        f"observed {observed:.0f} min after the dose (minimum {minimum:.0f})")
    return Evidence(Support.CONTRADICTED, f"observed {observed:.0f} of {minimum:.0f} min after the dose")


def _spo2_silent_at_end(alarms: Sequence[AlarmTransition]) -> bool:
    """True when a technical SpO2 alarm (no data, sensor lost) was still present at the end."""
    present: dict[str, bool] = {}
    for t in alarms:
        if t.category is AlarmCategory.TECHNICAL and t.stream is Stream.SPO2:
            present[t.alarm_id] = t.action not in ("condition_cleared", "resolved")
    return any(present.values())


def discharge_facts(
    report: SessionReport,
    observations: Sequence[Observation],
    spo2: StreamData,
    alarms: Sequence[AlarmTransition],
    checklist: Sequence[DischargeItem],
) -> DischargeFacts:
    """What the record says at ``report.until`` (the end): evidence, suggestions, the ready time."""
    from kapmonitor.review_series import usable_mask

    at = report.until
    ok = usable_mask(spo2)
    series = _Series(spo2.t[ok], spo2.value[ok])
    moaa_s = latest_scores(observations, "moaa_s")
    rass = latest_scores(observations, "rass")
    dissociation = latest_scores(observations, "dissociation")
    silent = _spo2_silent_at_end(alarms)

    def item_evidence(name: str, when: datetime, *, end: bool) -> Evidence | None:
        if name == "spo2_room_air":
            return _spo2_evidence(series, when, silent and end) or (
                Evidence(Support.NO_DATA, "no SpO₂ recorded in this session") if end else None)
        if name == "bp_near_baseline":
            return _bp_evidence(report.bp_points, report.bp_baseline, report.first_dose_at, when) or (
                Evidence(Support.NO_DATA, "no blood pressure after the dose") if end else None)
        if name == "alert_oriented":
            return _alert_evidence(moaa_s, rass, when) or (
                Evidence(Support.CLINICIAN, "no sedation score recorded: the clinician's judgement")
                if end else None)
        if name == "min_observation_met":
            return _min_obs_evidence(report, when)
        return Evidence(Support.CLINICIAN, "the clinician's judgement") if end else None

    items: dict[str, Evidence] = {}
    for item in checklist:
        found = item_evidence(item.name, at, end=True)
        assert found is not None
        items[item.name] = found

    def all_met(when: datetime) -> bool:
        for item in checklist:
            found = item_evidence(item.name, when, end=False)
            if found is not None and found.support in (Support.CONTRADICTED, Support.NO_DATA):
                return False
        return True

    ready: datetime | None = None
    why = ""
    if report.first_dose_at is not None:
        start = report.min_observation_at or report.first_dose_at
        candidates = {start}
        candidates.update(datetime.fromtimestamp(float(t), tz=start.tzinfo)
                          for t in series.t if t > start.timestamp())
        candidates.update(p.at for p in report.bp_points if p.at > start)
        candidates.update(o.occurred_at for o in (*moaa_s, *rass) if o.occurred_at > start)
        for when in sorted(c for c in candidates if c <= at):
            if all_met(when):
                ready = when
                break
        if ready is None:
            ready = at
            why = "the end: the record never showed every criterion met"
        else:
            why = "when the record first showed every criterion met"
    else:
        why = "no dose was given"

    return DischargeFacts(
        at=at, first_dose_at=report.first_dose_at, ready_to_leave_at=ready, items=items,
        sedation=_sedation(moaa_s, rass), dissociation=_dissociation(dissociation),
        respiratory_depression=_respiratory(series, alarms), ready_why=why,
    )


def _sedation(moaa_s: Sequence[Observation], rass: Sequence[Observation]) -> Suggestion:
    sedated = [(o.value or 0.0, "MOAA/S", o) for o in moaa_s if (o.value or 0.0) <= 4]
    sedated += [(o.value or 0.0, "RASS", o) for o in rass if (o.value or 0.0) <= -1]
    if sedated:
        value, name, obs = min(sedated, key=lambda s: s[0])
        shown = f"{value:+.0f}" if name == "RASS" else f"{value:.0f}"
        return Suggestion(True, f"{name} {shown} at {_hm(obs.occurred_at)}")
    if moaa_s or rass:
        return Suggestion(False, f"{len(moaa_s) + len(rass)} sedation score(s), none below alert")
    return Suggestion(None, "no sedation score recorded")


def _dissociation(scores: Sequence[Observation]) -> Suggestion:
    if not scores:
        return Suggestion(None, "no dissociation rating recorded")
    top = max(scores, key=lambda o: o.value or 0.0)
    if (top.value or 0.0) >= 1:
        return Suggestion(True, f"dissociation rated {top.value:.0f} at {_hm(top.occurred_at)}")
    return Suggestion(False, f"{len(scores)} dissociation rating(s), all none")


def _respiratory(spo2: _Series, alarms: Sequence[AlarmTransition]) -> Suggestion:
    import numpy as np

    from kapmonitor.summary import DISCHARGE_SPO2_MIN_PCT

    raised = [t for t in alarms if t.action == "raised" and t.stream is Stream.SPO2
              and t.category is AlarmCategory.PHYSIOLOGICAL]
    if raised:
        first = raised[0]
        value = f" ({first.value:.0f} %)" if first.value is not None else ""
        return Suggestion(True, f"{first.label} at {_hm(first.at)}{value}")
    if not len(spo2.t):
        return Suggestion(None, "no SpO₂ recorded")
    low = int(np.argmin(spo2.v))
    lowest = float(spo2.v[low])
    when = datetime.fromtimestamp(float(spo2.t[low])).astimezone()
    if lowest <= DISCHARGE_SPO2_MIN_PCT:
        return Suggestion(True, f"SpO₂ down to {lowest:.0f} % at {_hm(when)}")
    return Suggestion(False, f"SpO₂ lowest {lowest:.0f} %")


def facts_for_session(archive: SessionArchive, session_id: int, checklist: Sequence[DischargeItem],
                      until: datetime) -> DischargeFacts:
    """:func:`discharge_facts` for a stored session as it stands at ``until`` (blocking reads).

    Raises:
        KeyError: no such session.
        kapmonitor.ports.StoreError: the database could not be read.
        kapmonitor.summary.SummaryError: the session has no start event (a damaged record).
    """
    from kapmonitor.summary import summarize

    record = archive.session(session_id)
    events = archive.events(session_id)
    streams = {s: archive.load_stream(session_id, s) for s in _FACT_STREAMS}
    alarms = archive.alarms(session_id)
    end = until if record.ended_at is None else record.ended_at
    report = summarize(record.spec.protocol, events, streams, alarms=alarms, until=end)
    return discharge_facts(report, archive.observations(session_id), streams[Stream.SPO2], alarms, checklist)
