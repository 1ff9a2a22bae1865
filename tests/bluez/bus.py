"""A private ``dbus-daemon`` that looks like the system bus.

bleak's BlueZ backend connects to the *system* bus, whose address dbus-fast takes from
``DBUS_SYSTEM_BUS_ADDRESS``. :class:`PrivateBus` starts a throw-away daemon with
``<type>system</type>``, a unix socket in a temporary directory and a policy that allows
everything, so a fake ``org.bluez`` can own its name and bleak can talk to it. It works as root
(CI) and as an ordinary user: the config names no ``<user>`` to switch to and no system paths.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["DBUS_DAEMON", "PrivateBus", "dbus_daemon_path"]

DBUS_DAEMON = "/usr/bin/dbus-daemon"

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
  </policy>
  <limit name="reply_timeout">60000</limit>
</busconfig>
"""


def dbus_daemon_path() -> str | None:
    """The ``dbus-daemon`` executable, or None when it is not installed."""
    if os.access(DBUS_DAEMON, os.X_OK):
        return DBUS_DAEMON
    return shutil.which("dbus-daemon")


class PrivateBus:
    """A running private ``dbus-daemon``; use as a context manager or call start/stop.

    Attributes:
        address: the D-Bus address (``unix:path=...``) once started.
    """

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.address = ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout_s: float = 5.0) -> str:
        """Start the daemon and wait until its socket accepts connections; return the address.

        Raises:
            FileNotFoundError: if dbus-daemon is not installed.
            RuntimeError: if the daemon exits or its socket is not ready within ``timeout_s``.
        """
        exe = dbus_daemon_path()
        if exe is None:
            raise FileNotFoundError("dbus-daemon is not installed (Debian package: dbus-daemon)")
        self._dir = tempfile.TemporaryDirectory(prefix="kap-dbus-")
        sock = Path(self._dir.name) / "system_bus_socket"
        config = Path(self._dir.name) / "system.conf"
        config.write_text(_CONFIG.format(socket=sock), encoding="utf-8")
        self._proc = subprocess.Popen(
            [exe, f"--config-file={config}", "--nofork", "--nopidfile", "--nosyslog"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self.stop()
                raise RuntimeError(f"dbus-daemon exited at start-up: {err.strip()}")
            if sock.exists() and _accepts(sock):
                self.address = f"unix:path={sock}"
                return self.address
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"dbus-daemon socket {sock} not ready within {timeout_s} s")

    def stop(self) -> None:
        """Terminate the daemon (SIGTERM, then SIGKILL) and remove the temporary directory."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=3)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self.address = ""

    def __enter__(self) -> PrivateBus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True
