"""The recorder: sensors -> session state, alarm engine and store.

One :class:`Recorder` runs one session at a time. The bedside window and the
headless ``kapmonitor record`` command use the same object, and nothing in it
depends on the GUI thread.

Threads:

* sensor threads call the :class:`~kapmonitor.sensor.SensorSink` methods;
* a ticker thread (:class:`~kapmonitor.recording.ticker.Ticker`) calls
  :meth:`Recorder.tick` (phase changes and checks falling due, alarm delays and
  timeouts);
* callers (a UI worker thread, the CLI) call the commands.

Two locks, and neither is ever held across a call that waits on the database:

* the *state lock* serialises every change to the session state and the
  alarm engine (the engine is not thread-safe on its own); it is held for
  computing only, never for writing;
* the *command lock* serialises the commands (dose, checks, end,
  observations, derived events) so that each is written to the store's
  journal before it is applied. Sensor threads never take it.

Listeners (:class:`~kapmonitor.recording.listener.RecorderListener`) are called
after the locks are released, from whichever thread made the change; a listener
that raises is logged and never stops recording.

Durability: the store is a journal first (in the app, ``db.journaled_store``):
every session event and observation is fsync'd there before the command returns
or the listeners hear of it; readings and alarm transitions are written at once
and fsync'd within a second; one writer thread applies them to the database.

Time: the recorder keeps a :class:`~kapmonitor.session_clock.SessionClock`, so
stored times never go backwards; a wall-clock step is recorded as a
``clock_stepped`` event and the session goes on.

The parts are in :mod:`kapmonitor.recording`: the pre-dose baseline
(``baseline``), sensor bookkeeping (``sensors``), observation revisions
(``observations``), the end of a session (``closing``) and the ticker (``ticker``).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.alarms import AlarmEngine
from kapmonitor.clock import Clock, ensure_utc
from kapmonitor.ports import SessionSpec, SessionStore, StoreError
from kapmonitor.protocols import TreatmentProtocol
from kapmonitor.recording.baseline import PreDoseHeartRate, hr_baseline
from kapmonitor.recording.closing import ending_events
from kapmonitor.recording.listener import UNSET, RecorderError, RecorderListener, Unset
from kapmonitor.recording.observations import (
    checked_name,
    new_observation,
    revise,
    withdraw,
    withdrawal_reason,
)
from kapmonitor.recording.sensors import SensorAttachments, link_event, stop_bounded, tell_dose
from kapmonitor.recording.ticker import Ticker
from kapmonitor.sensor import Sensor
from kapmonitor.session import SessionState
from kapmonitor.session_clock import ClockStep, SessionClock
from kapmonitor.session_model import SessionError, SessionSnapshot
from kapmonitor.streams import checked, usable
from kapmonitor.types import (
    AlarmTransition,
    EventKind,
    Observation,
    ObservationKind,
    Phase,
    Reading,
    SensorInfo,
    SensorState,
    SensorStatus,
    SessionEvent,
    Stream,
)
from kapmonitor.vitals import check_manual_vitals, manual_vitals_readings

if TYPE_CHECKING:  # kapmonitor.discharge reads the summary, which imports this package
    from kapmonitor.discharge import Discharge

__all__ = ["Recorder"]

log = logging.getLogger(__name__)

_Revision = Callable[[Observation, datetime, bool], Observation]
"""Builds the next revision from (previous, recorded_at, late)."""


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
        self._entered_dose: tuple[float | None, str] = (None, "mg")
        """The dose entered when the session started (``SessionSpec``): what ``give_dose`` records."""
        self._sensors = SensorAttachments()
        self._pre_dose = PreDoseHeartRate()
        self._last: dict[Stream, Reading] = {}
        self._observations: dict[str, Observation] = {}
        self._unsaved_events: list[SessionEvent] = []
        self._ticker = Ticker(self._tick_step, self._tick_failed)

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

    def _notify_events(self, events: Sequence[SessionEvent]) -> None:
        for event in events:
            self._notify(lambda lst, e=event: lst.event_recorded(e))  # type: ignore[misc]

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
        """The baseline the alarms use (:mod:`kapmonitor.recording.baseline`); None before the dose."""
        with self._lock:
            return self._engine.baseline(stream)

    def last_reading(self, stream: Stream) -> Reading | None:
        with self._lock:
            return self._last.get(stream)

    def observations(self) -> list[Observation]:
        """Latest revision of each observation (deleted ones included, flagged), by occurrence."""
        with self._lock:
            return sorted(self._observations.values(), key=lambda o: (o.occurred_at, o.recorded_at))

    @property
    def sensors(self) -> list[Sensor]:
        with self._lock:
            return self._sensors.all()

    def sensor(self, sensor_id: str) -> Sensor | None:
        with self._lock:
            return self._sensors.get(sensor_id)

    # --------------------------------------------------------------- lifecycle
    def start_session(self, spec: SessionSpec) -> int:
        """Create the session and record ``session_started``; returns the session id."""
        with self._command_lock:
            with self._lock:
                if self._state is not None and not self._state.is_ended:
                    raise RecorderError(f"session {self._session_id} is still running; end it first")
                spec.protocol.validate()
                # limits adjusted for this session (start dialog) win over the recorder's defaults
                alarm_settings = self._chosen_alarms(spec.settings)
                settings: dict[str, Any] = {**spec.settings, "alarms": alarm_settings.to_dict()}
                spec = replace(spec, settings=settings)
            clock = SessionClock(self._base_clock)
            now = clock.now()
            state = SessionState(spec.protocol)
            event = state.start(now)
            session_id = self._store.create_session(spec, now)
            self._store.append_event(session_id, event)
            with self._lock:
                self._begin(session_id, state, clock, alarm_settings)
                self._entered_dose = (spec.dose_amount, spec.dose_unit)
        self._notify_events([event])
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
            alarm_settings = self._chosen_alarms(record.spec.settings)
            observations = self._store.observations(session_id)
            heart_rate = self._store.load_stream(session_id, Stream.HEART_RATE)
            clock = SessionClock(self._base_clock, floor=self._store.last_recorded_at(session_id))
            event = state.resume(clock.now())
            self._store.append_event(session_id, event)
            with self._lock:
                self._begin(session_id, state, clock, alarm_settings)
                self._entered_dose = (record.spec.dose_amount, record.spec.dose_unit)
                for obs in observations:
                    self._observations[obs.observation_id] = obs
                if state.first_dose_at is None:
                    self._pre_dose.extend(heart_rate)  # still in preparation: keep collecting
                else:
                    self._set_hr_baseline(hr_baseline(heart_rate, state.first_dose_at))
        self._notify_events([event])
        self.tick()
        self._start_ticker()
        snap = self.snapshot()
        assert snap is not None
        return snap

    def _chosen_alarms(self, settings: Mapping[str, Any]) -> AlarmSettings:
        chosen = settings.get("alarms")
        return AlarmSettings.from_dict(chosen) if isinstance(chosen, dict) else self._alarm_settings

    def _begin(self, session_id: int, state: SessionState, clock: SessionClock,
               alarm_settings: AlarmSettings) -> None:
        self._clock = clock
        self._alarm_settings = alarm_settings
        self._engine = AlarmEngine(alarm_settings, clock)
        self._session_id = session_id
        self._state = state
        self._pre_dose = PreDoseHeartRate()
        self._last = {}
        self._observations = {}
        self._unsaved_events = []
        self._sensors.new_session()

    def _set_hr_baseline(self, value: float | None) -> None:
        if value is not None:
            self._engine.set_baseline(Stream.HEART_RATE, value)

    def close(self) -> None:
        """Stop sensors and the ticker and flush the store; the session stays open (resumable)."""
        self._ticker.join(5.0)
        for sensor_id in self._sensor_ids():
            self.detach_sensor(sensor_id, record_event=False)
        try:
            self._store.flush()
        except StoreError as exc:
            log.error("could not flush readings on close: %s", exc)

    # ------------------------------------------------------------------ sensors
    def attach_sensor(self, sensor: Sensor) -> None:
        """Start ``sensor`` with this recorder as its sink."""
        with self._lock:
            self._sensors.attach(sensor)
            state = self._state
        if state is not None and state.first_dose_at is not None:
            tell_dose(sensor, state.first_dose_at)
        sensor.start(self)

    def detach_sensor(self, sensor_id: str, *, record_event: bool = True) -> None:
        """Stop a sensor (waiting :data:`~kapmonitor.recording.sensors.SENSOR_STOP_TIMEOUT_S` at most)
        and stop supervising its streams.

        From here on nothing the sensor still delivers is recorded, whether or not it stopped in time.
        """
        with self._lock:
            sensor = self._sensors.detach(sensor_id)
        if sensor is None:
            return
        stop_bounded(sensor)
        with self._lock:
            transitions = self._engine.unwatch(sensor_id)
            self._sensors.forget_streams(sensor_id)
            active = self._engine.active()
            session_id = self._session_id
        self._publish_alarms(session_id, transitions, active)
        if record_event and self._state is not None and not self._state.is_ended:
            self._record_link_event(SensorStatus(sensor_id, SensorState.DISCONNECTED, self._clock.now(),
                                                 "removed"))

    def _sensor_ids(self) -> list[str]:
        with self._lock:
            return self._sensors.ids()

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
                if self._sensors.is_detached(raw.sensor_id):
                    continue  # a detached sensor that did not stop in time
                reading = self._sensors.on_session_line(checked(raw), self._clock)
                kept.append(reading)
                if self._sensors.newly_supervised(reading):
                    self._engine.watch_stream(reading.stream, reading.sensor_id)
                if usable(reading.stream, int(reading.flags)):
                    self._last[reading.stream] = reading
                    if reading.stream is Stream.HEART_RATE and self._state.first_dose_at is None:
                        self._pre_dose.add(reading)
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

    def status_changed(self, status: SensorStatus) -> None:
        """Record link changes as events and feed technical alarms (SensorSink)."""
        with self._lock:
            if self._sensors.is_detached(status.sensor_id):
                return
            status = replace(status, at=self._clock.to_session(status.at))
            transitions = self._engine.on_sensor_status(status)
            active = self._engine.active()
            session_id = self._session_id
        self._log_alarms(session_id, transitions)
        self._notify(lambda lst: lst.sensor_status_changed(status))
        if transitions:
            self._notify(lambda lst: lst.alarms_changed(transitions, active))
        self._record_link_event(status)

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

    def _record_link_event(self, status: SensorStatus) -> None:
        event = link_event(status)
        with self._lock:
            if event is None or self._state is None or self._state.is_ended:
                return
            if not self._sensors.link_changed(status):
                return
        if self._persist_event(event):
            self._notify_events([event])

    # ------------------------------------------------------------ dosing, checks
    def give_dose(
        self, at: datetime | None = None, amount: float | None = None, unit: str = "mg"
    ) -> SessionEvent:
        """Mark the first dose (T0). ``at`` may lie in the past when the button was pressed late.

        Without an ``amount`` the dose entered when the session started is recorded (the bedside's
        "Dose given" button names none). The heart-rate baseline is frozen here
        (:func:`~kapmonitor.recording.baseline.hr_baseline`).
        """
        with self._command_lock:
            when = self._past_or_now(at)
            if amount is None:
                with self._lock:
                    amount, unit = self._entered_dose
            event = self._commit_command(lambda s: s.give_dose(when, amount, unit))
            with self._lock:
                self._set_hr_baseline(self._pre_dose.baseline(when))
                self._pre_dose = PreDoseHeartRate()
                sensors = self._sensors.all()
        for sensor in sensors:
            tell_dose(sensor, when)
        self._notify_events([event])
        self.tick()
        return event

    def give_booster(
        self, at: datetime | None = None, amount: float | None = None, unit: str = "mg"
    ) -> SessionEvent:
        """Record a booster dose; the clock stays anchored to the first dose."""
        with self._command_lock:
            when = self._past_or_now(at)
            event = self._commit_command(lambda s: s.give_booster(when, amount, unit))
        self._notify_events([event])
        self.tick()
        return event

    def complete_check(self, name: str, note: str = "") -> SessionEvent:
        with self._command_lock:
            now = self._clock.now()
            event = self._commit_command(lambda s: s.complete_check(name, now, note))
        self._notify_events([event])
        self.tick()
        return event

    def dismiss_check(self, name: str, reason: str) -> SessionEvent:
        with self._command_lock:
            now = self._clock.now()
            event = self._commit_command(lambda s: s.dismiss_check(name, now, reason))
        self._notify_events([event])
        self.tick()
        return event

    def end_session(self, reason: str = "", discharge: Discharge | None = None) -> SessionEvent:
        """End the session and make the record durable on this computer.

        Stops the sensors (each within :data:`~kapmonitor.recording.sensors.SENSOR_STOP_TIMEOUT_S`),
        then records what fell due and ``session_ended``
        (:func:`~kapmonitor.recording.closing.ending_events`), with the clinician's structured
        ``discharge`` answers in its data when given.
        """
        with self._command_lock:
            with self._lock:
                state = self._require_state(allow_ended=True)
                if state.is_ended:
                    raise RecorderError("the session has already ended")
            events = self._record_due()
            for sensor_id in self._sensor_ids():
                self.detach_sensor(sensor_id, record_event=False)
            now = self._clock.now()
            events += self._commit_events(lambda s: ending_events(s, now, reason, discharge))
            with self._lock:
                transitions = self._engine.acknowledge(None)
                snap = state.snapshot(self._clock.now())
                session_id = self._session_id
            self._log_alarms(session_id, transitions)
        self._ticker.stop()
        self._store.flush()
        self._notify_events(events)
        self._notify(lambda lst: lst.snapshot_updated(snap))
        return events[-1]

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
            ObservationError: a blank name (a ``ValueError``); nothing was recorded.
            StoreError: not saved (e.g. the disk is full); nothing was recorded, try again.
        """
        checked_name(name)
        with self._command_lock:
            with self._lock:
                state = self._require_state(allow_ended=True)
                if observation_id is not None and observation_id in self._observations:
                    return self._observations[observation_id]  # a retry of one already saved
                now = self._clock.now()
                obs = new_observation(kind, name, occurred_at=self._past_or_now(occurred_at), recorded_at=now,
                                      value=value, text=text, author=author, late=state.is_ended,
                                      observation_id=observation_id)
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
        """Append a corrected revision (:func:`~kapmonitor.recording.observations.revise`);
        the earlier revisions stay as they were."""
        return self._revise(observation_id, lambda prev, now, late: revise(
            prev, recorded_at=now, late=late, reason=reason, value=value, text=text, name=name,
            occurred_at=occurred_at))

    def delete_observation(self, observation_id: str, reason: str) -> Observation:
        """Append a revision flagged deleted; a reason is required."""
        withdrawal_reason(reason)
        return self._revise(observation_id, lambda prev, now, late: withdraw(
            prev, reason, recorded_at=now, late=late))

    def _revise(self, observation_id: str, build: _Revision) -> Observation:
        with self._command_lock:
            with self._lock:
                state = self._require_state(allow_ended=True)
                try:
                    prev = self._observations[observation_id]
                except KeyError:
                    raise RecorderError(f"no observation {observation_id!r} in this session") from None
                obs = build(prev, self._clock.now(), state.is_ended)
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
        # One measurement, one packet; stamped on the session's line already.
        readings, text = manual_vitals_readings(at, systolic=systolic, diastolic=diastolic, spo2=spo2,
                                                heart_rate=heart_rate)
        self.readings_received(readings)
        # Hand-entered values are therapist input: durable before the observation is acknowledged.
        self._store.flush()
        return self.add_observation(ObservationKind.VITAL, "vitals", value=systolic, text=text,
                                    occurred_at=at, author=author)

    # ------------------------------------------------------------------- alarms
    def acknowledge_alarm(self, alarm_id: str | None = None) -> None:
        with self._lock:
            transitions = self._engine.acknowledge(alarm_id)
            active = self._engine.active()
            session_id = self._session_id
        self._publish_alarms(session_id, transitions, active)

    def pause_alarm_audio(self, alarm_id: str | None = None) -> None:
        with self._lock:
            transitions = self._engine.pause_audio(alarm_id)
            active = self._engine.active()
            session_id = self._session_id
        self._publish_alarms(session_id, transitions, active)

    def _publish_alarms(self, session_id: int | None, transitions: Sequence[AlarmTransition],
                        active: Sequence[ActiveAlarm]) -> None:
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
                snap = state.snapshot(now)
                self._engine.set_overdue_checks(
                    {c.name: (c.label, late, c.grace_s) for c in snap.checks
                     if c.state == "due" and (late := c.late_by_s(now)) is not None and not state.is_ended})
                transitions = self._engine.tick() if not state.is_ended else []
                active = self._engine.active()
                session_id = self._session_id
            self._log_alarms(session_id, transitions)
        self._notify_events(events)
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
        if self._autotick:
            # Alarm delays are clock seconds: on a fast clock tick more often (down to 10 ms real).
            self._ticker.start(max(0.01, min(self._tick_real_s, self._clock.real_seconds(0.5))))

    def _tick_step(self) -> bool:
        snap = self.tick()
        return snap is None or snap.phase is not Phase.ENDED

    def _tick_failed(self, exc: Exception) -> None:
        # keep ticking: a transient store error must not stop the clock
        self._notify(lambda lst: lst.error_occurred(f"recorder: {exc}"))

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
        """:meth:`_commit_events` for a command that makes one event."""
        return self._commit_events(lambda s: [command(s)])[0]

    def _commit_events(self, command: Callable[[SessionState], list[SessionEvent]]) -> list[SessionEvent]:
        """Validate a command on a copy of the state, journal its events durably, then apply them.

        Called with the command lock held (so nothing else changes the session
        meanwhile) and the state lock free while writing. A refused command leaves
        the live state exactly as it was; so does a failed write (``StoreError``:
        disk full) of a one-event command. Each event is applied as soon as it is
        durable, so the live state never lacks what the journal holds.
        """
        with self._lock:
            state = self._require_state()
            assert self._session_id is not None
            session_id = self._session_id
            events = command(copy.deepcopy(state))
        for event in events:
            self._store.append_event(session_id, event)
            with self._lock:
                state.apply(event)
        return events

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
