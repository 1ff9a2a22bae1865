"""How long a room's hold on the session it records lasts (``session_leases``).

A room recording a session holds a lease on it: the recorder's journal writer
renews it every :data:`RENEW_S` seconds (``db.journal_writer``) and releases it
when the session ends. A lease not renewed for :data:`LEASE_S` seconds has
expired: the room has stopped (crashed, switched off, lost its network) and
the session may be resumed or, explicitly, taken over by another room. All
lease times are the database server's clock, so the workstations' clocks
need not agree.

:data:`LEASE_S` can be shortened for tests and drills with the environment
variable ``KAPMONITOR_LEASE_S`` (seconds, a positive number; read once at
import). A lease shorter than a few renewal intervals would expire during an
ordinary pause of the recorder, so it is never set below ``2 * RENEW_S`` unless
``RENEW_S`` is shortened too (``KAPMONITOR_LEASE_RENEW_S``).
"""

from __future__ import annotations

import os

__all__ = ["LEASE_ENV_VAR", "LEASE_S", "RENEW_ENV_VAR", "RENEW_S"]

LEASE_ENV_VAR = "KAPMONITOR_LEASE_S"
RENEW_ENV_VAR = "KAPMONITOR_LEASE_RENEW_S"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


RENEW_S: float = _seconds(RENEW_ENV_VAR, 5.0)
"""Seconds between renewals of a held lease."""

LEASE_S: float = max(_seconds(LEASE_ENV_VAR, 30.0), 2 * RENEW_S)
"""Seconds without renewal after which a lease has expired."""
