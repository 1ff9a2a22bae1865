"""Export formats: what one is, and the table that lists them by name.

An exporter turns one recorded session into one file: the CSV for analysis, EDF+, FHIR R4 and
the RR intervals for researchers' tools (``docs/export-formats.md``), the printable report for
the chart. Each format is one module outside the core (the CSV needs the
database, :mod:`db.export`; the report needs Qt, :mod:`ui.report`) that defines one
:class:`Exporter`; an :class:`ExportRegistry` lists them, and the command line and the
windows offer whatever it holds. A new format is one module and one row in a registry.

An exporter never sees a path: it writes bytes to the stream it is given. Naming, creating
and replacing the destination is the job of the file writer a registry is built with, in
practice the one atomic write (:func:`db.export.atomic.write_atomically`), so a failed
export can never leave half a file under the chosen name, and standard output works the
same way. The core only passes that writer on; it opens no files itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Generic, TypeAlias, TypeVar

__all__ = [
    "DEFAULT_SUMMARY_INTERVAL_S",
    "MAX_SUMMARY_INTERVAL_S",
    "ExportError",
    "ExportOptions",
    "ExportRegistry",
    "Exporter",
    "UnknownFormatError",
    "WriteFile",
]

S = TypeVar("S")
T = TypeVar("T")
Source = TypeVar("Source", contravariant=True)
"""What an exporter reads one session from (the store and the session id, perhaps more)."""

WriteFile: TypeAlias = Callable[[Path, Callable[[BinaryIO], int]], int]
"""``write_file(path, write)``: make the file ``path`` from what ``write`` writes to the stream it is
given, all or nothing, and return what ``write`` returned; raises :class:`ExportError` when it cannot."""

_NAME = re.compile(r"[a-z][a-z0-9-]*")

DEFAULT_SUMMARY_INTERVAL_S = 60.0
"""The interval a summarising format (FHIR) condenses continuous readings over, by default: 1 min."""
MAX_SUMMARY_INTERVAL_S = 86_400.0
"""The longest summarising interval accepted: one day (a session is a few hours)."""


class ExportError(RuntimeError):
    """The file could not be written; the message names the file and the reason."""


class UnknownFormatError(LookupError):
    """No export format of that name; the message lists the ones there are."""


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """How to write one export.

    Attributes:
        generated_at: when the file is made (aware UTC; the report prints it), from the caller's clock.
        deidentify: leave out what identifies the client (only formats with ``can_deidentify``).
        summary_interval_s: seconds over which a summarising format (FHIR) condenses continuous
            readings into one value (heart rate and SpO2 per minute by default); more than 0 and at
            most :data:`MAX_SUMMARY_INTERVAL_S`. Formats that write every reading ignore it.

    Raises:
        ValueError: ``summary_interval_s`` is not a finite number of seconds in that range.
    """

    generated_at: datetime
    deidentify: bool = False
    summary_interval_s: float = DEFAULT_SUMMARY_INTERVAL_S

    def __post_init__(self) -> None:
        interval = self.summary_interval_s
        if (isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval)
                or not 0 < interval <= MAX_SUMMARY_INTERVAL_S):
            raise ValueError(f"the summarising interval must be a number of seconds above 0 and at most "
                             f"{MAX_SUMMARY_INTERVAL_S:g}, got {interval!r}")


@dataclass(frozen=True, slots=True)
class Exporter(Generic[Source]):
    """One export format.

    Attributes:
        name: what ``kapmonitor export --format`` takes and the registry is keyed by (``csv``).
        title: a short label for menus (``CSV``, ``PDF report``).
        suffix: the file name suffix, with its dot (``.csv``).
        description: one sentence for help texts and tool tips.
        write: writes the session to a binary stream and returns how many ``counts`` it wrote;
            raises ``KeyError`` for an unknown session, ``OSError`` when the stream cannot be
            written, and whatever reading the session raises.
        counts: what ``write``'s number counts, plural (``rows``, ``pages``).
        can_deidentify: ``write`` honours :attr:`ExportOptions.deidentify`.
        paints: ``write`` paints with Qt, which must happen on the GUI thread; read the session
            (the database work) on the worker first and call ``write`` with what was read.
    """

    name: str
    title: str
    suffix: str
    description: str
    write: Callable[[Source, BinaryIO, ExportOptions], int]
    counts: str = "rows"
    can_deidentify: bool = False
    paints: bool = False

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"export format name {self.name!r} must be lower case letters, digits and '-'")
        if not self.suffix.startswith(".") or len(self.suffix) < 2:
            raise ValueError(f"export suffix {self.suffix!r} must start with a dot")

    def write_to(self, source: Source, out: BinaryIO, options: ExportOptions) -> int:
        """Write ``source`` to ``out`` as this format; return how many :attr:`counts` were written.

        Raises:
            ExportError: de-identification was asked of a format that cannot do it.
        """
        if options.deidentify and not self.can_deidentify:
            raise ExportError(f"the {self.title} cannot be de-identified")
        return self.write(source, out, options)

    def reading(self, convert: Callable[[T], Source]) -> Exporter[T]:
        """This format, reading its source from a ``T`` (``convert`` runs each time it writes).

        The composition root uses it to bind a format to its store: the windows hand over a
        session id, the CSV gets the store and the id.
        """
        write = self.write

        def write_converted(source: T, out: BinaryIO, options: ExportOptions) -> int:
            return write(convert(source), out, options)

        return Exporter(name=self.name, title=self.title, suffix=self.suffix, description=self.description,
                        write=write_converted, counts=self.counts, can_deidentify=self.can_deidentify,
                        paints=self.paints)


class ExportRegistry(Generic[S]):
    """Export formats by name, in the order given (the order menus show them in), and their file writer.

    A registry is built once from its rows and not changed afterwards; a layer that adds
    formats makes a new registry from the old one's rows and its own
    (``ExportRegistry([*EXPORTERS, REPORT], write_file=EXPORTERS.write_file)``).

    Args:
        exporters: the formats.
        write_file: writes every file of every format (the atomic write).

    Raises:
        ValueError: two formats have the same name.
    """

    def __init__(self, exporters: Iterable[Exporter[S]], *, write_file: WriteFile) -> None:
        self.write_file = write_file
        self._by_name: dict[str, Exporter[S]] = {}
        for exporter in exporters:
            if exporter.name in self._by_name:
                raise ValueError(f"two export formats are named {exporter.name!r}")
            self._by_name[exporter.name] = exporter

    def get(self, name: str) -> Exporter[S]:
        """The format called ``name``.

        Raises:
            UnknownFormatError: there is none (the message lists the formats there are).
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownFormatError(
                f"unknown export format {name!r} (known: {', '.join(self.names())})") from None

    def export_file(self, exporter: Exporter[S], source: S, path: Path, options: ExportOptions) -> int:
        """Write ``source`` as ``exporter``'s format to the file ``path``; return how many it counted.

        Raises:
            ExportError: the file could not be written (the message names it and the reason), or
                the format cannot do what ``options`` ask; the old file, if any, is untouched.
            Exception: whatever reading the session raises (``KeyError``: no such session).
        """
        return self.write_file(path, lambda out: exporter.write_to(source, out, options))

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def __iter__(self) -> Iterator[Exporter[S]]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name
