"""The one atomic write every export goes through: all of the new file, or the old one untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest

from db.export import EXPORTERS
from db.export.atomic import write_atomically
from db.export.source import StoredSession
from db.store import SqlStore
from kapmonitor.exporters import ExportError, ExportOptions
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import Reading, Stream

OLD = b"the export written last week\r\n"
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_writes_the_file_and_returns_what_the_writer_returns(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    target.write_bytes(OLD)
    assert write_atomically(target, lambda out: out.write(b"new content")) == len(b"new content")
    assert target.read_bytes() == b"new content"
    assert leftovers(tmp_path, "s.csv") == []


def test_new_file_has_the_permissions_of_any_new_file(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    write_atomically(target, lambda out: out.write(b"x"))
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_writer_raising_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    target.write_bytes(OLD)

    def half_then_fail(out: BinaryIO) -> int:
        out.write(b"half a file" * 10_000)
        out.flush()
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        write_atomically(target, half_then_fail)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path, "s.csv") == []


def test_writer_raising_when_there_was_no_file_leaves_nothing(tmp_path: Path) -> None:
    def fail(out: BinaryIO) -> int:
        raise KeyError(404)

    with pytest.raises(KeyError):
        write_atomically(tmp_path / "s.csv", fail)
    assert list(tmp_path.iterdir()) == []


def test_os_error_in_the_writer_is_an_export_error_naming_the_file(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    target.write_bytes(OLD)

    def broken(out: BinaryIO) -> int:
        raise OSError(5, "Input/output error")

    with pytest.raises(ExportError, match=r"cannot write .*s\.csv: Input/output error"):
        write_atomically(target, broken)
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path, "s.csv") == []


def test_missing_folder_and_a_file_in_the_way(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"missing does not exist"):
        write_atomically(tmp_path / "missing" / "s.csv", lambda out: out.write(b"x"))
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(ExportError, match=r"file is not a folder"):
        write_atomically(tmp_path / "file" / "s.csv", lambda out: out.write(b"x"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to any folder")
def test_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="is not writable"):
            write_atomically(folder / "s.csv", lambda out: out.write(b"x"))
    finally:
        folder.chmod(0o700)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs root and a kernel that allows the mount; skipped otherwise)."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("no mount/umount command to make a small disk")
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run([umount, str(folder)], capture_output=True, check=False)


def test_full_disk_keeps_the_old_file_and_says_the_disk_is_full(small_disk: Path) -> None:
    target = small_disk / "s.csv"
    target.write_bytes(OLD)

    def too_much(out: BinaryIO) -> int:
        for _ in range(64):
            out.write(b"x" * 4096)
        return 0

    with pytest.raises(ExportError, match=r"cannot write .*s\.csv: the disk is full"):
        write_atomically(target, too_much)
    assert target.read_bytes() == OLD
    assert leftovers(small_disk, "s.csv") == []


def test_csv_export_onto_a_full_disk(small_disk: Path, tmp_path: Path) -> None:
    target = small_disk / "s.csv"
    target.write_bytes(OLD)
    with SqlStore.open(tmp_path / "k.db") as store:
        sid = store.create_session(SessionSpec("K-0042", PRESETS["sublingual"], 100.0), T0)
        store.add_readings(sid, [Reading(Stream.HEART_RATE, 70.0, T0 + timedelta(seconds=i), "AA:BB")
                                 for i in range(3000)])
        store.flush()
        with pytest.raises(ExportError, match="the disk is full"):
            EXPORTERS.export_file(EXPORTERS.get("csv"), StoredSession(store, sid), target,
                        ExportOptions(generated_at=T0))
    assert target.read_bytes() == OLD
    assert leftovers(small_disk, "s.csv") == []
