"""Writing observations without looking away from the client.

Keyboard design ("without looking"):

* **N** (or a click) puts the cursor in the note line; typing writes a note,
  **Enter** saves it and gives focus back to the window, **Esc** leaves it as a draft;
* a digit **1-9** records that quick tag (``ClinicSettings.quick_tags``: 1 nausea,
  2 anxiety, ...) whenever no note is being typed -- a note that begins with a digit
  ("2 tissues given") stays a note; **Alt+digit** or **Ctrl+digit** records the tag
  even while typing;
* scale scores (MOAA/S, RASS, dissociation) are one click on a big button, or a key
  and the score: **M 0**, **R − 5**, **I 2**;
* hand-entered vitals (BP, SpO2, HR; **V** goes there) take digits only, are
  validated next to the fields, and give focus back to the window once saved;
* "Happened … min ago" applies to the *next* entry only, then resets to now.

The keys are the bedside's one table (:mod:`ui.bedside_keys`); the panel binds the
actions it owns (:meth:`ObservationPanel.bind_keys`). Shown on its own (no bedside
window around it), it has a key dispatcher of its own.

Nothing is shown as saved before the commit is confirmed: the entry appears in
the timeline as "saving…" at once and becomes an observation only when the DB
worker reports the commit (see :mod:`ui.observation_timeline`).

A note, tag or score is stamped when it is entered (its identity and time). If
it could not be saved (``StoreError``: even the recording journal's disk is
full; nothing was recorded) the entry stays on screen as "not saved — <reason>;
retrying" and is sent again on the DB worker every :data:`RETRY_INTERVAL_MS`
with the same identity and time until it is saved: never dropped. If it was
refused for another reason (no session), the entry says so and a note's text
returns to the empty text line.

All committing calls go through :class:`ui.observation_commands.ObservationCommands`
(the single DB worker).

The note being typed is kept as a draft file (:mod:`ui.note_draft`) until it is saved, so a
crash loses no words: when the session is resumed (:meth:`ObservationPanel.session_resumed`)
the panel shows the session's observations as they were, editable and deletable as before,
and puts the draft back in the note line.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kapmonitor.settings import ClinicSettings
from kapmonitor.types import AlarmPriority, Observation, ObservationKind, new_observation_id
from ui.bedside_keys import BedsideKeys, give_focus_back, make_number_field
from ui.check_prompt import CheckPrompt
from ui.note_draft import NoteDraftKeeper, NoteDrafts
from ui.observation_commands import ObservationCommands
from ui.observation_inputs import (
    VitalsError,
    clear_layout,
    parse_vitals,
    scale_button_text,
    tag_button,
)
from ui.observation_timeline import EditObservationDialog, ObservationTimeline, ReasonDialog, describe
from ui.theme import DARK, Theme

__all__ = ["RETRY_INTERVAL_MS", "ObservationPanel"]

log = logging.getLogger(__name__)

RETRY_INTERVAL_MS = 2000
"""How often an entry that could not be saved is sent again (real time)."""


class ObservationPanel(QFrame):
    """Note line, quick tags, scales, manual vitals, "minutes ago", the timeline, the check prompt.

    Args:
        settings: clinic settings (quick tags, scales shown).
        commands: the recorder link; None until a session is started (controls are disabled).
        theme: colours.
        drafts: where the note being typed is kept until it is saved (None: not kept).

    Wire ``bridge.observation_arrived`` to :meth:`observation_arrived` (so entries from other
    sources appear too) and ``bridge.snapshot_arrived`` to :meth:`snapshot_arrived`.
    """

    def __init__(
        self,
        settings: ClinicSettings,
        commands: ObservationCommands | None = None,
        theme: Theme = DARK,
        parent: QWidget | None = None,
        drafts: NoteDrafts | None = None,
    ) -> None:
        super().__init__(parent)
        self.setProperty("role", "panel")
        self._settings = settings
        self._theme = theme
        self._commands = commands
        self._tokens = itertools.count(1)
        self._retry: dict[str, Callable[[], None]] = {}
        self._in_flight: set[str] = set()
        self._auto_retry: set[str] = set()
        self.retry_timer = QTimer(self)
        self.retry_timer.setInterval(RETRY_INTERVAL_MS)
        self.retry_timer.timeout.connect(self._retry_unsaved)
        self._keys: BedsideKeys | None = None

        self.text_line = QLineEdit()
        self.text_line.setPlaceholderText("Note: N or click, type, Enter saves  ·  Esc leaves")
        self.text_line.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # N or a click: never by accident
        self.text_line.setMinimumHeight(48)
        self.text_line.setStyleSheet("font-size: 19px;")
        self.text_line.returnPressed.connect(self.save_note)
        self.minutes_ago = QSpinBox()
        self.minutes_ago.setRange(0, 240)
        self.minutes_ago.setSpecialValueText("now")
        self.minutes_ago.setSuffix(" min ago")
        self.minutes_ago.setMinimumHeight(48)
        self.minutes_ago.setMinimumWidth(130)
        self.minutes_ago.setToolTip("When it happened, for the next entry only (resets after saving)")
        top = QHBoxLayout()
        top.addWidget(self.text_line, 1)
        top.addWidget(QLabel("Happened"))
        top.addWidget(self.minutes_ago)

        self.tag_buttons: dict[str, QPushButton] = {}
        self._tags_grid = QGridLayout()
        self._tags_grid.setSpacing(6)
        self.scale_buttons: dict[str, dict[int, QPushButton]] = {}
        self._scales_box = QVBoxLayout()
        self._build_tags()
        self._build_scales()

        self.vital_fields: dict[str, QLineEdit] = {}
        vitals = QHBoxLayout()
        for field, placeholder in (
            ("systolic", "SYS"),
            ("diastolic", "DIA"),
            ("spo2", "SpO₂ %"),
            ("heart_rate", "HR bpm"),
        ):
            edit = make_number_field(QLineEdit())
            edit.setPlaceholderText(placeholder)
            edit.setMinimumHeight(44)
            edit.setMaximumWidth(110)
            edit.returnPressed.connect(self.save_vitals)
            edit.textChanged.connect(self._vital_edited)
            self.vital_fields[field] = edit
            vitals.addWidget(edit)
            if field == "systolic":
                vitals.addWidget(QLabel("/"))
        self.vitals_button = QPushButton("Save vitals")
        self.vitals_button.setMinimumHeight(44)
        self.vitals_button.clicked.connect(self.save_vitals)
        vitals.addWidget(self.vitals_button)
        vitals.addStretch(1)
        self._vitals_fault: str | None = None  # the field the vitals message is about
        self.vitals_message = QLabel("")
        self.vitals_message.setWordWrap(True)
        self.vitals_message.setStyleSheet(f"color: {theme.alarm[AlarmPriority.MEDIUM]}; font-size: 15px;")

        self.status = QLabel("")
        self.status.setProperty("role", "caption")
        self.draft_keeper: NoteDraftKeeper | None = None
        self._held_notes: set[str] = set()
        if drafts is not None:
            self.draft_keeper = NoteDraftKeeper(
                self.text_line, drafts, lambda: self._commands.session_id if self._commands else None,
                self.status.setText)
        self.check_prompt = CheckPrompt(theme)
        self.timeline = ObservationTimeline(settings, theme)
        self.timeline.edit_requested.connect(self._edit)
        self.timeline.delete_requested.connect(self._delete)
        self.timeline.retry_requested.connect(self._retry_token)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addWidget(self.check_prompt)
        layout.addLayout(top)
        layout.addLayout(self._tags_grid)
        layout.addLayout(self._scales_box)
        vitals_caption = QLabel("Vitals by hand (BP systolic / diastolic mmHg, SpO₂, heart rate)")
        vitals_caption.setProperty("role", "caption")
        layout.addWidget(vitals_caption)
        layout.addLayout(vitals)
        layout.addWidget(self.vitals_message)
        layout.addWidget(self.status)
        layout.addWidget(self.timeline, 1)
        self.set_commands(commands)

    # --- wiring --------------------------------------------------------------------------------

    def set_commands(self, commands: ObservationCommands | None) -> None:
        """Connect to a session's recorder (None: no session, entry disabled)."""
        self._commands = commands
        self.check_prompt.set_commands(commands)
        enabled = commands is not None
        for w in (
            self.text_line,
            self.minutes_ago,
            self.vitals_button,
            *self.vital_fields.values(),
            *self.tag_buttons.values(),
            *(b for row in self.scale_buttons.values() for b in row.values()),
        ):
            w.setEnabled(enabled)
        if not enabled:
            self.status.setText("Start a session to record observations")
        elif self.status.text() == "Start a session to record observations":
            self.status.setText("")

    def set_settings(self, settings: ClinicSettings) -> None:
        self._settings = settings
        self.timeline.set_settings(settings)
        self._build_tags()
        self._build_scales()
        self.set_commands(self._commands)

    def session_resumed(self, session_id: int, observations: Sequence[Observation]) -> None:
        """A session was resumed: show its observations as they were, and the draft kept for it.

        ``observations``: every stored revision (read off the GUI thread); the list shows the
        latest of each and "History…" all of them, as before the interruption.
        """
        self.timeline.set_observations(observations)
        if self.draft_keeper is None:
            return
        draft = self.draft_keeper.restore(session_id)
        if not draft.strip():
            return
        already_saved = any(o.kind is ObservationKind.NOTE and o.text == draft.strip() for o in observations)
        if already_saved:  # saved just before the interruption; its confirmation was lost
            self.draft_keeper.drafts.discard(session_id)
            return
        if not self.text_line.text():
            self.text_line.setText(draft)
            self.status.setText("Note line: draft kept from before the restart — Enter saves it")

    def session_ended(self, session_id: int) -> None:
        """The session ended: its note draft is removed (an unsaved note was offered at the end)."""
        if self.draft_keeper is not None:
            self.draft_keeper.session_ended(session_id)

    def unsaved_note(self) -> str:
        """What the note line holds that was not saved ("" if nothing)."""
        return self.text_line.text().strip()

    def drop_unsaved_note(self) -> None:
        """Empty the note line without saving it (the therapist chose so; its draft goes too)."""
        self.text_line.clear()

    def observation_arrived(self, observation: Observation) -> None:
        """Slot for ``RecorderBridge.observation_arrived`` (idempotent with our own callbacks)."""
        self.timeline.add_observation(observation)

    def set_dose_time(self, dose_at: datetime | None) -> None:
        self.timeline.set_dose_time(dose_at)

    def snapshot_arrived(self, snapshot: object) -> None:
        """Slot for ``RecorderBridge.snapshot_arrived``: dose time and due checks."""
        self.set_dose_time(getattr(snapshot, "first_dose_at", None))
        self.check_prompt.set_snapshot(snapshot)

    # --- actions -------------------------------------------------------------------------------

    def save_note(self) -> None:
        text = self.text_line.text().strip()
        if not text or self._commands is None:
            return
        if self.draft_keeper is not None:
            self.draft_keeper.hold()  # the draft stays until the note is confirmed saved
        self.text_line.clear()
        give_focus_back(self.text_line)
        token = self._submit_observation(ObservationKind.NOTE, "note", None, text, f"Note: {text}",
                                         restore_text=text)
        if self.draft_keeper is not None:
            self._held_notes.add(token)
            if token not in self._retry:  # already settled (a worker that answers at once)
                self._release_draft(token)

    def record_tag(self, key: str) -> bool:
        """Record the quick tag on ``key`` ("1".."9"); False if there is none or no session."""
        tag = self._settings.tag_for_key(key)
        if tag is None or self._commands is None:
            return False
        self._submit_observation(ObservationKind.TAG, tag.name, None, "", tag.label)
        return True

    def record_scale(self, scale_name: str, value: int) -> bool:
        """Record a score; False if the scale is not offered, has no such score, or no session."""
        scale = self._settings.scale(scale_name)
        if scale is None or not scale.shown or self._commands is None:
            return False
        if all(v != value for v, _ in scale.values):
            return False
        shown = f"{value:+d}" if scale.name == "rass" and value else str(value)
        anchor = scale.text_for(value)
        self._submit_observation(
            ObservationKind.SCALE,
            scale.name,
            float(value),
            "",
            f"{scale.label} {shown}" + (f" — {anchor}" if anchor else ""),
        )
        return True

    def _vital_edited(self, _text: str = "") -> None:
        """The vitals are being corrected: the message (and the mark on the field) go at once.

        Saving checks them again; a message about a pair (diastolic above systolic) goes when
        either of the two is edited.
        """
        if self._vitals_fault is not None:
            fault, self._vitals_fault = self._vitals_fault, None
            self.vitals_message.setText("")
            self.vital_fields[fault].setStyleSheet("")

    def save_vitals(self) -> None:
        if self._commands is None:
            return
        texts = {k: e.text() for k, e in self.vital_fields.items()}
        for edit in self.vital_fields.values():
            edit.setStyleSheet("")
        try:
            values = parse_vitals(texts)
        except VitalsError as exc:
            self._vitals_fault = exc.field
            self.vitals_message.setText(str(exc))
            self.vital_fields[exc.field].setStyleSheet(
                f"border: 2px solid {self._theme.alarm[AlarmPriority.MEDIUM]};"
            )
            self.vital_fields[exc.field].setFocus()
            return
        self._vitals_fault = None
        self.vitals_message.setText("")
        summary = ", ".join(
            p
            for p in (
                f"BP {values['systolic']:g}/{values['diastolic']:g}"
                if values["systolic"] is not None
                else "",
                f"SpO₂ {values['spo2']:g} %" if values["spo2"] is not None else "",
                f"HR {values['heart_rate']:g}" if values["heart_rate"] is not None else "",
            )
            if p
        )
        minutes = self._take_minutes()
        token = self._new_token(summary)
        commands = self._commands
        at = commands.stamp(minutes)  # a retry keeps the time they were entered

        def submit() -> None:
            commands.vitals(
                systolic=values["systolic"],
                diastolic=values["diastolic"],
                spo2=values["spo2"],
                heart_rate=values["heart_rate"],
                occurred_at=at,
                on_saved=partial(self._saved, token),
                on_failed=partial(self._failed, token, ""),
            )

        self._retry[token] = submit
        for edit in self.vital_fields.values():
            edit.clear()
            give_focus_back(edit)
        self._send(token)

    # --- internals -----------------------------------------------------------------------------

    def _new_token(self, summary: str) -> str:
        token = f"p{next(self._tokens)}"
        self.timeline.add_pending(token, summary)
        return token

    def _take_minutes(self) -> int:
        minutes = self.minutes_ago.value()
        self.minutes_ago.setValue(0)
        return minutes

    def _submit_observation(
        self,
        kind: ObservationKind,
        name: str,
        value: float | None,
        text: str,
        summary: str,
        restore_text: str = "",
    ) -> str:
        assert self._commands is not None
        minutes = self._take_minutes()
        if minutes:
            summary = f"{summary}  ({minutes} min ago)"
        token = self._new_token(summary)
        commands = self._commands
        # Identity, time and session are fixed now: every retry sends the same observation.
        at, observation_id, session_id = commands.stamp(minutes), new_observation_id(), commands.session_id

        def submit() -> None:
            commands.add(
                kind,
                name,
                value=value,
                text=text,
                occurred_at=at,
                observation_id=observation_id,
                session_id=session_id,
                on_saved=partial(self._saved, token),
                on_failed=partial(self._failed, token, restore_text),
                on_not_saved=partial(self._not_saved, token),
            )

        self._retry[token] = submit
        self._send(token)
        return token

    def _release_draft(self, token: str) -> None:
        if token in self._held_notes and self.draft_keeper is not None:
            self._held_notes.discard(token)
            self.draft_keeper.release()

    def _send(self, token: str) -> None:
        """Hand the entry's save to the DB worker, unless an attempt is already on its way."""
        submit = self._retry.get(token)
        if submit is None or token in self._in_flight:
            return
        self._in_flight.add(token)
        try:
            submit()
        except BaseException:
            self._in_flight.discard(token)
            raise

    def _retry_unsaved(self) -> None:
        """Timer: send every entry that could not be saved again (same identity and time)."""
        if not self._auto_retry:
            self.retry_timer.stop()
            return
        for token in list(self._auto_retry):
            try:
                self._send(token)
            except RuntimeError as exc:  # the DB worker is shut down (the app is closing)
                log.error("cannot retry unsaved entries: %s", exc)
                self.retry_timer.stop()
                return

    def unsaved_count(self) -> int:
        """Entries on screen that could not be saved yet and are being retried."""
        return len(self._auto_retry)

    def _settled(self, token: str) -> None:
        """The entry is saved or refused: no longer in flight, no longer retried."""
        self._in_flight.discard(token)
        self._auto_retry.discard(token)
        if not self._auto_retry:
            self.retry_timer.stop()

    def _saved(self, token: str, observation: Observation) -> None:
        self._settled(token)
        self._retry.pop(token, None)
        self._release_draft(token)
        self.timeline.resolve_pending(token, observation)
        self.status.setText(
            f"Saved {observation.recorded_at.astimezone().strftime('%H:%M:%S')}: "
            f"{describe(observation, self._settings)}"
        )

    def _not_saved(self, token: str, message: str) -> None:
        """It could not be saved (nothing was recorded): keep it on screen and retry it."""
        self._in_flight.discard(token)
        if token not in self._retry:
            return
        self._auto_retry.add(token)
        self.timeline.fail_pending(token, message, retrying=True)
        self.status.setText(f"Not saved yet: {message}. It stays in the list and is retried "
                            f"every {RETRY_INTERVAL_MS / 1000:g} s.")
        if not self.retry_timer.isActive():
            self.retry_timer.start()

    def _failed(self, token: str, restore_text: str, message: str) -> None:
        self._settled(token)
        self.timeline.fail_pending(token, message)
        self.status.setText(f"Not saved: {message}")
        if restore_text and not self.text_line.text():
            self.text_line.setText(restore_text)  # kept as the draft again
            self._retry.pop(token, None)
            self.timeline.drop_pending(token)
            self.status.setText(f"Not saved: {message}. Your text is back in the line; press Enter to retry.")
        self._release_draft(token)

    def _retry_token(self, token: str) -> None:
        if self._commands is not None:
            self._send(token)

    def _edit(self, observation_id: str) -> None:
        obs = self.timeline.latest(observation_id)
        if obs is None or self._commands is None:
            return
        dialog = EditObservationDialog(obs, self._settings, self)
        if dialog.exec() != EditObservationDialog.DialogCode.Accepted:
            return
        new_text = dialog.text_edit.text().strip()
        text = new_text if new_text != obs.text else None
        if text is None and not dialog.value_changed():
            return
        self._commands.edit(
            observation_id,
            text=text,
            value=dialog.new_value(),
            set_value=dialog.value_changed(),
            reason=dialog.reason.text().strip(),
            on_saved=self.timeline.add_observation,
            on_failed=lambda m: self.status.setText(f"Correction not saved: {m}"),
        )

    def _delete(self, observation_id: str) -> None:
        obs = self.timeline.latest(observation_id)
        if obs is None or self._commands is None:
            return
        dialog = ReasonDialog(
            "Delete observation",
            f"Delete “{describe(obs, self._settings)}”? It stays in the record, "
            "marked deleted with your reason.",
            self,
        )
        if dialog.exec() != ReasonDialog.DialogCode.Accepted:
            return
        self._commands.delete(
            observation_id,
            dialog.text(),
            on_saved=self.timeline.add_observation,
            on_failed=lambda m: self.status.setText(f"Deletion not saved: {m}"),
        )

    # --- keys --------------------------------------------------------------------------------

    def bind_keys(self, keys: BedsideKeys) -> None:
        """Bind the panel's bedside keys (tags, scales, vitals) in ``keys``, the window's dispatcher."""
        self._keys = keys
        keys.bind({
            "tag": self._tag_key,
            "moaa_s": partial(self._scale_key, "moaa_s"),
            "rass": partial(self._scale_key, "rass"),
            "dissociation": partial(self._scale_key, "dissociation"),
            "vitals": self._vitals_key,
        })
        if "note" in keys.unbound():
            keys.bind({"note": self._note_key})

    def showEvent(self, event: QShowEvent) -> None:
        if self._keys is None and self.isWindow():  # on its own: no bedside window to serve it
            self.bind_keys(BedsideKeys(self, self.status.setText))
        super().showEvent(event)

    def _tag_key(self, press: str) -> bool:
        return self.record_tag(press[-1])

    def _scale_key(self, scale_name: str, value: str) -> bool:
        return self.record_scale(scale_name, int(value))

    def _vitals_key(self, _press: str) -> bool:
        self.vital_fields["systolic"].setFocus(Qt.FocusReason.ShortcutFocusReason)
        return True

    def _note_key(self, _press: str) -> bool:
        if self._keys is not None:
            self._keys.enter_field(self.text_line)
        return True

    def _build_tags(self) -> None:
        clear_layout(self._tags_grid)
        self.tag_buttons = {}
        for i, tag in enumerate(self._settings.quick_tags):
            button = tag_button(tag)
            button.clicked.connect(partial(self.record_tag, tag.key))
            self.tag_buttons[tag.key] = button
            self._tags_grid.addWidget(button, i // 3, i % 3)

    def _build_scales(self) -> None:
        clear_layout(self._scales_box)
        self.scale_buttons = {}
        for scale in self._settings.shown_scales:
            row = QHBoxLayout()
            caption = QLabel(scale.label)
            caption.setMinimumWidth(190)
            caption.setWordWrap(True)
            self._scales_box.addWidget(caption)
            buttons: dict[int, QPushButton] = {}
            for value, anchor in scale.values:
                button = QPushButton(scale_button_text(scale, value))
                button.setMinimumSize(52, 48)
                button.setToolTip(f"{scale.label} {value}: {anchor}")
                button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
                button.clicked.connect(partial(self.record_scale, scale.name, value))
                buttons[value] = button
                row.addWidget(button)
            row.addStretch(1)
            self.scale_buttons[scale.name] = buttons
            self._scales_box.addLayout(row)
