"""The recorder: sensors -> session state, alarm engine and store.

One :class:`Recorder` runs one session at a time. The bedside window and the
headless ``kapmonitor record`` command use the same object, and nothing in it
depends on the GUI thread.

Threads:

* sensor threads call the :class:`~kapmonitor.sensor.SensorSink` methods;
* an optional ticker thread calls :meth:`Recorder.tick` (phase changes and
  checks falling due, alarm delays and timeouts);
* callers (a UI worker thread, the CLI) call the commands.

One re-entrant lock serialises every change to the session state and the
alarm engine (the engine is not thread-safe on its own). Listeners are called
after the lock is released, from whichever thread made the change, so a
listener must be thread-safe and must not block (the Qt bridge re-emits them
as queued signals).

Durability: every session event, observation and alarm transition is
committed by the store before the command returns or the listeners hear of it;
readings are queued to the store's writer, which commits within a second.
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
from kapmonitor.store import SessionSpec, SessionStore, StoreError
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

__all__ = ["UNSET", "Recorder", "RecorderError", "RecorderListener"]

log = logging.getLogger(__name__)

#: Streams supervised for "no data": continuous ones only (blood pressure is sparse by nature).
SUPERVISED_STREAMS: Final = frozenset({Stream.HEART_RATE, Stream.SPO2})

_STATUS_EVENTS: Final = {
    SensorState.CONNECTED: EventKind.SENSOR_CONNECTED,
    SensorState.RECONNECTING: EventKind.SENSOR_RECONNECTING,
    SensorState.LOST: EventKind.SENSOR_LOST,
    SensorState.DISCONNECTED: EventKind.SENSOR_DISCONNECTED,
}


class Recorder:
    """Records one session: readings, events, observations and alarms.

    Args:
        store: where the record goes.
        clock: the injected clock (system, scaled or fake).
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
        self._clock = clock
        self._alarm_settings = alarm_settings
        self._engine = AlarmEngine(alarm_settings, clock)
        self._tick_real_s = tick_real_s
        self._autotick = autotick
        self._lock = threading.RLock()
        self._listeners: list[RecorderListener] = []
        self._session_id: int | None = None
        self._state: SessionState | None = None
        self._sensors: dict[str, Sensor] = {}
        self._sensor_states: dict[str, SensorState] = {}
        self._watched: set[tuple[Stream, str]] = set()
        self._baseline_samples: list[float] = []
        self._last: dict[Stream, Reading] = {}
        self._observations: dict[str, Observation] = {}
        self._ticker: threading.Thread | None = None
        self._stop_ticker = threading.Event()
        self._store_failed = False

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
        with self._lock:
            if self._state is not None and not self._state.is_ended:
                raise RecorderError(f"session {self._session_id} is still running; end it first")
            spec.protocol.validate()
            chosen = spec.settings.get("alarms")
            if isinstance(chosen, dict):
                # limits adjusted for this session (start dialog) win over the recorder's defaults
                self._use_alarm_settings(AlarmSettings.from_dict(chosen))
            settings: dict[str, Any] = {**spec.settings, "alarms": self._alarm_settings.to_dict()}
            spec = replace(spec, settings=settings)
            now = self._clock.now()
            state = SessionState(spec.protocol)
            event = state.start(now)
            session_id = self._store.create_session(spec, now)
            self._store.append_event(session_id, event)
            self._reset(session_id, state)
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        self._start_ticker()
        return session_id

    def resume_session(self, session_id: int) -> SessionSnapshot:
        """Continue an interrupted session with its clock anchored at the original dose."""
        with self._lock:
            if self._state is not None and not self._state.is_ended:
                raise RecorderError(f"session {self._session_id} is still running")
            record = self._store.session(session_id)
            state = SessionState.replay(record.spec.protocol, self._store.events(session_id))
            if state.is_ended:
                raise RecorderError(f"session {session_id} has already ended; it cannot be resumed")
            alarms = record.spec.settings.get("alarms")
            if isinstance(alarms, dict):
                self._use_alarm_settings(AlarmSettings.from_dict(alarms))
            self._reset(session_id, state)
            for obs in self._store.observations(session_id):
                self._observations[obs.observation_id] = obs
            self._restore_baseline(session_id, state)
            event = state.resume(self._clock.now())
            self._store.append_event(session_id, event)
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        self._start_ticker()
        snap = self.snapshot()
        assert snap is not None
        return snap

    def _use_alarm_settings(self, settings: AlarmSettings) -> None:
        self._alarm_settings = settings
        self._engine = AlarmEngine(settings, self._clock)

    def _reset(self, session_id: int, state: SessionState) -> None:
        self._session_id = session_id
        self._state = state
        self._baseline_samples = []
        self._last = {}
        self._observations = {}
        self._watched = set()
        self._sensor_states = {}

    def _restore_baseline(self, session_id: int, state: SessionState) -> None:
        """Rebuild the baseline from the stored preparation-phase heart rate (numpy, no row objects)."""
        data = self._store.load_stream(session_id, Stream.HEART_RATE)
        usable = (data.flags & int(ReadingFlag.ARTIFACT | ReadingFlag.NO_CONTACT)) == 0
        if state.first_dose_at is not None:
            usable &= data.t < state.first_dose_at.timestamp()
        samples = [float(v) for v in data.value[usable]]
        if state.first_dose_at is None:
            self._baseline_samples = samples  # still in preparation: keep collecting
        elif samples:
            self._engine.set_baseline(Stream.HEART_RATE, statistics.median(samples))

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
            state = self._state
        if state is not None and state.first_dose_at is not None:
            _tell_dose(sensor, state.first_dose_at)
        sensor.start(self)

    def detach_sensor(self, sensor_id: str, *, record_event: bool = True) -> None:
        """Stop a sensor and stop supervising its streams."""
        with self._lock:
            sensor = self._sensors.pop(sensor_id, None)
        if sensor is None:
            return
        sensor.stop()
        with self._lock:
            transitions = self._engine.unwatch(sensor_id)
            self._watched = {w for w in self._watched if w[1] != sensor_id}
            self._sensor_states.pop(sensor_id, None)
            self._log_alarms(transitions)
            active = self._engine.active()
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
        """Queue a reading, feed it to the alarms and to the baseline (SensorSink)."""
        with self._lock:
            if self._session_id is None or self._state is None or self._state.is_ended:
                return
            session_id = self._session_id
            try:
                self._store.add_readings(session_id, [reading])
            except StoreError as exc:
                self._report_store_error(exc)
            key = (reading.stream, reading.sensor_id)
            if reading.stream in SUPERVISED_STREAMS and key not in self._watched:
                self._watched.add(key)
                self._engine.watch_stream(reading.stream, reading.sensor_id)
            if (
                reading.stream is Stream.HEART_RATE
                and self._state.first_dose_at is None
                and _usable(int(reading.flags))
            ):
                self._baseline_samples.append(reading.value)
            self._last[reading.stream] = reading
            transitions = self._engine.on_reading(reading)
            self._log_alarms(transitions)
            active = self._engine.active() if transitions else []
        self._notify(lambda lst: lst.reading_recorded(reading))
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))

    def status_changed(self, status: SensorStatus) -> None:
        """Record link changes as events and feed technical alarms (SensorSink)."""
        with self._lock:
            transitions = self._engine.on_sensor_status(status)
            self._log_alarms(transitions)
            active = self._engine.active()
        self._notify(lambda lst: lst.sensor_status_changed(status))
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))
        self._record_sensor_event(status)

    def info_received(self, info: SensorInfo) -> None:
        """Remember which sensor was used (SensorSink)."""
        with self._lock:
            self._engine.set_sensor_name(info.sensor_id, info.name)
            if self._session_id is not None:
                try:
                    self._store.save_sensor(self._session_id, info)
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
            if not self._persist_event(event):
                return
        self._notify(lambda lst: lst.event_recorded(event))

    # ------------------------------------------------------------ dosing, checks
    def give_dose(
        self, at: datetime | None = None, amount: float | None = None, unit: str = "mg"
    ) -> SessionEvent:
        """Mark the first dose (T0). ``at`` may lie in the past when the button was pressed late."""
        with self._lock:
            state = self._require_state()
            when = self._past_or_now(at)
            event = self._commit_command(state, lambda s: s.give_dose(when, amount, unit))
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
        with self._lock:
            state, when = self._require_state(), self._past_or_now(at)
            event = self._commit_command(state, lambda s: s.give_booster(when, amount, unit))
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        return event

    def complete_check(self, name: str, note: str = "") -> SessionEvent:
        with self._lock:
            now = self._clock.now()
            event = self._commit_command(self._require_state(), lambda s: s.complete_check(name, now, note))
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        return event

    def dismiss_check(self, name: str, reason: str) -> SessionEvent:
        with self._lock:
            now = self._clock.now()
            event = self._commit_command(self._require_state(), lambda s: s.dismiss_check(name, now, reason))
        self._notify(lambda lst: lst.event_recorded(event))
        self.tick()
        return event

    def end_session(self, reason: str = "") -> SessionEvent:
        """End the session: stop sensors, record ``session_ended``, flush readings."""
        with self._lock:
            state = self._require_state(allow_ended=True)
            if state.is_ended:
                raise RecorderError("the session has already ended")
            self._drain_due(self._clock.now())
        for sensor_id in list(self._sensors):
            self.detach_sensor(sensor_id, record_event=False)
        with self._lock:
            now = self._clock.now()
            event = self._commit_command(state, lambda s: s.end(now, reason))
            transitions = self._engine.acknowledge(None)
            self._log_alarms(transitions)
            snap = state.snapshot(self._clock.now())
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
    ) -> Observation:
        """Commit a new observation; returns only once it is durable."""
        if not name.strip():
            raise ValueError("an observation needs a name (e.g. 'note', 'nausea', 'moaa_s')")
        with self._lock:
            state = self._require_state(allow_ended=True)
            now = self._clock.now()
            obs = Observation(
                observation_id=new_observation_id(),
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
            readings = [Reading(s, v, at, "manual", ReadingFlag.MANUAL) for s, v in values]
        for reading in readings:
            self.reading_received(reading)
        # Hand-entered values are therapist input: on disk before the observation is acknowledged.
        # Flushed outside the lock so sensor threads keep delivering meanwhile.
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
            self._log_alarms(transitions)
            active = self._engine.active()
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))

    def pause_alarm_audio(self, alarm_id: str | None = None) -> None:
        with self._lock:
            transitions = self._engine.pause_audio(alarm_id)
            self._log_alarms(transitions)
            active = self._engine.active()
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))

    # --------------------------------------------------------------------- tick
    def tick(self) -> SessionSnapshot | None:
        """Record phase changes and checks that fell due, advance alarm timers, tell listeners."""
        with self._lock:
            state = self._state
            if state is None:
                return None
            now = self._clock.now()
            events = self._drain_due(now) if not state.is_ended else []
            transitions = self._engine.tick() if not state.is_ended else []
            self._log_alarms(transitions)
            active = self._engine.active()
            snap = state.snapshot(now)
        for event in events:
            self._notify(lambda lst, e=event: lst.event_recorded(e))  # type: ignore[misc]
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))
        self._notify(lambda lst: lst.snapshot_updated(snap))
        return snap

    def _drain_due(self, now: datetime) -> list[SessionEvent]:
        assert self._state is not None
        events = self._state.due_events(now)
        for event in events:
            self._persist_event(event)
        return events

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

    def _commit_command(
        self, state: SessionState, command: Callable[[SessionState], SessionEvent]
    ) -> SessionEvent:
        """Validate a command on a copy of the state, commit its event durably, then apply it.

        A refused command or a failed commit (``StoreError``: disk full, database locked)
        leaves the live state exactly as it was, so the therapist can simply try again.
        """
        assert self._session_id is not None
        event = command(copy.deepcopy(state))
        self._store.append_event(self._session_id, event)
        state.apply(event)
        return event

    def _persist_event(self, event: SessionEvent) -> bool:
        assert self._session_id is not None
        try:
            self._store.append_event(self._session_id, event)
        except StoreError as exc:
            self._report_store_error(exc)
            return False
        return True

    def _save_observation(self, obs: Observation) -> None:
        assert self._session_id is not None
        self._store.save_observation(self._session_id, obs)
        self._observations[obs.observation_id] = obs

    def _current_observation(self, observation_id: str) -> Observation:
        try:
            return self._observations[observation_id]
        except KeyError:
            raise RecorderError(f"no observation {observation_id!r} in this session") from None

    def _log_alarms(self, transitions: Sequence[AlarmTransition]) -> None:
        if self._session_id is None:
            return
        for transition in transitions:
            try:
                self._store.log_alarm(self._session_id, transition)
            except StoreError as exc:
                self._report_store_error(exc)

    def _report_store_error(self, exc: StoreError) -> None:
        log.error("store error: %s", exc)
        message = str(exc)
        self._notify(lambda lst: lst.error_occurred(message))


def _usable(flags: int) -> bool:
    """A reading fit for the baseline: not an artifact, skin contact not reported lost."""
    return not flags & (ReadingFlag.ARTIFACT | ReadingFlag.NO_CONTACT)


def _tell_dose(sensor: Sensor, at: datetime) -> None:
    """Let a sensor that models the drug's effect (the simulator) know the dose time."""
    dose_given = getattr(sensor, "dose_given", None)
    if callable(dose_given):
        dose_given(at)
