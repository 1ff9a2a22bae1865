"""The session as a FHIR R4 Bundle (JSON), the ``fhir`` export format (``docs/export-formats.md``).

A ``collection`` Bundle of:

* **Vital signs** (``Observation``, category ``vital-signs``, status ``final``): heart rate (LOINC
  8867-4, ``/min``) and SpO2 (LOINC 59408-5 with 2708-6, ``%``) summarised per interval of
  :attr:`~kapmonitor.exporters.ExportOptions.summary_interval_s` seconds (default 60) counted from
  the session's start: the value is the **median** of the usable readings received in the interval
  (:func:`kapmonitor.review_series.usable_mask`; robust to a stray value), ``effectivePeriod`` is
  the interval, ``method.text`` says how many readings it summarises; an interval without a usable
  reading has no Observation. Every blood pressure measurement (a usable systolic and diastolic of
  the same moment, :func:`kapmonitor.review_series.bp_points`) is its own panel (LOINC 85354-9 with
  components 8480-6 systolic and 8462-4 diastolic, ``mm[Hg]``) at its own time. Units are UCUM.
* **Doses** (``MedicationAdministration``, status ``completed``): the first dose and each booster,
  medication text ``ketamine`` (no RxNorm coding: its code could not be verified here), the route
  of the session's protocol (SNOMED CT where there is a code: sublingual, nasal, intramuscular,
  intravenous), the dose in its UCUM unit; the lot as a contained ``Medication``'s batch.
* **Therapist observations** (``Observation``, category ``exam``, ``survey`` for scales and
  ``procedure`` for interventions; status ``amended`` once edited): the current revision of each
  observation that is not deleted, ``code.text`` its name, a number as ``valueQuantity``, a text as
  ``valueString`` (or a ``note`` beside a number), ``issued`` when it was written.

Every resource's subject is the client by identifier (system :data:`CLIENT_SYSTEM`; no Patient
resource: kapmonitor knows the pseudonymous code only). ``fullUrl`` and ``id`` are ``uuid5`` of the
session and the item, so the same session exports the same resources. De-identified (the CSV's
rules, :class:`db.export.readings.ExportIdentity`): the client and session as random tokens, every
time moved by the file's random offset, no free text, lot or initials, clinic-typed names as tokens,
no Bundle time stamp, and the uuids derived from the random session token. Stdlib ``json`` only.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Final

import numpy as np

from db.export.readings import ExportIdentity, SessionContent, current_observations, load_content
from db.export.source import SessionSource, StoredSession
from kapmonitor.exporters import DEFAULT_SUMMARY_INTERVAL_S, ExportOptions
from kapmonitor.ports import StreamData
from kapmonitor.protocols import Route
from kapmonitor.review_series import bp_points, usable_mask
from kapmonitor.types import EventKind, Observation, ObservationKind, Stream

__all__ = [
    "CLIENT_SYSTEM", "LOINC", "UCUM", "export_session_fhir", "session_bundle", "write_fhir",
]

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CLIENT_SYSTEM: Final = "urn:kapmonitor:client-code"
"""The identifier system of the client's pseudonymous code (a clinic mapping to its own patient
identifiers replaces it)."""
SESSION_SYSTEM: Final = "urn:kapmonitor:session"
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:kapmonitor:fhir")

_ROUTES: Final = {
    Route.SUBLINGUAL: ("37839007", "Sublingual route"),
    Route.INTRANASAL: ("46713006", "Nasal route"),
    Route.INTRAMUSCULAR: ("78421000", "Intramuscular route"),
    Route.INTRAVENOUS: ("47625008", "Intravenous route"),
}
"""SNOMED CT route codes (a custom route has text only)."""
_DOSE_UNITS: Final = {"mg": "mg", "µg": "ug", "mg/kg": "mg/kg", "mL": "mL"}
"""kapmonitor's dose units -> UCUM codes."""
_OBSERVATION_CATEGORY: Final = {ObservationKind.SCALE: "survey", ObservationKind.INTERVENTION: "procedure"}
"""Observation kind -> category (any other kind: ``exam``)."""


def _category(code: str, display: str) -> list[dict[str, Any]]:
    """An Observation ``category`` of the HL7 observation-category code system."""
    return [{"coding": [{"system": CATEGORY, "code": code, "display": display}]}]


def _loinc(code: str, display: str) -> dict[str, str]:
    """A LOINC coding."""
    return {"system": LOINC, "code": code, "display": display}


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    """A UCUM ``Quantity``: ``unit`` for people, ``code`` for machines."""
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


_VITALS: Final = {
    Stream.HEART_RATE: ({"coding": [_loinc("8867-4", "Heart rate")], "text": "Heart rate"},
                        "beats/minute", "/min"),
    Stream.SPO2: ({"coding": [_loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                              _loinc("2708-6", "Oxygen saturation in Arterial blood")],
                   "text": "SpO2"}, "%", "%"),
}
"""Summarised stream -> (code, UCUM unit text, UCUM code)."""
_VITAL_SIGNS: Final = _category("vital-signs", "Vital Signs")
_BP_PANEL: Final = {"coding": [_loinc("85354-9", "Blood pressure panel with all children optional")],
                    "text": "Blood pressure"}
_SYSTOLIC: Final = {"coding": [_loinc("8480-6", "Systolic blood pressure")]}
_DIASTOLIC: Final = {"coding": [_loinc("8462-4", "Diastolic blood pressure")]}


def _instant(at: datetime) -> str:
    """FHIR ``instant``/``dateTime``: UTC with milliseconds and ``Z``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Bundle:
    """Entries of one bundle, each with its deterministic uuid and the time it is sorted by."""

    def __init__(self, content: SessionContent, identity: ExportIdentity) -> None:
        self.identity = identity
        record = content.record
        key = (identity.session if identity.deidentified
               else f"{record.session_id}/{record.started_at.isoformat()}/{record.spec.client_code}")
        self.key = key
        self.subject = {"identifier": {"system": CLIENT_SYSTEM, "value": identity.client}}
        self.entries: list[tuple[datetime, int, dict[str, Any]]] = []

    def uid(self, item: str) -> str:
        """The uuid5 of ``item`` (``hr/60/3``, ``dose/0``...) in this session."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.key}/{item}"))

    def add(self, at: datetime, rank: int, item: str, resource: dict[str, Any]) -> None:
        """Add ``resource`` (its ``id`` and ``fullUrl`` from ``item``), sorted by ``at`` then ``rank``."""
        uid = self.uid(item)
        resource = {"resourceType": resource.pop("resourceType"), "id": uid, **resource}
        self.entries.append((at, rank, {"fullUrl": f"urn:uuid:{uid}", "resource": resource}))

    def at(self, moment: datetime) -> str:
        """``moment`` as the file writes it: shifted when de-identified, UTC with milliseconds."""
        return _instant(self.identity.moment(moment))


def _summaries(data: StreamData, anchor: datetime, interval_s: float) -> Iterator[tuple[int, float, int]]:
    """``(interval number, median, readings)`` of the usable readings per interval from ``anchor``."""
    ok = usable_mask(data)
    t, v = data.t[ok], data.value[ok]
    if not len(t):
        return
    k = np.floor((t - anchor.timestamp()) / interval_s).astype(np.int64)
    cuts = np.flatnonzero(np.diff(k)) + 1
    for idx, values in zip(np.split(k, cuts), np.split(v, cuts), strict=True):
        yield int(idx[0]), float(np.median(values)), len(values)


def _vitals(bundle: _Bundle, content: SessionContent, interval_s: float) -> None:
    """Heart rate and SpO2 per interval (median, :func:`_summaries`) and one panel per blood pressure."""
    anchor = content.record.started_at
    for rank, (stream, (code, unit, ucum)) in enumerate(_VITALS.items()):
        for k, median, count in _summaries(content.streams[stream], anchor, interval_s):
            start = anchor + timedelta(seconds=k * interval_s)
            end = anchor + timedelta(seconds=(k + 1) * interval_s)
            per = "reading" if count == 1 else "readings"
            bundle.add(start, rank, f"{stream.value}/{interval_s:g}/{k}", {
                "resourceType": "Observation", "status": "final",
                "category": _VITAL_SIGNS, "code": code, "subject": bundle.subject,
                "effectivePeriod": {"start": bundle.at(start), "end": bundle.at(end)},
                "valueQuantity": _quantity(median, unit, ucum),
                "method": {"text": f"median of {count} usable {per} in {interval_s:g} s"},
            })
    points = bp_points(content.streams[Stream.BP_SYSTOLIC], content.streams[Stream.BP_DIASTOLIC])
    for p in points:
        resource: dict[str, Any] = {
            "resourceType": "Observation", "status": "final", "category": _VITAL_SIGNS, "code": _BP_PANEL,
            "subject": bundle.subject, "effectiveDateTime": bundle.at(p.at),
            "component": [{"code": _SYSTOLIC, "valueQuantity": _quantity(p.systolic, "mmHg", "mm[Hg]")},
                          {"code": _DIASTOLIC, "valueQuantity": _quantity(p.diastolic, "mmHg", "mm[Hg]")}],
        }
        if p.manual:
            resource["method"] = {"text": "entered by hand"}
        bundle.add(p.at, 2, f"bp/{round(p.at.timestamp() * 1000)}", resource)


def _doses(bundle: _Bundle, content: SessionContent) -> None:
    """One MedicationAdministration per ``dose_given`` and ``booster_given`` event (amount from the event,
    which carries the session's dose when the bedside button named none)."""
    spec, identity = content.record.spec, bundle.identity
    route = spec.protocol.route
    coded = _ROUTES.get(route)
    route_concept: dict[str, Any] = {"text": route.label}
    if coded is not None:
        route_concept["coding"] = [{"system": SNOMED, "code": coded[0], "display": coded[1]}]
    lot = identity.typed(spec.lot)
    clinician = identity.typed(spec.clinician_initials)
    doses = [e for e in content.events if e.kind in (EventKind.DOSE_GIVEN, EventKind.BOOSTER_GIVEN)]
    for i, event in enumerate(doses):
        amount, unit = event.data.get("amount"), event.data.get("unit") or spec.dose_unit
        resource: dict[str, Any] = {"resourceType": "MedicationAdministration", "status": "completed"}
        if lot:
            resource["contained"] = [{"resourceType": "Medication", "id": "ketamine",
                                      "code": {"text": "ketamine"}, "batch": {"lotNumber": lot}}]
            resource["medicationReference"] = {"reference": "#ketamine", "display": "ketamine"}
        else:
            resource["medicationCodeableConcept"] = {"text": "ketamine"}
        resource |= {"subject": bundle.subject, "effectiveDateTime": bundle.at(event.at)}
        if clinician:
            resource["performer"] = [{"actor": {"display": clinician}}]
        kind = "first dose" if event.kind is EventKind.DOSE_GIVEN else "booster"
        if isinstance(amount, int | float) and not isinstance(amount, bool) and math.isfinite(amount):
            dose: dict[str, Any] = {"value": float(amount), "unit": str(unit)}
            if str(unit) in _DOSE_UNITS:
                dose |= {"system": UCUM, "code": _DOSE_UNITS[str(unit)]}
            resource["dosage"] = {"text": kind, "route": route_concept, "dose": dose}
        else:
            resource["note"] = [{"text": f"{kind}; amount not recorded; route {route.label}"}]
        bundle.add(event.at, 3, f"dose/{i}", resource)


def _observation(bundle: _Bundle, o: Observation, index: int) -> None:
    """One therapist observation (its current revision) as an Observation."""
    identity = bundle.identity
    code = _OBSERVATION_CATEGORY.get(o.kind, "exam")
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": "amended" if o.revision > 1 else "final",
        "category": _category(code, code.capitalize()),
        "code": {"text": identity.observation_name(o.kind, o.name)}, "subject": bundle.subject,
        "effectiveDateTime": bundle.at(o.occurred_at), "issued": bundle.at(o.recorded_at),
    }
    text = identity.typed(o.text)
    author = identity.typed(o.author)
    if author:
        resource["performer"] = [{"display": author}]
    if o.value is not None and math.isfinite(o.value):
        resource["valueQuantity"] = {"value": o.value}
        if text:
            resource["note"] = [{"text": text}]
    elif text:
        resource["valueString"] = text
    bundle.add(o.occurred_at, 4, f"observation/{index}", resource)


def session_bundle(content: SessionContent, identity: ExportIdentity, *, interval_s: float,
                   generated_at: datetime | None) -> dict[str, Any]:
    """The FHIR Bundle of ``content`` as JSON-ready data (see the module docstring).

    ``generated_at`` becomes ``Bundle.timestamp`` (None: no time stamp, as in a de-identified file).
    """
    bundle = _Bundle(content, identity)
    _vitals(bundle, content, interval_s)
    _doses(bundle, content)
    for i, o in enumerate(current_observations(content.observations)):
        _observation(bundle, o, i)
    bundle.entries.sort(key=lambda e: (e[0], e[1]))
    out: dict[str, Any] = {
        "resourceType": "Bundle", "id": bundle.uid("bundle"),
        "identifier": {"system": SESSION_SYSTEM, "value": identity.session}, "type": "collection",
    }
    if generated_at is not None:
        out["timestamp"] = _instant(generated_at)
    out["entry"] = [e for _, _, e in bundle.entries]
    return out


def export_session_fhir(store: SessionSource, session_id: int, out: BinaryIO, *, generated_at: datetime,
                        interval_s: float = DEFAULT_SUMMARY_INTERVAL_S, deidentify: bool = False,
                        rng: random.Random | None = None) -> int:
    """Write one session as a FHIR R4 Bundle (UTF-8 JSON) to ``out``; return the number of resources.

    Args:
        generated_at: when the file is made (``Bundle.timestamp``; left out when de-identified).
        interval_s: the summarising interval of heart rate and SpO2, seconds.
        deidentify: the CSV's de-identification (see the module docstring).
        rng: the random source for de-identification (default: ``random.SystemRandom()``).

    Raises:
        KeyError: there is no such session.
        StoreError: the database could not be read.
        OSError: ``out`` could not be written.
    """
    content = load_content(store, session_id, [Stream.HEART_RATE, Stream.SPO2, Stream.BP_SYSTOLIC,
                                               Stream.BP_DIASTOLIC])
    identity = ExportIdentity.of(content, deidentify, rng)
    bundle = session_bundle(content, identity, interval_s=interval_s,
                            generated_at=None if deidentify else generated_at)
    out.write(json.dumps(bundle, ensure_ascii=False, indent=1).encode("utf-8"))
    out.write(b"\n")
    return len(bundle["entry"])


def write_fhir(session: StoredSession, out: BinaryIO, options: ExportOptions) -> int:
    """The ``fhir`` format: :func:`export_session_fhir` with the options' interval; return the resources."""
    return export_session_fhir(session.store, session.session_id, out, generated_at=options.generated_at,
                               interval_s=options.summary_interval_s, deidentify=options.deidentify)
