"""Sensors: GATT parsers, the bleak runtime and the simulated sensor."""
