"""Input pieces of the observation panel: hand-entered vitals parsing and button helpers."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QPushButton, QVBoxLayout

from kapmonitor.settings_items import QuickTag, ScaleDefinition

__all__ = ["VITAL_RANGES", "VitalsError", "clear_layout", "parse_vitals", "scale_button_text", "tag_button"]

VITAL_RANGES: dict[str, tuple[float, float, str, str]] = {
    "systolic": (40.0, 300.0, "mmHg", "Systolic"),
    "diastolic": (20.0, 200.0, "mmHg", "Diastolic"),
    "spo2": (50.0, 100.0, "%", "SpO₂"),
    "heart_rate": (20.0, 250.0, "bpm", "Heart rate"),
}
"""Accepted ranges of hand-entered vitals (the recorder enforces the same)."""


class VitalsError(ValueError):
    """A hand-entered vital is invalid; ``field`` names it (``systolic``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_vitals(texts: dict[str, str]) -> dict[str, float | None]:
    """Parse the four vitals fields (empty = not measured); raise :class:`VitalsError` on bad input."""
    values: dict[str, float | None] = {}
    for field, (low, high, unit, label) in VITAL_RANGES.items():
        raw = texts.get(field, "").strip().replace(",", ".")
        if not raw:
            values[field] = None
            continue
        try:
            value = float(raw)
        except ValueError:
            raise VitalsError(field, f"{label}: enter a number in {unit}, got {raw!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise VitalsError(field, f"{label} must be between {low:g} and {high:g} {unit}, got {raw}")
        values[field] = value
    if all(v is None for v in values.values()):
        raise VitalsError("systolic", "Enter at least one vital sign")
    sys_v, dia_v = values["systolic"], values["diastolic"]
    if (sys_v is None) != (dia_v is None):
        missing = "diastolic" if dia_v is None else "systolic"
        raise VitalsError(missing, "Blood pressure needs both systolic and diastolic values")
    if sys_v is not None and dia_v is not None and dia_v >= sys_v:
        raise VitalsError("diastolic", f"Diastolic ({dia_v:g}) must be below systolic ({sys_v:g})")
    return values


def scale_button_text(scale: ScaleDefinition, value: int) -> str:
    if all(len(text) <= 10 for _, text in scale.values):
        return next(text for v, text in scale.values if v == value)
    return f"{value:+d}" if any(v < 0 for v, _ in scale.values) and value else str(value)


def tag_button(tag: QuickTag) -> QPushButton:
    button = QPushButton(f"{tag.key}  {tag.label}")
    button.setMinimumHeight(48)
    button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    button.setToolTip(f"Press {tag.key} (while no note is being typed), or Alt+{tag.key} at any time")
    return button


def clear_layout(layout: QGridLayout | QVBoxLayout | QHBoxLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        widget = item.widget()
        if widget is not None:
            widget.deleteLater()
        child = item.layout()
        if child is not None:
            clear_layout(child)  # type: ignore[arg-type]
