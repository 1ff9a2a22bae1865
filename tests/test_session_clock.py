"""The session's clock: never backwards, steps detected and recorded, a floor on resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clock import FakeClock
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.recording import Recorder
from kapmonitor.session_clock import SessionClock
from kapmonitor.types import EventKind, Reading, Stream

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_it_follows_the_wall_clock_exactly_while_nothing_steps() -> None:
    base = FakeClock(start=T0)
    clock = SessionClock(base)
    for _ in range(100):
        base.advance(0.25)
        assert clock.now() == base.now()
    assert clock.take_steps() == []


def test_a_step_back_is_detected_and_time_carries_on() -> None:
    base = FakeClock(start=T0)
    clock = SessionClock(base)
    base.advance(10)
    before = clock.now()
    base.set_wall(base.now() - timedelta(hours=1))  # an NTP step back
    base.advance(1)
    after = clock.now()
    assert after == before + timedelta(seconds=1)
    (step,) = clock.take_steps()
    assert round(step.step_s) == -3600 and round(step.offset_s) == 3600
    assert clock.to_session(base.now()) == after


def test_a_step_forward_follows_the_wall_clock_after_using_up_an_offset() -> None:
    base = FakeClock(start=T0)
    clock = SessionClock(base)
    base.set_wall(base.now() - timedelta(minutes=10))
    base.advance(1)
    clock.now()
    base.set_wall(base.now() + timedelta(minutes=30))  # corrected, and more
    base.advance(1)
    assert clock.now() == base.now()  # the offset is used up; the session follows the wall clock
    assert [round(s.step_s) for s in clock.take_steps()] == [-600, 1800]
    assert clock.offset == timedelta(0)


def test_a_floor_ahead_of_the_clock_becomes_an_offset() -> None:
    base = FakeClock(start=T0)
    floor = T0 + timedelta(hours=2)  # a session recorded on a fast clock
    clock = SessionClock(base, floor=floor)
    assert clock.now() == floor
    base.advance(5)
    assert clock.now() == floor + timedelta(seconds=5)
    (step,) = clock.take_steps()
    assert step.step_s == -7200


def test_the_recorder_records_a_clock_step_and_keeps_stored_times_in_order() -> None:
    class Memory:
        """Just enough of a store (in memory) for the recorder's writes."""

        def __init__(self) -> None:
            self.events: list[object] = []
            self.readings: list[Reading] = []

        def create_session(self, spec: object, at: datetime) -> int:
            return 1

        def append_event(self, sid: int, event: object) -> None:
            self.events.append(event)

        def add_readings(self, sid: int, readings: list[Reading]) -> None:
            self.readings.extend(readings)

        def log_alarm(self, sid: int, transition: object) -> None: ...

        def flush(self) -> None: ...

    base = FakeClock(start=T0)
    store = Memory()
    recorder = Recorder(store, base, AlarmSettings.defaults(), autotick=False)  # type: ignore[arg-type]
    recorder.start_session(SessionSpec("K-1", PRESETS["sublingual"]))
    for _ in range(3):
        base.advance(1)
        recorder.reading_received(Reading(Stream.HEART_RATE, 70.0, base.now(), "strap"))
    base.set_wall(base.now() - timedelta(minutes=5))
    for _ in range(3):
        base.advance(1)
        recorder.tick()
        recorder.reading_received(Reading(Stream.HEART_RATE, 70.0, base.now(), "strap"))
    times = [r.at for r in store.readings]
    assert times == sorted(times) and len(set(times)) == len(times)
    kinds = [e.kind for e in store.events]  # type: ignore[attr-defined]
    assert EventKind.CLOCK_STEPPED in kinds
