"""The pre-dose baseline: what the client's vitals were before the first dose.

One rule, used live by the recorder (for the baseline-relative alarm limits), when
a session resumes, and by the review summary:

* **Heart rate**: the median of the *usable* heart-rate readings (the streams
  table's rule, :func:`~kapmonitor.review_series.usable_mask`) stamped strictly
  before the first dose. A dose entered late (its time in the past) therefore
  leaves out the readings taken between the dose and the button press.
* **Blood pressure**: the last usable systolic/diastolic pair measured strictly
  before the first dose.

Without a first dose there is no baseline (None). Pure functions over numpy
arrays; :class:`PreDoseHeartRate` collects the live readings until the dose.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from kapmonitor.clock import ensure_utc
from kapmonitor.ports import StreamData
from kapmonitor.review_series import BpPoint, usable_mask
from kapmonitor.types import Reading, Stream

__all__ = ["PreDoseHeartRate", "bp_baseline", "hr_baseline"]


def hr_baseline(heart_rate: StreamData, first_dose_at: datetime | None) -> float | None:
    """Median of the usable readings of ``heart_rate`` stamped before ``first_dose_at``.

    None without a dose or without a usable reading before it.
    """
    if first_dose_at is None:
        return None
    ok = usable_mask(heart_rate) & (heart_rate.t < ensure_utc(first_dose_at).timestamp())
    values = heart_rate.value[ok]
    return float(np.median(values)) if values.size else None


def bp_baseline(points: Sequence[BpPoint], first_dose_at: datetime | None) -> BpPoint | None:
    """The last of ``points`` (paired, usable, in time order) measured before ``first_dose_at``."""
    if first_dose_at is None:
        return None
    dose = ensure_utc(first_dose_at)
    before = [p for p in points if p.at < dose]
    return before[-1] if before else None


class PreDoseHeartRate:
    """Heart-rate readings kept while no dose has been given, for :func:`hr_baseline` at the dose.

    Not thread-safe: the recorder calls it under its state lock.
    """

    def __init__(self) -> None:
        self._t: list[float] = []
        self._value: list[float] = []
        self._flags: list[int] = []

    def add(self, reading: Reading) -> None:
        """Keep one heart-rate reading (its flags decide later whether it counts)."""
        self._t.append(ensure_utc(reading.at).timestamp())
        self._value.append(reading.value)
        self._flags.append(int(reading.flags))

    def extend(self, stored: StreamData) -> None:
        """Keep the heart rate already stored (a session resumed before its dose)."""
        self._t.extend(float(t) for t in stored.t)
        self._value.extend(float(v) for v in stored.value)
        self._flags.extend(int(f) for f in stored.flags)

    def baseline(self, first_dose_at: datetime) -> float | None:
        """The heart-rate baseline for a first dose at ``first_dose_at`` (see the module doc)."""
        data = StreamData(Stream.HEART_RATE, np.asarray(self._t, dtype=np.float64),
                          np.asarray(self._value, dtype=np.float64), np.asarray(self._flags, dtype=np.int32))
        return hr_baseline(data, first_dose_at)
