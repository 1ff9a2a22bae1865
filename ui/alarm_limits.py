"""Editing alarm limit rules (on/off, limit, delay) with each error shown beside its rule.

Used by the start-session dialog (limits for one session) and the clinic settings dialog. The
mouse wheel changes a limit only in the field the therapist clicked into (:mod:`ui.no_wheel`):
scrolling the table never moves a limit.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QLabel, QWidget

from kapmonitor.alarm_settings import LIMIT_RANGES, MAX_DELAY_S, AlarmSettings, LimitRule
from ui.no_wheel import guard_wheel
from ui.theme import DARK, Theme

__all__ = ["AlarmLimitsEditor", "error_label", "show_error_text"]


def error_label() -> QLabel:
    """A hidden, wrapped label in the theme's warning colour, for a message beside a field.

    The colour comes from the application style sheet (``role="error"``, :mod:`ui.theme`): a
    style sheet of the label's own costs a style of its own for each of the dozens of labels a
    dialog has.
    """
    label = QLabel("")
    label.setWordWrap(True)
    label.setProperty("role", "error")
    label.setVisible(False)
    return label


def show_error_text(label: QLabel, text: str) -> None:
    """Show ``text`` in ``label`` (hidden when empty)."""
    label.setText(text)
    label.setVisible(bool(text))


class AlarmLimitsEditor(QWidget):
    """Edit each limit rule's on/off, limit and delay; errors shown on the rule's row.

    Also used by the clinic settings dialog.
    """

    def __init__(self, alarms: AlarmSettings, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        guard_wheel()
        self._base = alarms
        self._theme = theme
        self.enabled: dict[str, QCheckBox] = {}
        self.limit: dict[str, QDoubleSpinBox] = {}
        self.delay: dict[str, QDoubleSpinBox] = {}
        self.errors: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        for col, head in enumerate(("Alarm", "Priority", "Limit", "Delay", "")):
            h = QLabel(head)
            h.setProperty("role", "caption")
            grid.addWidget(h, 0, col)
        for i, rule in enumerate(alarms.rules):
            row = 1 + 2 * i
            box = QCheckBox(rule.label)
            box.setChecked(rule.enabled)
            box.setMinimumHeight(36)
            lo, hi = LIMIT_RANGES.get(rule.stream, (0.0, 1000.0))
            if rule.relative_to_baseline:
                lo, hi = 1.0, hi - lo
            limit = QDoubleSpinBox()
            limit.setDecimals(0)
            limit.setRange(lo, hi)
            limit.setValue(rule.limit)
            sign = (
                ("≥ baseline +" if rule.direction == "above" else "< baseline −")
                if rule.relative_to_baseline
                else ("≥" if rule.direction == "above" else "<")
            )
            limit.setPrefix(f"{sign} ")
            limit.setSuffix(f" {rule.unit}")
            limit.setMinimumHeight(36)
            delay = QDoubleSpinBox()
            delay.setDecimals(0)
            delay.setRange(0.0, MAX_DELAY_S)
            delay.setValue(rule.delay_s)
            delay.setSuffix(" s")
            delay.setSpecialValueText("at once")
            delay.setMinimumHeight(36)
            prio = QLabel(rule.priority.value)
            prio.setProperty("role", "priority")  # its colour: the application style sheet
            prio.setProperty("priority", rule.priority.value)
            err = error_label()
            grid.addWidget(box, row, 0)
            grid.addWidget(prio, row, 1)
            grid.addWidget(limit, row, 2)
            grid.addWidget(delay, row, 3)
            grid.addWidget(err, row + 1, 0, 1, 4)
            self.enabled[rule.alarm_id] = box
            self.limit[rule.alarm_id] = limit
            self.delay[rule.alarm_id] = delay
            self.errors[rule.alarm_id] = err

    def settings(self) -> AlarmSettings:
        """The edited settings (not yet validated)."""
        rules = []
        for rule in self._base.rules:
            rid = rule.alarm_id
            rules.append(
                dataclasses.replace(
                    rule,
                    enabled=self.enabled[rid].isChecked(),
                    limit=float(self.limit[rid].value()),
                    delay_s=float(self.delay[rid].value()),
                )
            )
        return dataclasses.replace(self._base, rules=tuple(rules))

    def validate(self) -> AlarmSettings | None:
        """Validated settings, or None with the error shown next to the rule it names."""
        for err in self.errors.values():
            show_error_text(err, "")
        candidate = self.settings()
        try:
            candidate.validate()
        except ValueError as exc:
            self.show_error(str(exc))
            return None
        return candidate

    def show_error(self, message: str) -> str:
        """Place ``message`` ("hr_high.limit: ...") beside its rule; return the rule id or ""."""
        head, _, rest = message.partition(": ")
        rule_id = head.split(".")[0]
        if rule_id in self.errors:
            show_error_text(self.errors[rule_id], rest or message)
            self.limit[rule_id].setFocus()
            return rule_id
        first = next(iter(self.errors.values()), None)
        if first is not None:
            show_error_text(first, message)
        return ""

    def rule(self, alarm_id: str) -> LimitRule:
        return self.settings().rule(alarm_id)
