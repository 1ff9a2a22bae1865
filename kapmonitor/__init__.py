"""kapmonitor core: session clock and protocol, phases, alarms, observations, HRV.

The core depends on the standard library and numpy only; Qt, Bluetooth and the
database live in the ``ui``, ``devices`` and ``db`` packages around it.
"""

__version__ = "0.1.0"
