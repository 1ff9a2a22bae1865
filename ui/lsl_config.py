"""Which liblsl configuration the Lab Streaming Layer outlets use, and whether they can run here.

liblsl reads its configuration once, at its first use, from the file the environment variable
``LSLAPICFG`` names (then ``lsl_api.cfg`` in the working folder, ``~/lsl_api/lsl_api.cfg``,
``/etc/lsl_api/lsl_api.cfg``). Its defaults announce and look for streams on multicast groups of
every network interface (``ResolveScope = site``, IPv6 too), so :func:`configure_liblsl` sets
``LSLAPICFG`` before pylsl is first imported:

* to the shipped ``ui/assets/lsl_api.cfg`` for the default scope ``machine`` (discovery on this
  computer only);
* to a file written for a wider scope the clinic chose (``link``, ``site``;
  :func:`lsl_config_text`) in this workstation's configuration folder;
* not at all when ``LSLAPICFG`` is already set in the environment: that is the clinic's own file
  (say, ``KnownPeers`` across a network without multicast) and it is kept.

Nothing here imports pylsl: :func:`lsl_unavailable` looks for the package without loading it, so
the settings dialog can say it is missing and start-up stays as fast with lab streaming off.
docs/research.md says what each scope sends where, as measured.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Final

from kapmonitor.settings_items import LSL_SCOPES

__all__ = ["CONFIG_ENV_VAR", "SHIPPED_CONFIG", "LslUnavailable", "configure_liblsl", "lsl_config_text",
           "lsl_unavailable"]

log = logging.getLogger(__name__)

CONFIG_ENV_VAR: Final = "LSLAPICFG"
"""The environment variable liblsl reads its configuration file's path from."""
SHIPPED_CONFIG: Final = Path(str(resources.files("ui").joinpath("assets", "lsl_api.cfg")))
"""The configuration kapmonitor ships: discovery on this computer only (``lsl_config_text("machine")``)."""


_SCOPE_WORDS: Final = {
    "machine": "only programs on this computer discover the streams",
    "link": "computers on this network segment discover the streams (multicast, TTL 1)",
    "site": "computers on the clinic's routed network discover the streams (multicast, TTL 24)",
}


class LslUnavailable(RuntimeError):
    """Lab streaming was asked for but pylsl (or the liblsl it loads) cannot be used here."""


def lsl_unavailable() -> str | None:
    """Why the Lab Streaming Layer cannot be used here (pylsl not installed), or None.

    Looks for the package without importing it, so asking costs nothing at start-up and
    liblsl's configuration is not read yet.
    """
    if "pylsl" in sys.modules:
        found = sys.modules["pylsl"] is not None
    else:
        try:
            found = importlib.util.find_spec("pylsl") is not None
        except (ImportError, ValueError):
            found = False
    if found:
        return None
    return ("pylsl is not installed (install kapmonitor with the 'research' extra: "
            "pip install 'kapmonitor[research]')")


def lsl_config_text(scope: str) -> str:
    """The liblsl configuration (``lsl_api.cfg``) kapmonitor uses for a discovery ``scope``.

    Settings (liblsl's names; docs/research.md):

    * ``[ports] IPv6 = disable``: IPv4 only, so no IPv6 multicast group is joined;
    * ``[multicast] ResolveScope``: ``machine`` (TTL 0: queries go to ``MachineAddresses`` only),
      ``link`` (adds 255.255.255.255, 224.0.0.1, 224.0.0.183 with TTL 1) or ``site`` (adds
      239.255.172.215 with TTL 24);
    * ``MachineAddresses = {127.0.0.1}``: "this machine" is the loopback address;
    * with ``machine`` only, ``ListenAddress = 127.0.0.1``: the discovery responders listen on
      the loopback interface only;
    * ``[lab] KnownPeers = {127.0.0.1}``: queries also go by unicast to this computer's LSL
      ports, which finds every outlet on it (several outlets share the discovery port, and the
      system delivers a unicast query to one of them only);
    * ``[log] level = -1``: liblsl reports warnings and errors only.

    Raises:
        ValueError: ``scope`` is not one of :data:`~kapmonitor.settings_items.LSL_SCOPES`.
    """
    if scope not in LSL_SCOPES:
        raise ValueError(f"the LSL scope must be one of {', '.join(LSL_SCOPES)}, got {scope!r}")
    listen = "ListenAddress = 127.0.0.1\n" if scope == "machine" else ""
    return (
        "; kapmonitor's Lab Streaming Layer configuration (docs/research.md).\n"
        f"; Scope '{scope}': {_SCOPE_WORDS[scope]}.\n"
        "; To widen the scope choose it in Clinic settings > Research: kapmonitor then writes this\n"
        "; file for that scope into the workstation's configuration folder (applies from the next start).\n"
        "; A clinic that needs another set-up (e.g. KnownPeers across a network without multicast)\n"
        "; points the environment variable LSLAPICFG at its own file, which kapmonitor then keeps.\n"
        "\n[ports]\nIPv6 = disable\n"
        f"\n[multicast]\nResolveScope = {scope}\nMachineAddresses = {{127.0.0.1}}\n{listen}"
        "\n[lab]\nKnownPeers = {127.0.0.1}\n"
        "\n[log]\nlevel = -1\n"
    )


def configure_liblsl(scope: str, config_dir: Path) -> Path:
    """Point liblsl at the configuration for ``scope``; returns the file it will read.

    Call before pylsl is first imported (liblsl reads the file once, at its first use). The
    shipped file serves ``machine``; another scope's file is written to
    ``config_dir/lsl_api.cfg`` (this workstation's configuration folder). An ``LSLAPICFG``
    already in the environment is kept (logged), as is the file chosen earlier in this process
    once pylsl is loaded (a new scope then applies from the next start; logged).

    Raises:
        ValueError: ``scope`` is unknown.
        OSError: the file for a wider scope cannot be written.
    """
    text = lsl_config_text(scope)
    current = os.environ.get(CONFIG_ENV_VAR)
    if current and not _kapmonitor_file(Path(current), config_dir):
        log.info("the Lab Streaming Layer uses the configuration %s (%s is set)", current, CONFIG_ENV_VAR)
        return Path(current)
    if current and "pylsl" in sys.modules:
        if not _has_text(Path(current), text):
            log.warning("LSL scope %r applies from the next start: liblsl already uses %s", scope, current)
        return Path(current)
    if scope == "machine":
        path = SHIPPED_CONFIG
    else:
        path = config_dir / "lsl_api.cfg"
        if not _has_text(path, text):
            _write_atomically(path, text)
    os.environ[CONFIG_ENV_VAR] = str(path)
    log.info("the Lab Streaming Layer uses %s (scope %s)", path, scope)
    return path


def _kapmonitor_file(path: Path, config_dir: Path) -> bool:
    """True if ``path`` is one of the files kapmonitor itself points liblsl at."""
    return path in (SHIPPED_CONFIG, config_dir / "lsl_api.cfg")


def _has_text(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lsl_api.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
