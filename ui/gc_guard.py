"""Python's cyclic garbage collection only on the GUI thread, between events.

The collector normally runs whenever an allocation crosses a threshold, on whichever thread
allocates: the Bluetooth loop, a sensor, the recorder's ticker, the journal writer. When the
cycle it frees holds a Qt object (a pyqtgraph item, a widget), that object is destroyed there,
possibly in the middle of the GUI thread painting it; this crashed the live plots
(SIGSEGV in ``GraphicsView.paintEvent``). pyqtgraph documents the remedy
(``pyqtgraph.util.garbage_collector``): switch automatic collection off and collect from a timer
on the GUI thread, where nothing else runs at that moment. Reference counting, which frees
almost everything, is not affected.
"""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QObject, QTimer

__all__ = ["GuiGarbageCollector"]

log = logging.getLogger(__name__)


class GuiGarbageCollector(QObject):
    """While alive (until :meth:`stop`), cyclic garbage is collected every ``interval_ms`` on this thread.

    Each generation is collected when its count passes the threshold automatic collection would
    have used, so the amount of work is the same; only the moment and the thread change.
    """

    def __init__(self, interval_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect)
        self._timer.start()

    def collect(self) -> int:
        """Collect the generations whose counts are past their thresholds; the objects freed."""
        counts = gc.get_count()
        freed = 0
        for generation in range(3):
            if counts[generation] <= self._thresholds[generation]:
                break
            freed += gc.collect(generation)
        return freed

    def stop(self) -> None:
        """Stop the timer and give collection back to Python as it was."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()
