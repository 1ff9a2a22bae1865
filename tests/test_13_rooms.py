"""Rooms that own their sessions (issue 13): the room stored with each session, leases, resume
offers of the room's own sessions only, and explicit take-over once a lease has expired.

Run against SQLite and a real PostgreSQL server (``db_location``). Leases here are short
(``LEASE_S`` 0.6 s) so that expiry takes real, server-side time without slowing the suite.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.journaled_store import JournaledStore
from db.paths import journal_folder
from db.store import SqlStore
from kapmonitor.ports import LeaseHeld, NotThisRoomsSession, SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import EventKind, SessionEvent
from kapmonitor.workstation import (
    check_room_name,
    read_workstation_room,
    resolve_room,
    write_workstation_room,
)

LEASE = 0.6
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def spec(code: str) -> SessionSpec:
    return SessionSpec(code, PRESETS["sublingual"], dose_amount=100.0, lot="L7",
                       clinician_initials="AB", app_version="0.1.0", settings={})


def test_each_room_resumes_only_its_own_session(db_location: str) -> None:
    with SqlStore.open(db_location, room="Room A", lease_s=LEASE) as a, \
            SqlStore.open(db_location, room="Room B", lease_s=LEASE) as b:
        sa = a.create_session(spec("K-1"), T0, lease_holder="ws-a")
        sb = b.create_session(spec("K-2"), T0 + timedelta(minutes=1), lease_holder="ws-b")
        assert (a.session_room(sa), b.session_room(sb)) == ("Room A", "Room B")
        # The bug: "the latest unfinished session" across rooms is B's.
        latest_any = a.latest_unfinished()
        assert latest_any is not None
        assert latest_any.session_id == sb
        mine = a.latest_unfinished(room="Room A", holder="ws-a")
        assert mine is not None
        assert mine.session_id == sa
        theirs = b.latest_unfinished(room="Room B", holder="ws-b")
        assert theirs is not None
        assert theirs.session_id == sb
        # A room with a session held live by another workstation of its own name does not get it.
        assert a.latest_unfinished(room="Room A", holder="ws-a2") is None
        time.sleep(LEASE + 0.2)
        after = a.latest_unfinished(room="Room A", holder="ws-a2")
        assert after is not None
        assert after.session_id == sa  # expired: the restarted room may resume its own session


def test_taking_over_is_refused_while_the_lease_is_live_and_recorded_after(db_location: str) -> None:
    with SqlStore.open(db_location, room="Room A", lease_s=LEASE) as a, \
            SqlStore.open(db_location, room="Room B", lease_s=LEASE) as b:
        sb = b.create_session(spec("K-2"), T0, lease_holder="ws-b")
        with pytest.raises(NotThisRoomsSession, match=f"session {sb} belongs to Room B"):
            a.claim(sb, "Room A", "ws-a")
        with pytest.raises(LeaseHeld) as held:
            a.take_over(sb, "Room A", "ws-a", by="CD")
        assert str(held.value) == (f"session {sb} is being recorded in Room B (lease renewed 0 s ago); "
                                   "it can be taken over only once Room B has stopped for 1 s")
        assert b.renew(sb, "ws-b")  # B renews: still live after the first lease time
        time.sleep(LEASE * 0.6)
        assert b.renew(sb, "ws-b")
        time.sleep(LEASE * 0.6)
        with pytest.raises(LeaseHeld):
            a.take_over(sb, "Room A", "ws-a", by="CD")
        time.sleep(LEASE + 0.2)  # B has stopped renewing
        lease = a.lease(sb)
        assert lease is not None
        assert not lease.live
        assert a.take_over(sb, "Room A", "ws-a", by="CD") == "Room B"
        assert a.session_room(sb) == "Room A"
        taken = [e for e in a.events(sb) if e.kind is EventKind.SESSION_TAKEN_OVER]
        assert [dict(e.data) for e in taken] == [{"from_room": "Room B", "to_room": "Room A", "by": "CD"}]
        assert not b.renew(sb, "ws-b")  # B's lease is gone: it is told so
        lease = a.lease(sb)
        assert lease is not None
        assert (lease.room, lease.holder, lease.live) == ("Room A", "ws-a", True)
        # B, back, cannot simply claim it again: it is Room A's now, and held.
        with pytest.raises(NotThisRoomsSession):
            b.claim(sb, "Room B", "ws-b")


def test_legacy_sessions_are_any_rooms_until_claimed_and_release_ends_the_lease(db_location: str) -> None:
    with SqlStore.open(db_location, lease_s=LEASE) as old, \
            SqlStore.open(db_location, room="Room A", lease_s=LEASE) as a, \
            SqlStore.open(db_location, room="Room B", lease_s=LEASE) as b:
        legacy = old.create_session(spec("K-9"), T0)
        assert old.session_room(legacy) == ""
        for store, room in ((a, "Room A"), (b, "Room B")):
            found = store.latest_unfinished(room=room, holder="x")
            assert found is not None
            assert found.session_id == legacy
        a.claim(legacy, "Room A", "ws-a")
        assert a.session_room(legacy) == "Room A"
        assert b.latest_unfinished(room="Room B", holder="ws-b") is None
        a.claim(legacy, "Room A", "ws-a")  # the same holder again (restarted): fine
        assert a.release(legacy, "ws-a")
        lease = a.lease(legacy)
        assert lease is not None
        assert lease.expires_at == lease.renewed_at
        assert not lease.live


def test_the_journaled_store_holds_renews_and_releases_its_lease(db_location: str, tmp_path: Path) -> None:
    with JournaledStore.open(db_location, room="Room A", lease_s=3.0, renew_s=0.2,
                             journal_dir=tmp_path / "j") as store:
        sid = store.create_session(spec("K-1"), T0)
        first = store.database.lease(sid)
        assert first is not None
        assert (first.room, first.holder, first.live) == ("Room A", store.holder, True)
        deadline = time.monotonic() + 5
        while True:
            now = store.database.lease(sid)
            assert now is not None
            if now.renewed_at > first.renewed_at:
                break
            assert time.monotonic() < deadline, "the writer never renewed the lease"
            time.sleep(0.05)
        store.append_event(sid, SessionEvent(EventKind.SESSION_STARTED, T0))
        end = SessionEvent(EventKind.SESSION_ENDED, T0 + timedelta(hours=2), {"reason": ""})
        store.append_event(sid, end)
        store.wait_applied(10)
        deadline = time.monotonic() + 5
        while (lease := store.database.lease(sid)) is not None and lease.live:
            assert time.monotonic() < deadline, "the lease was not released at the end"
            time.sleep(0.05)


def test_journal_folder_differs_per_room_and_keeps_the_old_one_without() -> None:
    url = "postgresql+psycopg://kap@db/clinic"
    assert journal_folder(url, "Room A") != journal_folder(url, "Room B")
    assert journal_folder(url, "") == journal_folder(url)


def test_room_name_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAPMONITOR_ROOM", raising=False)
    file = tmp_path / "cfg" / "workstation.json"
    host = resolve_room(None, file)
    assert host  # the host name when nothing else says
    assert write_workstation_room(file, "  Room 3 ") == "Room 3"
    assert read_workstation_room(file) == "Room 3"
    assert resolve_room(None, file) == "Room 3"
    monkeypatch.setenv("KAPMONITOR_ROOM", "Room 4")
    assert resolve_room(None, file) == "Room 4"
    assert resolve_room("Room 5", file) == "Room 5"
    monkeypatch.setenv("KAPMONITOR_ROOM", "x" * 65)
    with pytest.raises(ValueError, match="KAPMONITOR_ROOM: a room name is 1 to 64 printable"):
        resolve_room(None, file)
    for bad in ("", "   ", "a\tb", "x" * 65):
        with pytest.raises(ValueError, match="1 to 64 printable"):
            check_room_name(bad)
    file.write_text('{"room": ""}')
    assert read_workstation_room(file) is None
