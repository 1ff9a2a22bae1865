"""One application-wide event filter for everything that watches all of the application's events.

An event filter on the application is called for every event of every object: thousands while a
dialog is built, every paint and timer while the bedside runs. Written in Python, each call crosses
the binding and converts the event's type to an enum. The wheel guard (:mod:`ui.no_wheel`) and the
bedside keys (:mod:`ui.bedside_keys`) each had a filter of their own, so every event paid that
twice for the handful of event types they look at. :class:`AppEvents` is the one filter: it reads
the type once and calls only the handlers registered for it, in the order they were added; the
first that returns True filters the event out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QCoreApplication, QEvent, QObject

__all__ = ["AppEvents", "Handler", "app_events"]

Handler = Callable[[QObject, QEvent, QEvent.Type], bool]
"""Called with the watched object, the event and its type; True filters the event out."""


class AppEvents(QObject):
    """The application's one shared event filter; get it with :func:`app_events`."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self._handlers: dict[QEvent.Type, tuple[Handler, ...]] = {}
        app.installEventFilter(self)

    def add(self, kinds: Iterable[QEvent.Type], handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for events of ``kinds``; returns what removes it again (idempotent)."""
        types = tuple(kinds)
        for kind in types:
            self._handlers[kind] = (*self._handlers.get(kind, ()), handler)

        def remove(*_: object) -> None:  # also a slot for ``destroyed(QObject)``
            for kind in types:
                left = tuple(h for h in self._handlers.get(kind, ()) if h is not handler)
                if left:
                    self._handlers[kind] = left
                else:
                    self._handlers.pop(kind, None)

        return remove

    def handled_types(self) -> set[QEvent.Type]:
        """The event types some handler is registered for."""
        return set(self._handlers)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        handlers = self._handlers.get(kind)
        if handlers:
            for handler in handlers:
                if handler(watched, event, kind):
                    return True
        return False


def app_events(app: QCoreApplication | None = None) -> AppEvents:
    """The :class:`AppEvents` of ``app`` (default: the running application), made on first use.

    Raises:
        RuntimeError: there is no application.
    """
    app = app or QCoreApplication.instance()
    if app is None:
        raise RuntimeError("the application-wide event filter needs a running QApplication")
    for child in app.children():
        if isinstance(child, AppEvents):
            return child
    return AppEvents(app)
