"""One place that builds a sensor from its name (:class:`kapmonitor.sensor.SensorSpec`).

The command line (``record --sensor``), the window (the Sensors dialog, the demo) and the
self-test all build their sensors here, so ``simulated``, ``simulated:SEED`` and
``ble:ADDRESS`` mean the same everywhere.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from kapmonitor.clock import Clock
from kapmonitor.sensor import Sensor, SensorSpec

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice

    from devices.runtime import BleRuntime

__all__ = ["make_sensor"]


def make_sensor(spec: SensorSpec | str, clock: Clock, *, runtime: BleRuntime | None = None,
                name: str = "", device: BLEDevice | None = None) -> Sensor:
    """The sensor ``spec`` names, on ``clock`` (a simulated one without a seed gets a random seed).

    Raises:
        ValueError: the name is not one of the accepted forms, or a Bluetooth sensor was asked
            for without a Bluetooth runtime.
    """
    if isinstance(spec, str):
        spec = SensorSpec.parse(spec)
    if spec.kind == "simulated":
        from devices.simulated import SimulatedSensor

        seed = spec.seed if spec.seed is not None else random.SystemRandom().randrange(1, 2**31)
        return SimulatedSensor(clock, seed=seed)
    if runtime is None:
        raise ValueError("Bluetooth is not available on this computer; only the simulated sensor works")
    from devices.ble_sensor import BleSensor

    return BleSensor(runtime, spec.address, clock, name=name, device=device)
