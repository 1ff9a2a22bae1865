"""One way to name and build a sensor, for the command line, the window and the self-test."""

from __future__ import annotations

import pytest

from devices.factory import make_sensor
from devices.simulated import SimulatedSensor
from kapmonitor.clock import FakeClock
from kapmonitor.sensor import SensorSpec


@pytest.mark.parametrize(("text", "spec"), [
    ("simulated", SensorSpec("simulated")),
    ("simulated:42", SensorSpec("simulated", seed=42)),
    ("ble:A0:9E:1A:12:34:56", SensorSpec("ble", address="A0:9E:1A:12:34:56")),
])
def test_accepted_names(text: str, spec: SensorSpec) -> None:
    assert SensorSpec.parse(text) == spec


@pytest.mark.parametrize("text", ["", "ble:", "simulated:0", "simulated:x", "polar", "ble"])
def test_a_bad_name_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="'simulated', 'simulated:SEED'"):
        SensorSpec.parse(text)


def test_a_seeded_simulated_sensor_is_the_same_sensor_every_time() -> None:
    one, two = (make_sensor("simulated:7", FakeClock()) for _ in range(2))
    assert isinstance(one, SimulatedSensor) and isinstance(two, SimulatedSensor)
    assert one.sensor_id == two.sensor_id


def test_bluetooth_without_a_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="Bluetooth is not available"):
        make_sensor("ble:A0:9E:1A:12:34:56", FakeClock())
