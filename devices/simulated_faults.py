"""Scripted faults for the simulated sensor, and the device state they imply.

A :class:`Fault` is a technical problem the simulated sensor acts out at a
given time after it started: the skin contact is lost, the radio link drops,
or the battery runs down. :class:`FaultTimeline` answers, as a pure function
of model time (seconds since the sensor started), what state the device is in:
is the link up, has it been away long enough to count as lost, is there skin
contact, what is the battery level. It also lists the times at which that
state can change, so the sensor reports each change at the right moment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["Fault", "FaultKind", "FaultTimeline"]

FaultKind = Literal["contact_lost", "link_drop", "battery_drain"]
_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted technical fault.

    Attributes:
        kind: ``"contact_lost"``: the strap reports "contact supported, not
            detected" (readings flagged NO_CONTACT, status ``contact=False``);
            ``"link_drop"``: no packets at all, status RECONNECTING, then LOST
            after the sensor's ``lost_after_s``, then CONNECTED again;
            ``"battery_drain"``: the battery falls steadily to ``to_pct``.
        at_s: when it starts, in clock seconds after the sensor started.
        duration_s: how long it lasts (for a battery drain: how long the fall takes).
        to_pct: battery drain only: the level reached at the end (default 12 %,
            below the usual 15 % battery alarm).
    """

    kind: FaultKind
    at_s: float
    duration_s: float
    to_pct: int = 12

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known kinds: {', '.join(_KINDS)}")
        if not (isinstance(self.at_s, int | float) and math.isfinite(self.at_s) and self.at_s >= 0):
            raise ValueError(f"fault start at_s must be a finite number of seconds >= 0, got {self.at_s!r}")
        duration = self.duration_s
        if not (isinstance(duration, int | float) and math.isfinite(duration) and duration > 0):
            raise ValueError(
                f"fault duration_s must be a finite number of seconds > 0, got {self.duration_s!r}"
            )
        if not (isinstance(self.to_pct, int) and 0 <= self.to_pct <= 100):
            raise ValueError(f"battery drain to_pct must be an integer percent 0..100, got {self.to_pct!r}")

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    def active_at(self, t_s: float) -> bool:
        """True while ``at_s <= t_s < end_s``."""
        return self.at_s <= t_s < self.end_s


class FaultTimeline:
    """The device state implied by a set of faults, as a function of model time.

    Args:
        faults: the scripted faults (more may be added with :meth:`add`).
        lost_after_s: how long a dropped link stays RECONNECTING before it
            counts as LOST.
        battery_start_pct: battery level at model time 0.
        battery_drain_pct_per_h: normal discharge rate.
    """

    def __init__(
        self,
        faults: Iterable[Fault] = (),
        *,
        lost_after_s: float = 10.0,
        battery_start_pct: float = 90.0,
        battery_drain_pct_per_h: float = 3.0,
    ) -> None:
        if not (math.isfinite(lost_after_s) and lost_after_s > 0):
            raise ValueError(f"lost_after_s must be a positive number of seconds, got {lost_after_s!r}")
        if not 0 <= battery_start_pct <= 100:
            raise ValueError(f"battery_start_pct must be 0..100, got {battery_start_pct!r}")
        if not (math.isfinite(battery_drain_pct_per_h) and battery_drain_pct_per_h >= 0):
            raise ValueError(f"battery_drain_pct_per_h must be >= 0, got {battery_drain_pct_per_h!r}")
        self.lost_after_s = float(lost_after_s)
        self._battery_start = float(battery_start_pct)
        self._drain_per_s = battery_drain_pct_per_h / 3600.0
        self._faults: list[Fault] = []
        self._drain_deficits: list[tuple[Fault, float]] = []
        for fault in faults:
            self.add(fault)

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(self._faults)

    def add(self, fault: Fault) -> None:
        """Add a fault (it only affects times from its ``at_s`` on)."""
        self._faults.append(fault)
        self._faults.sort(key=lambda f: (f.at_s, f.kind))
        self._drain_deficits = []
        for f in self._faults:
            if f.kind == "battery_drain":
                level = self._battery_level(f.at_s)
                self._drain_deficits.append((f, max(0.0, level - f.to_pct)))

    def _of_kind(self, kind: FaultKind) -> list[Fault]:
        return [f for f in self._faults if f.kind == kind]

    def contact(self, t_s: float) -> bool:
        """True unless a contact_lost fault is active at ``t_s``."""
        return not any(f.active_at(t_s) for f in self._of_kind("contact_lost"))

    def link_down_since(self, t_s: float) -> float | None:
        """Start of the (merged) link outage covering ``t_s``, or None if the link is up."""
        drops = [f for f in self._of_kind("link_drop") if f.at_s <= t_s]
        if not any(f.active_at(t_s) for f in drops):
            return None
        start = t_s
        changed = True
        while changed:
            changed = False
            for f in drops:
                if f.at_s < start <= f.end_s:
                    start = f.at_s
                    changed = True
        return start

    def link_lost(self, t_s: float) -> bool:
        """True once a link outage has lasted ``lost_after_s``."""
        since = self.link_down_since(t_s)
        return since is not None and t_s - since >= self.lost_after_s

    def _battery_level(self, t_s: float) -> float:
        level = self._battery_start - self._drain_per_s * max(0.0, t_s)
        for fault, deficit in self._drain_deficits:
            if t_s > fault.at_s:
                level -= deficit * min(1.0, (t_s - fault.at_s) / fault.duration_s)
        return level

    def battery_pct(self, t_s: float) -> int:
        """Battery level in whole percent at ``t_s`` (0..100)."""
        return min(100, max(0, math.ceil(self._battery_level(t_s) - 1e-9)))

    def next_change_after(self, t_s: float) -> float | None:
        """The earliest time after ``t_s`` at which link or contact state may change."""
        times: list[float] = []
        for f in self._faults:
            if f.kind == "battery_drain":
                continue
            times += [f.at_s, f.end_s]
            if f.kind == "link_drop":
                times.append(f.at_s + self.lost_after_s)
        later = [x for x in times if x > t_s]
        return min(later) if later else None
