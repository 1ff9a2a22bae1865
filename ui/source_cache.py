"""Keep the source of imported modules out of memory (issue 16: 32 MiB of the live window's RSS).

PySide6's import hook (``shibokensupport.feature.feature_imported``) asks of every module imported
after PySide6 whether its source mentions PySide6, through ``inspect.getsource``, and so leaves the
whole text of the module in :mod:`linecache`: about 13 million characters for the bedside window
(SQLAlchemy, pyqtgraph, numpy, ours), 32 MiB of resident memory that nothing reads again.

:func:`forget_imported_sources` lets the hook answer as before, then drops what it read. Tracebacks
and log records still show source lines: :mod:`linecache` reads a file again when it is asked for
one of its lines. Call it before the window's imports; with another PySide6 whose hook is named
differently it does nothing (and says so in the log), which costs only the memory.
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
        try:
            return hook(module)
        finally:
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                linecache.cache.pop(filename, None)

    uses_pyside._kapmonitor_forgets = True  # type: ignore[attr-defined]
    return uses_pyside
