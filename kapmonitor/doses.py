"""Plausible ketamine doses per route and unit: a typo (10000 mg, 56 mL) is caught before it is recorded.

The table is a plausibility check, not a dosing guide and not a limit: a dose outside its row is
still recorded once the therapist confirms it (a clinic's protocol may differ). The rows are wide
on purpose, from typical doses in public sources (these are starting points, not medical advice):

* sublingual / buccal racemic ketamine lozenges or rapid-dissolving tablets: about 50-800 mg
  (compounded troches of 100-400 mg are common; at-home programmes titrate up to several hundred mg),
  i.e. roughly 0.5-12 mg/kg;
* intranasal esketamine (Spravato label): 28, 56 or 84 mg (one to three 28 mg devices), about
  0.2-2 mg/kg; a device delivers 0.1 mL per spray, so at most about 1 mL;
* intramuscular racemic ketamine: about 0.25-2 mg/kg (roughly 15-250 mg), an injection of at most
  about 5 mL;
* intravenous racemic ketamine infusion: typically 0.5 mg/kg over 40 min, in KAP from about 0.2 to
  1.5 mg/kg (roughly 15-200 mg); the infusion bag holds up to about 500 mL;
* a custom route: the widest of the above for each unit.

Micrograms are the milligram rows times 1000. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from kapmonitor.protocols import Route

__all__ = ["PLAUSIBLE_DOSES", "DoseRange", "dose_warning", "plausible_range"]


@dataclass(frozen=True, slots=True)
class DoseRange:
    """Inclusive bounds of a plausible dose in ``unit``."""

    low: float
    high: float
    unit: str

    def contains(self, amount: float) -> bool:
        return self.low <= amount <= self.high

    @property
    def words(self) -> str:
        return f"{self.low:g}–{self.high:g} {self.unit}"


def _rows(mg: tuple[float, float], mg_kg: tuple[float, float],
          ml: tuple[float, float]) -> dict[str, DoseRange]:
    return {
        "mg": DoseRange(*mg, "mg"),
        "µg": DoseRange(mg[0] * 1000.0, mg[1] * 1000.0, "µg"),
        "mg/kg": DoseRange(*mg_kg, "mg/kg"),
        "mL": DoseRange(*ml, "mL"),
    }


_BY_ROUTE: dict[Route, dict[str, DoseRange]] = {
    Route.SUBLINGUAL: _rows((50.0, 800.0), (0.5, 12.0), (0.1, 10.0)),
    Route.INTRANASAL: _rows((28.0, 84.0), (0.2, 2.0), (0.1, 1.0)),
    Route.INTRAMUSCULAR: _rows((15.0, 250.0), (0.25, 2.0), (0.1, 5.0)),
    Route.INTRAVENOUS: _rows((15.0, 200.0), (0.2, 1.5), (10.0, 500.0)),
}
_BY_ROUTE[Route.CUSTOM] = {
    unit: DoseRange(min(r[unit].low for r in _BY_ROUTE.values()),
                    max(r[unit].high for r in _BY_ROUTE.values()), unit)
    for unit in ("mg", "µg", "mg/kg", "mL")
}

PLAUSIBLE_DOSES: Final[Mapping[Route, Mapping[str, DoseRange]]] = _BY_ROUTE
"""Route -> unit -> :class:`DoseRange`; one row for every route and every dose unit."""


def plausible_range(route: Route, unit: str) -> DoseRange | None:
    """The plausible doses for ``route`` in ``unit`` (None for a unit the table does not know)."""
    return PLAUSIBLE_DOSES[route].get(unit)


def dose_warning(route: Route, amount: float, unit: str) -> str:
    """What is unusual about ``amount`` ``unit`` by ``route``, in words ("" when it is plausible).

    A unit the table does not know is always worth a second look.
    """
    expected = plausible_range(route, unit)
    if expected is None:
        return f"{amount:g} {unit} is in a unit kapmonitor has no typical doses for."
    if expected.contains(amount):
        return ""
    side = "more" if amount > expected.high else "less"
    return (f"{amount:g} {unit} is {side} than a typical {route.label.lower()} dose "
            f"({expected.words}).")
