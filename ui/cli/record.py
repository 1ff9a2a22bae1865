"""``kapmonitor record``: a headless session (baseline, dose, record, end), or ``--resume``.

These assemble the same pieces as the window (store, sensor, recorder) without
Qt. Progress goes to stderr; results and acknowledgements to stdout.

``record`` reads standard input while it runs: each line is saved as a note
observation, and a line ``!name`` as a quick tag (e.g. ``!nausea``), stamped
with the moment it was typed. Each saved observation is acknowledged on stdout
only once it is durable in the recording journal (the database may be busy;
stderr says when entries wait for it and when it has them)::

    saved observation <id> <occurred_at ISO>

and every session event as ``recorded event <kind> <time ISO>``.

With ``--lsl`` the session is also streamed on the Lab Streaming Layer (:mod:`ui.lsl_outlets`;
the clinic's scope, by default this computer only): the outlets open with the session and close
once its end has been sent.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from db.journaled_store import JournaledStore
from db.paths import workstation_file
from kapmonitor import __version__
from kapmonitor.alarm_record import ActiveAlarm
from kapmonitor.cli import EXIT_FAILURE, EXIT_OK, UsageError
from kapmonitor.clock import Clock, ScaledClock, SystemClock
from kapmonitor.discharge import Discharge, DischargeFacts, Suggestion, facts_for_session
from kapmonitor.ports import JournalStatus, SessionSpec, StoreError
from kapmonitor.protocols import ProtocolError, find_protocol
from kapmonitor.recording import Recorder
from kapmonitor.sensor import SensorSpec
from kapmonitor.session_model import SessionSnapshot
from kapmonitor.settings import ClinicSettings
from kapmonitor.streams import usable
from kapmonitor.summary import SummaryError
from kapmonitor.types import (
    AlarmTransition,
    Observation,
    ObservationKind,
    Phase,
    Reading,
    SensorInfo,
    SensorStatus,
    SessionEvent,
    Stream,
    new_observation_id,
)
from ui.cli.discharge import check_discharge_args, discharge_from_args, wants_discharge
from ui.cli.stores import open_journaled_store
from ui.clinic_settings import load_clinic_settings

if TYPE_CHECKING:
    from ui.lsl_outlets import LslOutlets

log = logging.getLogger(__name__)

class _Progress:
    """Prints acknowledgements (stdout) and progress (stderr) for a headless session."""

    def __init__(self, recorder: Recorder, out: TextIO, err: TextIO) -> None:
        self._recorder = recorder
        self._out = out
        self._err = err
        self._lock = threading.Lock()
        self._readings = 0
        self._last_print = 0.0

    @property
    def readings(self) -> int:
        return self._readings

    def _line(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(text + "\n")
            stream.flush()

    def reading_recorded(self, reading: Reading) -> None:
        self._readings += 1

    def sensor_status_changed(self, status: SensorStatus) -> None:
        detail = f" ({status.detail})" if status.detail else ""
        self._line(self._err, f"sensor {status.sensor_id}: {status.state.value}{detail}")

    def sensor_info_received(self, info: SensorInfo) -> None:
        self._line(self._err, f"sensor {info.sensor_id}: {info.name} {info.model or ''}".rstrip())

    def event_recorded(self, event: SessionEvent) -> None:
        extra = " ".join(f"{k}={v}" for k, v in event.data.items())
        self._line(self._out, f"recorded event {event.kind.value} {event.at.isoformat()} {extra}".rstrip())

    def observation_saved(self, observation: Observation) -> None:
        self._line(
            self._out,
            f"saved observation {observation.observation_id} {observation.occurred_at.isoformat()}",
        )

    def alarms_changed(self, transitions: Sequence[AlarmTransition], active: Sequence[ActiveAlarm]) -> None:
        for t in transitions:
            value = f" value {t.value:g}" if t.value is not None else ""
            limit = f" limit {t.limit:g}" if t.limit is not None else ""
            self._line(self._err, f"alarm {t.alarm_id} ({t.priority.value}): {t.action}{value}{limit}")

    def snapshot_updated(self, snapshot: SessionSnapshot) -> None:
        real = time.monotonic()
        if real - self._last_print < 0.2:
            return
        self._last_print = real
        hr_text = _heart_rate_text(self._recorder.last_reading(Stream.HEART_RATE), snapshot.now,
                                   self._recorder.alarm_settings.technical.no_data_s)
        since = snapshot.since_first_dose_s
        t_text = "T-" if since is None else ("T+" if since >= 0 else "T-") + _hms(abs(since))
        self._line(
            self._err,
            f"progress now={snapshot.now.isoformat()} phase={snapshot.phase.value} {t_text} "
            f"{hr_text} readings={self._readings}",
        )

    def error_occurred(self, message: str) -> None:
        self._line(self._err, f"ERROR: {message}")


def _heart_rate_text(hr: Reading | None, now: datetime, stale_after_s: float) -> str:
    """``HR 72 bpm`` while the reading is fresh and usable, else ``HR --`` and for how long there was none.

    A value older than the no-data time (the sensor went away) is not the heart rate now.
    """
    if hr is None:
        return "HR --"
    age_s = (now - hr.at).total_seconds()
    if age_s >= stale_after_s:
        return f"HR -- (no data for {age_s:.0f} s)"
    if not usable(hr):
        return "HR --"
    return f"HR {hr.value:.0f} bpm"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


BLUETOOTH_CHECK_S = 0.3
"""How long ``record --sensor ble:...`` scans before starting, to find out that Bluetooth works."""


def _make_sensor(args: argparse.Namespace, clock: Clock) -> tuple[Any, Any]:
    """Return (sensor, runtime-or-None)."""
    from devices.factory import make_sensor

    spec = SensorSpec.parse(args.sensor)
    if spec.kind == "simulated":
        if spec.seed is None and args.seed is not None:
            spec = SensorSpec("simulated", seed=args.seed)
        return make_sensor(spec, clock), None
    from devices.errors import NoAdapterError
    from devices.runtime import BleRuntime
    from devices.scanner import scan_blocking

    runtime = BleRuntime()
    runtime.start()
    try:
        # Before a session is started: without a Bluetooth stack the sensor would retry for the whole
        # session and leave an empty record behind. A short scan is the check ('kapmonitor scan' too).
        scan_blocking(runtime, BLUETOOTH_CHECK_S)
    except NoAdapterError as exc:
        runtime.stop()
        raise UsageError(f"no Bluetooth adapter found (BlueZ is not reachable on the system D-Bus: {exc}); "
                         "no session was started") from None
    return make_sensor(spec, clock, runtime=runtime), runtime


RETRY_S = 1.0
"""How often (real seconds) a note that could not be saved is tried again."""


class _StdinObservations(threading.Thread):
    """Saves each line typed on stdin as an observation while the session runs.

    A line is stamped with the moment it was read. When it cannot be saved even
    in the journal (the disk is full) it is kept, said so on stderr, and tried
    again every :data:`RETRY_S` with the same identity and time until it is saved:
    never dropped. Lines typed meanwhile queue behind it, in order.
    """

    def __init__(self, recorder: Recorder, stream: TextIO) -> None:
        super().__init__(name="kapmonitor-stdin", daemon=True)
        self._recorder = recorder
        self._stream = stream

    def run(self) -> None:
        for raw in self._stream:
            line = raw.strip()
            if not line:
                continue
            typed_at = self._recorder.clock.now()
            obs_id = new_observation_id()
            reported = False
            while True:
                try:
                    if line.startswith("!") and len(line) > 1:
                        self._recorder.add_observation(ObservationKind.TAG, line[1:].strip(),
                                                       occurred_at=typed_at, observation_id=obs_id)
                    else:
                        self._recorder.add_observation(ObservationKind.NOTE, "note", text=line,
                                                       occurred_at=typed_at, observation_id=obs_id)
                    break
                except StoreError as exc:
                    if not reported:
                        print(f"kapmonitor: observation not saved yet ({exc}); kept and retried every "
                              f"{RETRY_S:g} s", file=sys.stderr, flush=True)
                        reported = True
                    time.sleep(RETRY_S)
                except Exception as exc:  # a refused note (e.g. no session): report, keep reading
                    print(f"kapmonitor: observation not saved: {exc}", file=sys.stderr, flush=True)
                    break


def _wait_until(clock: Clock, target: datetime, stop: threading.Event) -> bool:
    """Sleep (in real time, scaled) until ``target`` clock time; False if stopped first."""
    while not stop.is_set():
        remaining = (target - clock.now()).total_seconds()
        if remaining <= 0:
            return True
        stop.wait(min(0.5, max(0.005, clock.real_seconds(remaining))))
    return False


class _JournalProgress:
    """Says on stderr when entries wait for the database, and when it has them all again."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._last = ""

    def __call__(self, status: JournalStatus) -> None:
        line = status.describe()
        if line == self._last:
            return
        if line:
            self._err.write(f"kapmonitor: {line}\n")
        elif self._last:
            self._err.write("kapmonitor: the database has everything recorded so far\n")
        self._err.flush()
        self._last = line


def _claim_resumed(store: JournaledStore, args: argparse.Namespace) -> int:
    """The session ``--resume`` continues, its lease taken: this room's latest unfinished session,
    or with ``--take-over ID`` that session of another room once its lease has expired.

    Raises:
        UsageError: nothing to resume, or the session is being recorded elsewhere (the words say
            by whom and when it may be taken over).
    """
    try:
        if args.take_over is not None:
            session_id: int = args.take_over
            try:
                record = store.session(session_id)
            except KeyError:
                raise UsageError(f"no session {session_id} in the database "
                                 "(see 'kapmonitor sessions')") from None
            if record.ended_at is not None:
                raise UsageError(f"session {session_id} has ended; an ended session is not resumed")
            from_room = store.take_over(session_id, by=args.clinician or "")
            print(f"kapmonitor: session {session_id} taken over from {from_room or 'an unnamed room'} "
                  f"by {store.room}", file=sys.stderr, flush=True)
            return session_id
        unfinished = store.latest_unfinished(room=store.room)
        if unfinished is None:
            raise UsageError(f"there is no unfinished session of {store.room} to resume "
                             "(another room's session needs --take-over SESSION_ID)")
        store.claim_for_resume(unfinished.session_id)
        return unfinished.session_id
    except StoreError as exc:  # LeaseHeld, NotThisRoomsSession, the database not answering
        raise UsageError(str(exc)) from exc


def cmd_record(args: argparse.Namespace) -> int:
    """A headless session: baseline, dose, record, end; or ``--resume`` the last unfinished one."""
    system = SystemClock()
    with open_journaled_store(args, clock=system) as store:
        store.add_status_listener(_JournalProgress(sys.stderr))
        clinic = load_clinic_settings(store.database)
        check_discharge_args(args, clinic)  # a mistyped answer must not cost a whole session
        protocols = clinic.protocols
        try:
            protocol = find_protocol(args.protocol, protocols)
        except ProtocolError as exc:
            raise UsageError(str(exc)) from exc
        resume_id: int | None = None
        clock: Clock = system
        if args.speed != 1.0:
            clock = ScaledClock(args.speed)
        sensor, runtime = _make_sensor(args, clock)  # first: no Bluetooth, no session and no lease taken
        try:
            if args.resume:
                resume_id = _claim_resumed(store, args)
                # A session whose record lies ahead of this clock (a fast clock, a clock set back)
                # carries on from its last record: the recorder's session clock takes care of it.
            recorder = Recorder(store, clock, clinic.alarms)
            progress = _Progress(recorder, sys.stdout, sys.stderr)
            recorder.add_listener(progress)
            lsl = _lab_streaming(args, recorder, store.room, clinic)
        except BaseException:
            if runtime is not None:
                runtime.stop()
            raise
        stop = threading.Event()
        interrupted: list[str] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            interrupted.append(signal.Signals(signum).name)
            stop.set()

        old_int = signal.signal(signal.SIGINT, on_signal)
        old_term = signal.signal(signal.SIGTERM, on_signal)
        started = False
        try:
            if resume_id is not None:
                snap = recorder.resume_session(resume_id)
                print(f"kapmonitor: resumed session {resume_id} in phase {snap.phase.value}", file=sys.stderr)
            else:
                spec = SessionSpec(
                    client_code=args.client,
                    protocol=protocol,
                    dose_amount=args.dose_mg,
                    dose_unit="mg",
                    lot=args.lot,
                    clinician_initials=args.clinician,
                    app_version=__version__,
                    settings=clinic.to_dict(),  # the settings in force, as the window keeps them
                )
                session_id = recorder.start_session(spec)
                print(f"kapmonitor: session {session_id} started", file=sys.stderr, flush=True)
            started = True
            recorder.attach_sensor(sensor)
            _StdinObservations(recorder, sys.stdin).start()
            state = recorder.state
            assert state is not None
            assert state.started_at is not None
            if state.first_dose_at is None:
                if not _wait_until(clock, state.started_at + timedelta(minutes=args.baseline_minutes), stop):
                    return _finish(recorder, interrupted, progress, store, args, clinic)
                recorder.give_dose(amount=args.dose_mg)
            assert state.first_dose_at is not None
            _wait_until(clock, state.first_dose_at + timedelta(minutes=args.minutes), stop)
            return _finish(recorder, interrupted, progress, store, args, clinic)
        except StoreError as exc:
            recorder.close()
            if not started:  # e.g. the database is locked by another program: nothing was recorded
                raise UsageError(str(exc)) from exc
            print(f"kapmonitor: error: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
            if runtime is not None:
                runtime.stop()
            if lsl is not None:
                lsl.close()


def _lab_streaming(args: argparse.Namespace, recorder: Recorder, room: str,
                   clinic: ClinicSettings) -> LslOutlets | None:
    """With ``--lsl``: the outlets, listening before the session starts (None without ``--lsl``).

    Raises:
        UsageError: pylsl is not installed or liblsl cannot be loaded.
    """
    if not args.lsl:
        return None
    from ui.lsl_config import LslUnavailable
    from ui.lsl_outlets import attach_lsl  # loads pylsl: only with --lsl

    try:
        return attach_lsl(recorder, room, clinic.lab_streaming.scope, workstation_file().parent)
    except LslUnavailable as exc:
        raise UsageError(f"--lsl: {exc}") from exc


def _discharge(recorder: Recorder, store: JournaledStore, args: argparse.Namespace,
               clinic: ClinicSettings) -> Discharge | None:
    """The discharge answers given on the command line, with what the record says (None: none given)."""
    state, session_id = recorder.state, recorder.session_id
    if not wants_discharge(args) or state is None or state.first_dose_at is None or session_id is None:
        return None
    store.flush()
    try:
        facts = facts_for_session(store, session_id, clinic.discharge_checklist, recorder.clock.now())
    except (StoreError, SummaryError, KeyError) as exc:
        print(f"kapmonitor: the record could not be read for the discharge answers ({exc}); they are "
              "filed without what it says", file=sys.stderr)
        unknown = Suggestion(None, "the record could not be read")
        facts = DischargeFacts(at=recorder.clock.now(), first_dose_at=state.first_dose_at,
                               ready_to_leave_at=None, items={}, sedation=unknown,
                               dissociation=unknown, respiratory_depression=unknown)
    clinician = store.session(session_id).spec.clinician_initials if args.fit_to_leave_by is None else ""
    answers, warnings = discharge_from_args(args, facts, clinic, clinician)
    for warning in warnings:
        print(f"kapmonitor: discharge: {warning}", file=sys.stderr)
    return answers


def _finish(recorder: Recorder, interrupted: list[str], progress: _Progress, store: JournaledStore,
            args: argparse.Namespace, clinic: ClinicSettings) -> int:
    reason = f"interrupted ({interrupted[0]})" if interrupted else "recording complete"
    recorder.end_session(reason, _discharge(recorder, store, args, clinic))
    recorder.close()
    try:
        store.wait_applied(timeout=10.0)
    except StoreError as exc:
        print(f"kapmonitor: {exc}; it stays in the journal on this computer and reaches the database "
              "the next time kapmonitor opens it", file=sys.stderr, flush=True)
    snap = recorder.snapshot()
    phase = snap.phase.value if snap else Phase.ENDED.value
    print(
        f"kapmonitor: session {recorder.session_id} ended ({reason}); {progress.readings} readings; "
        f"phase {phase}",
        file=sys.stderr,
        flush=True,
    )
    return EXIT_OK


__all__ = ["cmd_record"]
