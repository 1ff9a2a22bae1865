"""The structured end of a headless session: ``kapmonitor record`` with the discharge options.

A headless session runs unattended to its end, so the clinician gives the answers up front
(``--adverse-events no --medications none --discharge-item spo2_room_air ...``). They are checked
before the session starts (a mistyped name must not cost two hours of recording); at the end they
are put together with what the record says (:func:`kapmonitor.discharge.facts_for_session`),
exactly as the end-of-session dialog does:

* the ready-to-leave time is ``--ready-to-leave`` minutes after the first dose, else the record's
  suggestion; sedation, dissociation and respiratory depression are as given, or (``record``,
  the default) the record's suggestion, unanswered where it cannot say;
* a ``--discharge-item`` the record contradicts or cannot support needs ``NAME=REASON``; without
  a reason it is **not** filed as met (nobody can be asked at the end) and a warning says so;
* anything still unanswered is filed as unanswered, and listed on standard error.

Without any discharge option the session ends without answers: the form says "not recorded".
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import timedelta

from kapmonitor.cli import UsageError
from kapmonitor.clients import is_valid_initials
from kapmonitor.discharge import SERIOUS_OUTCOMES, Discharge, DischargeFacts, ItemAnswer, Suggestion, Support
from kapmonitor.settings import ClinicSettings

__all__ = ["check_discharge_args", "discharge_from_args", "wants_discharge"]



def wants_discharge(args: argparse.Namespace) -> bool:
    """True when any discharge option was given."""
    return any((
        args.ready_to_leave is not None, args.adverse_events is not None, bool(args.adverse_details),
        args.serious is not None, bool(args.serious_outcome), args.medications is not None,
        args.fit_to_leave_by is not None, bool(args.discharge_item),
        *(getattr(args, n) != "record" for n in ("sedation", "dissociation", "respiratory_depression")),
    ))


def _items(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in args.discharge_item:
        name, _, reason = raw.partition("=")
        out[name.strip()] = reason.strip()
    return out


def _medications(args: argparse.Namespace) -> tuple[str, ...] | None:
    if args.medications is None:
        return None
    names = tuple(n.strip() for n in args.medications.split(",") if n.strip())
    return () if names == ("none",) else names


def check_discharge_args(args: argparse.Namespace, settings: ClinicSettings) -> None:
    """Refuse discharge options that can never be filed, before anything is recorded.

    Raises:
        UsageError: what was wrong and what is accepted.
    """
    if not wants_discharge(args):
        return
    items = [i.name for i in settings.discharge_checklist]
    for name in _items(args):
        if name not in items:
            raise UsageError(f"--discharge-item: no checklist item {name!r}; the clinic's items are "
                             f"{', '.join(items)}")
    meds = [m.name for m in settings.medications]
    given = _medications(args)
    if args.medications is not None and not given and args.medications.strip().lower() != "none":
        raise UsageError("--medications: give names from the clinic's list or 'none'")
    for name in given or ():
        if name == "none":
            raise UsageError("--medications: 'none' cannot be combined with medication names")
        if name not in meds:
            raise UsageError(f"--medications: no medication {name!r}; the clinic's list is {', '.join(meds)}")
    outcomes = [n for n, _ in SERIOUS_OUTCOMES]
    for name in args.serious_outcome:
        if name not in outcomes:
            raise UsageError(f"--serious-outcome: no outcome {name!r}; one of {', '.join(outcomes)}")
    if args.adverse_events != "yes":
        for option, present in (("--adverse-details", bool(args.adverse_details)),
                                ("--serious yes", args.serious == "yes"),
                                ("--serious-outcome", bool(args.serious_outcome))):
            if present:
                raise UsageError(f"{option} needs --adverse-events yes")
    if args.serious_outcome and args.serious != "yes":
        raise UsageError("--serious-outcome needs --serious yes")
    initials = args.fit_to_leave_by if args.fit_to_leave_by is not None else args.clinician
    if initials and not is_valid_initials(initials.strip()):
        raise UsageError(f"--fit-to-leave-by: initials are letters (up to 8, e.g. AB), got {initials!r}")


def _answer(choice: str, suggestion: Suggestion) -> bool | None:
    if choice == "record":
        return suggestion.value
    return choice == "yes"


def discharge_from_args(args: argparse.Namespace, facts: DischargeFacts, settings: ClinicSettings,
                        clinician: str) -> tuple[Discharge, list[str]]:
    """The answers to file with the end (see the module docstring) and the warnings to print."""
    warnings: list[str] = []
    ticked = _items(args)
    items = []
    for item in settings.discharge_checklist:
        evidence = facts.evidence(item.name)
        met = item.name in ticked
        reason = ticked.get(item.name, "")
        if met and evidence.needs_reason_if_ticked and not reason:
            why = ("the record contradicts it" if evidence.support is Support.CONTRADICTED
                   else "no data supports it")
            warnings.append(f"“{item.label}” is not filed as met: {why} ({evidence.words}); give "
                            f"--discharge-item {item.name}=REASON to file it")
            met = False
        items.append(ItemAnswer(item.name, item.label, met, evidence.support, evidence.words, reason))
    ready = facts.ready_to_leave_at
    if args.ready_to_leave is not None and facts.first_dose_at is not None:
        ready = facts.first_dose_at + timedelta(minutes=args.ready_to_leave)
    adverse = None if args.adverse_events is None else args.adverse_events == "yes"
    serious = None if args.serious is None else args.serious == "yes"
    if adverse is False:
        serious = False
    fit_by = args.fit_to_leave_by if args.fit_to_leave_by is not None else clinician
    answers = Discharge(
        ready_to_leave_at=ready,
        adverse_events=adverse,
        adverse_event_details=args.adverse_details.strip(),
        serious_adverse_event=serious,
        serious_outcomes=tuple(args.serious_outcome),
        sedation=_answer(args.sedation, facts.sedation),
        dissociation=_answer(args.dissociation, facts.dissociation),
        respiratory_depression=_answer(args.respiratory_depression, facts.respiratory_depression),
        concomitant_medications=_medications(args),
        fit_to_leave_by=(fit_by or "").strip(),
        items=tuple(items),
    )
    meds: Sequence[str] = [m.name for m in settings.medications]
    warnings += [f"filed unanswered: {p.message}" for p in answers.problems(medications=meds)]
    return answers, warnings
