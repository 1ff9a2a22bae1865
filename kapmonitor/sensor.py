"""The sensor abstraction every layer above ``devices/`` relies on.

A BLE sensor and the simulated sensor both implement :class:`Sensor`; nothing
above ``devices/`` knows which it has. A sensor pushes what it measures into a
:class:`SensorSink`. Sink methods are called from the sensor's own thread (the
BLE asyncio thread, or the simulator's thread), so a sink must be thread-safe
and must not block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from kapmonitor.types import Reading, SensorInfo, SensorStatus

__all__ = ["Sensor", "SensorSink", "SensorSpec"]


@runtime_checkable
class SensorSink(Protocol):
    """Receives a sensor's output; implemented by the recorder."""

    def readings_received(self, readings: Sequence[Reading]) -> None:
        """One packet was measured, as one unit: a heart rate with its RR intervals, or one
        blood-pressure measurement (already parsed, checked against the streams table, and
        time-stamped on arrival)."""
        ...

    def status_changed(self, status: SensorStatus) -> None:
        """The link state, battery or skin contact changed."""
        ...

    def info_received(self, info: SensorInfo) -> None:
        """The sensor identified itself (name, model, firmware, location)."""
        ...


@runtime_checkable
class Sensor(Protocol):
    """A source of readings that can be started and stopped."""

    @property
    def sensor_id(self) -> str:
        """Stable identity: BLE address, or ``simulated:N``."""
        ...

    def start(self, sink: SensorSink) -> None:
        """Begin delivering to ``sink``; returns at once (work runs elsewhere)."""
        ...

    def stop(self) -> None:
        """Stop delivering and release the link; blocks until nothing more is delivered."""
        ...

    def request_blood_pressure(self) -> bool:
        """Ask for a blood-pressure measurement; False if this sensor cannot take one."""
        ...


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """Which sensor to use, as named on the command line and in the app: ``simulated``,
    ``simulated:SEED`` or ``ble:ADDRESS``."""

    kind: Literal["simulated", "ble"]
    seed: int | None = None
    address: str = ""

    @classmethod
    def parse(cls, text: str) -> SensorSpec:
        """Raises ``ValueError`` saying what is accepted."""
        kind, sep, rest = text.strip().partition(":")
        if kind == "simulated":
            if not sep:
                return cls("simulated")
            if rest.isdigit() and int(rest) > 0:
                return cls("simulated", seed=int(rest))
        elif kind == "ble" and rest.strip():
            return cls("ble", address=rest.strip())
        raise ValueError(f"sensor must be 'simulated', 'simulated:SEED' (a whole number above 0) or "
                         f"'ble:ADDRESS' (e.g. ble:A0:9E:1A:12:34:56), got {text!r}")
