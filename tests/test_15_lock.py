"""The dependency locks: what is installed is what is locked, and the locks fit pyproject.toml.

``./test.sh`` installs ``requirements/dev.lock`` with ``--require-hashes`` (scripts/common.sh), so in
the environment the tests run in every locked package has exactly its locked version. The app's
lock (``requirements/run.lock``, ``./run.sh`` and the bundle's SBOM) pins every package it shares with
the dev lock to the same version, so the app that is tested is the app that is installed; and every
requirement in pyproject.toml is met by the locks, so a dependency changed without
``scripts/lock.sh`` fails here rather than on a clinic's machine.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUN_LOCK = ROOT / "requirements" / "run.lock"
_ENTRY = re.compile(r"^(?P<req>[A-Za-z0-9][^\s\\]*(?:\s*;\s*[^\\]+?)?)\s*\\\n"
                    r"(?P<hashes>(?:\s+--hash=\S+\s*\\?\n?)+)", re.M)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self, extra: str = "") -> bool:
        return self.marker is None or self.marker.evaluate({"extra": extra})


def _pins(lock: Path) -> list[Pin]:
    text = lock.read_text(encoding="utf-8")
    pins = []
    for found in _ENTRY.finditer(text):
        req = Requirement(found["req"])
        (spec,) = req.specifier
        assert spec.operator == "==", f"{lock.name}: {req} is not pinned with =="
        hashes = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", found["hashes"]))
        pins.append(Pin(canonicalize_name(req.name), spec.version, req.marker, hashes))
    return pins


def _applicable(lock: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for pin in _pins(lock):
        if pin.applies():
            assert pin.name not in found, f"{lock.name} pins {pin.name} twice for this platform"
            found[pin.name] = pin.version
    return found


def test_every_lock_line_is_pinned_and_hashed() -> None:
    for lock in (RUN_LOCK, DEV_LOCK):
        pins = _pins(lock)
        text = lock.read_text(encoding="utf-8")
        lines = re.findall(r"^[A-Za-z0-9][^\s]*==", text, re.M)
        assert len(pins) == len(lines), f"{lock.name}: unparsed lines"
        assert all(p.hashes for p in pins), f"{lock.name}: every pin has SHA-256 hashes"
        assert any(p.name == "pyside6-essentials" for p in pins)


def test_the_installed_packages_are_exactly_the_locked_versions() -> None:
    wrong = []
    for name, version in _applicable(DEV_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}: locked {version}, not installed")
            continue
        if Version(installed) != Version(version):
            wrong.append(f"{name}: locked {version}, installed {installed}")
    assert not wrong, ("this environment is not the locked one (install it with "
                       "pip install --require-hashes -r requirements/dev.lock):\n" + "\n".join(wrong))


_PLATFORMS = [{"sys_platform": plat, "platform_system": system, "os_name": os_name, "python_version": py,
               "python_full_version": f"{py}.0", "implementation_name": "cpython",
               "platform_python_implementation": "CPython", "extra": ""}
              for plat, system, os_name in (("linux", "Linux", "posix"), ("darwin", "Darwin", "posix"),
                                            ("win32", "Windows", "nt"))
              for py in ("3.11", "3.12", "3.13")]


@pytest.mark.parametrize("env", _PLATFORMS, ids=lambda e: f"{e['sys_platform']}-{e['python_version']}")
def test_the_app_lock_pins_what_it_shares_with_the_dev_lock_to_the_same_versions(env: dict[str, str]) -> None:
    def chosen(lock: Path) -> dict[str, str]:
        return {p.name: p.version for p in _pins(lock) if p.marker is None or p.marker.evaluate(env)}

    run, dev = chosen(RUN_LOCK), chosen(DEV_LOCK)
    differ = {name: (version, dev.get(name)) for name, version in run.items() if dev.get(name) != version}
    assert not differ, f"run.lock and dev.lock disagree (rerun scripts/lock.sh): {differ}"


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project: dict[str, object] = tomllib.load(f)["project"]
    return project


@pytest.mark.parametrize("extra", ["", "postgres", "research", "dev", "packaging"])
def test_every_requirement_of_pyproject_is_met_by_the_lock(extra: str) -> None:
    project = _project()
    optional = project["optional-dependencies"]
    assert isinstance(optional, dict)
    wanted = project["dependencies"] if not extra else optional[extra]
    assert isinstance(wanted, list)
    lock = RUN_LOCK if extra in ("", "postgres") else DEV_LOCK
    pins = _pins(lock)
    for line in wanted:
        req = Requirement(line)
        if canonicalize_name(req.name) == "kapmonitor":
            continue  # another extra of this project, checked on its own
        for python in ("3.11", "3.12", "3.13"):
            env = {"python_version": python, "python_full_version": f"{python}.0", "extra": extra}
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            matching = [p for p in pins if p.name == canonicalize_name(req.name)
                        and (p.marker is None or p.marker.evaluate(env))]
            assert matching, f"{req} (Python {python}) is not in {lock.name}: run scripts/lock.sh"
            for pin in matching:
                assert req.specifier.contains(pin.version, prereleases=True), (
                    f"{lock.name} pins {pin.name}=={pin.version}, which {req} does not allow "
                    f"(Python {python}): run scripts/lock.sh")
