"""Lab Streaming Layer outlets: the session's vitals and markers, live, for a research recording.

While a session records (the window with the clinic setting "Lab Streaming Layer" on, or
``kapmonitor record --lsl``), :class:`LslOutlets` listens to the recorder and offers five LSL
streams, created when the session starts (or is resumed) and closed when it ends:

====================  ==============  ========  =====================================
stream type           channels        format    what each sample is
====================  ==============  ========  =====================================
``HeartRate``         heart_rate bpm  float32   one heart-rate value as the sensor sent it
``RRInterval``        rr_interval ms  float32   one RR interval (beat order kept)
``SpO2``              spo2 %          float32   one SpO2 value
``BloodPressure``     systolic,       float32   one cuff measurement (NaN: the cuff sent no
                      diastolic mmHg            usable value for that channel)
``Markers``           marker          string    a phase change, dose, check, observation or
                                                alarm change (:func:`marker_text`)
====================  ==============  ========  =====================================

All are irregular-rate. Each stream's name is ``kapmonitor <room> <type>``; its source id is
``kapmonitor/<room>/session-<id>/<type>``, so a recorder such as LabRecorder reconnects by itself
to a session resumed after a restart; its XML description carries the channels' labels, units and
types (``desc/channels/channel``), the room, the session id, the clock speed and one moment on
both clocks, ``reference_utc`` and ``reference_lsl`` (``desc/kapmonitor``: a stamp's session
time is ``reference_utc + (stamp - reference_lsl) * clock_speed``).

Values: every *usable* reading of those streams (:func:`kapmonitor.streams.usable`); a value the
bedside does not show either (no skin contact, outside the possible range, flagged an artifact
by the sensor) is left out, and pulse rate, mean arterial pressure and battery are not streamed.
The CSV and EDF+ exports keep every value with its flags.

Time stamps: each sample carries the moment the reading arrived, in LSL's clock
(``pylsl.local_clock()``, the monotonic clock other LSL programs on this computer stamp with)::

    stamp = local_clock() - clock.real_seconds(clock.now() - reading.at)

with ``clock`` the recorder's session clock: the reading's age when the listener heard it,
taken off the LSL time now. A marker is stamped the same way with the time of what it marks (an
observation with when it happened, which may be minutes before it was written). On a fast clock
(``--speed N``, demonstrations and tests only) the age is converted to real seconds, so the
stamp is still the real moment of arrival and LSL intervals are the session's intervals divided
by N (``desc/kapmonitor/clock_speed`` says N).

Threads: the recorder calls the listener methods from sensor threads, the ticker and command
callers. They only compute the stamp and put the item on a queue; one thread of this class
("kapmonitor-lsl") makes, feeds and destroys the outlets (liblsl allows one pushing thread per
outlet). Nothing here waits on the network or holds a lock of the recorder. An outlet that cannot
be made or fed is logged and never stops recording. After the session's end the outlets stay
:data:`LINGER_S` so that connected inlets receive the last samples, then they are destroyed.

liblsl must be configured before pylsl is first imported (:mod:`ui.lsl_config`); :func:`attach_lsl`
does both, and nothing else here imports pylsl: with lab streaming off it is never loaded.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Protocol

from kapmonitor import __version__
from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.clock import Clock
from kapmonitor.recording import Recorder
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.streams import STREAM_UNITS, usable
from kapmonitor.types import (
    AlarmTransition,
    EventKind,
    Observation,
    Reading,
    SensorInfo,
    SensorStatus,
    SessionEvent,
    Stream,
)
from ui.lsl_config import LslUnavailable, configure_liblsl, lsl_unavailable

__all__ = ["LINGER_S", "LSL_TYPES", "MARKERS_TYPE", "LslOutlets", "RecorderView", "attach_lsl", "marker_text"]

log = logging.getLogger(__name__)

LINGER_S: Final = 0.5
"""Seconds the outlets stay after the session's end before they are destroyed: liblsl drops what
it has not sent yet when an outlet goes (measured here: samples pushed just before lost)."""
MARKERS_TYPE: Final = "Markers"

LSL_TYPES: Final = {
    Stream.HEART_RATE: "HeartRate",
    Stream.RR_INTERVAL: "RRInterval",
    Stream.SPO2: "SpO2",
    Stream.BP_SYSTOLIC: "BloodPressure",
    Stream.BP_DIASTOLIC: "BloodPressure",
}
"""The LSL stream type each streamed kapmonitor stream goes to (systolic and diastolic share one)."""

_CHANNELS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "HeartRate": (("heart_rate", STREAM_UNITS[Stream.HEART_RATE]),),
    "RRInterval": (("rr_interval", STREAM_UNITS[Stream.RR_INTERVAL]),),
    "SpO2": (("spo2", STREAM_UNITS[Stream.SPO2]),),
    "BloodPressure": (("systolic", STREAM_UNITS[Stream.BP_SYSTOLIC]),
                      ("diastolic", STREAM_UNITS[Stream.BP_DIASTOLIC])),
    MARKERS_TYPE: (("marker", ""),),
}
"""Each stream type's channels: (label, unit), in channel order."""

# --- markers -----------------------------------------------------------------------------------

def _details(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def marker_text(item: SessionEvent | Observation | AlarmTransition) -> str:
    """The string of the marker sample for a session event, an observation revision or an alarm change.

    ``<label>`` or ``<label> <details>``: the label has no spaces, the details are one compact
    JSON object with sorted keys (split at the first space to read them):

    * an event: ``event:<kind>`` (``event:dose_given``, ``event:phase_changed``...) with the event's
      data as the CSV's ``data`` column has it (``{"amount":100.0,"unit":"mg"}``);
    * an observation: ``observation:<name>`` (``observation:note``, ``observation:nausea``,
      ``observation:moaa_s``) with ``id``, ``revision``, ``kind``, ``value``, ``text`` (as recorded),
      ``deleted`` and ``reason``;
    * an alarm change: ``alarm:<alarm_id>:<action>`` (``alarm:hr_high:raised``,
      ``alarm:hr_high:condition_cleared``) with ``label``, ``priority``, ``state``, ``value``,
      ``limit`` and ``detail``.
    """
    if isinstance(item, SessionEvent):
        label = f"event:{item.kind.value}"
        return f"{label} {_details(dict(item.data))}" if item.data else label
    if isinstance(item, Observation):
        return f"observation:{item.name} " + _details({
            "id": item.observation_id, "revision": item.revision, "kind": item.kind.value,
            "value": item.value, "text": item.text, "deleted": item.deleted, "reason": item.reason,
        })
    return f"alarm:{item.alarm_id}:{item.action} " + _details({
        "label": item.label, "priority": item.priority.value, "state": item.state.value,
        "value": item.value, "limit": item.limit, "detail": item.detail,
    })


def _marker_time(item: SessionEvent | Observation | AlarmTransition) -> datetime:
    return item.occurred_at if isinstance(item, Observation) else item.at


# --- the listener ------------------------------------------------------------------------------

class RecorderView(Protocol):
    """What the outlets read from the recorder: the running session and its clock."""

    @property
    def session_id(self) -> int | None: ...

    @property
    def clock(self) -> Clock: ...


@dataclass(frozen=True, slots=True)
class _Open:
    """Open the outlets of a session; ``utc``/``lsl_time``: one moment on both clocks."""

    session_id: int
    speed: float
    utc: datetime
    lsl_time: float


@dataclass(frozen=True, slots=True)
class _Value:
    reading: Reading
    stamp: float


@dataclass(frozen=True, slots=True)
class _Marker:
    text: str
    stamp: float


@dataclass(frozen=True, slots=True)
class _End:
    pass


_STOP: Final = object()
"""Queued by :meth:`LslOutlets.close`: destroy the outlets and end the thread."""


class LslOutlets:
    """A :class:`~kapmonitor.recording.listener.RecorderListener` that streams the session over LSL.

    See the module docstring for the streams, their stamps and the threads. Made by
    :func:`attach_lsl`; :meth:`close` ends the outlets' thread (the app's shutdown, the end of
    ``record``).

    Args:
        recorder: the recorder it listens to (its session id and clock).
        room: this workstation's room (in the streams' names and source ids).
        lsl: the imported ``pylsl`` module.
        linger_s: see :data:`LINGER_S`.
    """

    def __init__(self, recorder: RecorderView, room: str, lsl: ModuleType, *,
                 linger_s: float = LINGER_S) -> None:
        self._recorder = recorder
        self._room = room
        self._lsl = lsl
        self._linger_s = linger_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._outlets: dict[str, Any] = {}
        self._pending_systolic: dict[str, _Value] = {}
        self._failed: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="kapmonitor-lsl", daemon=True)
        self._thread.start()

    # --- RecorderListener (recorder threads: compute the stamp, queue, return) -------------------

    def reading_recorded(self, reading: Reading) -> None:
        if reading.stream in LSL_TYPES:
            self._queue.put(_Value(reading, self._stamp(reading.at)))

    def event_recorded(self, event: SessionEvent) -> None:
        if event.kind in (EventKind.SESSION_STARTED, EventKind.SESSION_RESUMED):
            self.open_now()
        self._mark(event)
        if event.kind is EventKind.SESSION_ENDED:
            self._queue.put(_End())

    def observation_saved(self, observation: Observation) -> None:
        self._mark(observation)

    def alarms_changed(self, transitions: Sequence[AlarmTransition], active: Sequence[ActiveAlarm]) -> None:
        for transition in transitions:
            self._mark(transition)

    def sensor_status_changed(self, status: SensorStatus) -> None:
        """Link changes reach the markers as their session events (``event:sensor_lost``...)."""

    def sensor_info_received(self, info: SensorInfo) -> None:
        """Not streamed."""

    def snapshot_updated(self, snapshot: SessionSnapshot) -> None:
        """Not streamed (phase changes come as events)."""

    def error_occurred(self, message: str) -> None:
        """Not streamed."""

    # --- control ---------------------------------------------------------------------------------

    def open_now(self) -> None:
        """Open the outlets for the session running now, if one is (lab streaming switched on mid-session)."""
        session_id, clock = self._recorder.session_id, self._recorder.clock
        if session_id is not None:
            self._queue.put(_Open(session_id, clock.rate, clock.now(), float(self._lsl.local_clock())))

    def close(self, wait_s: float = 5.0) -> None:
        """Destroy the outlets (after :data:`LINGER_S` if any are open) and end the thread.

        Waits up to ``wait_s`` for it (0: returns at once, the thread finishes on its own; the GUI
        thread does not wait).
        """
        self._queue.put(_STOP)
        if wait_s <= 0:
            return
        self._thread.join(wait_s)
        if self._thread.is_alive():
            log.warning("the Lab Streaming Layer outlets did not close within %.0f s", wait_s)

    def _stamp(self, at: datetime) -> float:
        clock = self._recorder.clock
        age_s = (clock.now() - at).total_seconds()
        return float(self._lsl.local_clock()) - clock.real_seconds(age_s)

    def _mark(self, item: SessionEvent | Observation | AlarmTransition) -> None:
        self._queue.put(_Marker(marker_text(item), self._stamp(_marker_time(item))))

    # --- the outlets' thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._destroy(linger=bool(self._outlets))
                return
            try:
                self._handle(item)
            except Exception:  # an outlet's trouble never stops recording (nor this thread)
                log.exception("Lab Streaming Layer: %s failed", type(item).__name__)

    def _handle(self, item: object) -> None:
        if isinstance(item, _Open):
            self._destroy(linger=False)
            self._outlets = self._make_outlets(item)
        elif isinstance(item, _End):
            self._destroy(linger=True)
        elif isinstance(item, _Marker):
            self._push(MARKERS_TYPE, [item.text], item.stamp)
        elif isinstance(item, _Value):
            self._push_value(item)

    def _push_value(self, item: _Value) -> None:
        reading = item.reading
        value = float(reading.value) if usable(reading) else math.nan
        if reading.stream is Stream.BP_SYSTOLIC:
            stale = self._pending_systolic.pop(reading.sensor_id, None)
            if stale is not None:  # its diastolic never came
                self._push_bp(stale, None)
            self._pending_systolic[reading.sensor_id] = item
        elif reading.stream is Stream.BP_DIASTOLIC:
            systolic = self._pending_systolic.pop(reading.sensor_id, None)
            if systolic is not None and systolic.reading.at != reading.at:
                self._push_bp(systolic, None)
                systolic = None
            self._push_bp(systolic, item)
        elif not math.isnan(value):
            self._push(LSL_TYPES[reading.stream], [value], item.stamp)

    def _push_bp(self, systolic: _Value | None, diastolic: _Value | None) -> None:
        """One cuff measurement; a value missing or unusable is NaN, nothing usable is not sent."""
        values = [v.reading.value if v is not None and usable(v.reading) else math.nan
                  for v in (systolic, diastolic)]
        if all(math.isnan(v) for v in values):
            return
        stamp = (systolic or diastolic).stamp  # type: ignore[union-attr]
        self._push("BloodPressure", [float(v) for v in values], stamp)

    def _push(self, lsl_type: str, sample: list[Any], stamp: float) -> None:
        outlet = self._outlets.get(lsl_type)
        if outlet is None:
            return  # no session open (a reading before the start, after the end)
        try:
            outlet.push_sample(sample, stamp)
        except Exception as exc:
            if lsl_type not in self._failed:
                self._failed.add(lsl_type)
                log.warning("Lab Streaming Layer: the %s outlet refused a sample (%s); recording goes on",
                            lsl_type, exc)

    def _make_outlets(self, item: _Open) -> dict[str, Any]:
        lsl = self._lsl
        outlets: dict[str, Any] = {}
        for lsl_type, channels in _CHANNELS.items():
            markers = lsl_type == MARKERS_TYPE
            info = lsl.StreamInfo(
                name=f"kapmonitor {self._room} {lsl_type}", type=lsl_type, channel_count=len(channels),
                nominal_srate=lsl.IRREGULAR_RATE, channel_format=lsl.cf_string if markers else lsl.cf_float32,
                source_id=f"kapmonitor/{self._room}/session-{item.session_id}/{lsl_type}",
            )
            _describe(info.desc(), lsl_type, channels, self._room, item)
            outlets[lsl_type] = lsl.StreamOutlet(info)
        log.info("Lab Streaming Layer: streaming session %s of %s (%s)", item.session_id, self._room,
                 ", ".join(outlets))
        return outlets

    def _destroy(self, *, linger: bool) -> None:
        """Let go of the outlets (after :data:`LINGER_S` with ``linger``: inlets get the last samples)."""
        if not self._outlets:
            return
        for systolic in list(self._pending_systolic.values()):
            self._push_bp(systolic, None)
        self._pending_systolic.clear()
        if linger:
            time.sleep(self._linger_s)
        self._outlets = {}  # pylsl destroys each outlet with its last reference
        self._failed.clear()


def _describe(desc: Any, lsl_type: str, channels: tuple[tuple[str, str], ...], room: str,
              item: _Open) -> None:
    """The stream's XML description: channels (label, unit, type), the acquisition and the session."""
    chans = desc.append_child("channels")
    for label, unit in channels:
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        if unit:
            ch.append_child_value("unit", unit)
        ch.append_child_value("type", lsl_type)
    acq = desc.append_child("acquisition")
    acq.append_child_value("manufacturer", "kapmonitor")
    acq.append_child_value("version", __version__)
    kap = desc.append_child("kapmonitor")
    kap.append_child_value("room", room)
    kap.append_child_value("session_id", str(item.session_id))
    kap.append_child_value("clock_speed", f"{item.speed:g}")
    kap.append_child_value("reference_utc", item.utc.isoformat())
    kap.append_child_value("reference_lsl", repr(item.lsl_time))
    kap.append_child_value("timestamps", "receive time of each reading in LSL's local_clock(); markers: "
                                         "the time of the event, observation or alarm change")
    if lsl_type == "BloodPressure":
        kap.append_child_value("missing", "NaN: the cuff sent no usable value for that channel")


def attach_lsl(recorder: Recorder, room: str, scope: str, config_dir: Path) -> LslOutlets:
    """Configure liblsl for ``scope``, load pylsl and add an :class:`LslOutlets` to ``recorder``.

    A session already running gets its outlets now; otherwise they open with the next session.
    Detach with ``recorder.remove_listener(outlets)`` then ``outlets.close()``.

    Raises:
        LslUnavailable: pylsl is not installed or liblsl cannot be loaded or configured.
    """
    missing = lsl_unavailable()
    if missing is not None:
        raise LslUnavailable(missing)
    try:
        configure_liblsl(scope, config_dir)
        lsl = importlib.import_module("pylsl")
    except (ImportError, OSError, RuntimeError, ValueError) as exc:  # RuntimeError: pylsl without liblsl
        raise LslUnavailable(f"the Lab Streaming Layer cannot be used: {exc}") from exc
    outlets = LslOutlets(recorder, room, lsl)
    recorder.add_listener(outlets)
    snapshot = recorder.snapshot()
    if snapshot is not None and snapshot.ended_at is None:
        outlets.open_now()
    return outlets
