"""``kapmonitor scan``: list nearby sensors, for the command line.

Prints one line per sensor (name, address, RSSI, what it measures), strongest first, or a JSON
array with ``--json``. Without usable Bluetooth it prints one line to stderr and returns 1,
never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from bleak.exc import BleakError

from devices.errors import DeviceError, NoAdapterError, as_no_adapter
from devices.runtime import BleRuntime
from devices.scanner import DiscoveredSensor, scan_blocking

__all__ = ["run_scan", "sensor_to_json"]


def sensor_to_json(sensor: DiscoveredSensor) -> dict[str, object]:
    return {
        "name": sensor.name,
        "address": sensor.address,
        "rssi": sensor.rssi,
        "kinds": [k.value for k in sensor.kinds],
        "service_uuids": list(sensor.service_uuids),
    }


def run_scan(seconds: float, as_json: bool, out: TextIO) -> int:
    """Scan for ``seconds`` and print the sensors to ``out``; return the process exit status.

    Returns:
        0 on success (also when nothing was found), 1 when Bluetooth is not usable.
    """
    if not seconds > 0:
        print(f"kapmonitor: scan time must be positive seconds, got {seconds!r}", file=sys.stderr)
        return 2
    with BleRuntime() as runtime:
        try:
            sensors = scan_blocking(runtime, seconds)
        except NoAdapterError as exc:
            print(
                f"kapmonitor: no Bluetooth adapter found (BlueZ is not reachable on the system D-Bus): {exc}",
                file=sys.stderr,
            )
            return 1
        except (DeviceError, BleakError, OSError, TimeoutError) as exc:
            mapped = as_no_adapter(exc)
            print(f"kapmonitor: scan failed: {mapped or exc}", file=sys.stderr)
            return 1
    if as_json:
        json.dump([sensor_to_json(s) for s in sensors], out, indent=2)
        out.write("\n")
        return 0
    if not sensors:
        out.write(f"no sensors found in {seconds:g} s\n")
        return 0
    width = max(len(s.name) for s in sensors)
    for s in sensors:
        kinds = ", ".join(k.value for k in s.kinds)
        out.write(f"{s.name or '(no name)':<{max(width, 9)}}  {s.address}  {s.rssi:>4} dBm  {kinds}\n")
    return 0
