"""Keep the source of imported modules out of memory, and out of the start-up time (issue 16).

PySide6's import hook (``shibokensupport.feature.feature_imported``) asks of every module imported
after PySide6 whether its source mentions "PySide6" (``_mod_uses_pyside``), through
``inspect.getsource``. That reads, decodes and splits each file into :mod:`linecache` and leaves it
there: about 13 million characters for the bedside window (SQLAlchemy, pyqtgraph, numpy, ours),
32 MiB of resident memory that nothing reads again, and 60-70 ms of the window's start-up.

:func:`forget_imported_sources` gives the hook the same answer from the file's bytes (``b"PySide6"
in`` them: the name is ASCII, so it is the same search in any ASCII-compatible encoding) and keeps
nothing; a module that is not a readable ``.py`` file (an extension, a zip import) is asked of the
hook as before, and what it read is dropped after. Tracebacks and log records still show source
lines: :mod:`linecache` reads a file again when it is asked for one of its lines. Call it before the
window's imports; with another PySide6 whose hook is named differently it does nothing (and says so
in the log), which costs only the memory and the time.
"""

from __future__ import annotations

import functools
import linecache
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["forget_imported_sources"]

log = logging.getLogger(__name__)

_HOOK = "_mod_uses_pyside"


def forget_imported_sources() -> bool:
    """Drop the source PySide6's import hook has read, now and for every later import.

    Returns whether the hook was found (it is wrapped only once, however often this is called).
    """
    import PySide6  # noqa: F401  -- loads shiboken6, which registers shibokensupport

    try:
        from shibokensupport import feature  # type: ignore[import-not-found]
    except ImportError:
        log.info("PySide6 has no shibokensupport.feature: imported sources are left in linecache")
        return False
    hook: Callable[[ModuleType], Any] | None = getattr(feature, _HOOK, None)
    if hook is None:
        log.info("PySide6's import hook has no %s: imported sources are left in linecache", _HOOK)
        return False
    if not getattr(hook, "_kapmonitor_forgets", False):
        feature.__dict__[_HOOK] = _forgetting(hook)
    linecache.clearcache()  # what was read before this call
    return True


def _forgetting(hook: Callable[[ModuleType], Any]) -> Callable[[ModuleType], Any]:
    @functools.wraps(hook)
    def uses_pyside(module: ModuleType) -> Any:
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            return hook(module)  # a built-in or namespace module: the hook's own answer (False)
        if filename.endswith(".py"):
            try:
                with open(filename, "rb") as source:
                    return b"PySide6" in source.read()
            except OSError:
                pass  # not on disk (a zip import): the hook asks the module's loader
        try:
            return hook(module)
        finally:
            linecache.cache.pop(filename, None)

    uses_pyside._kapmonitor_forgets = True  # type: ignore[attr-defined]
    return uses_pyside
