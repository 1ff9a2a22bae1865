"""The mouse wheel changes a value only in the field the person clicked into.

Scrolling the alarm limits table or the settings page with the wheel used to change every spin box
the pointer passed over ("baseline + 30" became "+22" after eight notches). :func:`guard_wheel`
handles two event types in the application's one event filter (:mod:`ui.app_events`):

* gives every spin box, combo box and slider ``Qt.StrongFocus`` when it is polished (Qt's default,
  ``WheelFocus``, lets the wheel itself focus the field and then change it), and
* hands a wheel event over a field without focus on to its parent (so the page or table under it
  scrolls) instead of letting the field change its value.

A focused field still follows the wheel: that is a deliberate choice of the person using it.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox, QScrollBar, QWidget

from ui.app_events import app_events

__all__ = ["WheelGuard", "guard_wheel", "is_value_field"]

_VALUE_FIELDS = (QAbstractSpinBox, QComboBox, QAbstractSlider)


def is_value_field(obj: QObject) -> bool:
    """True for a widget whose value the wheel changes (a scroll bar is not one: it scrolls)."""
    return isinstance(obj, _VALUE_FIELDS) and not isinstance(obj, QScrollBar)


def _strong_focus(widget: QWidget) -> None:
    if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class WheelGuard(QObject):
    """The application-wide guard (see the module docstring); install it with :func:`guard_wheel`.

    It handles its two event types in the application's one event filter (:mod:`ui.app_events`).
    """

    KINDS = (QEvent.Type.Polish, QEvent.Type.Wheel)

    def handle(self, watched: QObject, event: QEvent, kind: QEvent.Type) -> bool:
        """Give a value field strong focus when polished; pass a wheel over an unfocused one on."""
        if kind == QEvent.Type.Polish and is_value_field(watched):
            assert isinstance(watched, QWidget)
            _strong_focus(watched)
        elif kind == QEvent.Type.Wheel and is_value_field(watched):
            assert isinstance(watched, QWidget)
            if not watched.hasFocus():
                event.ignore()  # Qt offers an ignored wheel event to the parent: the page scrolls
                return True
        return False


def guard_wheel(app: QCoreApplication | None = None) -> WheelGuard:
    """Install the :class:`WheelGuard` on ``app`` (default: the running application), once.

    Fields that already exist get ``StrongFocus`` now; later ones when they are polished. Calling it
    again returns the guard already installed.
    """
    app = app or QApplication.instance()
    if app is None:
        raise RuntimeError("guard_wheel needs a running QApplication")
    for child in app.children():
        if isinstance(child, WheelGuard):
            return child
    guard = WheelGuard(app)
    app_events(app).add(WheelGuard.KINDS, guard.handle)
    for widget in QApplication.allWidgets():
        if is_value_field(widget):
            _strong_focus(widget)
    return guard
