"""Clinic settings: protocols, alarm limits, quick tags, scales, discharge checklist, audio, theme.

Every field is validated through :meth:`kapmonitor.settings.ClinicSettings.validate`;
the :class:`~kapmonitor.settings_items.SettingsError` names the field by path
(``quick_tags[2].label``), and the dialog shows the message beside that field and
switches to its tab. "Save" calls ``on_save(settings)`` only with valid settings
(the app stores them with ``store.put_setting("clinic", settings.to_dict())``,
through the DB worker). Changes apply to sessions started afterwards; each
session keeps the snapshot it started with.

Names stored in the record (tag and checklist names) are kept when a label is
edited, so earlier sessions stay comparable; new rows get a name made from
their label.

The Research tab switches the Lab Streaming Layer outlets on or off and chooses how far they are
announced (:mod:`ui.lsl_outlets`; docs/research.md); it says when pylsl is not installed, and
that a new scope applies from the next start (liblsl reads its configuration once).

One field is not a clinic setting: "This workstation's room" (given a
workstation file) is this computer's own room name, saved to that local file
(:mod:`kapmonitor.workstation`), never to the shared database; it applies from
the next start (the sessions it creates and their leases carry it).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.alarm_settings import AlarmSettings
from kapmonitor.protocols import Route, TreatmentProtocol
from kapmonitor.settings import DOSE_UNITS, THEMES, ClinicSettings
from kapmonitor.settings_items import (
    LSL_SCOPES,
    AudioSettings,
    DischargeItem,
    LabStreamingSettings,
    QuickTag,
    SettingsError,
)
from kapmonitor.workstation import check_room_name, read_workstation_room, write_workstation_room
from ui.alarm_limits import AlarmLimitsEditor, error_label
from ui.lsl_config import lsl_unavailable
from ui.no_wheel import guard_wheel
from ui.theme import DARK, Theme

__all__ = ["LSL_SCOPE_LABELS", "SettingsDialog", "slug"]

LSL_SCOPE_LABELS = {
    "machine": "This computer only",
    "link": "This network segment (link)",
    "site": "The clinic's network (site)",
}
"""What the scope choices say (kapmonitor.settings_items.LSL_SCOPES)."""
_MAX_MEDICATIONS = 8
_MAX_CHECKLIST = 10


def slug(label: str) -> str:
    """A stored name from a label: ``"Eyeshade off" -> "eyeshade_off"``."""
    text = re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")
    if not text or not text[0].isalpha():
        text = "item_" + text
    return text[:40].rstrip("_")


class _ProtocolRow:
    def __init__(self, proto: TreatmentProtocol) -> None:
        self.base = proto
        self.name = QLineEdit(proto.name)
        self.route = QComboBox()
        for r in Route:
            self.route.addItem(r.label, r.value)
        self.route.setCurrentIndex(self.route.findData(proto.route.value))
        self.onset = _minutes(proto.onset_min, 600)
        self.effect = _minutes(proto.effect_window_min, 600)
        self.min_obs = _minutes(proto.min_observation_min, 1440)
        self.remove = QPushButton("Remove")
        self.removed = False

    def protocol(self) -> TreatmentProtocol:
        return dataclasses.replace(
            self.base,
            name=self.name.text().strip(),
            route=Route(self.route.currentData()),
            onset_min=float(self.onset.value()),
            effect_window_min=float(self.effect.value()),
            min_observation_min=float(self.min_obs.value()),
        )


def _minutes(value: float, hi: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(0)
    box.setRange(0, hi)
    box.setValue(value)
    box.setSuffix(" min")
    box.setMinimumHeight(36)
    return box


class SettingsDialog(QDialog):
    """Edit the clinic defaults; see the module docstring.

    Args:
        settings: the current clinic settings.
        on_save: called with the new, validated settings when the therapist presses Save.
        workstation_file: this computer's workstation file; given, the dialog shows the
            "This workstation's room" field and saves it there.
        room: the room this workstation records as now (shown when the file names none).
    """

    def __init__(
        self,
        settings: ClinicSettings,
        on_save: Callable[[ClinicSettings], None],
        theme: Theme = DARK,
        parent: QWidget | None = None,
        *,
        workstation_file: Path | None = None,
        room: str = "",
    ) -> None:
        super().__init__(parent)
        self._workstation_file = workstation_file
        self._stored_room = read_workstation_room(workstation_file) if workstation_file is not None else None
        self._initial_room = self._stored_room or room
        guard_wheel()  # scrolling a tab never changes the field under the pointer
        self.setWindowTitle("Clinic settings")
        self._settings = settings
        self._on_save = on_save
        self._theme = theme
        self.errors: dict[str, QLabel] = {}
        self.tabs = QTabWidget()
        self._tab_index: dict[str, int] = {}
        self._add_tab("protocols", "Protocols", self._build_protocols())
        self._add_tab("alarms", "Alarms", self._build_alarms())
        self._add_tab("quick_tags", "Quick tags", self._build_tags())
        self._add_tab("scales", "Scales", self._build_scales())
        self._add_tab("discharge_checklist", "Discharge", self._build_checklist())
        self._add_tab("audio", "Sound && display", self._build_audio())
        self._add_tab("lab_streaming", "Research", self._build_research())
        self.message = error_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.try_save)
        self.buttons.rejected.connect(self.reject)
        # Once Save was refused, the messages follow the fields as they are corrected (they used
        # to stay until the next press of Save although the field was already right).
        self._refused = False
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._watch(self.tabs)
        self.resize(900, 720)

    # --- building ------------------------------------------------------------------------------

    def _watch(self, root: QWidget) -> None:
        """Re-check the settings whenever a field under ``root`` changes (after a refused Save)."""
        for widget in root.findChildren(QWidget):
            self._watch_one(widget)

    def _watch_one(self, widget: QWidget) -> None:
        """Re-check when ``widget`` changes (also a protocol row added after the dialog was built)."""
        if isinstance(widget, QLineEdit):
            widget.textChanged.connect(self._recheck)
        elif isinstance(widget, (QSpinBox, QDoubleSpinBox, QSlider)):
            widget.valueChanged.connect(self._recheck)
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(self._recheck)
        elif isinstance(widget, QCheckBox):
            widget.toggled.connect(self._recheck)

    def _recheck(self, *_args: object) -> None:
        if self._refused:
            self.validate(select_tab=False)

    def _err(self, key: str) -> QLabel:
        self.errors[key] = error_label()
        return self.errors[key]

    def _add_tab(self, key: str, title: str, widget: QWidget) -> None:
        scroll = QScrollArea()
        scroll.setWidget(widget)
        scroll.setWidgetResizable(True)
        self._tab_index[key] = self.tabs.addTab(scroll, title)

    def _build_protocols(self) -> QWidget:
        page = QWidget()
        self._proto_layout = QVBoxLayout(page)
        self._proto_grid = QGridLayout()
        self._proto_layout.addLayout(self._proto_grid)
        self.protocol_rows: list[_ProtocolRow] = []
        for proto in self._settings.protocols:
            self._add_protocol_row(proto)
        add = QPushButton("Add protocol")
        add.clicked.connect(self._add_protocol)
        self.default_protocol = QComboBox()
        self._refresh_default_choices(self._settings.default_protocol)
        form = QFormLayout()
        form.addRow("Default protocol", self.default_protocol)
        form.addRow("", self._err("default_protocol"))
        self._proto_layout.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
        self._proto_layout.addLayout(form)
        self._proto_layout.addWidget(self._err("protocols"))
        self._proto_layout.addStretch(1)
        return page

    def _add_protocol_row(self, proto: TreatmentProtocol) -> None:
        i = len(self.protocol_rows)
        row = _ProtocolRow(proto)
        self.protocol_rows.append(row)
        r = 2 * i
        for col, (label, w) in enumerate(
            (
                ("Name", row.name),
                ("Route", row.route),
                ("Onset", row.onset),
                ("Effect window", row.effect),
                ("Observe at least", row.min_obs),
            )
        ):
            if i == 0:
                head = QLabel(label)
                head.setProperty("role", "caption")
                self._proto_grid.addWidget(head, 0, col)
            self._proto_grid.addWidget(w, r + 1, col)
        self._proto_grid.addWidget(row.remove, r + 1, 5)
        self._proto_grid.addWidget(self._err(f"protocols[{i}]"), r + 2, 0, 1, 6)
        row.remove.clicked.connect(lambda: self._remove_protocol(row))
        row.name.editingFinished.connect(
            lambda: self._refresh_default_choices(self.default_protocol.currentText())
        )

    def _add_protocol(self) -> None:
        base = self.protocol_rows[-1].protocol() if self.protocol_rows else self._settings.protocol()
        self._add_protocol_row(dataclasses.replace(base, name=f"{base.name} copy", route=Route.CUSTOM))
        row = self.protocol_rows[-1]
        for edit in (row.name, row.route, row.onset, row.effect, row.min_obs):
            self._watch_one(edit)
        self._refresh_default_choices(self.default_protocol.currentText())

    def _remove_protocol(self, row: _ProtocolRow) -> None:
        for w in (row.name, row.route, row.onset, row.effect, row.min_obs, row.remove):
            w.setVisible(False)
        row.name.setText("")
        row.removed = True
        self._refresh_default_choices(self.default_protocol.currentText())

    def _live_protocol_rows(self) -> list[_ProtocolRow]:
        return [r for r in self.protocol_rows if not r.removed]

    def _refresh_default_choices(self, current: str) -> None:
        self.default_protocol.clear()
        names = [r.name.text().strip() for r in self._live_protocol_rows() if r.name.text().strip()]
        self.default_protocol.addItems(names)
        if current in names:
            self.default_protocol.setCurrentText(current)

    def _build_alarms(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.limits = AlarmLimitsEditor(self._settings.alarms, self._theme)
        layout.addWidget(self.limits)
        a = self._settings.alarms
        form = QFormLayout()
        self.audio_pause_s = self._seconds(a.audio_pause_s, 10, 600)
        self.escalate_after_s = self._seconds(a.escalate_after_s, 10, 600)
        self.no_data_s = self._seconds(a.technical.no_data_s, 1, 300)
        self.no_contact_s = self._seconds(a.technical.no_contact_s, 1, 300)
        self.battery_low_pct = QSpinBox()
        self.battery_low_pct.setRange(1, 50)
        self.battery_low_pct.setValue(a.technical.battery_low_pct)
        self.battery_low_pct.setSuffix(" %")
        self.overdue_check_alarm = QCheckBox("Also raise a low-priority alarm when a check is overdue")
        self.overdue_check_alarm.setChecked(a.technical.overdue_check_alarm)
        form.addRow("Pause audio for", self.audio_pause_s)
        form.addRow("Louder if not acknowledged after", self.escalate_after_s)
        form.addRow("No data alarm after", self.no_data_s)
        form.addRow("No skin contact alarm after", self.no_contact_s)
        form.addRow("Sensor battery low at", self.battery_low_pct)
        form.addRow("Checks past their grace period", self.overdue_check_alarm)
        layout.addLayout(form)
        layout.addWidget(self._err("alarms"))
        return page

    @staticmethod
    def _seconds(value: float, lo: float, hi: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setDecimals(0)
        box.setRange(lo, hi)
        box.setValue(value)
        box.setSuffix(" s")
        return box

    def _build_tags(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        caption = QLabel("Key 1-9 records the tag with one press. Leave a label empty to free the key.")
        caption.setProperty("role", "caption")
        grid.addWidget(caption, 0, 0, 1, 2)
        self.tag_edits: dict[str, QLineEdit] = {}
        self._tag_names: dict[str, str] = {t.key: t.name for t in self._settings.quick_tags}
        for i, key in enumerate("123456789"):
            tag = self._settings.tag_for_key(key)
            edit = QLineEdit(tag.label if tag else "")
            edit.setMinimumHeight(36)
            self.tag_edits[key] = edit
            grid.addWidget(QLabel(f"Key {key}"), 1 + 2 * i, 0)
            grid.addWidget(edit, 1 + 2 * i, 1)
            grid.addWidget(self._err(f"tag:{key}"), 2 + 2 * i, 1)
        return page

    def _build_scales(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.scale_boxes: dict[str, QCheckBox] = {}
        for scale in self._settings.scales:
            box = QCheckBox(f"{scale.label}  ({', '.join(str(v) for v, _ in scale.values)})")
            box.setChecked(scale.shown)
            box.setMinimumHeight(36)
            self.scale_boxes[scale.name] = box
            layout.addWidget(box)
        layout.addWidget(self._err("scales"))
        layout.addStretch(1)
        return page

    def _build_checklist(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        caption = QLabel("Ticked before a client leaves. Leave a line empty to remove it.")
        caption.setProperty("role", "caption")
        grid.addWidget(caption, 0, 0)
        self.checklist_edits: list[QLineEdit] = []
        self._checklist_names: list[str] = [d.name for d in self._settings.discharge_checklist]
        items = list(self._settings.discharge_checklist)
        for i in range(_MAX_CHECKLIST):
            edit = QLineEdit(items[i].label if i < len(items) else "")
            edit.setMinimumHeight(36)
            self.checklist_edits.append(edit)
            grid.addWidget(edit, 1 + 2 * i, 0)
            grid.addWidget(self._err(f"check:{i}"), 2 + 2 * i, 0)
        row = 2 + 2 * _MAX_CHECKLIST
        meds = QLabel("Concomitant medications asked at the end of a session (the monitoring form's "
                      "list). Leave a line empty to remove it.")
        meds.setProperty("role", "caption")
        meds.setWordWrap(True)
        grid.addWidget(meds, row, 0)
        self.medication_edits: list[QLineEdit] = []
        self._medication_names: list[str] = [m.name for m in self._settings.medications]
        current = list(self._settings.medications)
        for i in range(_MAX_MEDICATIONS):
            edit = QLineEdit(current[i].label if i < len(current) else "")
            edit.setMinimumHeight(36)
            self.medication_edits.append(edit)
            grid.addWidget(edit, row + 1 + 2 * i, 0)
            grid.addWidget(self._err(f"med:{i}"), row + 2 + 2 * i, 0)
        row += 1 + 2 * _MAX_MEDICATIONS
        setting = QLabel("The healthcare setting, as the monitoring form names it")
        setting.setProperty("role", "caption")
        grid.addWidget(setting, row, 0)
        form = QFormLayout()
        self.setting_name = QLineEdit(self._settings.setting_name)
        self.setting_name.setPlaceholderText("e.g. Riverside Psychiatry")
        self.setting_id = QLineEdit(self._settings.setting_id)
        self.setting_id.setPlaceholderText("e.g. its REMS certification number")
        for edit in (self.setting_name, self.setting_id):
            edit.setMinimumHeight(36)
        form.addRow("Name", self.setting_name)
        form.addRow("", self._err("setting_name"))
        form.addRow("Identifier", self.setting_id)
        form.addRow("", self._err("setting_id"))
        grid.addLayout(form, row + 1, 0)
        return page

    def _build_audio(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(self._settings.audio.volume)
        self.volume_label = QLabel(f"{self._settings.audio.volume}")
        self.volume.valueChanged.connect(lambda v: self.volume_label.setText(str(v)))
        self.visual_only = QCheckBox("Visual alarms only (no sound at all)")
        self.visual_only.setChecked(self._settings.audio.visual_only)
        self.theme_combo = QComboBox()
        self.theme_combo.addItems(list(THEMES))
        self.theme_combo.setCurrentText(self._settings.theme)
        self.unit_combo = QComboBox()
        self.unit_combo.addItems(list(DOSE_UNITS))
        self.unit_combo.setCurrentText(self._settings.default_dose_unit)
        form.addRow("Alarm volume (starting level)", self.volume)
        form.addRow("", self.volume_label)
        form.addRow("", self.visual_only)
        form.addRow("", self._err("audio"))
        form.addRow("Theme", self.theme_combo)
        form.addRow("", self._err("theme"))
        form.addRow("Default dose unit", self.unit_combo)
        form.addRow("", self._err("default_dose_unit"))
        self.room_edit: QLineEdit | None = None
        if self._workstation_file is not None:
            self.room_edit = QLineEdit(self._initial_room)
            self.room_edit.setMaxLength(64)
            self.room_edit.setPlaceholderText("e.g. Room 2")
            hint = QLabel("Stored on this computer only; used from the next start for the sessions "
                          "recorded here and to find this room's sessions to resume.")
            hint.setWordWrap(True)
            form.addRow("This workstation's room", self.room_edit)
            form.addRow("", hint)
            form.addRow("", self._err("room"))
        return page

    def _build_research(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        lab = self._settings.lab_streaming
        self.lsl_enabled = QCheckBox("Stream each session on the Lab Streaming Layer (heart rate, RR, SpO₂, "
                                     "blood pressure and markers)")
        self.lsl_enabled.setChecked(lab.enabled)
        self.lsl_scope = QComboBox()
        for scope in LSL_SCOPES:
            self.lsl_scope.addItem(LSL_SCOPE_LABELS[scope], scope)
        self.lsl_scope.setCurrentIndex(max(0, self.lsl_scope.findData(lab.scope)))
        missing = lsl_unavailable()
        self.lsl_missing = QLabel(f"Not available on this computer: {missing}." if missing else "")
        self.lsl_missing.setWordWrap(True)
        self.lsl_missing.setVisible(missing is not None)
        hint = QLabel("For research recordings synchronised with other LSL devices (EEG, eye tracking). "
                      "Streams are announced only as far as the scope says; a new scope applies from the "
                      "next start of kapmonitor. Markers carry observations' text as written.")
        hint.setWordWrap(True)
        hint.setProperty("role", "caption")
        form.addRow("", self.lsl_enabled)
        form.addRow("Announce the streams to", self.lsl_scope)
        form.addRow("", self.lsl_missing)
        form.addRow("", hint)
        form.addRow("", self._err("lab_streaming"))
        return page

    def _room_error(self) -> str | None:
        """Why the room field is refused (the core's rule), or None."""
        if self.room_edit is None:
            return None
        try:
            check_room_name(self.room_edit.text())
        except ValueError as exc:
            return str(exc)
        return None

    # --- collecting and validating -------------------------------------------------------------

    def _tags(self) -> tuple[tuple[QuickTag, ...], dict[int, str]]:
        tags: list[QuickTag] = []
        index_to_key: dict[int, str] = {}
        for key, edit in self.tag_edits.items():
            label = edit.text().strip()
            if not label:
                continue
            index_to_key[len(tags)] = key
            tags.append(QuickTag(key, label, self._tag_names.get(key) or slug(label)))
        return tuple(tags), index_to_key

    def _checklist(self) -> tuple[tuple[DischargeItem, ...], dict[int, int]]:
        items: list[DischargeItem] = []
        index_to_row: dict[int, int] = {}
        for i, edit in enumerate(self.checklist_edits):
            label = edit.text().strip()
            if not label:
                continue
            index_to_row[len(items)] = i
            name = self._checklist_names[i] if i < len(self._checklist_names) else slug(label)
            items.append(DischargeItem(name, label))
        return tuple(items), index_to_row

    def _medication_list(self) -> tuple[tuple[DischargeItem, ...], dict[int, int]]:
        meds: list[DischargeItem] = []
        index_to_row: dict[int, int] = {}
        for i, edit in enumerate(self.medication_edits):
            label = edit.text().strip()
            if not label:
                continue
            index_to_row[len(meds)] = i
            name = self._medication_names[i] if i < len(self._medication_names) else slug(label)
            meds.append(DischargeItem(name, label))
        return tuple(meds), index_to_row

    def candidate(self) -> tuple[ClinicSettings, dict[int, str], dict[int, int], dict[int, int]]:
        """The settings as edited (unvalidated) plus index maps for placing error messages."""
        rows = self._live_protocol_rows()
        proto_index = {i: self.protocol_rows.index(r) for i, r in enumerate(rows)}
        tags, tag_keys = self._tags()
        checklist, check_rows = self._checklist()
        base_alarms = self.limits.settings()
        alarms: AlarmSettings = dataclasses.replace(
            base_alarms,
            audio_pause_s=float(self.audio_pause_s.value()),
            escalate_after_s=float(self.escalate_after_s.value()),
            technical=dataclasses.replace(
                base_alarms.technical,
                no_data_s=float(self.no_data_s.value()),
                no_contact_s=float(self.no_contact_s.value()),
                battery_low_pct=self.battery_low_pct.value(),
                overdue_check_alarm=self.overdue_check_alarm.isChecked(),
            ),
        )
        scales = tuple(
            dataclasses.replace(s, shown=self.scale_boxes[s.name].isChecked()) for s in self._settings.scales
        )
        settings = ClinicSettings(
            protocols=tuple(r.protocol() for r in rows),
            default_protocol=self.default_protocol.currentText(),
            alarms=alarms,
            quick_tags=tags,
            scales=scales,
            discharge_checklist=checklist,
            audio=AudioSettings(volume=self.volume.value(), visual_only=self.visual_only.isChecked()),
            theme=self.theme_combo.currentText(),
            default_dose_unit=self.unit_combo.currentText(),
            setting_name=self.setting_name.text().strip(),
            setting_id=self.setting_id.text().strip(),
            medications=self._medication_list()[0],
            lab_streaming=LabStreamingSettings(enabled=self.lsl_enabled.isChecked(),
                                               scope=str(self.lsl_scope.currentData())),
        )
        return settings, tag_keys, check_rows, proto_index

    def validate(self, select_tab: bool = True) -> ClinicSettings | None:
        """The valid settings, or None with the message shown beside the field (and, with
        ``select_tab``, its tab selected: not while the therapist is typing in another one)."""
        for label in self.errors.values():
            label.setVisible(False)
        self.message.setVisible(False)
        for err in self.limits.errors.values():
            err.setVisible(False)
        settings, tag_keys, check_rows, proto_index = self.candidate()
        try:
            settings.validate()
            room_error = self._room_error()
            if room_error is not None:
                raise SettingsError("room", room_error)
        except SettingsError as exc:
            self.show_error(exc, tag_keys, check_rows, proto_index, select_tab=select_tab)
            return None
        return settings

    def show_error(
        self,
        exc: SettingsError,
        tag_keys: dict[int, str],
        check_rows: dict[int, int],
        proto_index: dict[int, int],
        select_tab: bool = True,
    ) -> None:
        path = exc.field
        top = re.split(r"[.\[]", path, maxsplit=1)[0]
        index_match = re.match(r"^[a-z_]+\[(\d+)\]", path)
        index = int(index_match.group(1)) if index_match else None
        label: QLabel | None = None
        if top == "alarms":
            self.limits.show_error(f"{path.removeprefix('alarms.')}: {exc.message}")
            if path.removeprefix("alarms.").split(".")[0] not in self.limits.errors:
                label = self.errors["alarms"]
        elif top == "quick_tags" and index is not None and index in tag_keys:
            label = self.errors[f"tag:{tag_keys[index]}"]
        elif top == "discharge_checklist" and index is not None and index in check_rows:
            label = self.errors[f"check:{check_rows[index]}"]
        elif top == "medications" and index is not None and index in (med_rows := self._medication_list()[1]):
            label = self.errors[f"med:{med_rows[index]}"]
        elif top == "protocols" and index is not None and index in proto_index:
            label = self.errors[f"protocols[{proto_index[index]}]"]
        else:
            label = self.errors.get(top)
        if label is not None:
            label.setText(exc.message[:1].upper() + exc.message[1:])
            label.setVisible(True)
        tab_key = {"default_protocol": "protocols", "theme": "audio", "default_dose_unit": "audio",
                   "room": "audio", "medications": "discharge_checklist",
                   "setting_name": "discharge_checklist",
                   "setting_id": "discharge_checklist"}.get(
            top, top
        )
        tab = self._tab_index.get(tab_key, 0)
        if select_tab:
            self.tabs.setCurrentIndex(tab)
        self.message.setText(f"Not saved — {self.tabs.tabText(tab).replace('&&', '&')}: {exc.message}")
        self.message.setVisible(True)

    def try_save(self) -> None:
        settings = self.validate()
        if settings is None:
            self._refused = True
            return
        if not self._save_room():
            self._refused = True
            return
        self._on_save(settings)
        self.accept()

    def _save_room(self) -> bool:
        """Write the room to the workstation file when it changed; False (shown) if it cannot be."""
        if self.room_edit is None or self._workstation_file is None:
            return True
        room = check_room_name(self.room_edit.text())
        if room == self._stored_room or (self._stored_room is None and room == self._initial_room):
            return True  # unchanged: the host name default is not written down
        try:
            write_workstation_room(self._workstation_file, room)
        except OSError as exc:
            label = self.errors["room"]
            label.setText(f"This computer's room could not be saved to {self._workstation_file}: {exc}")
            label.setVisible(True)
            self.tabs.setCurrentIndex(self._tab_index["audio"])
            return False
        self._stored_room = room
        return True
