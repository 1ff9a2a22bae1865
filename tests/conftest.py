"""Shared test set-up.

Every test (and every ``kapmonitor`` process a test starts, which inherits the environment) keeps its
user data -- the recording journal above all -- in a folder of its own, never in the home directory of
whoever runs the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_STATE_HOME", str(data / "state"))
    return data
