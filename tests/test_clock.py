"""Clocks: UTC awareness, scaling, the fake clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from types import SimpleNamespace

import pytest

import kapmonitor.clock as clock_module
from kapmonitor.clock import Clock, FakeClock, ScaledClock, SystemClock, ensure_utc

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: as unusable as a naive time."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_ensure_utc_converts_aware_times() -> None:
    cet = timezone(timedelta(hours=1))
    moment = ensure_utc(datetime(2026, 3, 1, 10, 0, tzinfo=cet))
    assert moment == T0
    assert moment.tzinfo is UTC
    assert moment.hour == 9


@pytest.mark.parametrize("moment", [datetime(2026, 3, 1, 9, 0), datetime(2026, 3, 1, tzinfo=_NoOffset())])
def test_ensure_utc_rejects_naive(moment: datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(moment)


def test_system_clock() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock)
    assert clock.rate == 1.0
    before = datetime.now(UTC)
    now = clock.now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after
    a = clock.monotonic()
    assert clock.monotonic() >= a
    assert clock.real_seconds(2.5) == 2.5
    assert clock.real_seconds(-1.0) == 0.0


class _FakeMonotonic:
    def __init__(self) -> None:
        self.value = 500.0

    def __call__(self) -> float:
        return self.value


def test_scaled_clock_runs_speed_times_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeMonotonic()
    monkeypatch.setattr(clock_module, "time", SimpleNamespace(monotonic=fake))  # only this module's view
    clock = ScaledClock(120.0, start=T0)
    assert isinstance(clock, Clock)
    assert clock.rate == clock.speed == 120.0
    assert clock.now() == T0
    assert clock.monotonic() == 0.0
    fake.value += 30.0  # half a real minute = an hour of clock time
    assert clock.monotonic() == pytest.approx(3600.0)
    assert clock.now() == T0 + timedelta(hours=1)
    assert clock.real_seconds(3600.0) == pytest.approx(30.0)
    assert clock.real_seconds(-10.0) == 0.0


def test_scaled_clock_default_start_is_now() -> None:
    before = datetime.now(UTC)
    clock = ScaledClock(2.0)
    assert clock.now() >= before
    assert clock.now().tzinfo is UTC


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan"), float("inf")])
def test_scaled_clock_rejects_bad_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="positive finite"):
        ScaledClock(speed)


def test_scaled_clock_rejects_naive_start() -> None:
    with pytest.raises(ValueError, match="naive"):
        ScaledClock(1.0, start=datetime(2026, 1, 1))


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(T0, monotonic_start=10.0)
    assert isinstance(clock, Clock)
    assert clock.rate == 0.0
    assert clock.now() == T0
    assert clock.now() == T0
    assert clock.monotonic() == 10.0
    clock.advance(90.5)
    assert clock.now() == T0 + timedelta(seconds=90.5)
    assert clock.monotonic() == 100.5
    clock.advance(0)
    assert clock.monotonic() == 100.5
    assert clock.real_seconds(1000.0) == 0.0


def test_fake_clock_default_start_is_aware_utc() -> None:
    clock = FakeClock()
    assert clock.now() == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    assert clock.monotonic() == 1000.0


def test_fake_clock_converts_start_to_utc() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == T0
    assert clock.now().tzinfo is UTC


@pytest.mark.parametrize("seconds", [-0.001, float("nan"), float("inf"), float("-inf")])
def test_fake_clock_refuses_bad_advance(seconds: float) -> None:
    clock = FakeClock(T0)
    with pytest.raises(ValueError, match="clock"):
        clock.advance(seconds)
    assert clock.now() == T0
    assert clock.monotonic() == 1000.0


def test_fake_clock_set_wall_leaves_monotonic() -> None:
    clock = FakeClock(T0)
    clock.set_wall(T0 - timedelta(minutes=5))  # an NTP step backwards
    assert clock.now() == T0 - timedelta(minutes=5)
    assert clock.monotonic() == 1000.0
    with pytest.raises(ValueError, match="naive"):
        clock.set_wall(datetime(2026, 1, 1))


def test_fake_clock_advance_is_thread_safe() -> None:
    clock = FakeClock(T0, monotonic_start=0.0)

    def worker() -> None:
        for _ in range(1000):
            clock.advance(0.001)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.monotonic() == pytest.approx(4.0)
    assert clock.now() == T0 + timedelta(seconds=4)
