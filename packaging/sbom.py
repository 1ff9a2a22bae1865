"""The frozen bundle's software bill of materials: CycloneDX 1.6 JSON (packaging/build.sh runs it).

    python packaging/sbom.py BUNDLE_DIR OUT.cdx.json

Components:

* every Python distribution of ``requirements/run.lock`` that applies to this platform, with the
  version installed in the build environment -- which must be the locked one, else the build
  stops (a bundle is made from the locked versions or not at all); licence from the
  distribution's metadata (``License-Expression``, else its licence classifiers, else ``License``);
* every shared library PyInstaller copied from the system into the bundle (``_internal/*.so*``
  not belonging to a Python distribution), as the Debian package that provides it
  (``dpkg-query``), with the bundled file names as properties.

The serial number is derived from the bundle's name and the lock's content, so two builds of one
commit on one machine describe themselves with the same number. Standard library only, so it runs
in any build environment.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
RUN_LOCK = ROOT / "requirements" / "run.lock"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)\s*"
                  r"(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None


def locked_pins(lock: Path) -> Iterator[Pin]:
    """``name==version ; marker`` lines of a lock written by scripts/lock.sh."""
    for line in lock.read_text(encoding="utf-8").splitlines():
        found = _PIN.match(line.strip())
        if found:
            yield Pin(found["name"], found["version"], found["marker"])


def applies(marker: str | None) -> bool:
    """Whether an environment marker holds here (``packaging``, which pip itself vendors)."""
    if marker is None:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:
        from pip._vendor.packaging.markers import Marker  # pip's copy: in every virtual environment
    return bool(Marker(marker).evaluate())


def _purl(kind: str, name: str, version: str, qualifiers: str = "") -> str:
    return f"pkg:{kind}/{quote(name, safe='/')}@{quote(version, safe='.-_~')}{qualifiers}"


def _licences(dist: metadata.Distribution) -> list[dict[str, object]]:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return [{"expression": expression.strip()}]
    classified = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classified:
        return [{"license": {"name": name}} for name in classified]
    text = (meta.get("License") or "").strip()
    if text and len(text) <= 80 and "\n" not in text:
        return [{"license": {"name": text}}]
    return []


def python_components() -> tuple[list[dict[str, object]], list[str]]:
    """The locked runtime distributions installed here, and the problems (version not the locked one)."""
    components: list[dict[str, object]] = []
    problems: list[str] = []
    for pin in locked_pins(RUN_LOCK):
        if not applies(pin.marker):
            continue
        try:
            dist = metadata.distribution(pin.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{pin.name} {pin.version} is locked but not installed")
            continue
        if dist.version != pin.version:
            problems.append(f"{pin.name} is {dist.version} here but {pin.version} in {RUN_LOCK.name}")
            continue
        purl = _purl("pypi", pin.name.lower(), pin.version)
        component: dict[str, object] = {"type": "library", "bom-ref": purl, "name": pin.name,
                                        "version": pin.version, "purl": purl}
        licences = _licences(dist)
        if licences:
            component["licenses"] = licences
        components.append(component)
    return components, problems


def system_components(bundle: Path) -> list[dict[str, object]]:
    """The Debian packages whose shared libraries PyInstaller copied into ``bundle/_internal``."""
    internal = bundle / "_internal"
    files = sorted(p.name for p in internal.glob("*.so*") if p.is_file() and not p.is_symlink())
    by_package: dict[tuple[str, str, str], list[str]] = {}
    for name in files:
        found = subprocess.run(["dpkg-query", "-S", f"*/{name}"], capture_output=True, text=True, check=False)
        if found.returncode != 0:
            continue
        package = found.stdout.split(":", 1)[0].strip().split(",")[0]
        info = subprocess.run(["dpkg-query", "-W", "-f=${Version} ${Architecture}", package],
                              capture_output=True, text=True, check=False)
        if info.returncode != 0 or not info.stdout.strip():
            continue
        version, arch = info.stdout.split()
        by_package.setdefault((package, version, arch), []).append(name)
    components: list[dict[str, object]] = []
    for (package, version, arch), names in sorted(by_package.items()):
        purl = _purl("deb", f"debian/{package}", version, f"?arch={arch}")
        components.append({"type": "library", "bom-ref": purl, "name": package, "version": version,
                           "purl": purl,
                           "properties": [{"name": "kapmonitor:bundled-file", "value": f"_internal/{n}"}
                                          for n in names]})
    return components


def make_bom(bundle: Path, version: str) -> tuple[dict[str, object], list[str]]:
    python, problems = python_components()
    try:
        system = system_components(bundle)
    except FileNotFoundError:  # no dpkg-query: not a Debian build machine
        system = []
    lock_digest = hashlib.sha256(RUN_LOCK.read_bytes()).hexdigest()
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"kapmonitor/{version}/{bundle.name}/{lock_digest}")
    components = python + system
    bom: dict[str, object] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "kapmonitor packaging/sbom.py",
                                      "version": version}]},
            "component": {"type": "application", "bom-ref": "kapmonitor", "name": "kapmonitor",
                          "version": version, "licenses": [{"expression": "GPL-3.0-or-later"}],
                          "properties": [{"name": "kapmonitor:lock-sha256", "value": lock_digest}]},
        },
        "components": components,
        "dependencies": [{"ref": "kapmonitor", "dependsOn": [str(c["bom-ref"]) for c in components]}],
    }
    return bom, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python packaging/sbom.py BUNDLE_DIR OUT.cdx.json", file=sys.stderr)
        return 2
    bundle, out = Path(argv[0]), Path(argv[1])
    sys.path.insert(0, str(ROOT))
    from kapmonitor import __version__

    bom, problems = make_bom(bundle, __version__)
    if problems:
        for problem in problems:
            print(f"kapmonitor: sbom: {problem}", file=sys.stderr)
        print("kapmonitor: sbom: the build environment is not the locked one: install it with "
              "pip install --require-hashes -r requirements/dev.lock", file=sys.stderr)
        return 1
    out.write_text(json.dumps(bom, indent=2) + "\n", encoding="utf-8")
    components = bom["components"]
    assert isinstance(components, list)
    python = sum(1 for c in components if str(c["purl"]).startswith("pkg:pypi/"))
    print(f"kapmonitor: SBOM: {out} (CycloneDX 1.6: {python} Python distributions, "
          f"{len(components) - python} Debian packages)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
