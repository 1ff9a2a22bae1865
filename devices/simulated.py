"""A simulated sensor that behaves like a chest strap, an oximeter and a BP cuff in one.

Used by demo mode, ``kapmonitor record --sensor simulated``, the crash-safety
tests and the UI tests. It implements :class:`kapmonitor.sensor.Sensor`.

What it sends, on the injected clock (times are clock seconds after start):

* a Heart Rate Measurement every 1 s (at 1, 2, 3 ...): the rounded average
  rate of the beats of the last second and the RR intervals of the beats that
  completed since the previous packet (0, 1 or several);
* with ``spo2=True``, a PLX Continuous Measurement every 1 s (at 0.5, 1.5 ...):
  SpO2 and pulse rate;
* a Blood Pressure Measurement ``bp_inflation_s`` (30 s) after
  :meth:`SimulatedSensor.request_blood_pressure`;
* the battery level at connection and whenever the whole percent changes.

Faults act as real devices do: without skin contact the strap sends heart
rate 0 and no RR values with the contact bits "supported, not detected" (so
every heart-rate reading is flagged NO_CONTACT) and the oximeter sends NaN
with "sensor unconnected to user" (no SpO2 readings); a dropped link sends
nothing, and a BP result due while the link is down is lost.

Every value is encoded into the characteristic's real bytes
(:mod:`devices.simulated_packets`) and decoded with :mod:`devices.gatt`,
:mod:`devices.gatt_medical` and :mod:`devices.readings`, exactly as for a BLE sensor. The signals come from
:class:`~devices.simulated_physiology.SimulatedPhysiology` (seeded; the HR and
BP rise follows the dose time given to :meth:`SimulatedSensor.dose_given`), and
technical faults from :class:`~devices.simulated_faults.Fault` scripts.

Two ways to run it:

* :meth:`SimulatedSensor.start` runs a daemon thread that waits with
  ``clock.real_seconds`` (so a :class:`~kapmonitor.clock.ScaledClock` speeds it
  up) and delivers everything that is due by ``clock.monotonic()``, in bursts
  if it fell behind. It never counts ticks.
* :meth:`SimulatedSensor.start_manual` starts it without a thread; the caller
  drives time with :meth:`SimulatedSensor.advance_to` (tests, benchmarks, a
  :class:`~kapmonitor.clock.FakeClock`).

:meth:`SimulatedSensor.stop` is bounded in time: it never waits for ever on
the thread (which may be stuck in a sink that blocks, against the
:class:`~kapmonitor.sensor.SensorSink` contract); it waits
:data:`_JOIN_TIMEOUT_REAL_S` at most, logs a warning if the thread did not
finish, and from then on the thread delivers nothing more.

Both share one engine, so a seed and the same clock times give the same
readings either way. Reading times are the wall time at each packet's clock
time, computed from the monotonic time (exact and monotone for scaled and fake
clocks); if the wall clock jumps (an NTP step), times follow the new wall time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from devices.simulated_engine import DeliveredBeat, Emission, SimulationEngine
from devices.simulated_faults import Fault
from devices.simulated_physiology import SimulatedPhysiology
from kapmonitor.clock import Clock, ensure_utc
from kapmonitor.sensor import SensorSink
from kapmonitor.types import Reading, SensorInfo, SensorState, SensorStatus

__all__ = ["SimulatedSensor"]

logger = logging.getLogger(__name__)

_MIN_WAIT_REAL_S = 0.01
"""Shortest real wait between bursts: at high clock speeds, several packets go out per wake-up."""
_MAX_WAIT_REAL_S = 0.5
"""Longest real wait, so a clock that jumps (a FakeClock in a threaded test) is noticed soon."""
_FAKE_CLOCK_POLL_REAL_S = 0.02
_JOIN_TIMEOUT_REAL_S = 0.5
"""Longest real wait in :meth:`SimulatedSensor.stop` for the thread to finish its step."""
_LOCK_WAIT_REAL_S = 0.1
"""Shortest real wait in :meth:`SimulatedSensor.stop` for a lock a stuck thread may hold."""


class SimulatedSensor:
    """A deterministic simulated sensor (see the module docstring).

    Args:
        clock: the injected clock everything runs on.
        seed: picks the simulated client and the noise; same seed and same
            clock times give the same readings.
        sensor_id: the id put on every reading (``simulated:N``).
        name: shown in the UI.
        faults: scripted faults (``at_s`` is clock seconds after start).
        spo2: also act as a pulse oximeter.
        physiology: a custom signal model (e.g. with a higher artifact rate);
            default ``SimulatedPhysiology(seed)``.
        lost_after_s: a dropped link counts as LOST after this long.
        bp_inflation_s: clock seconds from a BP request to its result.
        battery_start_pct: battery level at start.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 1,
        sensor_id: str = "simulated:1",
        name: str = "Simulated sensor (demo)",
        faults: Sequence[Fault] = (),
        spo2: bool = True,
        physiology: SimulatedPhysiology | None = None,
        lost_after_s: float = 10.0,
        bp_inflation_s: float = 30.0,
        battery_start_pct: int = 90,
        manual: bool = False,
    ) -> None:
        self._manual = manual
        if not sensor_id.strip():
            raise ValueError("a simulated sensor needs a non-empty sensor_id, e.g. 'simulated:1'")
        self._clock = clock
        self._name = name
        self._engine = SimulationEngine(
            physiology if physiology is not None else SimulatedPhysiology(seed),
            sensor_id=sensor_id,
            name=name,
            seed=seed,
            faults=faults,
            spo2=spo2,
            lost_after_s=lost_after_s,
            bp_inflation_s=bp_inflation_s,
            battery_start_pct=battery_start_pct,
        )
        # Lock order: _engine_lock may be held while taking _state_lock, never the reverse.
        # _state_lock guards _mode, _sink and _dose_at and is only held briefly (never while
        # running the engine or calling the sink), so stop() can always take it.
        self._state_lock = threading.Lock()
        self._engine_lock = threading.Lock()
        # Serialises calls into the sink; held while calling it (re-entrant: the sink may stop us).
        self._deliver_lock = threading.RLock()
        self._sink: SensorSink | None = None
        self._mode: Literal["idle", "threaded", "manual", "stopped"] = "idle"
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._dose_at: datetime | None = None

    # -- Sensor protocol ---------------------------------------------------------

    @property
    def sensor_id(self) -> str:
        return self._engine.sensor_id

    @property
    def name(self) -> str:
        return self._name

    @property
    def physiology(self) -> SimulatedPhysiology:
        """The signal model (read its individual parameters; do not drive it directly)."""
        return self._engine.physiology

    def start(self, sink: SensorSink) -> None:
        """Report SensorInfo, CONNECTING and CONNECTED, then deliver from a daemon thread.

        A sensor made with ``manual=True`` starts as :meth:`start_manual` does
        instead (no thread; the owner calls :meth:`advance_to`), so a test or a
        screenshot tool can hand it to a recorder and still decide when time passes.

        Raises:
            RuntimeError: already started, or stopped (make a new sensor instead).
        """
        if self._manual:
            self.start_manual(sink)
            return
        self._begin(sink, "threaded")
        self._thread = threading.Thread(target=self._run, name=f"sim-sensor {self.sensor_id}", daemon=True)
        self._thread.start()

    def start_manual(self, sink: SensorSink) -> None:
        """Like :meth:`start` but without a thread: call :meth:`advance_to` to move on.

        Raises:
            RuntimeError: already started, or stopped.
        """
        self._begin(sink, "manual")

    def advance_to(self, mono_s: float | None = None) -> None:
        """Deliver, in time order, everything due up to clock monotonic time ``mono_s``.

        ``None`` means ``clock.monotonic()``. Times already passed are not
        delivered again. Does nothing after :meth:`stop`.

        Raises:
            RuntimeError: the sensor was not started with :meth:`start_manual`.
        """
        with self._state_lock:
            mode = self._mode
        if mode == "stopped":
            return
        if mode != "manual":
            raise RuntimeError(f"advance_to needs a sensor started with start_manual (it is {mode})")
        self._step(self._clock.monotonic() if mono_s is None else mono_s)

    def stop(self) -> None:
        """Stop delivering, join the thread, then report DISCONNECTED. Idempotent.

        Bounded in time: waits at most about :data:`_JOIN_TIMEOUT_REAL_S` (real
        seconds) for the thread, then logs a warning and goes on without it.
        After this returns nothing more reaches the sink but the DISCONNECTED
        status: a delivery under way (a sink call that blocks) is not
        interrupted, but the thread drops everything after it. Called from the
        sink itself on the sensor's own thread, the thread ends right after
        the current delivery.
        """
        with self._state_lock:
            if self._mode in ("idle", "stopped"):
                self._mode = "stopped"
                return
            self._mode = "stopped"
            self._stopping.set()
            self._wake.set()
            thread = self._thread
        deadline = time.monotonic() + _JOIN_TIMEOUT_REAL_S
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_REAL_S)
            if thread.is_alive():
                logger.warning(
                    "%s: sensor thread did not end within %g s (stuck in the sink or the "
                    "simulation); it will deliver nothing more", self.sensor_id, _JOIN_TIMEOUT_REAL_S,
                )
        wait = max(_LOCK_WAIT_REAL_S, deadline - time.monotonic())
        wall = self._clock.now()
        if self._engine_lock.acquire(timeout=wait):
            try:
                emissions = self._engine.disconnect(self._clock.monotonic(), wall)
            finally:
                self._engine_lock.release()
        else:
            # The engine is busy on a stuck thread: leave it alone, report the end anyway.
            emissions = [SensorStatus(self.sensor_id, SensorState.DISCONNECTED, wall, detail="stopped")]
        self._deliver(emissions, final=True, timeout=max(_LOCK_WAIT_REAL_S, deadline - time.monotonic()))

    def request_blood_pressure(self) -> bool:
        """Start a cuff measurement; the result arrives ``bp_inflation_s`` later.

        Returns False when the sensor is not running or its link is down
        (the measurement cannot be taken); True otherwise, including when a
        measurement is already under way (no second one is queued).
        """
        if not self.started:
            return False
        with self._engine_lock:
            accepted = self._engine.request_blood_pressure(self._clock.monotonic())
        self._wake.set()
        return accepted

    # -- extras for the recorder, UI and tests ---------------------------------------

    def dose_given(self, at: datetime) -> None:
        """Tell the simulated client the first dose was given at ``at``.

        ``at`` must be aware; it may lie in the past (pressed late) and the
        call may come before :meth:`start`. Before any call the client stays
        at baseline. The latest call wins; boosters are not modelled.

        Raises:
            ValueError: ``at`` is naive.
        """
        moment = ensure_utc(at)
        with self._state_lock:
            self._dose_at = moment
            running = self._mode in ("threaded", "manual")
        if running:  # (else _begin applies it; it holds the engine lock until connected)
            with self._engine_lock:
                self._engine.set_dose_wall(moment)

    def inject_fault(self, fault: Fault) -> None:
        """Add a fault while running (``at_s`` after start; a start already past means now)."""
        with self._engine_lock:
            self._engine.add_fault(fault)
        self._wake.set()

    @property
    def started(self) -> bool:
        """True once :meth:`start` / :meth:`start_manual` ran, until :meth:`stop`."""
        with self._state_lock:
            return self._mode in ("threaded", "manual")

    @property
    def elapsed_s(self) -> float:
        """Clock seconds after start up to which everything has been delivered."""
        with self._engine_lock:
            return self._engine.done_s

    def delivered_beats(self) -> list[DeliveredBeat]:
        """Ground truth for every RR value delivered so far, in delivery order (artifact kinds)."""
        with self._engine_lock:
            return list(self._engine.delivered_beats)

    # -- internals -------------------------------------------------------------------

    def _begin(self, sink: SensorSink, mode: Literal["threaded", "manual"]) -> None:
        with self._engine_lock:
            with self._state_lock:
                if self._mode != "idle":
                    raise RuntimeError(
                        f"simulated sensor {self.sensor_id} is {self._mode}; a sensor starts once "
                        "(make a new SimulatedSensor to start again)"
                    )
                self._sink = sink
                self._mode = mode
                dose_at = self._dose_at
            emissions = self._engine.connect(self._clock.monotonic(), self._clock.now())
            if dose_at is not None:
                self._engine.set_dose_wall(dose_at)
        self._deliver(emissions)

    def _step(self, mono_s: float) -> None:
        if self._stopping.is_set():
            return
        m1 = self._clock.monotonic()
        wall = self._clock.now()
        m2 = self._clock.monotonic()
        with self._engine_lock:
            self._engine.check_wall(m1, wall, m2)
            emissions = self._engine.advance(mono_s)
        self._deliver(emissions)

    def _deliver(
        self, emissions: list[Emission], *, final: bool = False, timeout: float | None = None
    ) -> None:
        """Call the sink for each emission, in order; after :meth:`stop` only ``final`` ones.

        The stopped flag is checked before every single call, so a thread that
        was stuck in the sink while :meth:`stop` ran delivers nothing more once
        it returns. ``timeout`` bounds the wait for another thread's delivery
        to finish (then this one goes ahead anyway: sinks must be thread-safe).
        """
        with self._state_lock:
            sink = self._sink
        if sink is None or not emissions:
            return
        acquired = self._deliver_lock.acquire(timeout=-1 if timeout is None else timeout)
        if not acquired:
            logger.warning("%s: the sink is still busy with an earlier delivery; delivering %d more "
                           "item(s) from another thread", self.sensor_id, len(emissions))
        try:
            for item in _packets(emissions):
                if self._stopping.is_set() and not final:
                    return
                try:
                    if isinstance(item, list):
                        sink.readings_received(item)
                    elif isinstance(item, SensorStatus):
                        sink.status_changed(item)
                    elif isinstance(item, SensorInfo):
                        sink.info_received(item)
                except Exception:
                    logger.exception("%s: the sink failed on %r", self.sensor_id, item)
        finally:
            if acquired:
                self._deliver_lock.release()

    def _run(self) -> None:
        clock = self._clock
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._step(clock.monotonic())
            except Exception as exc:
                logger.exception("%s: simulation step failed; the sensor thread stops", self.sensor_id)
                failed = SensorStatus(self.sensor_id, SensorState.LOST, clock.now(),
                                      detail=f"simulation failed: {exc}")
                self._deliver([failed])
                return
            with self._engine_lock:
                next_mono = self._engine.next_event_mono()
            if clock.rate <= 0.0:
                wait = _FAKE_CLOCK_POLL_REAL_S
            else:
                wait = clock.real_seconds(next_mono - clock.monotonic())
                wait = min(_MAX_WAIT_REAL_S, max(_MIN_WAIT_REAL_S, wait))
            self._wake.wait(wait)


def _packets(emissions: Sequence[Emission]) -> list[list[Reading] | SensorStatus | SensorInfo]:
    """Emissions with consecutive readings of one moment (one simulated packet: a heart rate and
    its RR intervals, or a BP measurement) grouped into one list."""
    out: list[list[Reading] | SensorStatus | SensorInfo] = []
    for item in emissions:
        if isinstance(item, Reading):
            last = out[-1] if out else None
            if isinstance(last, list) and last[0].at == item.at:
                last.append(item)
            else:
                out.append([item])
        else:
            out.append(item)
    return out
