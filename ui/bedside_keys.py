"""The bedside keys: one table (key -> action -> words), one dispatcher, one rule about typing.

:data:`BEDSIDE_KEYS` is the only list of bedside keys. :class:`BedsideKeys` dispatches
from it, and the help overlay (F1) prints it, so the help cannot drift from the keys.

The rule, whatever widget has focus:

* **Typing free text.** A free-text field (the note line; any text field not marked as a
  number field) takes plain letters, digits and signs *only while the therapist is typing
  in it*: it holds text, or they put the cursor there themselves (N, a click, Tab). Focus
  that merely landed there (Qt moving it when a prompt closed, the window opening) is not
  typing: there the bedside keys act, and a key that is no bedside key starts the note.
  So "2 tissues given" after N or a click is a note, never the quick tag 2.
* **Number fields** (hand-entered vitals, the check's BP, "minutes ago") take digits and
  editing keys; every letter and sign is a bedside key (``A`` acknowledges, it is not
  typed into DIA).
* **Anywhere else** (the window, a button) every bedside key acts.
* Keys with a modifier or none printable -- F1, Esc, Ctrl+N, Ctrl+E, Alt+1-9, Ctrl+1-9 --
  act even while typing. **Esc** always leaves a field (focus back to the window; the text
  stays as a draft), cancels a scale key waiting for its score, and closes the help.
* A scale key (M, R, I) waits :data:`SCALE_KEY_TIMEOUT_MS` for its score, saying so in the
  window's status line; RASS needs a sign for every score but 0 (R − 5, R + 2), so a
  sedation score is never recorded as agitation by a missed key.

After a note, hand-entered vitals or a check are saved, the panels give focus back to the
window (:func:`give_focus_back`), so the next key is a bedside key again.

The dispatcher sees the application's events (in its one event filter, :mod:`ui.app_events`),
scoped to one window (the bedside, or a panel shown on its own): every key press meant for a
widget of that window passes it
first, so no widget can swallow a bedside key, and Qt shortcuts on the same keys are
overridden (they would fire twice, or not at all in a field).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from PySide6.QtCore import QEvent, QKeyCombination, QObject, QRegularExpression, Qt, QTimer
from PySide6.QtGui import QFocusEvent, QKeyEvent, QKeySequence, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from ui.app_events import app_events

__all__ = [
    "BEDSIDE_KEYS",
    "SCALE_KEY_TIMEOUT_MS",
    "TYPING_RULE",
    "BedsideKeys",
    "KeyAction",
    "KeyRow",
    "give_focus_back",
    "make_number_field",
    "press_name",
]

log = logging.getLogger(__name__)

SCALE_KEY_TIMEOUT_MS: Final = 5000
"""How long a scale key (M, R, I) waits for its score before it is cancelled."""

NUMBER_FIELD_PROPERTY: Final = "bedsideNumberField"
"""Dynamic property marking a line edit as a number field (see :func:`make_number_field`)."""

TYPING_RULE: Final = (
    "While you type a note (after N or a click) letters and digits are text; "
    "F1, Esc, Ctrl+… and Alt+1 – 9 still work. In number fields only digits are typed."
)
"""The typing rule in the therapist's words (shown under the table in the help)."""

KeyAction = Callable[[str], bool]
"""What a key does: called with the press (``"D"``, ``"3"``) or a scale's score (``"-5"``);
returns False when it did nothing (e.g. a digit with no quick tag), so the key goes on to
the field that has focus."""


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One line of the table.

    Attributes:
        keys: the keys as the help shows them ("M, then 0 – 5").
        action: name of the action the window (or a panel) binds.
        description: what it does, in the therapist's words.
        presses: the presses that trigger it, as :func:`press_name` spells them.
        while_typing: also acts while free text is being typed.
        then: a scale key: the score that must follow (``"digit"``, or ``"signed"``: 0, or a
            sign then a digit).
        title: the scale's name in the prompts ("MOAA/S").
    """

    keys: str
    action: str
    description: str
    presses: tuple[str, ...]
    while_typing: bool = False
    then: Literal["digit", "signed"] | None = None
    title: str = ""


_DIGITS = tuple(str(d) for d in range(1, 10))

BEDSIDE_KEYS: Final[tuple[KeyRow, ...]] = (
    KeyRow("D", "dose", "Dose given (confirm; you can say it was some minutes ago)", ("D",)),
    KeyRow("B", "booster", "Booster given", ("B",)),
    KeyRow("C", "check", "Go to the due check: type BP, Enter (or mark it done)", ("C",)),
    KeyRow("A", "acknowledge", "Acknowledge the alarm", ("A",)),
    KeyRow("P", "pause", "Pause alarm audio", ("P",)),
    KeyRow("N", "note", "Write a note: Enter saves, Esc leaves it as a draft", ("N",)),
    KeyRow("1 – 9", "tag", "Quick tag (nausea, anxiety…) while no note is being typed", _DIGITS),
    KeyRow("Alt+1 – 9", "tag", "Quick tag, even while typing a note (Ctrl+1 – 9 too)",
           tuple(f"{m}+{d}" for m in ("Alt", "Ctrl") for d in _DIGITS), while_typing=True),
    KeyRow("M, then 0 – 5", "moaa_s", "MOAA/S sedation (M 0: no response to painful stimulus)", ("M",),
           then="digit", title="MOAA/S"),
    KeyRow("R, then 0, or − / + and 1 – 5", "rass", "RASS (R − 5: unarousable; R + 2: agitated)", ("R",),
           then="signed", title="RASS"),
    KeyRow("I, then 0 – 3", "dissociation", "Dissociation, clinician impression (0 none … 3 severe)",
           ("I",), then="digit", title="Dissociation"),
    KeyRow("V", "vitals", "Vitals by hand: SYS, Tab, DIA, SpO₂, HR; Enter saves", ("V",)),
    KeyRow("S", "sensors", "Sensors: find and connect", ("S",)),
    KeyRow("+  /  −", "window", "Longer / shorter heart-rate window", ("+", "=", "-")),
    KeyRow("F1  or  ?", "help", "Show or hide this help", ("F1", "?")),
    KeyRow("Ctrl+N", "new_session", "New session", ("Ctrl+N",), while_typing=True),
    KeyRow("Ctrl+E", "end_session", "End session", ("Ctrl+E",), while_typing=True),
    KeyRow("Esc", "escape", "Leave a field (a note stays as a draft), cancel M / R / I, close this help",
           ("Esc",), while_typing=True),
)
"""Every bedside key. F1 shows exactly these rows."""

_ALWAYS_NAMED = frozenset({"F1", "Esc"})  # act while typing (not text), whatever the row says
_MODIFIERS = (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
              | Qt.KeyboardModifier.MetaModifier)
_DELIBERATE = frozenset({
    Qt.FocusReason.MouseFocusReason,
    Qt.FocusReason.TabFocusReason,
    Qt.FocusReason.BacktabFocusReason,
    Qt.FocusReason.ShortcutFocusReason,
})
_KEEPS_TYPING = frozenset({
    Qt.FocusReason.ActiveWindowFocusReason,
    Qt.FocusReason.PopupFocusReason,
    Qt.FocusReason.MenuBarFocusReason,
})


def press_name(event: QKeyEvent) -> str:
    """How the table spells a key press: "D", "3", "?", "+", "Alt+2", "Ctrl+N", "F1", "Esc".

    Letters are named by their key (Shift or Caps Lock do not matter), signs and digits by
    the character they type (keypad or not), keys with Ctrl/Alt/Meta and keys that type
    nothing by their key sequence. "" for a lone modifier.
    """
    key = event.key()
    if key in (Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta, Qt.Key.Key_unknown):
        return ""
    mods = event.modifiers() & _MODIFIERS
    if mods != Qt.KeyboardModifier.NoModifier:
        return QKeySequence(QKeyCombination(mods, Qt.Key(key))).toString()
    if Qt.Key.Key_A <= key <= Qt.Key.Key_Z:
        return chr(key)
    text = event.text()
    if len(text) == 1 and text.isprintable() and text != " ":
        return text
    return QKeySequence(Qt.Key(key)).toString()


def make_number_field(edit: QLineEdit, max_digits: int = 3) -> QLineEdit:
    """Make ``edit`` a number field: digits only, and letters are bedside keys there."""
    edit.setValidator(QRegularExpressionValidator(QRegularExpression(rf"\d{{0,{max_digits}}}"), edit))
    edit.setProperty(NUMBER_FIELD_PROPERTY, True)
    return edit


def give_focus_back(within: QWidget) -> None:
    """If focus is inside ``within``, give it back to the window (the next key is a bedside key)."""
    focus = QApplication.focusWidget()
    if focus is not None and (focus is within or within.isAncestorOf(focus)):
        within.window().setFocus(Qt.FocusReason.OtherFocusReason)


def _is_number_field(widget: QWidget) -> bool:
    return isinstance(widget, QAbstractSpinBox) or bool(widget.property(NUMBER_FIELD_PROPERTY))


def _is_free_text(widget: QWidget) -> bool:
    if isinstance(widget, QLineEdit):
        return not widget.isReadOnly() and not _is_number_field(widget)
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    return False


def _holds_text(widget: QWidget) -> bool:
    if isinstance(widget, QLineEdit):
        return bool(widget.text())
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return bool(widget.toPlainText())
    return False


_KINDS = (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride, QEvent.Type.FocusIn, QEvent.Type.FocusOut,
          QEvent.Type.MouseButtonPress)
"""The event types the bedside keys look at."""


class BedsideKeys(QObject):
    """Dispatches :data:`BEDSIDE_KEYS` for the widgets of one window (see the module docstring).

    Args:
        root: the window (a bedside window, or a panel shown on its own); its descendants are
            served.
        say: shows a short line to the therapist (the scale prompts).

    Owners bind the actions they have (:meth:`bind`); a row whose action nobody bound does
    nothing and lets its key through.
    """

    def __init__(self, root: QWidget, say: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent if parent is not None else root)
        self._root = root
        self._say = say
        self._actions: dict[str, KeyAction] = {}
        self._by_press = {p: row for row in BEDSIDE_KEYS for p in row.presses}
        self._entered: QWidget | None = None
        self._pending: KeyRow | None = None
        self._sign = ""
        self.scale_timeout_ms = SCALE_KEY_TIMEOUT_MS
        self._pending_timer = QTimer(self)
        self._pending_timer.setSingleShot(True)
        self._pending_timer.timeout.connect(self._scale_timed_out)
        app = QApplication.instance()
        assert app is not None, "a QApplication must exist"
        # in the application's one event filter (ui.app_events); gone with this object
        self.destroyed.connect(app_events(app).add(_KINDS, self._filter))

    # --- public ------------------------------------------------------------------------------

    def bind(self, actions: Mapping[str, KeyAction]) -> None:
        """Bind actions by name (see :attr:`KeyRow.action`); unknown names are an error."""
        known = {row.action for row in BEDSIDE_KEYS}
        unknown = set(actions) - known
        if unknown:
            raise ValueError(f"no bedside key for {sorted(unknown)}")
        self._actions.update(actions)

    def unbound(self) -> list[str]:
        """Actions of the table nobody bound (empty in a complete bedside window)."""
        return sorted({row.action for row in BEDSIDE_KEYS} - set(self._actions))

    def enter_field(self, widget: QWidget) -> None:
        """Put the cursor in ``widget`` on the therapist's behalf (key N): typing begins."""
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if isinstance(widget, QLineEdit):  # back to a draft: go on where it ended, replace nothing
            widget.deselect()
            widget.end(False)
        self._entered = widget

    def is_typing(self, widget: QWidget) -> bool:
        """Whether keys pressed in ``widget`` are free text being typed."""
        return _is_free_text(widget) and widget.isEnabled() and (
            _holds_text(widget) or self._entered is widget)

    @property
    def waiting_scale(self) -> str | None:
        """The scale whose key was pressed and which waits for its score ("MOAA/S"), if any."""
        return self._pending.title if self._pending is not None else None

    # --- the filter --------------------------------------------------------------------------

    def _filter(self, watched: QObject, event: QEvent, kind: QEvent.Type) -> bool:
        if not isinstance(watched, QWidget) or not self._serves(watched):
            return False
        if kind == QEvent.Type.MouseButtonPress:  # a click in a field that already had focus
            if _is_free_text(watched):
                self._entered = watched
            return False
        if kind in (QEvent.Type.FocusIn, QEvent.Type.FocusOut):
            assert isinstance(event, QFocusEvent)
            self._focus_changed(watched, event)
            return False
        assert isinstance(event, QKeyEvent)
        name = press_name(event)
        if not name:
            return False
        if kind == QEvent.Type.ShortcutOverride:
            # Ours, not a QShortcut's or QAction's: the key press decides (and fires once).
            if name in self._by_press or self._pending is not None:
                event.accept()
                return True
            return False
        return self._key_pressed(watched, event, name)

    def _serves(self, widget: QWidget) -> bool:
        try:
            return widget is self._root or self._root.isAncestorOf(widget)
        except RuntimeError:  # the root is being destroyed
            return False

    def _focus_changed(self, widget: QWidget, event: QFocusEvent) -> None:
        if event.type() == QEvent.Type.FocusIn:
            if event.reason() in _DELIBERATE and _is_free_text(widget):
                self._entered = widget
        elif widget is self._entered and event.reason() not in _KEEPS_TYPING:
            self._entered = None

    def _key_pressed(self, widget: QWidget, event: QKeyEvent, name: str) -> bool:
        typing = self.is_typing(widget)
        if self._pending is not None:
            if typing and name != "Esc":
                self._cancel_scale("")
            elif self._scale_key(name):
                return True
        row = self._by_press.get(name)
        if row is None:
            return False
        acts = (row.while_typing or name in _ALWAYS_NAMED) if typing else not (
            _is_number_field(widget) and name.isdigit())
        if acts and row.action == "escape":
            self._escape(widget)
        if acts and event.isAutoRepeat() and row.action not in ("window", "escape"):
            return True  # holding a key down does not dose, tag or acknowledge again
        if acts and self._act(row, name):
            return True
        if widget is self._root or not (_is_free_text(widget) or _is_number_field(widget)):
            return False  # a button or the window: Qt goes on (Space still presses a button)
        # The field takes it; delivered here so that a refused key cannot travel on to the
        # window and act there after all.
        widget.event(event)
        event.accept()
        return True

    def _act(self, row: KeyRow, name: str) -> bool:
        if row.then is not None:
            if row.action not in self._actions:
                return False
            self._pending, self._sign = row, ""
            self._pending_timer.start(self.scale_timeout_ms)
            self._say(f"{row.title}: now press {row.keys.split('then ', 1)[-1]}  (Esc cancels)")
            return True
        action = self._actions.get(row.action)
        if action is None:
            return row.action == "escape"
        return action(name)

    def _escape(self, widget: QWidget) -> None:
        self._cancel_scale("")
        if widget is not self._root and (_is_free_text(widget) or _is_number_field(widget)):
            self._entered = None
            self._root.setFocus(Qt.FocusReason.OtherFocusReason)

    # --- scale keys ----------------------------------------------------------------------------

    def _scale_key(self, name: str) -> bool:
        """A key while a scale waits for its score; True if it was taken."""
        row = self._pending
        assert row is not None
        if name == "Esc":
            self._cancel_scale(f"{row.title} not recorded")
            return False  # Esc also leaves a field and closes the help
        if row.then == "signed" and not self._sign and name in ("-", "+", "="):
            self._sign = "-" if name == "-" else "+"
            self._pending_timer.start(self.scale_timeout_ms)
            self._say(f"{row.title} {'−' if self._sign == '-' else '+'}: now press 1 – 5  (Esc cancels)")
            return True
        if not (len(name) == 1 and name.isdigit()):
            self._cancel_scale(f"{row.title} not recorded")
            return False  # the key does what it does anyway (A still acknowledges)
        self._pending, sign = None, self._sign
        self._pending_timer.stop()
        if row.then == "signed" and name != "0" and not sign:
            self._say(f"{row.title} not recorded: press − or + before {name} (R − {name} or R + {name})")
            return True
        value = f"{sign}{name}" if name != "0" else "0"
        action = self._actions[row.action]
        if not action(value):
            self._say(f"{row.title} has no score {value.replace('-', '−')} — not recorded")
        return True

    def _cancel_scale(self, message: str) -> None:
        if self._pending is None:
            return
        self._pending, self._sign = None, ""
        self._pending_timer.stop()
        if message:
            self._say(message)

    def _scale_timed_out(self) -> None:
        row = self._pending
        if row is not None:
            self._cancel_scale(f"{row.title} not recorded (no score pressed)")

