"""Hand-entered vital signs (manual blood pressure, SpO2, heart rate): checks and readings.

The checks are shared by the recorder (which refuses bad values) and the UI
(which shows the same message next to the field); the recorder records what
passes as ``MANUAL`` readings (:func:`manual_vitals_readings`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from kapmonitor.types import Reading, ReadingFlag, Stream

__all__ = ["MANUAL_SENSOR_ID", "VITAL_RANGES", "check_manual_vitals", "manual_vitals_readings"]

MANUAL_SENSOR_ID: Final = "manual"
"""The sensor id of hand-entered readings (the recorder stamps them on the session's line itself)."""

#: Accepted ranges for hand-entered values: (low, high, unit). Wide on purpose: they catch
#: typing slips (a missing or extra digit), not clinical abnormality.
VITAL_RANGES: Final = {
    "systolic": (40.0, 300.0, "mmHg"),
    "diastolic": (20.0, 200.0, "mmHg"),
    "spo2": (50.0, 100.0, "%"),
    "heart_rate": (20.0, 250.0, "bpm"),
}


def check_manual_vitals(
    *,
    systolic: float | None = None,
    diastolic: float | None = None,
    spo2: float | None = None,
    heart_rate: float | None = None,
) -> None:
    """Raise ``ValueError`` naming the field if hand-entered vitals cannot be right.

    Blood pressure needs both values, with diastolic below systolic; every value
    must lie in :data:`VITAL_RANGES`; at least one value must be given.
    """
    given = {"systolic": systolic, "diastolic": diastolic, "spo2": spo2, "heart_rate": heart_rate}
    if all(v is None for v in given.values()):
        raise ValueError("enter at least one vital sign")
    if (systolic is None) != (diastolic is None):
        raise ValueError("blood pressure needs both systolic and diastolic values")
    for field, value in given.items():
        if value is None:
            continue
        low, high, unit = VITAL_RANGES[field]
        if not low <= value <= high:
            raise ValueError(f"{field} must be between {low:g} and {high:g} {unit}, got {value:g}")
    if systolic is not None and diastolic is not None and diastolic >= systolic:
        raise ValueError(f"diastolic ({diastolic:g}) must be below systolic ({systolic:g})")


def manual_vitals_readings(
    at: datetime,
    *,
    systolic: float | None = None,
    diastolic: float | None = None,
    spo2: float | None = None,
    heart_rate: float | None = None,
) -> tuple[list[Reading], str]:
    """Hand-entered vitals as one packet of ``MANUAL`` readings at ``at``, and their description.

    The description reads like ``BP 124/78 mmHg, SpO2 97 %, HR 72 bpm`` (given values only).
    Check the values first (:func:`check_manual_vitals`).
    """
    values: list[tuple[Stream, float]] = []
    parts: list[str] = []
    if systolic is not None and diastolic is not None:
        values += [(Stream.BP_SYSTOLIC, systolic), (Stream.BP_DIASTOLIC, diastolic)]
        parts.append(f"BP {systolic:g}/{diastolic:g} mmHg")
    if spo2 is not None:
        values.append((Stream.SPO2, spo2))
        parts.append(f"SpO2 {spo2:g} %")
    if heart_rate is not None:
        values.append((Stream.HEART_RATE, heart_rate))
        parts.append(f"HR {heart_rate:g} bpm")
    readings = [Reading(stream, value, at, MANUAL_SENSOR_ID, ReadingFlag.MANUAL) for stream, value in values]
    return readings, ", ".join(parts)
