"""A Lab Streaming Layer inlet in a process of its own, as a researcher's recorder would be; and the
loopback-only liblsl configuration every LSL test uses.

Run as a script::

    python tests/lsl14_inlet.py OUT.json --room ROOM --types HeartRate,Markers [--timeout S]

It resolves each stream type whose source id belongs to ``ROOM``
(``kapmonitor/<room>/session-<id>/<type>``), opens an inlet on each, prints ``ready <local_clock>``
on stdout once all are open, and pulls every sample until its standard input closes (or
``--timeout`` real seconds pass). It then writes OUT.json::

    {"ready_at": float, "streams": {TYPE: {"name", "source_id", "channel_format", "labels",
                                           "units", "desc_xml", "samples": [[stamp, [values]], ...]}}}

Stamps are as the outlet sent them (no clock correction: same computer).

The process must run with ``LSLAPICFG`` naming :func:`write_loopback_config`'s file, like every
test that opens an outlet or an inlet. :func:`open_inlet` and :func:`pull_samples` serve the
tests that read the outlets in their own process, and :func:`live_sources` which outlets are there.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

LOOPBACK_CONFIG = """\
; The tests' liblsl configuration: discovery and data on the loopback interface only.
[ports]
IPv6 = disable

[multicast]
ResolveScope = machine
MachineAddresses = {127.0.0.1}
ListenAddress = 127.0.0.1

[lab]
KnownPeers = {127.0.0.1}

[log]
level = -3
"""
"""``ResolveScope = machine`` (multicast TTL 0, queries to ``MachineAddresses`` only), ``KnownPeers``
the loopback address, IPv6 off; liblsl logs fatal errors only (an inlet whose outlet went away at
the end of a session logs an error while it tries to reconnect)."""


def write_loopback_config(folder: Path) -> Path:
    """Write :data:`LOOPBACK_CONFIG` into ``folder``; returns the file for ``LSLAPICFG``."""
    path = folder / "lsl_loopback.cfg"
    path.write_text(LOOPBACK_CONFIG, encoding="utf-8")
    return path


def open_inlet(source_id: str, timeout_s: float = 10.0) -> Any:
    """An open inlet on the stream with this source id (fails if none appears within ``timeout_s``)."""
    import pylsl

    found = pylsl.resolve_bypred(f"source_id='{source_id}'", 1, timeout_s)
    assert found, f"no LSL stream {source_id!r} within {timeout_s} s"
    inlet = pylsl.StreamInlet(found[0], max_buflen=360)
    inlet.open_stream(timeout=timeout_s)
    return inlet


def pull_samples(inlet: Any, count: int, timeout_s: float = 10.0) -> list[tuple[float, list[Any]]]:
    """The next ``count`` samples (fails if they have not all come within ``timeout_s``)."""
    got: list[tuple[float, list[Any]]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        sample, stamp = inlet.pull_sample(timeout=0.1)
        if sample is not None:
            got.append((stamp, sample))
    assert len(got) == count, f"{len(got)} of {count} samples within {timeout_s} s: {got}"
    return got


def live_sources(prefix: str, wait_s: float = 1.0) -> set[str]:
    """The source ids beginning with ``prefix`` of the streams that answer within ``wait_s``."""
    import pylsl

    return {info.source_id() for info in pylsl.resolve_streams(wait_s) if info.source_id().startswith(prefix)}


def wait_until_gone(prefix: str, timeout_s: float = 6.0) -> set[str]:
    """Ask until no stream of ``prefix`` answers (outlets linger a moment after their session's end);
    returns those still there after ``timeout_s`` (empty: all gone)."""
    deadline = time.monotonic() + timeout_s
    while (left := live_sources(prefix)) and time.monotonic() < deadline:
        pass
    return left


def _resolve(lsl: object, lsl_type: str, room: str, deadline: float) -> object:
    prefix = f"kapmonitor/{room}/"
    while time.monotonic() < deadline:
        for info in lsl.resolve_byprop("type", lsl_type, 1, 1.0):  # type: ignore[attr-defined]
            if info.source_id().startswith(prefix):
                return info
    raise SystemExit(f"no {lsl_type} stream of {room!r} found")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--room", required=True)
    parser.add_argument("--types", default="HeartRate,Markers")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    import pylsl

    deadline = time.monotonic() + args.timeout
    inlets: dict[str, pylsl.StreamInlet] = {}
    streams: dict[str, dict[str, object]] = {}
    for lsl_type in args.types.split(","):
        # recover (liblsl's default): an inlet whose outlet went away keeps what it received (without
        # it, pull_sample raises LostError at once, samples still queued or not)
        inlet = pylsl.StreamInlet(_resolve(pylsl, lsl_type, args.room, deadline), max_buflen=360)
        inlet.open_stream(timeout=10.0)
        info = inlet.info(timeout=10.0)  # the full description, while the outlet is there
        inlets[lsl_type] = inlet
        streams[lsl_type] = {
            "name": info.name(), "source_id": info.source_id(), "channel_format": info.channel_format(),
            "labels": info.get_channel_labels(), "units": info.get_channel_units(), "desc_xml": info.as_xml(),
        }
    result: dict[str, object] = {"ready_at": pylsl.local_clock(), "streams": {}}
    print(f"ready {result['ready_at']}", flush=True)

    closed = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    samples: dict[str, list[list[object]]] = {t: [] for t in inlets}

    def pull_all() -> int:
        got = 0
        for lsl_type, inlet in inlets.items():
            while True:
                sample, stamp = inlet.pull_sample(timeout=0.0)
                if sample is None:
                    break
                samples[lsl_type].append([stamp, sample])
                got += 1
        return got

    while not closed.is_set() and time.monotonic() < deadline:
        if not pull_all():
            time.sleep(0.01)
    pull_all()
    for lsl_type, stream in streams.items():
        stream["samples"] = samples[lsl_type]
    result["streams"] = streams
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
