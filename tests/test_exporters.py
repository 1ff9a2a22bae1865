"""Export formats by name: the registry's contract and the database's formats (no Qt needed)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from db.export import EXPORTERS
from db.export.csv import COLUMNS, export_session_csv
from db.export.source import StoredSession
from db.store import SqlStore
from kapmonitor.exporters import Exporter, ExportError, ExportOptions, ExportRegistry, UnknownFormatError
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import PRESETS
from kapmonitor.types import Reading, Stream

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
OPTIONS = ExportOptions(generated_at=T0)


def _text(source: str, out: BinaryIO, options: ExportOptions) -> int:
    out.write(source.encode())
    return 1


TEXT = Exporter(name="text", title="Text", suffix=".txt", description="the source as it is", write=_text)


def _write_file(path: Path, write: Callable[[BinaryIO], int]) -> int:
    with open(path, "wb") as out:
        return write(out)


def test_registry_lists_formats_in_order_and_finds_them_by_name() -> None:
    other = Exporter(name="other", title="Other", suffix=".o", description="d", write=_text)
    registry = ExportRegistry([TEXT, other], write_file=_write_file)
    assert registry.names() == ("text", "other")
    assert list(registry) == [TEXT, other]
    assert len(registry) == 2 and "text" in registry and "nope" not in registry
    assert registry.get("other") is other
    with pytest.raises(UnknownFormatError, match=r"unknown export format 'xls' \(known: text, other\)"):
        registry.get("xls")


def test_registry_writes_every_file_through_its_writer(tmp_path: Path) -> None:
    calls: list[Path] = []

    def recording(path: Path, write: Callable[[BinaryIO], int]) -> int:
        calls.append(path)
        return _write_file(path, write)

    registry = ExportRegistry([TEXT], write_file=recording)
    assert registry.export_file(TEXT, "hello", tmp_path / "a.txt", OPTIONS) == 1
    assert calls == [tmp_path / "a.txt"]
    assert (tmp_path / "a.txt").read_bytes() == b"hello"


def test_reading_binds_a_format_to_its_source() -> None:
    bound: Exporter[int] = TEXT.reading(lambda n: f"session {n}")
    out = io.BytesIO()
    assert bound.write_to(7, out, OPTIONS) == 1
    assert out.getvalue() == b"session 7"
    assert (bound.name, bound.title, bound.suffix, bound.description) == (
        TEXT.name, TEXT.title, TEXT.suffix, TEXT.description)


def test_registry_refuses_two_formats_of_one_name() -> None:
    with pytest.raises(ValueError, match="two export formats are named 'text'"):
        ExportRegistry([TEXT, TEXT], write_file=_write_file)


@pytest.mark.parametrize(("name", "suffix"), [("CSV", ".csv"), ("a b", ".x"), ("csv", "csv"), ("csv", ".")])
def test_exporter_names_and_suffixes_are_checked(name: str, suffix: str) -> None:
    with pytest.raises(ValueError, match="export"):
        Exporter(name=name, title="T", suffix=suffix, description="d", write=_text)


def test_a_format_without_deidentification_refuses_it() -> None:
    with pytest.raises(ExportError, match="Text cannot be de-identified"):
        TEXT.write_to("x", io.BytesIO(), ExportOptions(generated_at=T0, deidentify=True))


def test_the_database_registry_lists_the_csv_then_the_research_formats() -> None:
    assert EXPORTERS.names() == ("csv", "edf", "fhir", "rr")
    exporter = EXPORTERS.get("csv")
    assert (exporter.suffix, exporter.counts, exporter.can_deidentify, exporter.paints) == (
        ".csv", "rows", True, False)
    assert "docs/csv-format.md" in exporter.description
    assert (Path(__file__).parents[1] / "docs" / "csv-format.md").is_file()
    assert [(e.suffix, e.counts, e.can_deidentify, e.paints) for e in list(EXPORTERS)[1:]] == [
        (".edf", "signals", True, False), (".json", "resources", True, False),
        (".txt", "intervals", True, False)]
    assert all("docs/export-formats.md" in e.description for e in list(EXPORTERS)[1:])
    assert (Path(__file__).parents[1] / "docs" / "export-formats.md").is_file()


def test_export_file_writes_the_same_bytes_as_the_text_function(tmp_path: Path) -> None:
    with SqlStore.open(tmp_path / "k.db") as store:
        sid = store.create_session(SessionSpec("K-0042", PRESETS["sublingual"], 100.0), T0)
        store.add_readings(sid, [Reading(Stream.HEART_RATE, 72.5, T0, "AA:BB")])
        store.flush()
        target = tmp_path / "s.csv"
        csv_format = EXPORTERS.get("csv")
        rows = EXPORTERS.export_file(csv_format, StoredSession(store, sid), target, OPTIONS)
        text = io.StringIO(newline="")
        assert export_session_csv(store, sid, text) == rows
        with pytest.raises(KeyError):
            EXPORTERS.export_file(csv_format, StoredSession(store, 404), tmp_path / "none.csv", OPTIONS)
    assert target.read_bytes() == text.getvalue().encode("utf-8")
    parsed = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert len(parsed) == rows
    (row,) = [r for r in parsed if r["kind"] != "session"]
    assert tuple(row) == COLUMNS and row["value"] == "72.5"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv") == ["s.csv"]


def test_csv_to_a_caller_stream_leaves_it_open(tmp_path: Path) -> None:
    """``kapmonitor export`` without ``-o`` writes to standard output, which must stay usable."""
    out = io.BytesIO()
    with SqlStore.open(tmp_path / "k.db") as store:
        sid = store.create_session(SessionSpec("K-0042", PRESETS["sublingual"], 100.0), T0)
        rows = EXPORTERS.get("csv").write_to(StoredSession(store, sid), out, OPTIONS)
    assert not out.closed
    lines = out.getvalue().decode().split("\r\n")
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == rows + 2 and lines[-1] == ""
    assert all(",session," in line for line in lines[1:-1]), "a session with nothing recorded: its own rows"
