"""The recorder: sensors -> session state, alarm engine and store.

One :class:`Recorder` runs one session at a time. The bedside window and the
headless ``kapmonitor record`` command use the same object, and nothing in it
depends on the GUI thread.

Threads:

* sensor threads call the :class:`~kapmonitor.sensor.SensorSink` methods;
* an optional ticker thread calls :meth:`Recorder.tick` (phase changes and
  checks falling due, alarm delays and timeouts);
* callers (a UI worker thread, the CLI) call the commands.

Two locks, and neither is ever held across a call that waits on the database:

* the *state lock* serialises every change to the session state and the
  alarm engine (the engine is not thread-safe on its own); it is held for
  computing only, never for writing;
* the *command lock* serialises the commands (dose, checks, end,
  observations, derived events) so that each is written to the store's
  journal before it is applied. Sensor threads never take it.

Listeners are called after the locks are released, from whichever thread made
the change, so a listener must be thread-safe and must not block (the Qt
bridge re-emits them as queued signals).

Durability: the store is a journal first (:class:`db.journaled_store.JournaledStore`):
every session event and observation is fsync'd there before the command returns
or the listeners hear of it; readings and alarm transitions are written at once
and fsync'd within a second; one writer thread applies them to the database.

Time: the recorder keeps a :class:`~kapmonitor.session_clock.SessionClock`, so
stored times never go backwards; a wall-clock step is recorded as a
``clock_stepped`` event and the session goes on.
"""

from __future__ import annotations

import copy
import logging
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from kapmonitor.alarms import ActiveAlarm, AlarmEngine, AlarmSettings
from kapmonitor.clock import Clock, ensure_utc
from kapmonitor.protocols import TreatmentProtocol
from kapmonitor.recorder_listener import UNSET, RecorderError, RecorderListener, Unset
from kapmonitor.sensor import Sensor
from kapmonitor.session import SessionError, SessionSnapshot, SessionState
from kapmonitor.session_clock import ClockStep, SessionClock
from kapmonitor.store import SessionSpec, SessionStore, StoreError, StreamData
from kapmonitor.streams import SUPERVISED_STREAMS, checked, unusable_flags, usable
from kapmonitor.types import (
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Phase,
    Reading,
    ReadingFlag,
    SensorInfo,
    SensorState,
    SensorStatus,
    SessionEvent,
    Stream,
    new_observation_id,
)
from kapmonitor.vitals import check_manual_vitals

__all__ = ["SENSOR_STOP_TIMEOUT_S", "UNSET", "Recorder", "RecorderError", "RecorderListener"]

log = logging.getLogger(__name__)

SENSOR_STOP_TIMEOUT_S: Final = 0.5
"""How long (real seconds) stopping a sensor may take before the recorder goes on without it."""

_STATUS_EVENTS: Final = {
    SensorState.CONNECTED: EventKind.SENSOR_CONNECTED,
    SensorState.RECONNECTING: EventKind.SENSOR_RECONNECTING,
    SensorState.LOST: EventKind.SENSOR_LOST,
    SensorState.DISCONNECTED: EventKind.SENSOR_DISCONNECTED,
}


class Recorder:
    """Records one session: readings, events, observations and alarms.

    Args:
        store: where the record goes (a journaled store in the app).
        clock: the injected clock (system, scaled or fake); the recorder runs a
            :class:`~kapmonitor.session_clock.SessionClock` on it.
        alarm_settings: limits for this session (snapshotted into the session).
        tick_real_s: how often, in real seconds, the ticker refreshes listeners.
        autotick: start a ticker thread with the session; tests pass False and
            call :meth:`tick` themselves.
    """

    def __init__(
        self,
        store: SessionStore,
        clock: Clock,
        alarm_settings: AlarmSettings,
        *,
        tick_real_s: float = 0.25,
        autotick: bool = True,
    ) -> None:
        self._store = store
        self._base_clock = clock
        self._clock = SessionClock(clock)
        self._alarm_settings = alarm_settings
        self._engine = AlarmEngine(alarm_settings, self._clock)
        self._tick_real_s = tick_real_s
        self._autotick = autotick
        self._lock = threading.RLock()
        self._command_lock = threading.RLock()
        self._listeners: list[RecorderListener] = []
        self._session_id: int | None = None
        self._state: SessionState | None = None
        self._sensors: dict[str, Sensor] = {}
        self._detached: set[str] = set()
        self._sensor_states: dict[str, SensorState] = {}
        self._watched: set[tuple[Stream, str]] = set()
        self._baseline_samples: list[float] = []
        self._last: dict[Stream, Reading] = {}
        self._last_at: dict[tuple[Stream, str], datetime] = {}
        self._observations: dict[str, Observation] = {}
        self._unsaved_events: list[SessionEvent] = []
        self._ticker: threading.Thread | None = None
        self._stop_ticker = threading.Event()

    # ----------------------------------------------------------------- listeners
    def add_listener(self, listener: RecorderListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: RecorderListener) -> None:
        self._listeners.remove(listener)

    def _notify(self, call: Callable[[RecorderListener], None]) -> None:
        for listener in list(self._listeners):
            try:
                call(listener)
            except Exception:  # a broken listener must never stop recording
                log.exception("recorder listener %r failed", listener)

    # ------------------------------------------------------------------- queries
    @property
    def session_id(self) -> int | None:
        return self._session_id

    @property
    def state(self) -> SessionState | None:
        return self._state

    @property
    def protocol(self) -> TreatmentProtocol | None:
        return self._state.protocol if self._state is not None else None

    @property
    def clock(self) -> Clock:
        """The session's clock (never goes backwards; see :class:`~kapmonitor.session_clock.SessionClock`)."""
        return self._clock

    @property
    def alarm_settings(self) -> AlarmSettings:
        return self._alarm_settings

    def snapshot(self) -> SessionSnapshot | None:
        with self._lock:
            return self._state.snapshot(self._clock.now()) if self._state is not None else None

    def active_alarms(self) -> list[ActiveAlarm]:
        with self._lock:
            return self._engine.active()

    def baseline(self, stream: Stream) -> float | None:
        with self._lock:
            return self._engine.baseline(stream)

    def last_reading(self, stream: Stream) -> Reading | None:
        with self._lock:
            return self._last.get(stream)

    def observations(self) -> list[Observation]:
        """Latest revision of each observation (deleted ones included, flagged), by occurrence."""
        with self._lock:
            return sorted(self._observations.values(), key=lambda o: (o.occurred_at, o.recorded_at))

    # --------------------------------------------------------------- lifecycle
    def start_session(self, spec: SessionSpec) -> int:
        """Create the session and record ``session_started``; returns the session id."""
        with self._command_lock:
            with self._lock:
                if self._state is not None and not self._state.is_ended:
                    raise RecorderError(f"session {self._session_id} is still running; end it first")
                spec.protocol.validate()
                chosen = spec.settings.get("alarms")
                alarm_settings = (AlarmSettings.from_dict(chosen) if isinstance(chosen, dict)
                                  else self._alarm_settings)
                settings: dict[str, Any] = {**spec.settings, "alarms": alarm_settings.to_dict()}
                spec = replace(spec, settings=settings)
            clock = SessionClock(self._base_clock)
            now = clock.now()
            state = SessionState(spec.protocol)
            event = state.start(now)
            session_id = self._store.create_session(spec, now)
            self._store.append_event(session_id, event)
            with self._lock:
                # limits adjusted for this session (start dialog) win over the recorder's defaults
                self._use_clock_and_alarms(clock, alarm_settings)
                self._reset(session_id, state)
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        self._start_ticker()
        return session_id

    def resume_session(self, session_id: int) -> SessionSnapshot:
        """Continue an interrupted session with its clock anchored at the original dose.

        The session's clock starts no earlier than the last thing recorded, so a
        session recorded on a fast clock, or before the computer's clock was set
        back, resumes with its times still in order (the difference is recorded
        as a ``clock_stepped`` event).
        """
        with self._command_lock:
            with self._lock:
                if self._state is not None and not self._state.is_ended:
                    raise RecorderError(f"session {self._session_id} is still running")
            wait = getattr(self._store, "wait_applied", None)
            if callable(wait):
                wait(30.0)  # the whole record must be in the database before it is replayed
            record = self._store.session(session_id)
            state = SessionState.replay(record.spec.protocol, self._store.events(session_id))
            if state.is_ended:
                raise RecorderError(f"session {session_id} has already ended; it cannot be resumed")
            alarms = record.spec.settings.get("alarms")
            alarm_settings = (AlarmSettings.from_dict(alarms) if isinstance(alarms, dict)
                              else self._alarm_settings)
            observations = self._store.observations(session_id)
            heart_rate = self._store.load_stream(session_id, Stream.HEART_RATE)
            clock = SessionClock(self._base_clock, floor=self._store.last_recorded_at(session_id))
            event = state.resume(clock.now())
            self._store.append_event(session_id, event)
            with self._lock:
                self._use_clock_and_alarms(clock, alarm_settings)
                self._reset(session_id, state)
                for obs in observations:
                    self._observations[obs.observation_id] = obs
                self._restore_baseline(heart_rate, state)
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        self._start_ticker()
        snap = self.snapshot()
        assert snap is not None
        return snap

    def _use_clock_and_alarms(self, clock: SessionClock, settings: AlarmSettings) -> None:
        self._clock = clock
        self._alarm_settings = settings
        self._engine = AlarmEngine(settings, clock)

    def _reset(self, session_id: int, state: SessionState) -> None:
        self._session_id = session_id
        self._state = state
        self._baseline_samples = []
        self._last = {}
        self._last_at = {}
        self._observations = {}
        self._unsaved_events = []
        self._watched = set()
        self._sensor_states = {}

    def _restore_baseline(self, data: StreamData, state: SessionState) -> None:
        """Rebuild the baseline from the stored preparation-phase heart rate (numpy, no row objects)."""
        keep = (data.flags & int(unusable_flags(Stream.HEART_RATE))) == 0
        if state.first_dose_at is not None:
            keep &= data.t < state.first_dose_at.timestamp()
        values = [float(v) for v in data.value[keep]]
        if state.first_dose_at is None:
            self._baseline_samples = values  # still in preparation: keep collecting
        elif values:
            self._engine.set_baseline(Stream.HEART_RATE, statistics.median(values))

    def close(self) -> None:
        """Stop sensors and the ticker and flush the store; the session stays open (resumable)."""
        self._stop_ticker.set()
        ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join(timeout=5)
        self._ticker = None
        for sensor_id in list(self._sensors):
            self.detach_sensor(sensor_id, record_event=False)
        try:
            self._store.flush()
        except StoreError as exc:
            log.error("could not flush readings on close: %s", exc)

    # ------------------------------------------------------------------ sensors
    def attach_sensor(self, sensor: Sensor) -> None:
        """Start ``sensor`` with this recorder as its sink."""
        with self._lock:
            if sensor.sensor_id in self._sensors:
                raise RecorderError(f"sensor {sensor.sensor_id} is already attached")
            self._sensors[sensor.sensor_id] = sensor
            self._detached.discard(sensor.sensor_id)
            state = self._state
        if state is not None and state.first_dose_at is not None:
            _tell_dose(sensor, state.first_dose_at)
        sensor.start(self)

    def detach_sensor(self, sensor_id: str, *, record_event: bool = True) -> None:
        """Stop a sensor (waiting :data:`SENSOR_STOP_TIMEOUT_S` at most) and stop supervising its streams.

        From here on nothing the sensor still delivers is recorded, whether or not it stopped in time.
        """
        with self._lock:
            sensor = self._sensors.pop(sensor_id, None)
            if sensor is not None:
                self._detached.add(sensor_id)
        if sensor is None:
            return
        _stop_bounded(sensor)
        with self._lock:
            transitions = self._engine.unwatch(sensor_id)
            self._watched = {w for w in self._watched if w[1] != sensor_id}
            self._sensor_states.pop(sensor_id, None)
            active = self._engine.active()
            session_id = self._session_id
        self._log_alarms(session_id, transitions)
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))
        if record_event and self._state is not None and not self._state.is_ended:
            status = SensorStatus(sensor_id, SensorState.DISCONNECTED, self._clock.now(), "removed")
            self._record_sensor_event(status)

    @property
    def sensors(self) -> list[Sensor]:
        with self._lock:
            return list(self._sensors.values())

    def sensor(self, sensor_id: str) -> Sensor | None:
        with self._lock:
            return self._sensors.get(sensor_id)

    # SensorSink -----------------------------------------------------------
    def reading_received(self, reading: Reading) -> None:
        """One value (SensorSink); see :meth:`readings_received`."""
        self.readings_received([reading])

    def readings_received(self, readings: Sequence[Reading]) -> None:
        """One packet's readings (a heart rate with its RR intervals; one BP measurement) (SensorSink).

        Each reading is checked against the streams table (an impossible value is
        flagged, never shown live, never alarms), moved onto the session's time
        line, fed to the alarms and the baseline, then the packet is journaled as
        one entry — after the lock, so the sensor's thread never waits on a disk.
        """
        if not readings:
            return
        with self._lock:
            if self._session_id is None or self._state is None or self._state.is_ended:
                return
            session_id = self._session_id
            kept: list[Reading] = []
            transitions: list[AlarmTransition] = []
            for raw in readings:
                if raw.sensor_id in self._detached:
                    continue  # a detached sensor that did not stop in time
                reading = self._on_session_line(checked(raw))
                kept.append(reading)
                key = (reading.stream, reading.sensor_id)
                if reading.stream in SUPERVISED_STREAMS and key not in self._watched:
                    self._watched.add(key)
                    self._engine.watch_stream(reading.stream, reading.sensor_id)
                good = usable(reading.stream, int(reading.flags))
                if reading.stream is Stream.HEART_RATE and self._state.first_dose_at is None and good:
                    self._baseline_samples.append(reading.value)
                if good:
                    self._last[reading.stream] = reading
                transitions.extend(self._engine.on_reading(reading))
            active = self._engine.active() if transitions else []
        if not kept:
            return
        try:
            self._store.add_readings(session_id, kept)
        except StoreError as exc:
            self._report_store_error(exc)
        self._log_alarms(session_id, transitions)
        for reading in kept:
            self._notify(lambda lst, r=reading: lst.reading_recorded(r))  # type: ignore[misc]
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))

    def _on_session_line(self, reading: Reading) -> Reading:
        """The reading with its time on the session's clock, never before the stream's last one.

        Hand-entered values (``manual``) are stamped by the recorder on the session's clock already.
        """
        if reading.sensor_id == "manual":
            return reading
        at = self._clock.to_session(reading.at)
        if not reading.flags & ReadingFlag.SENSOR_TIMESTAMP:
            key = (reading.stream, reading.sensor_id)
            last = self._last_at.get(key)
            if last is not None and at < last:
                at = last
            self._last_at[key] = at
        return reading if at == reading.at else replace(reading, at=at)

    def status_changed(self, status: SensorStatus) -> None:
        """Record link changes as events and feed technical alarms (SensorSink)."""
        with self._lock:
            if status.sensor_id in self._detached:
                return
            status = replace(status, at=self._clock.to_session(status.at))
            transitions = self._engine.on_sensor_status(status)
            active = self._engine.active()
            session_id = self._session_id
        self._log_alarms(session_id, transitions)
        self._notify(lambda lst: lst.sensor_status_changed(status))
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))
        self._record_sensor_event(status)

    def info_received(self, info: SensorInfo) -> None:
        """Remember which sensor was used (SensorSink)."""
        with self._lock:
            self._engine.set_sensor_name(info.sensor_id, info.name)
            session_id = self._session_id
        if session_id is not None:
            try:
                self._store.save_sensor(session_id, info)
            except StoreError as exc:
                self._report_store_error(exc)
        self._notify(lambda lst: lst.sensor_info_received(info))

    def _record_sensor_event(self, status: SensorStatus) -> None:
        kind = _STATUS_EVENTS.get(status.state)
        with self._lock:
            if kind is None or self._state is None or self._state.is_ended:
                return
            if self._sensor_states.get(status.sensor_id) is status.state:
                return
            self._sensor_states[status.sensor_id] = status.state
            data: dict[str, str | int | float | bool | None] = {"sensor_id": status.sensor_id}
            if status.detail:
                data["detail"] = status.detail
            event = SessionEvent(kind, status.at, data)
        if self._persist_event(event):
            self._notify(lambda lst: lst.event_recorded(event))

    # ------------------------------------------------------------ dosing, checks
    def give_dose(
        self, at: datetime | None = None, amount: float | None = None, unit: str = "mg"
    ) -> SessionEvent:
        """Mark the first dose (T0). ``at`` may lie in the past when the button was pressed late."""
        with self._command_lock:
            when = self._past_or_now(at)
            event = self._commit_command(lambda s: s.give_dose(when, amount, unit))
            with self._lock:
                if self._baseline_samples:
                    self._engine.set_baseline(Stream.HEART_RATE, statistics.median(self._baseline_samples))
                sensors = list(self._sensors.values())
        for sensor in sensors:
            _tell_dose(sensor, when)
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        return event

    def give_booster(
        self, at: datetime | None = None, amount: float | None = None, unit: str = "mg"
    ) -> SessionEvent:
        """Record a booster dose; the clock stays anchored to the first dose."""
        with self._command_lock:
            when = self._past_or_now(at)
            event = self._commit_command(lambda s: s.give_booster(when, amount, unit))
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        return event

    def complete_check(self, name: str, note: str = "") -> SessionEvent:
        with self._command_lock:
            now = self._clock.now()
            event = self._commit_command(lambda s: s.complete_check(name, now, note))
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        return event

    def dismiss_check(self, name: str, reason: str) -> SessionEvent:
        with self._command_lock:
            now = self._clock.now()
            event = self._commit_command(lambda s: s.dismiss_check(name, now, reason))
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        return event

    def end_session(self, reason: str = "") -> SessionEvent:
        """End the session: stop sensors (each within :data:`SENSOR_STOP_TIMEOUT_S`), record
        ``session_ended``, make the record durable on this computer."""
        with self._command_lock:
            with self._lock:
                state = self._require_state(allow_ended=True)
                if state.is_ended:
                    raise RecorderError("the session has already ended")
            self._record_due()
            for sensor_id in list(self._sensors):
                self.detach_sensor(sensor_id, record_event=False)
            now = self._clock.now()
            event = self._commit_command(lambda s: s.end(now, reason))
            with self._lock:
                transitions = self._engine.acknowledge(None)
                snap = state.snapshot(self._clock.now())
                session_id = self._session_id
            self._log_alarms(session_id, transitions)
        self._stop_ticker.set()
        self._store.flush()
        self._notify(lambda lst: lst.event_recorded(event))
        self._notify(lambda lst: lst.snapshot_updated(snap))
        return event

    # ------------------------------------------------------------- observations
    def add_observation(
        self,
        kind: ObservationKind,
        name: str,
        *,
        value: float | None = None,
        text: str = "",
        occurred_at: datetime | None = None,
        author: str = "",
        observation_id: str | None = None,
    ) -> Observation:
        """Save a new observation; returns only once it is durable (in the journal).

        ``occurred_at`` is when the therapist entered it (or says it happened),
        never when the database took it. A caller retrying a note that could not
        be saved passes the same ``observation_id`` and ``occurred_at``.

        Raises:
            StoreError: not saved (e.g. the disk is full); nothing was recorded, try again.
        """
        if not name.strip():
            raise ValueError("an observation needs a name (e.g. 'note', 'nausea', 'moaa_s')")
        with self._command_lock:
            with self._lock:
                state = self._require_state(allow_ended=True)
                obs_id = observation_id or new_observation_id()
                if obs_id in self._observations:
                    return self._observations[obs_id]  # a retry of one already saved
                now = self._clock.now()
                obs = Observation(
                    observation_id=obs_id,
                    revision=1,
                    kind=kind,
                    name=name.strip(),
                    occurred_at=self._past_or_now(occurred_at),
                    recorded_at=now,
                    value=value,
                    text=text,
                    author=author,
                    added_later=state.is_ended,
                )
            self._save_observation(obs)
        self._notify(lambda lst: lst.observation_saved(obs))
        return obs

    def edit_observation(
        self,
        observation_id: str,
        *,
        value: float | Unset | None = UNSET,
        text: str | Unset = UNSET,
        name: str | Unset = UNSET,
        occurred_at: datetime | Unset = UNSET,
        reason: str = "",
    ) -> Observation:
        """Append a corrected revision; the earlier revisions stay as they were."""
        changes: dict[str, Any] = {"reason": reason}
        if not isinstance(value, Unset):
            changes["value"] = value
        if not isinstance(text, Unset):
            changes["text"] = text
        if not isinstance(name, Unset):
            changes["name"] = name
        if not isinstance(occurred_at, Unset):
            changes["occurred_at"] = ensure_utc(occurred_at)
        return self._revise(observation_id, changes)

    def delete_observation(self, observation_id: str, reason: str) -> Observation:
        """Append a revision flagged deleted; a reason is required."""
        if not reason.strip():
            raise ValueError("deleting an observation needs a reason")
        return self._revise(observation_id, {"deleted": True, "reason": reason.strip()})

    def _revise(self, observation_id: str, changes: dict[str, Any]) -> Observation:
        with self._command_lock:
            with self._lock:
                state = self._require_state(allow_ended=True)
                prev = self._current_observation(observation_id)
                obs = replace(
                    prev,
                    revision=prev.revision + 1,
                    recorded_at=self._clock.now(),
                    added_later=prev.added_later or state.is_ended,
                    **changes,
                )
            self._save_observation(obs)
        self._notify(lambda lst: lst.observation_saved(obs))
        return obs

    def record_manual_vitals(
        self,
        *,
        systolic: float | None = None,
        diastolic: float | None = None,
        spo2: float | None = None,
        heart_rate: float | None = None,
        occurred_at: datetime | None = None,
        author: str = "",
    ) -> Observation:
        """Store hand-entered vitals as MANUAL readings (alarms see them) plus one observation."""
        check_manual_vitals(systolic=systolic, diastolic=diastolic, spo2=spo2, heart_rate=heart_rate)
        with self._lock:
            self._require_state()
            at = self._past_or_now(occurred_at)
        values: list[tuple[Stream, float]] = []
        parts: list[str] = []
        if systolic is not None and diastolic is not None:
            values += [(Stream.BP_SYSTOLIC, systolic), (Stream.BP_DIASTOLIC, diastolic)]
            parts.append(f"BP {systolic:g}/{diastolic:g} mmHg")
        if spo2 is not None:
            values.append((Stream.SPO2, spo2))
            parts.append(f"SpO2 {spo2:g} %")
        if heart_rate is not None:
            values.append((Stream.HEART_RATE, heart_rate))
            parts.append(f"HR {heart_rate:g} bpm")
        # One measurement, one packet; stamped on the session's line already.
        readings = [Reading(s, v, at, "manual", ReadingFlag.MANUAL) for s, v in values]
        self.readings_received(readings)
        # Hand-entered values are therapist input: durable before the observation is acknowledged.
        self._store.flush()
        return self.add_observation(
            ObservationKind.VITAL,
            "vitals",
            value=systolic,
            text=", ".join(parts),
            occurred_at=at,
            author=author,
        )

    # ------------------------------------------------------------------- alarms
    def acknowledge_alarm(self, alarm_id: str | None = None) -> None:
        with self._lock:
            transitions = self._engine.acknowledge(alarm_id)
            active = self._engine.active()
            session_id = self._session_id
        self._log_alarms(session_id, transitions)
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))

    def pause_alarm_audio(self, alarm_id: str | None = None) -> None:
        with self._lock:
            transitions = self._engine.pause_audio(alarm_id)
            active = self._engine.active()
            session_id = self._session_id
        self._log_alarms(session_id, transitions)
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))

    # --------------------------------------------------------------------- tick
    def tick(self) -> SessionSnapshot | None:
        """Record phase changes, checks falling due and clock steps; advance alarm timers; tell listeners."""
        with self._command_lock:
            events = self._record_due()
            with self._lock:
                state = self._state
                if state is None:
                    return None
                now = self._clock.now()
                transitions = self._engine.tick() if not state.is_ended else []
                active = self._engine.active()
                snap = state.snapshot(now)
                session_id = self._session_id
            self._log_alarms(session_id, transitions)
        for event in events:
            self._notify(lambda lst, e=event: lst.event_recorded(e))  # type: ignore[misc]
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))
        self._notify(lambda lst: lst.snapshot_updated(snap))
        return snap

    def _record_due(self) -> list[SessionEvent]:
        """Journal the derived events that fell due, the clock steps, and any event a full disk refused."""
        with self._lock:
            state = self._state
            if state is None:
                return []
            now = self._clock.now()
            events = self._unsaved_events
            self._unsaved_events = []
            if not state.is_ended:
                events += [_step_event(step) for step in self._clock.take_steps()]
                events += state.due_events(now)
        saved: list[SessionEvent] = []
        for index, event in enumerate(events):
            if not self._persist_event(event):
                with self._lock:
                    self._unsaved_events = events[index:] + self._unsaved_events
                break
            saved.append(event)
        return saved

    def _start_ticker(self) -> None:
        if not self._autotick or (self._ticker is not None and self._ticker.is_alive()):
            return
        self._stop_ticker = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="kapmonitor-recorder", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        # Alarm delays are clock seconds: on a fast clock tick more often (down to 10 ms real).
        interval = max(0.01, min(self._tick_real_s, self._clock.real_seconds(0.5)))
        stop = self._stop_ticker
        while not stop.wait(interval):
            try:
                snap = self.tick()
            except Exception as exc:  # keep ticking: a transient store error must not stop the clock
                log.exception("recorder tick failed")
                self._notify(lambda lst, e=exc: lst.error_occurred(f"recorder: {e}"))  # type: ignore[misc]
                continue
            if snap is not None and snap.phase is Phase.ENDED:
                break

    # ---------------------------------------------------------------- internals
    def _require_state(self, *, allow_ended: bool = False) -> SessionState:
        if self._state is None or self._session_id is None:
            raise RecorderError("no session is running; start or resume one first")
        if self._state.is_ended and not allow_ended:
            raise SessionError("the session has ended; only observations can still be added")
        return self._state

    def _past_or_now(self, at: datetime | None) -> datetime:
        now = self._clock.now()
        if at is None:
            return now
        at = ensure_utc(at)
        if at > now:
            raise ValueError(f"{at.isoformat()} lies in the future; times can only be now or earlier")
        return at

    def _commit_command(self, command: Callable[[SessionState], SessionEvent]) -> SessionEvent:
        """Validate a command on a copy of the state, journal its event durably, then apply it.

        Called with the command lock held (so nothing else changes the session
        meanwhile) and the state lock free while writing. A refused command or a
        failed write (``StoreError``: disk full) leaves the live state exactly as
        it was, so the therapist can simply try again.
        """
        with self._lock:
            state = self._require_state()
            assert self._session_id is not None
            session_id = self._session_id
            event = command(copy.deepcopy(state))
        self._store.append_event(session_id, event)
        with self._lock:
            state.apply(event)
        return event

    def _persist_event(self, event: SessionEvent) -> bool:
        session_id = self._session_id
        if session_id is None:
            return False
        try:
            self._store.append_event(session_id, event)
        except StoreError as exc:
            self._report_store_error(exc)
            return False
        return True

    def _save_observation(self, obs: Observation) -> None:
        assert self._session_id is not None
        self._store.save_observation(self._session_id, obs)
        with self._lock:
            self._observations[obs.observation_id] = obs

    def _current_observation(self, observation_id: str) -> Observation:
        try:
            return self._observations[observation_id]
        except KeyError:
            raise RecorderError(f"no observation {observation_id!r} in this session") from None

    def _log_alarms(self, session_id: int | None, transitions: Sequence[AlarmTransition]) -> None:
        if session_id is None or not transitions:
            return
        many = getattr(self._store, "log_alarms", None)
        try:
            if callable(many):
                many(session_id, transitions)
            else:
                for transition in transitions:
                    self._store.log_alarm(session_id, transition)
        except StoreError as exc:
            self._report_store_error(exc)

    def _report_store_error(self, exc: StoreError) -> None:
        log.error("store error: %s", exc)
        message = str(exc)
        self._notify(lambda lst: lst.error_occurred(message))


def _step_event(step: ClockStep) -> SessionEvent:
    return SessionEvent(EventKind.CLOCK_STEPPED, step.at,
                        {"step_s": round(step.step_s, 3), "offset_s": round(step.offset_s, 3),
                         "reason": step.reason})


def _stop_bounded(sensor: Sensor) -> None:
    """``sensor.stop()``, waiting :data:`SENSOR_STOP_TIMEOUT_S` at most (a stuck sensor is left behind)."""
    worker = threading.Thread(target=_stop_quietly, args=(sensor,), name="kapmonitor-sensor-stop",
                              daemon=True)
    worker.start()
    worker.join(SENSOR_STOP_TIMEOUT_S)
    if worker.is_alive():
        log.warning("sensor %s did not stop within %.1f s; going on without it",
                    sensor.sensor_id, SENSOR_STOP_TIMEOUT_S)


def _stop_quietly(sensor: Sensor) -> None:
    try:
        sensor.stop()
    except Exception:
        log.exception("stopping sensor %s failed", sensor.sensor_id)


def _tell_dose(sensor: Sensor, at: datetime) -> None:
    """Let a sensor that models the drug's effect (the simulator) know the dose time."""
    dose_given = getattr(sensor, "dose_given", None)
    if callable(dose_given):
        dose_given(at)
