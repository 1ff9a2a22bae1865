"""The settings dialog's Research tab: lab streaming on/off and its scope round-trip, and the tab
says when pylsl is not installed."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from pytestqt.qtbot import QtBot

from kapmonitor.settings import ClinicSettings
from kapmonitor.settings_items import LabStreamingSettings
from ui.settings_dialog import LSL_SCOPE_LABELS, SettingsDialog


def _research_tab(dialog: SettingsDialog) -> int:
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert "Research" in titles
    return titles.index("Research")


def test_research_controls_round_trip(qtbot: QtBot) -> None:
    saved: list[ClinicSettings] = []
    start = ClinicSettings.defaults()
    dialog = SettingsDialog(start, saved.append)
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(_research_tab(dialog))
    assert not dialog.lsl_enabled.isChecked()
    assert dialog.lsl_scope.currentText() == LSL_SCOPE_LABELS["machine"]
    scopes = [dialog.lsl_scope.itemData(i) for i in range(dialog.lsl_scope.count())]
    assert scopes == ["machine", "link", "site"]
    assert not dialog.lsl_missing.isVisibleTo(dialog), "pylsl is installed here"

    dialog.lsl_enabled.setChecked(True)
    dialog.lsl_scope.setCurrentIndex(dialog.lsl_scope.findData("link"))
    dialog.try_save()
    (first,) = saved
    assert first.lab_streaming == LabStreamingSettings(enabled=True, scope="link")
    assert ClinicSettings.from_dict(first.to_dict()) == first

    # the saved settings open as saved, and switching off keeps the scope
    again = SettingsDialog(first, saved.append)
    qtbot.addWidget(again)
    assert again.lsl_enabled.isChecked()
    assert again.lsl_scope.currentData() == "link"
    again.lsl_enabled.setChecked(False)
    again.try_save()
    assert saved[1].lab_streaming == LabStreamingSettings(enabled=False, scope="link")
    assert saved[1].protocols == start.protocols, "the other tabs are untouched"


def test_the_tab_says_when_pylsl_is_not_installed(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pylsl", None)  # how Python marks a module that cannot be imported
    dialog = SettingsDialog(ClinicSettings.defaults(), lambda s: None)
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(_research_tab(dialog))
    assert dialog.lsl_missing.isVisibleTo(dialog)
    assert "pylsl is not installed" in dialog.lsl_missing.text()
    assert "kapmonitor[research]" in dialog.lsl_missing.text()
