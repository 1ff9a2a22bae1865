"""``kapmonitor record --sensor ble:ADDRESS`` through real bleak and the emulated BlueZ."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from bluez.fake_bluez import FakeBlueZ
from bluez.fake_devices import full_uuid, heart_rate_strap

from db.store import SqlStore
from kapmonitor.types import EventKind, ReadingFlag, Stream
from ui.main import main

pytest_plugins = ["bluez.fixtures"]
pytestmark = pytest.mark.bluez

HRM = full_uuid(0x2A37)


def test_record_from_a_bluetooth_strap(
    fake_bluez: FakeBlueZ, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strap = fake_bluez.add(heart_rate_strap())
    stop = threading.Event()

    def beat() -> None:
        # flags 0x10: uint8 HR, RR present; 70 bpm with one RR of 878/1024 s
        while not stop.wait(0.1):
            fake_bluez.notify(strap.address, HRM, bytes([0x10, 70, 878 & 0xFF, 878 >> 8]))

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    monkeypatch.setattr("sys.stdin", io.StringIO("strap on, client settled\n"))
    db = tmp_path / "ble.db"
    try:
        status = main(["--db", str(db), "record", "--sensor", f"ble:{strap.address}", "--client", "K-BLE",
                       "--baseline-minutes", "0.05", "--minutes", "0.05"])
    finally:
        stop.set()
        beater.join(timeout=5)
    assert status == 0
    with SqlStore.open(db) as store:
        (summary,) = store.sessions()
        sid = summary.session_id
        hr = store.load_stream(sid, Stream.HEART_RATE)
        assert len(hr) >= 10
        assert set(hr.value.tolist()) == {70.0}
        assert not (hr.flags & ReadingFlag.NO_CONTACT).any()
        rr = store.load_stream(sid, Stream.RR_INTERVAL)
        assert rr.value[0] == pytest.approx(878 * 1000 / 1024)
        kinds = [e.kind for e in store.events(sid)]
        assert EventKind.SENSOR_CONNECTED in kinds
        assert EventKind.DOSE_GIVEN in kinds
        assert kinds[-1] is EventKind.SESSION_ENDED
        (info,) = store.sensors(sid)
        assert info.sensor_id == strap.address
        assert [o.text for o in store.observations(sid)] == ["strap on, client settled"]
