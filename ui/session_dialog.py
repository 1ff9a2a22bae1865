"""Starting a session: client code, protocol, dose, lot, clinician, and this session's alarm limits.

The client is identified by a pseudonymous code only (:mod:`kapmonitor.clients`);
no name is ever asked for. Alarm limits start from the clinic's settings and
may be adjusted for this session only; every field is validated and the
message appears next to the field it is about. The result is a
:class:`~kapmonitor.ports.SessionSpec` (with the clinic settings snapshot in
``settings``) and the session's :class:`~kapmonitor.alarm_settings.AlarmSettings`.

Baseline blood pressure is entered after the session starts, through the
"Vitals before dosing" check prompt or the manual-vitals row of the
observation panel (``Recorder.record_manual_vitals``), so it is stored as a
MANUAL reading with its real time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from kapmonitor import __version__
from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.clients import is_valid_client_code, is_valid_initials
from kapmonitor.ports import SessionSpec
from kapmonitor.protocols import ProtocolError, TreatmentProtocol
from kapmonitor.settings import DOSE_UNITS, ClinicSettings
from ui.alarm_limits import AlarmLimitsEditor, error_label, show_error_text
from ui.dose_check import confirm_dose
from ui.theme import DARK, Theme, fitted_dialog_size

__all__ = ["AlarmLimitsEditor", "StartSessionDialog", "validate_client_code"]

_MAX_LOT = 40


def validate_client_code(code: str) -> str:
    """Return an error message for ``code`` ("" when it is acceptable)."""
    if not code.strip():
        return "Enter the client's code (a pseudonym such as K-017, never a name)"
    if not is_valid_client_code(code.strip()):
        return "Use 2-32 letters, digits, - or _ (no spaces), e.g. K-017"
    return ""


class StartSessionDialog(QDialog):
    """Prepare a session; :meth:`result_spec` gives the SessionSpec and the session's alarm settings.

    Args:
        settings: the clinic settings (protocols, default unit, alarm limits).
        known_clients: client codes seen before, offered in the code field's list.
    """

    def __init__(
        self,
        settings: ClinicSettings,
        known_clients: Sequence[str] = (),
        theme: Theme = DARK,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start a session")
        self._settings = settings
        self._theme = theme
        self._spec: SessionSpec | None = None
        self._alarms: AlarmSettings | None = None
        # Built from the outside in: each widget is put once into a frame already in place (with
        # the application's style sheet, moving a built subtree into a new parent restyles all of
        # it; built inside out, the dialog was restyled three times over).
        # Everything but Start/Cancel scrolls, so the buttons stay on a 768-pixel laptop screen.
        layout = QVBoxLayout(self)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.scroll, 1)
        content = QWidget()
        self.scroll.setWidget(content)
        content_layout = QVBoxLayout(content)
        # The dialog's own margins frame it; inside the scroll area only room beside the scroll bar
        # (with the default 9 px all round, the custom timings row was 19 px wider than the view of
        # a 780 px dialog whose horizontal scroll bar is off).
        content_layout.setContentsMargins(0, 4, 6, 0)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        content_layout.addLayout(form)

        self.client = QComboBox()
        self.client.setEditable(True)
        self.client.addItems(list(known_clients))
        self.client.setCurrentText("")
        client_line = self.client.lineEdit()
        assert client_line is not None  # an editable combo box always has one
        client_line.setPlaceholderText("e.g. K-017")
        self.client.setMinimumHeight(40)
        self.client_error = error_label()
        hint = QLabel("A pseudonymous code only — never the client's name.")
        hint.setProperty("role", "caption")

        self.protocol = QComboBox()
        for proto in settings.protocols:
            self.protocol.addItem(f"{proto.name} — {proto.route.label}", proto.name)
        self.protocol.setCurrentIndex(max(0, self.protocol.findData(settings.protocol().name)))
        self.protocol.setMinimumHeight(40)
        self.protocol_info = QLabel("")
        self.protocol_info.setProperty("role", "caption")
        self.protocol_info.setWordWrap(True)
        self.custom = QCheckBox("Custom timings for this session")
        self.onset = self._minutes_box(1, 240)
        self.effect = self._minutes_box(1, 600)
        self.min_obs = self._minutes_box(1, 1440)
        custom_row = QHBoxLayout()
        custom_row.setSpacing(4)
        for label, box in (
            ("Onset", self.onset),
            ("Effect window", self.effect),
            ("Observe at least", self.min_obs),
        ):
            custom_row.addWidget(QLabel(label))
            custom_row.addWidget(box)
        self.protocol_error = error_label()

        self.dose = QLineEdit()
        self.dose.setPlaceholderText("amount (optional)")
        self.dose.setMinimumHeight(40)
        self.unit = QComboBox()
        self.unit.addItems(list(DOSE_UNITS))
        self.unit.setCurrentText(settings.default_dose_unit)
        dose_row = QHBoxLayout()
        dose_row.addWidget(self.dose, 1)
        dose_row.addWidget(self.unit)
        self.dose_error = error_label()
        self.lot = QLineEdit()
        self.lot.setPlaceholderText("optional")
        self.lot_error = error_label()
        self.clinician = QLineEdit()
        self.clinician.setPlaceholderText("e.g. AB")
        self.clinician.setMaxLength(8)
        self.clinician_error = error_label()

        form.addRow("Client code", self.client)
        form.addRow("", hint)
        form.addRow("", self.client_error)
        form.addRow("Protocol", self.protocol)
        form.addRow("", self.protocol_info)
        form.addRow("", self.custom)
        form.addRow("", custom_row)
        form.addRow("", self.protocol_error)
        form.addRow("Dose", dose_row)
        form.addRow("", self.dose_error)
        form.addRow("Lot", self.lot)
        form.addRow("", self.lot_error)
        form.addRow("Clinician initials", self.clinician)
        form.addRow("", self.clinician_error)

        # after the form's fields, so that Tab goes through the form first
        limits_box = QGroupBox("Alarm limits for this session (from the clinic settings)")
        content_layout.addWidget(limits_box, 1)
        lb = QVBoxLayout(limits_box)
        self.limits = AlarmLimitsEditor(settings.alarms, theme, limits_box)
        lb.addWidget(self.limits)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start session")
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.protocol.currentIndexChanged.connect(self._protocol_changed)
        self.custom.toggled.connect(self._custom_toggled)
        self._protocol_changed()
        self._custom_toggled(False)
        # Once Start was refused, each message follows its field as it is corrected (it used to
        # stay until the next press of Start although the field was already right).
        self._refused = False
        self.client.currentTextChanged.connect(self._recheck)
        for edit in (self.dose, self.lot, self.clinician):
            edit.textChanged.connect(self._recheck)
        self.protocol.currentIndexChanged.connect(self._recheck)
        self.resize(fitted_dialog_size(self, 780, 820))
        self.client.setFocus()  # the first thing asked: typing goes there (it went to the scroll area)

    @staticmethod
    def _minutes_box(lo: int, hi: int) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setDecimals(0)
        box.setRange(lo, hi)
        box.setSuffix(" min")
        box.setMinimumHeight(36)
        return box

    def _base_protocol(self) -> TreatmentProtocol:
        return self._settings.protocol(str(self.protocol.currentData()))

    def _protocol_changed(self) -> None:
        p = self._base_protocol()
        self.protocol_info.setText(
            f"Onset {p.onset_min:g} min, effect window {p.effect_window_min:g} min, observe at least "
            f"{p.min_observation_min:g} min. {p.description}".strip()
        )
        self.onset.setValue(p.onset_min)
        self.effect.setValue(p.effect_window_min)
        self.min_obs.setValue(p.min_observation_min)

    def _custom_toggled(self, on: bool) -> None:
        for box in (self.onset, self.effect, self.min_obs):
            box.setEnabled(on)

    def chosen_protocol(self) -> TreatmentProtocol:
        base = self._base_protocol()
        if not self.custom.isChecked():
            return base
        return dataclasses.replace(
            base,
            name=f"{base.name} (custom)",
            onset_min=float(self.onset.value()),
            effect_window_min=float(self.effect.value()),
            min_observation_min=float(self.min_obs.value()),
        )

    def validate(self) -> bool:
        """Validate every field, showing each message beside its field; True when all are fine."""
        ok = True
        code_error = validate_client_code(self.client.currentText())
        show_error_text(self.client_error, code_error)
        ok &= not code_error
        try:
            self.chosen_protocol().validate()
            show_error_text(self.protocol_error, "")
        except ProtocolError as exc:
            show_error_text(self.protocol_error, str(exc))
            ok = False
        dose_text = self.dose.text().strip().replace(",", ".")
        dose_error = ""
        if dose_text:
            try:
                dose = float(dose_text)
                if not math.isfinite(dose) or not 0 < dose <= 10000:
                    dose_error = f"Dose must be a positive number (at most 10000), got {self.dose.text()!r}"
            except ValueError:
                dose_error = f"Dose must be a number, e.g. 100, got {self.dose.text()!r}"
        show_error_text(self.dose_error, dose_error)
        ok &= not dose_error
        lot_error = (
            f"Lot must be at most {_MAX_LOT} characters" if len(self.lot.text().strip()) > _MAX_LOT else ""
        )
        show_error_text(self.lot_error, lot_error)
        ok &= not lot_error
        initials = self.clinician.text().strip()
        init_error = (
            ""
            if is_valid_initials(initials)
            else (
                "Enter your initials (letters, e.g. AB)"
                if not initials
                else "Initials: letters only, e.g. AB"
            )
        )
        show_error_text(self.clinician_error, init_error)
        ok &= not init_error
        alarms = self.limits.validate()
        ok &= alarms is not None
        return bool(ok)

    def _recheck(self, *_: object) -> None:
        if self._refused:
            self.validate()

    def try_accept(self) -> None:
        if not self.validate():
            self._refused = True
            return
        alarms = self.limits.validate()
        assert alarms is not None
        dose_text = self.dose.text().strip().replace(",", ".")
        route = self.chosen_protocol().route
        if dose_text and not confirm_dose(self, route, float(dose_text), self.unit.currentText()):
            self.dose.setFocus()
            return
        snapshot = self._settings.to_dict()
        snapshot["alarms"] = alarms.to_dict()
        self._alarms = alarms
        self._spec = SessionSpec(
            client_code=self.client.currentText().strip(),
            protocol=self.chosen_protocol(),
            dose_amount=float(dose_text) if dose_text else None,
            dose_unit=self.unit.currentText(),
            lot=self.lot.text().strip(),
            clinician_initials=self.clinician.text().strip(),
            app_version=__version__,
            settings=snapshot,
        )
        self.accept()

    def spec(self) -> SessionSpec:
        """The accepted spec; ``spec().settings["alarms"]`` holds this session's alarm limits."""
        return self.result_spec()[0]

    def alarm_settings(self) -> AlarmSettings:
        """The alarm settings for this session (clinic limits as adjusted here)."""
        return self.result_spec()[1]

    def result_spec(self) -> tuple[SessionSpec, AlarmSettings]:
        """The accepted session spec and alarm settings; RuntimeError if the dialog was not accepted."""
        if self._spec is None or self._alarms is None:
            raise RuntimeError("the session dialog was not accepted")
        return self._spec, self._alarms
