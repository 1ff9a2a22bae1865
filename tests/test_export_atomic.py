"""The one atomic write every export goes through: all of the new file, or the old one untouched."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest

from db.export import EXPORTERS
from db.export.atomic import remove_stale_parts, write_atomically
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


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o000, 0o077])
def test_an_export_is_owner_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "s.csv"
    seen: list[int] = []

    def write(out: BinaryIO) -> int:
        (part,) = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        seen.append(stat.S_IMODE(part.stat().st_mode))  # the temporary file too, before any byte
        return out.write(b"x")

    old = os.umask(umask)
    try:
        write_atomically(target, write)
    finally:
        os.umask(old)
    assert seen == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_replacing_an_export_someone_opened_to_others_makes_it_owner_only_again(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    target.write_bytes(OLD)
    target.chmod(0o664)
    old = os.umask(0o000)
    try:
        write_atomically(target, lambda out: out.write(b"new"))
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_the_temporary_part_names_the_writing_process(tmp_path: Path) -> None:
    names: list[str] = []

    def write(out: BinaryIO) -> int:
        names.extend(p.name for p in tmp_path.iterdir())
        return out.write(b"x")

    write_atomically(tmp_path / "s.csv", write)
    (name,) = names
    assert name.startswith(f".s.csv.{os.getpid()}@") and name.endswith(".part")


# ------------------------------------------------------------------ a killed export
_SLOW_EXPORT = """
import sys, time
from pathlib import Path
from db.export.atomic import remove_stale_parts, write_atomically

def slowly(out):
    out.write(b"the first half of an export" * 1000)
    out.flush()
    print("writing", flush=True)
    time.sleep(120)
    return 0

write_atomically(Path(sys.argv[1]), slowly)
"""


def _start_slow_export(target: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", _SLOW_EXPORT, str(target)], stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parents[1])
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "writing", "the child export started"
    return child


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_killed_export_leaves_no_part_after_the_next_export(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    target.write_bytes(OLD)
    child = _start_slow_export(target)
    try:
        (part,) = _parts(tmp_path)
        assert f".{child.pid}@" in part
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()
    assert _parts(tmp_path) == [part], "killed mid-write, it could not clean up"
    assert target.read_bytes() == OLD
    write_atomically(tmp_path / "other.csv", lambda out: out.write(b"next export"))
    assert _parts(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv", "s.csv"]
    assert target.read_bytes() == OLD


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_the_part_of_an_export_under_way_is_never_removed(tmp_path: Path) -> None:
    target = tmp_path / "s.csv"
    child = _start_slow_export(target)
    try:
        (part,) = _parts(tmp_path)
        assert remove_stale_parts(tmp_path) == 0
        write_atomically(tmp_path / "other.csv", lambda out: out.write(b"meanwhile"))
        assert _parts(tmp_path) == [part]
        assert child.poll() is None
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()
    assert remove_stale_parts(tmp_path) == 1
    assert _parts(tmp_path) == []


def test_remove_stale_parts_touches_nothing_else(tmp_path: Path) -> None:
    dead = _dead_pid()
    keep = [
        "s.csv",
        ".s.csv.part",
        ".s.csv.a1b2c3d4.part",  # an older version's scheme: no pid to ask
        f".s.csv.{dead}@ffffffff.a1b2c3d4.part",  # another computer's, in a shared folder
        f"s.csv.{dead}.a1b2c3d4.part",
        "notes.txt",
    ]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.part").mkdir()
    written = tmp_path / "written.csv"
    names: list[str] = []
    write_atomically(written, lambda out: names.extend(p.name for p in tmp_path.iterdir()) or 0)
    (ours,) = [n for n in names if n.startswith(".written.csv.")]
    stale = ours.replace(f".{os.getpid()}@", f".{dead}@").replace(".written.csv.", ".s.csv.")
    (tmp_path / stale).write_bytes(b"half")
    assert remove_stale_parts(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "sub.part", "written.csv"])
    assert remove_stale_parts(tmp_path / "missing") == 0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    return child.pid


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
