"""Validation of hand-entered vital signs (manual blood pressure, SpO2, heart rate).

Shared by the recorder (which refuses bad values) and the UI (which shows the
same message next to the field).
"""

from __future__ import annotations

from typing import Final

__all__ = ["VITAL_RANGES", "check_manual_vitals"]

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
