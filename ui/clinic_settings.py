"""Reading the clinic's settings from the database (no Qt: the headless commands use it too)."""

from __future__ import annotations

import logging

from kapmonitor.ports import DamagedSetting, SettingsRepository
from kapmonitor.settings import SETTINGS_KEY, ClinicSettings
from kapmonitor.settings_items import SettingsError

__all__ = ["load_clinic_settings"]

log = logging.getLogger(__name__)


def load_clinic_settings(store: SettingsRepository) -> ClinicSettings:
    """The clinic's saved settings, or the defaults (a damaged entry is logged, not fatal)."""
    try:
        raw = store.get_setting(SETTINGS_KEY)
    except DamagedSetting as exc:
        log.warning("%s Using the defaults.", exc)
        return ClinicSettings.defaults()
    if raw is None:
        return ClinicSettings.defaults()
    try:
        return ClinicSettings.from_dict(raw)
    except (SettingsError, TypeError, ValueError) as exc:
        log.warning("saved clinic settings are invalid (%s); using the defaults", exc)
        return ClinicSettings.defaults()
