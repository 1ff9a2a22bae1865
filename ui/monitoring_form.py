"""The monitoring form, filled from the record: one A4 page to transcribe into the REMS portal.

A clinic documents each session on the Spravato REMS Patient Monitoring Form (CLINICAL.md; many
KAP clinics keep the same for racemic ketamine). This module lays a page out like that form --
numbered sections of labelled rows, yes/no answers as ``☒ Yes ☐ No`` -- with every field filled
from the kapmonitor record, so whoever transcribes it finds each answer in the form's order and
never has to work one out from the session report.

Where each field comes from (:func:`form_sections`):

* the healthcare setting (name, identifier): the clinic settings stored with the session
  (:func:`ui.review_data.session_settings`); the monitoring clinician, the patient (the pseudonymous
  client code only), the dose and unit, the lot: the session's start (``record.spec``);
* treatment date and time of administration: the first dose (local time);
* blood pressure before dosing: the last reading before the first dose (the baseline); at
  ~40 min and before discharge: the reading counted for the scheduled check
  (:class:`kapmonitor.summary.CheckVitals`), with when it was taken and how late the check was;
* total minutes from the first administration to the end of monitoring: first dose to the
  session end; ready to leave: the clinician's ready-to-leave time, in minutes after the dose;
* vital signs acceptable before dosing: *derived* -- a blood pressure before the dose and no
  vital-sign alarm raised before it; at completion: the discharge checklist's SpO2 and blood
  pressure items as the clinician answered them, with what the record showed for each;
* sedation, dissociation, respiratory depression, adverse events, serious adverse events (and
  what made them serious), concomitant medications and who judged the client fit to leave: the
  clinician's answers at the end (:class:`kapmonitor.discharge.Discharge`).

A field without a value says :data:`NOT_RECORDED` (and, in small print, why): never blank,
never guessed. The footer of each page says the page is a pre-filled copy for transcription,
not the official REMS submission, when it was made and by which version.

The page is HTML painted by :func:`ui.pdf_document.render_pdf` (the helpers the session report
uses), so its text is real text; it is the export :data:`MONITORING_FORM_EXPORTER`
(``kapmonitor report SESSION --form monitoring``, the review window's "Monitoring form" button).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Final

from kapmonitor import __version__
from kapmonitor.clock import ensure_utc
from kapmonitor.discharge import SERIOUS_OUTCOMES, Discharge, ItemAnswer, Support
from kapmonitor.exporters import Exporter, ExportOptions
from kapmonitor.protocols import CheckTiming
from kapmonitor.review_series import BpPoint
from kapmonitor.summary import CHECK_WINDOW_S, CheckVitals
from kapmonitor.types import AlarmCategory, EventKind
from ui.pdf_document import BASE_CSS, PdfInfo, escape, render_pdf
from ui.report import ReportSource
from ui.review_data import ReviewData, fmt_clock, fmt_date, fmt_elapsed, session_settings

__all__ = ["FOOTER_NOTE", "MONITORING_FORM_EXPORTER", "NOT_RECORDED", "FormRow", "FormSection", "form_html",
           "form_info", "form_sections", "render_form_pdf", "write_monitoring_form", "yes_no"]

log = logging.getLogger(__name__)

NOT_RECORDED: Final = "not recorded"
"""What a field without a value says."""
FOOTER_NOTE: Final = ("Pre-filled copy for transcription from the kapmonitor record \u2014 "
                      "not the official REMS submission")
TICKED: Final = "\u2612"
EMPTY: Final = "\u2610"
FORTY_MIN: Final = 40.0
"""The form's "~40 minutes after administration" blood pressure."""
COMPLETION_ITEMS: Final = ("spo2_room_air", "bp_near_baseline")
"""The discharge checklist items that say whether the vital signs were acceptable at completion."""
_NO_ANSWERS: Final = "the session was ended without the end-of-session answers"
_NOT_ENDED: Final = "the session has not ended"


@dataclass(frozen=True, slots=True)
class FormRow:
    """One field of the form: ``value`` is its answer (:data:`NOT_RECORDED` if none), ``source``
    says in small print where it comes from or why it is missing."""

    label: str
    value: str
    source: str = ""
    wide: bool = False
    """The answer is a long line (a list of boxes): it spans the answer and source columns."""


@dataclass(frozen=True, slots=True)
class FormSection:
    """A numbered section of the form (``1 Healthcare setting``) and its rows."""

    title: str
    rows: tuple[FormRow, ...]


def yes_no(value: bool | None) -> str:
    """A yes/no answer as the form's boxes: ``☒ Yes  ☐ No``; neither ticked plus "not recorded"."""
    if value is None:
        return f"{EMPTY} Yes   {EMPTY} No   {NOT_RECORDED}"
    return f"{TICKED if value else EMPTY} Yes   {EMPTY if value else TICKED} No"


def _missing(label: str, why: str) -> FormRow:
    return FormRow(label, NOT_RECORDED, why)


def _minutes(seconds: float) -> int:
    """Whole minutes, rounded down (the form never claims a minute that was not monitored)."""
    return int(max(seconds, 0.0) // 60)


def _bp(point: BpPoint) -> str:
    return f"{point.systolic:.0f}/{point.diastolic:.0f} mmHg"


# ------------------------------------------------------------------------------------ the fields
def _setting(data: ReviewData) -> FormSection:
    settings = session_settings(data.record)
    spec = data.record.spec
    unset = "not set in the clinic settings when the session started"
    rows = (
        FormRow("Healthcare setting name", settings.setting_name) if settings.setting_name.strip()
        else _missing("Healthcare setting name", unset),
        FormRow("Healthcare setting identifier", settings.setting_id) if settings.setting_id.strip()
        else _missing("Healthcare setting identifier", unset),
        FormRow("Monitoring clinician", spec.clinician_initials.strip(), "initials entered at the start")
        if spec.clinician_initials.strip() else _missing("Monitoring clinician", "no initials were entered"),
    )
    return FormSection("Healthcare setting", rows)


def _patient(data: ReviewData) -> FormSection:
    rec = data.record
    return FormSection("Patient", (
        FormRow("Patient (client code)", rec.spec.client_code,
                f"pseudonymous: the clinic's key names the patient; kapmonitor session {rec.session_id}, "
                f"started {fmt_date(rec.started_at)} {fmt_clock(rec.started_at)}"),
    ))


def _boosters(data: ReviewData) -> list[str]:
    out = []
    for e in data.events:
        if e.kind is EventKind.BOOSTER_GIVEN:
            amount = e.data.get("amount")
            unit = e.data.get("unit") or data.record.spec.dose_unit
            dose = f"{amount:g} {unit} " if isinstance(amount, int | float) else ""
            out.append(f"booster {dose}at {fmt_clock(e.at)} ({fmt_elapsed(data.elapsed_s(e.at))})")
    return out


def _treatment(data: ReviewData) -> FormSection:
    rec, spec, dose_at = data.record, data.record.spec, data.report.first_dose_at
    route = f"{spec.protocol.route.label}, protocol {spec.protocol.name}"
    boosters = _boosters(data)
    if dose_at is not None:
        date = FormRow("Treatment date", fmt_date(dose_at), "the date of the first administration")
        time = FormRow("Time of administration", fmt_clock(dose_at),
                       "the first dose, local time" + (f"; {'; '.join(boosters)}" if boosters else ""))
    else:
        date = FormRow("Treatment date", fmt_date(rec.started_at), "no dose was recorded; the session's date")
        time = _missing("Time of administration", "no dose was recorded")
    if spec.dose_amount is not None:
        dose = FormRow("Dose administered", f"{spec.dose_amount:g} {spec.dose_unit}",
                       route + (f"; plus {len(boosters)} booster(s), below" if boosters else ""))
    else:
        dose = _missing("Dose administered", f"no dose amount was entered ({route})")
    lot = (FormRow("Lot number", spec.lot.strip()) if spec.lot.strip()
           else _missing("Lot number", "no lot was entered"))
    return FormSection("Treatment", (date, dose, lot, time))


def _medications(data: ReviewData, answers: Discharge | None) -> FormSection:
    label = "Concomitant medications"
    if answers is None or answers.concomitant_medications is None:
        why = _NO_ANSWERS if answers is None else "the question was not answered"
        return FormSection(label, (_missing(label, why),))
    labels = {m.name: m.label for m in session_settings(data.record).medications}
    taken = answers.concomitant_medications
    names = [*labels, *(n for n in taken if n not in labels)]
    boxes = [f"{TICKED if n in taken else EMPTY} {labels.get(n, n)}" for n in names]
    boxes.append(f"{EMPTY if taken else TICKED} None")
    return FormSection(label, (FormRow(label, "   ".join(boxes), "as ticked by the clinician at the end",
                                       wide=True),))


def _monitoring(data: ReviewData, answers: Discharge | None) -> FormSection:
    rep = data.report
    dose_at, end = rep.first_dose_at, rep.ended_at
    total_label = "Total minutes from first administration to end of monitoring"
    ready_label = "Ready to leave: minutes after administration"
    if dose_at is None:
        total = _missing(total_label, "no dose was recorded")
    elif end is None:
        total = _missing(total_label, f"{_NOT_ENDED}; the record stops at {fmt_clock(rep.until)} "
                                      f"({fmt_elapsed(data.elapsed_s(rep.until))})")
    else:
        total = FormRow(total_label, f"{_minutes((end - dose_at).total_seconds())} min",
                        f"first dose {fmt_clock(dose_at)} to the end of monitoring {fmt_clock(end)}")
    if dose_at is None:
        ready = _missing(ready_label, "no dose was recorded")
    elif answers is None or answers.ready_to_leave_at is None:
        ready = _missing(ready_label, _NO_ANSWERS if answers is None else "no ready-to-leave time was given")
    else:
        at = ensure_utc(answers.ready_to_leave_at)
        ready = FormRow(ready_label, f"{_minutes((at - dose_at).total_seconds())} min",
                        f"ready to leave at {fmt_clock(at)}, as the clinician confirmed")
    return FormSection("Monitoring time", (total, ready))


def _check(data: ReviewData, timing: CheckTiming, at_min: float | None = None) -> CheckVitals | None:
    """The session's check of ``timing`` (after the dose: the one due nearest ``at_min``)."""
    if timing is not CheckTiming.AFTER_DOSE:
        return next((c for c in reversed(data.report.checks) if c.timing is timing), None)
    specs = {c.name: c.at_min for c in data.record.spec.protocol.checks if c.at_min is not None}
    candidates = [c for c in data.report.checks if c.timing is timing and c.name in specs]
    if not candidates or at_min is None:
        return None
    return min(candidates, key=lambda c: abs((specs[c.name] or 0.0) - at_min))


def _check_state(check: CheckVitals) -> str:
    """``check “Vitals before discharge” done 10:06, 27 min late``, in the report's words."""
    text = f"check \u201c{check.label}\u201d, "
    if check.state == "done" and check.done_at is not None:
        text += f"done {fmt_clock(check.done_at)}"
        if check.late_by_s is not None:
            text += f", {round(check.late_by_s / 60.0)} min late"
    elif check.late_by_s is not None:
        text += f"NOT done ({round(check.late_by_s / 60.0)} min overdue at the end)"
    else:
        text += "not done" if check.state != "dismissed" else "dismissed"
    return text


def _bp_at_check(data: ReviewData, label: str, check: CheckVitals | None, missing: str) -> FormRow:
    if check is None:
        return _missing(label, missing)
    if check.bp is None:
        return _missing(label, f"no reading within {CHECK_WINDOW_S / 60:g} min of the "
                               f"{_check_state(check)}")
    point = check.bp
    taken = f"{fmt_clock(point.at)} ({fmt_elapsed(data.elapsed_s(point.at))})"
    return FormRow(label, _bp(point), f"taken {taken} for the {_check_state(check)}")


def _before_dosing(data: ReviewData) -> tuple[FormRow, FormRow]:
    """Vital signs acceptable before dosing (derived) and the blood pressure before dosing."""
    rep = data.report
    ok_label, bp_label = "Vital signs acceptable before dosing", "Blood pressure before dosing"
    if rep.first_dose_at is None:
        no_dose = "no dose was recorded"
        return FormRow(ok_label, yes_no(None), no_dose), _missing(bp_label, no_dose)
    dose_at = rep.first_dose_at
    check = _check(data, CheckTiming.PRE_DOSE)
    state = f"; {_check_state(check)}" if check is not None else ""
    base = rep.bp_baseline
    bp_row = (_missing(bp_label, "no blood pressure was measured before the dose") if base is None else
              FormRow(bp_label, _bp(base), f"the last reading before the dose, {fmt_clock(base.at)} "
                                           f"({fmt_elapsed(data.elapsed_s(base.at))}){state}"))
    raised = [t for t in data.alarms if t.action == "raised" and t.category is AlarmCategory.PHYSIOLOGICAL
              and ensure_utc(t.at) < dose_at]
    if raised:
        first = raised[0]
        ok_row = FormRow(ok_label, yes_no(False),
                         f"derived from the record: alarm \u201c{first.label}\u201d at {fmt_clock(first.at)} "
                         f"before the dose" + (f" (and {len(raised) - 1} more)" if len(raised) > 1 else ""))
    elif base is None:
        ok_row = FormRow(ok_label, yes_no(None), "no blood pressure was measured before the dose")
    else:
        ok_row = FormRow(ok_label, yes_no(True), f"derived from the record: BP {_bp(base)} at "
                                                 f"{fmt_clock(base.at)}, no alarm before the dose")
    return ok_row, bp_row


def _support_words(item: ItemAnswer) -> str:
    """What the record said about a checklist item as answered, and the reason given if any."""
    words = {Support.SUPPORTED: "supported", Support.CONTRADICTED: "the record contradicts it",
             Support.NO_DATA: "no data supports it",
             Support.CLINICIAN: "the clinician's judgement"}[item.support]
    text = words
    if item.evidence and item.evidence != words:
        text += f" ({item.evidence})"
    if item.reason:
        text += f"; reason given: {item.reason}"
    return text


def _at_completion(answers: Discharge | None, ended: bool) -> FormRow:
    label = "Vital signs acceptable at completion"
    if answers is None:
        return FormRow(label, yes_no(None), _NO_ANSWERS if ended else _NOT_ENDED)
    items = [i for i in answers.items if i.name in COMPLETION_ITEMS]
    if not items:
        return FormRow(label, yes_no(None), "the discharge checklist had no SpO\u2082 or blood pressure item")
    value = all(i.met for i in items)
    return FormRow(label, yes_no(value),
                   "\n".join(f"{TICKED if i.met else EMPTY} {i.label}: {_support_words(i)}" for i in items))


def _vitals(data: ReviewData, answers: Discharge | None) -> FormSection:
    ok_before, bp_before = _before_dosing(data)
    forty = _check(data, CheckTiming.AFTER_DOSE, FORTY_MIN)
    no_dose = data.report.first_dose_at is None
    bp_forty = _bp_at_check(data, "Blood pressure ~40 min after administration", forty,
                            "no dose was recorded" if no_dose else "the protocol has no check after the dose")
    bp_end = _bp_at_check(data, "Blood pressure before discharge", _check(data, CheckTiming.BEFORE_DISCHARGE),
                          "the protocol has no before-discharge check")
    return FormSection("Vital signs", (ok_before, bp_before, bp_forty, bp_end,
                                       _at_completion(answers, data.record.ended_at is not None)))


def _during(answers: Discharge | None, ended: bool) -> FormSection:
    why = "as the clinician confirmed at the end"
    missing = _NO_ANSWERS if ended else _NOT_ENDED

    def row(label: str, value: bool | None) -> FormRow:
        return FormRow(label, yes_no(value), why if value is not None else
                       (missing if answers is None else "not answered"))

    return FormSection("During monitoring", (
        row("Sedation", None if answers is None else answers.sedation),
        row("Dissociation", None if answers is None else answers.dissociation),
        row("Respiratory depression", None if answers is None else answers.respiratory_depression),
    ))


def _adverse(answers: Discharge | None, ended: bool) -> FormSection:
    missing = _NO_ANSWERS if ended else _NOT_ENDED
    if answers is None:
        return FormSection("Adverse events", (FormRow("Adverse events", yes_no(None), missing),
                                              FormRow("Serious adverse events", yes_no(None), missing)))
    details = answers.adverse_event_details.strip()
    any_row = FormRow("Adverse events", yes_no(answers.adverse_events) + (f"\n{details}" if details else ""),
                      "as the clinician answered" if answers.adverse_events is not None else "not answered")
    outcomes = dict(SERIOUS_OUTCOMES)
    serious = answers.serious_adverse_event
    what = "\n".join(f"{TICKED} {outcomes.get(o, o)}" for o in answers.serious_outcomes)
    if serious is None and answers.adverse_events is False:
        serious_row = FormRow("Serious adverse events", yes_no(False), "no adverse event, so none serious")
    else:
        serious_row = FormRow("Serious adverse events", yes_no(serious) + (f"\n{what}" if what else ""),
                              "report it separately, as the REMS requires"
                              if serious else ("as the clinician answered" if serious is not None
                                               else "not answered"))
    return FormSection("Adverse events", (any_row, serious_row))


def _discharge(data: ReviewData, answers: Discharge | None) -> FormSection:
    if answers is None or not answers.fit_to_leave_by.strip():
        missing = (_NO_ANSWERS if data.record.ended_at is not None else _NOT_ENDED) if answers is None \
            else "no initials were given"
        by = _missing("Judged fit to leave by", missing)
    else:
        by = FormRow("Judged fit to leave by", answers.fit_to_leave_by.strip(),
                     "initials, as given at the end")
    return FormSection("Discharge", (by,))


def form_sections(data: ReviewData) -> tuple[FormSection, ...]:
    """Every field of the form, filled from ``data``, in the form's order (see the module docstring)."""
    answers = data.discharge
    ended = data.record.ended_at is not None
    return (_setting(data), _patient(data), _treatment(data), _medications(data, answers),
            _monitoring(data, answers), _vitals(data, answers), _during(answers, ended),
            _adverse(answers, ended), _discharge(data, answers))


# ------------------------------------------------------------------------------------- the page
_CSS = BASE_CSS + (
    " table.form{border-color:#7d8a96;border-style:solid;}"
    " table.form td{font-size:8pt;border-color:#b4bec8;border-style:solid;}"
    " table.form td.sec{background:#dfe5eb;font-weight:bold;font-size:9pt;}"
    " table.form td.label{font-weight:bold;color:#2a333c;}"
    " table.form td.src{font-size:7pt;color:#46505a;}"
    " table.form th{font-size:7pt;font-weight:normal;color:#46505a;text-align:left;}"
    " span.none{font-style:italic;} span.src{font-size:7pt;color:#46505a;} h1{font-size:12pt;}"
    " p.lead{margin-top:2px;margin-bottom:4px;font-size:8pt;}"
)


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.split("\n"))


def _value_html(row: FormRow) -> str:
    """The answer; in a list of boxes a box and its label never part at a line end."""
    value = _lines(row.value)
    if row.wide:
        value = value.replace(" ", "&nbsp;").replace("&nbsp;&nbsp;&nbsp;", "&nbsp;&nbsp; ")
    else:
        value = value.replace("   ", "&nbsp;&nbsp; ")
    return f"<span class=none>{value}</span>" if row.value.endswith(NOT_RECORDED) else value


def form_html(data: ReviewData, sections: Sequence[FormSection], generated_at: datetime) -> str:
    """The form as HTML for :class:`QTextDocument`: a heading, then one bordered table of numbered
    sections, each row a field, its answer and (in small print) where the answer comes from."""
    tz = generated_at.astimezone().strftime("%Z (UTC%z)")
    rows = ["<tr><th width=35%>Field</th><th width=25%>Answer</th><th width=40%>From the record</th></tr>"]
    for number, section in enumerate(sections, start=1):
        rows.append(f"<tr><td class=sec colspan=3>{number}&nbsp;&nbsp;{escape(section.title)}</td></tr>")
        for r in section.rows:
            answer = (f"<td colspan=2>{_value_html(r)}<br><span class=src>{_lines(r.source)}</span></td>"
                      if r.wide else f"<td>{_value_html(r)}</td><td class=src>{_lines(r.source)}</td>")
            rows.append(f"<tr><td class=label>{escape(r.label)}</td>{answer}</tr>")
    return "".join([
        f"<style>{_CSS}</style>",
        "<h1>Patient monitoring form \u2014 kapmonitor record</h1>",
        "<p class=lead>The fields of the Spravato\u00ae REMS Patient Monitoring Form in its order, "
        f"filled from kapmonitor session {data.session_id}, for transcription into the REMS portal "
        "(not the submission). "
        f"Clock times are local, {escape(tz)}.</p>",
        "<table class=form width=100% border=1 cellspacing=0 cellpadding=1>", *rows, "</table>",
    ])


def form_info(data: ReviewData) -> PdfInfo:
    """The PDF's document information: title with client and date, the clinician as author."""
    spec = data.record.spec
    return PdfInfo(
        title=f"kapmonitor monitoring form \u2014 client {spec.client_code} \u2014 "
              f"{fmt_date(data.record.started_at)}",
        subject=f"Patient monitoring form pre-filled from KAP session {data.session_id} "
                f"({spec.protocol.route.label}), for transcription: not the official REMS submission",
        author=spec.clinician_initials.strip(),
    )


def render_form_pdf(data: ReviewData, *, generated_at: datetime) -> tuple[bytes, int]:
    """The form as the bytes of a PDF file, and its number of pages.

    Paints, so it runs on the GUI thread with a ``QApplication``; it writes no file.

    Raises:
        ExportError: Qt's PDF writer produced nothing.
    """
    made = generated_at.astimezone().strftime("%Y-%m-%d %H:%M")
    # One line of 7 pt across the page: the version goes as "v0.1.0" (the note names kapmonitor).
    note = f"{FOOTER_NOTE} \u00b7 generated {made} \u00b7 v{__version__}"
    return render_pdf(form_html(data, form_sections(data), generated_at), form_info(data),
                      footer=lambda n, total: f"{note} \u00b7 p. {n}/{total}")


def write_monitoring_form(source: ReportSource, out: BinaryIO, options: ExportOptions) -> int:
    """The ``monitoring-form`` format: the filled form as PDF to ``out``; return the number of pages."""
    data = source.review()
    pdf, pages = render_form_pdf(data, generated_at=options.generated_at)
    out.write(pdf)
    log.info("wrote the monitoring form of session %d (%d pages, %d bytes)", data.session_id, pages, len(pdf))
    return pages


MONITORING_FORM_EXPORTER: Exporter[ReportSource] = Exporter(
    name="monitoring-form", title="Monitoring form (PDF)", suffix=".pdf", write=write_monitoring_form,
    counts="pages", paints=True,
    description="the patient monitoring form pre-filled from the session, for transcription (PDF, A4)",
)
