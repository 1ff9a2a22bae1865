"""The Lab Streaming Layer setting: off and this computer only by default, checked field by field,
kept through the JSON round trip; and the liblsl configuration each scope gets."""

from __future__ import annotations

import configparser
import dataclasses
import json
import os
from pathlib import Path

import pytest
from lsl14_inlet import write_loopback_config

from kapmonitor.settings import ClinicSettings
from kapmonitor.settings_items import LSL_SCOPES, LabStreamingSettings, SettingsError
from ui.lsl_config import CONFIG_ENV_VAR, SHIPPED_CONFIG, configure_liblsl, lsl_config_text


def test_lab_streaming_is_off_and_machine_only_by_default() -> None:
    s = ClinicSettings.defaults()
    assert s.lab_streaming == LabStreamingSettings(enabled=False, scope="machine")
    assert s.to_dict()["lab_streaming"] == {"enabled": False, "scope": "machine"}
    # settings saved before lab streaming existed read as off
    old = {k: v for k, v in s.to_dict().items() if k != "lab_streaming"}
    assert ClinicSettings.from_dict(old).lab_streaming == LabStreamingSettings()


@pytest.mark.parametrize("scope", LSL_SCOPES)
@pytest.mark.parametrize("enabled", [False, True])
def test_every_valid_choice_round_trips_through_json(enabled: bool, scope: str) -> None:
    s = ClinicSettings.defaults().with_changes(lab_streaming=LabStreamingSettings(enabled, scope))
    again = ClinicSettings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s
    assert again.lab_streaming.enabled is enabled
    assert again.lab_streaming.scope == scope


@pytest.mark.parametrize(
    ("lab", "field", "fragment"),
    [
        (LabStreamingSettings(scope="global"), "lab_streaming.scope", "machine, link, site, got 'global'"),
        (LabStreamingSettings(scope=""), "lab_streaming.scope", "must be one of"),
        (LabStreamingSettings(scope="Machine"), "lab_streaming.scope", "got 'Machine'"),
        (LabStreamingSettings(enabled=1), "lab_streaming.enabled", "true or false, got 1"),  # type: ignore[arg-type]
    ],
)
def test_validation_names_the_field(lab: LabStreamingSettings, field: str, fragment: str) -> None:
    bad = dataclasses.replace(ClinicSettings.defaults(), lab_streaming=lab)
    with pytest.raises(SettingsError) as info:
        bad.validate()
    assert info.value.field == field
    assert fragment in info.value.message
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"lab_streaming": "on"}, "lab_streaming"),
        ({"lab_streaming": {"enabled": "yes"}}, "lab_streaming.enabled"),
        ({"lab_streaming": {"enabled": 1}}, "lab_streaming.enabled"),
        ({"lab_streaming": {"scope": 3}}, "lab_streaming.scope"),
        ({"lab_streaming": {"enabled": True, "scope": "organization"}}, "lab_streaming.scope"),
    ],
)
def test_from_dict_rejects_bad_input_with_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError) as info:
        ClinicSettings.from_dict(data)
    assert info.value.field == field


def _read_cfg(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(comment_prefixes=(";",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # liblsl's keys are case-sensitive
    parser.read_string(text)
    return parser


def test_the_shipped_configuration_keeps_discovery_on_this_computer() -> None:
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    assert text == lsl_config_text("machine"), "ui/assets/lsl_api.cfg is lsl_config_text('machine')"
    cfg = _read_cfg(text)
    assert cfg["multicast"]["ResolveScope"] == "machine"
    assert cfg["multicast"]["MachineAddresses"] == "{127.0.0.1}"
    assert cfg["multicast"]["ListenAddress"] == "127.0.0.1"
    assert cfg["lab"]["KnownPeers"] == "{127.0.0.1}"
    assert cfg["ports"]["IPv6"] == "disable"
    # liblsl's reader takes ';' comments at the start of a line only, and no key twice
    for line in text.splitlines():
        assert not line or line.startswith((";", "[")) or line.count("=") == 1


@pytest.mark.parametrize("scope", ["link", "site"])
def test_a_wider_scope_is_written_for_this_workstation(scope: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    path = configure_liblsl(scope, tmp_path / "config")
    assert path == tmp_path / "config" / "lsl_api.cfg"
    assert str(path) == os.environ[CONFIG_ENV_VAR]
    cfg = _read_cfg(path.read_text(encoding="utf-8"))
    assert cfg["multicast"]["ResolveScope"] == scope
    assert cfg["ports"]["IPv6"] == "disable"
    assert "ListenAddress" not in cfg["multicast"], "responders must hear the network's multicast"
    # back to this computer only: the shipped file, not the one written for the wider scope
    monkeypatch.delenv(CONFIG_ENV_VAR)
    assert configure_liblsl("machine", tmp_path / "config") == SHIPPED_CONFIG


def test_the_clinics_own_configuration_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = write_loopback_config(tmp_path)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(own))
    assert configure_liblsl("site", tmp_path / "config") == own
    assert not (tmp_path / "config" / "lsl_api.cfg").exists()


def test_an_unknown_scope_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="machine, link, site"):
        configure_liblsl("global", tmp_path)
