"""A deterministic model of one client's vital signs during a ketamine session.

Pure signal model for :mod:`devices.simulated`: no threads, no clock, no I/O.
Time is *model seconds* (``t_s``), seconds since the simulated sensor started.
Everything is a function of the seed and the dose time, so the same seed and
the same times give the same values.

What it models (CLINICAL.md):

* **Heart beats.** Instantaneous heart rate is a baseline (about 62-74 bpm,
  chosen by the seed) plus respiratory sinus arrhythmia (breathing at about
  0.25 Hz, a few bpm), a slow drift, and after the dose a modest rise (an
  individual amount of about 5-25 bpm) that peaks about 35 min after the dose
  and fades through integration. RR intervals follow from that rate with a
  little beat-to-beat jitter and are quantised to the 1/1024 s a chest strap
  reports; beat times are the running sum of those quantised intervals.
* **Artifacts.** A small fraction of beats are ectopic (a premature beat
  followed by a compensatory pause) or missed by the strap (one interval that
  spans two beats). Each :class:`Beat` carries its :class:`BeatKind` so tests
  can check artifact detection against the truth.
* **Blood pressure** rises after the dose by an individual multiple of
  +16/+11 mmHg, peaking about 40 min after it.
* **SpO2** stays at about 97-99 % with a mild dip during the effect.

These are plausible demo signals, not a validated physiological model.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Beat", "BeatKind", "BloodPressure", "SimulatedPhysiology", "dose_response"]

HR_PEAK_AFTER_DOSE_S = 35 * 60.0
"""Heart-rate rise peaks this long after the dose."""
BP_PEAK_AFTER_DOSE_S = 40 * 60.0
"""Blood-pressure rise peaks this long after the dose (CLINICAL.md: +16/+11 mmHg at 40 min)."""
_RESPONSE_SHAPE = 2.0
_RR_UNITS_PER_S = 1024


def dose_response(since_dose_s: float, peak_s: float) -> float:
    """Fraction (0..1) of the full drug response ``since_dose_s`` after the dose.

    A gamma-shaped curve ``(x ** k) * exp(k * (1 - x))`` with ``x = since/peak``
    and ``k = 2``: 0 before the dose, 0.9 at 0.7 x peak, 1 at the peak, about
    0.1 at 3.3 x peak (the slow return during integration).
    """
    if since_dose_s <= 0.0 or peak_s <= 0.0:
        return 0.0
    x = since_dose_s / peak_s
    return float(x**_RESPONSE_SHAPE * math.exp(_RESPONSE_SHAPE * (1.0 - x)))


class BeatKind(StrEnum):
    """What kind of interval a :class:`Beat` closes (the simulator's ground truth)."""

    NORMAL = "normal"
    ECTOPIC = "ectopic"
    """A premature beat: a short interval."""
    COMPENSATORY = "compensatory"
    """The long pause after an ectopic beat."""
    MISSED = "missed"
    """The strap missed a beat: one interval spanning two."""

    @property
    def is_artifact(self) -> bool:
        return self is not BeatKind.NORMAL


@dataclass(frozen=True, slots=True)
class Beat:
    """One detected beat, closing an RR interval.

    Attributes:
        end_s: model time of the beat (the end of the interval).
        rr_1024: the interval in the strap's units of 1/1024 s.
        kind: normal, or which artifact it is.
    """

    end_s: float
    rr_1024: int
    kind: BeatKind

    @property
    def rr_ms(self) -> float:
        return self.rr_1024 * 1000.0 / _RR_UNITS_PER_S


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """One cuff measurement in whole mmHg."""

    systolic: int
    diastolic: int
    mean: int


class _Noise:
    """Standard normal deviates as a pure function of ``key``: BLAKE2b in counter mode, Box-Muller.

    The values must depend on the seed, the stream and the time alone (a measurement at the same
    moment of the same simulated client is the same whatever was asked before). Seeding a fresh
    ``random.Random`` for each value did that too, but building and seeding a Mersenne Twister
    costs ~30x one hash; the k-th deviate here is one 128-bit hash of the key and ``k``.
    """

    __slots__ = ("_drawn", "_key")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._drawn = 0

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        """The next normal deviate with mean ``mu`` and standard deviation ``sigma``."""
        digest = hashlib.blake2b(self._key, digest_size=16, salt=self._drawn.to_bytes(16, "little")).digest()
        self._drawn += 1
        # Two uniforms from 53 bits each; u1 in (0, 1] so that log(u1) is finite.
        u1 = ((int.from_bytes(digest[:8], "little") >> 11) + 1) * _2_POW_M53
        u2 = (int.from_bytes(digest[8:], "little") >> 11) * _2_POW_M53
        return mu + sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


_2_POW_M53 = 2.0**-53


def _check_rate(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 0.2):
        raise ValueError(f"{name} must be a fraction of beats between 0 and 0.2, got {value!r}")
    return float(value)


class SimulatedPhysiology:
    """Seeded vital-sign model; see the module docstring for what it models.

    Beats are generated in time order by :meth:`beats_until` (it keeps the
    position reached). Every other quantity is a pure function of ``t_s``.

    Args:
        seed: picks the individual (baseline, breathing, drug response) and the noise.
        ectopic_rate: fraction of beats that are ectopic (each adds a
            compensatory pause as well).
        missed_rate: fraction of beats the strap misses.
    """

    def __init__(self, seed: int = 1, *, ectopic_rate: float = 0.003, missed_rate: float = 0.002) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self._seed = seed
        self.ectopic_rate = _check_rate("ectopic_rate", ectopic_rate)
        self.missed_rate = _check_rate("missed_rate", missed_rate)
        ind = random.Random(f"kapmonitor-sim:{seed}:individual")
        self.baseline_hr_bpm = ind.uniform(62.0, 74.0)
        self.hr_rise_bpm = min(25.0, max(5.0, ind.lognormvariate(math.log(10.0), 0.4)))
        self.breathing_hz = ind.uniform(0.22, 0.28)
        self.rsa_bpm = ind.uniform(2.5, 4.5)
        self._breath_phase = ind.uniform(0.0, 2 * math.pi)
        self._drift = [
            (ind.uniform(0.8, 1.8), 1.0 / ind.uniform(6 * 60.0, 12 * 60.0), ind.uniform(0.0, 2 * math.pi)),
            (ind.uniform(0.8, 1.8), 1.0 / ind.uniform(20 * 60.0, 40 * 60.0), ind.uniform(0.0, 2 * math.pi)),
        ]
        self.baseline_sbp = ind.uniform(112.0, 128.0)
        self.baseline_dbp = ind.uniform(70.0, 80.0)
        self.bp_rise_factor = min(2.0, max(0.5, ind.lognormvariate(0.0, 0.3)))
        self.baseline_spo2 = ind.uniform(97.4, 98.6)
        self._dose_s: float | None = None
        self._beat_rng = random.Random(f"kapmonitor-sim:{seed}:beats")
        self._first_beat_s = self._beat_rng.uniform(0.2, 0.9)
        self._cum_1024 = 0
        self._pending: list[tuple[int, BeatKind]] = []

    # -- the dose ----------------------------------------------------------------

    @property
    def dose_time_s(self) -> float | None:
        """Model time of the (first) dose, or None before any dose."""
        return self._dose_s

    def set_dose_time(self, t_s: float | None) -> None:
        """Tell the model when the dose was given (model seconds; may be negative or past).

        Beats already generated keep their values; later beats follow the new
        dose time. ``None`` removes the dose (back to baseline).
        """
        if t_s is not None and not math.isfinite(t_s):
            raise ValueError(f"dose time must be a finite number of model seconds, got {t_s!r}")
        self._dose_s = None if t_s is None else float(t_s)

    def _since_dose(self, t_s: float) -> float:
        return -1.0 if self._dose_s is None else t_s - self._dose_s

    # -- continuous signals --------------------------------------------------------

    def hr_response(self, t_s: float) -> float:
        """Fraction (0..1) of the individual heart-rate rise present at ``t_s``."""
        return dose_response(self._since_dose(t_s), HR_PEAK_AFTER_DOSE_S)

    def mean_heart_rate_bpm(self, t_s: float) -> float:
        """Heart rate without breathing modulation: baseline + drift + drug rise."""
        drift = sum(a * math.sin(2 * math.pi * f * t_s + p) for a, f, p in self._drift)
        return self.baseline_hr_bpm + drift + self.hr_rise_bpm * self.hr_response(t_s)

    def heart_rate_bpm(self, t_s: float) -> float:
        """Instantaneous heart rate, including respiratory sinus arrhythmia.

        Ketamine is sympathomimetic, so breathing modulation shrinks by up to a
        third at the peak of the response.
        """
        rsa = self.rsa_bpm * (1.0 - 0.35 * self.hr_response(t_s))
        breathing = math.sin(2 * math.pi * self.breathing_hz * t_s + self._breath_phase)
        return min(200.0, max(30.0, self.mean_heart_rate_bpm(t_s) + rsa * breathing))

    def _noise(self, stream: str, t_s: float) -> _Noise:
        """Normal deviates that depend only on the seed, the stream and the millisecond of ``t_s``."""
        return _Noise(f"kapmonitor-sim:{self._seed}:{stream}:{round(t_s * 1000.0)}".encode())

    def spo2_pct(self, t_s: float) -> int:
        """SpO2 in whole percent at ``t_s``: about 97-99 %, dipping up to ~1 % during the effect."""
        slow = 0.3 * math.sin(2 * math.pi * t_s / 420.0 + self._breath_phase)
        dip = 0.9 * dose_response(self._since_dose(t_s), HR_PEAK_AFTER_DOSE_S)
        value = self.baseline_spo2 + slow - dip + self._noise("spo2", t_s).gauss(0.0, 0.35)
        return min(100, max(90, round(value)))

    def blood_pressure(self, t_s: float) -> BloodPressure:
        """A cuff measurement completed at ``t_s`` (with measurement scatter)."""
        response = self.bp_rise_factor * dose_response(self._since_dose(t_s), BP_PEAK_AFTER_DOSE_S)
        rng = self._noise("bp", t_s)
        sbp = round(self.baseline_sbp + 16.0 * response + rng.gauss(0.0, 3.0))
        dbp = round(self.baseline_dbp + 11.0 * response + rng.gauss(0.0, 2.0))
        dbp = min(dbp, sbp - 20)
        return BloodPressure(systolic=sbp, diastolic=dbp, mean=round(dbp + (sbp - dbp) / 3.0))

    # -- beats -----------------------------------------------------------------------

    def next_beat_s(self) -> float:
        """Model time of the next beat :meth:`beats_until` has not yet returned."""
        if not self._pending:
            self._schedule_more()
        return self._first_beat_s + (self._cum_1024 + self._pending[0][0]) / _RR_UNITS_PER_S

    def beats_until(self, t_s: float) -> list[Beat]:
        """All beats with ``end_s <= t_s`` not returned by an earlier call, in order."""
        out: list[Beat] = []
        while self.next_beat_s() <= t_s:
            rr, kind = self._pending.pop(0)
            self._cum_1024 += rr
            out.append(Beat(self._first_beat_s + self._cum_1024 / _RR_UNITS_PER_S, rr, kind))
        return out

    def _normal_rr_1024(self, t_s: float) -> int:
        rr_ms = 60000.0 / self.heart_rate_bpm(t_s) + self._beat_rng.gauss(0.0, 6.0)
        return max(250, round(rr_ms * _RR_UNITS_PER_S / 1000.0))

    def _schedule_more(self) -> None:
        """Queue the next interval, or the pair of intervals an artifact spans."""
        t_s = self._first_beat_s + self._cum_1024 / _RR_UNITS_PER_S
        rr = self._normal_rr_1024(t_s)
        draw = self._beat_rng.random()
        if draw < self.ectopic_rate:
            premature = round(rr * self._beat_rng.uniform(0.58, 0.75))
            self._pending += [(premature, BeatKind.ECTOPIC), (2 * rr - premature, BeatKind.COMPENSATORY)]
        elif draw < self.ectopic_rate + self.missed_rate:
            second = self._normal_rr_1024(t_s + rr / _RR_UNITS_PER_S)
            self._pending.append((rr + second, BeatKind.MISSED))
        else:
            self._pending.append((rr, BeatKind.NORMAL))
