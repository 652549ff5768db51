"""The systemd notification protocol (``sd_notify``), for units with ``Type=notify``.

A service tells systemd its state by sending one datagram of ``KEY=VALUE`` lines to the unix
socket named by ``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading ``@``):
``READY=1`` when it serves, ``RELOADING=1`` / ``READY=1`` around a reload, ``STOPPING=1`` when
it begins to shut down, ``WATCHDOG=1`` at least every ``$WATCHDOG_USEC`` microseconds when the
unit sets ``WatchdogSec=`` (else systemd kills and, with ``Restart=on-failure``, restarts it).
Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing. No dependency: it is one
``sendto``.

>>> Notifier(env={}).send("READY=1")
False
>>> Notifier(env={"WATCHDOG_USEC": "4000000"}).watchdog_interval_s()
2.0
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["Notifier"]

log = logging.getLogger("common.sdnotify")


class Notifier:
    """Sends state changes to systemd when run under a ``Type=notify`` unit."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET", "")
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *states: str) -> bool:
        """Send ``states`` (e.g. ``"READY=1"``) as one datagram; False when not under systemd
        or when the socket cannot be reached (logged once per call, never raised)."""
        if not self.address:
            return False
        target = self.address
        if target.startswith("@"):  # an abstract socket name
            target = "\0" + target[1:]
        data = "\n".join(states).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(target)
                sock.sendall(data)
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True

    def watchdog_interval_s(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half of ``$WATCHDOG_USEC`` (None: no watchdog,
        or the watchdog is meant for another process, ``$WATCHDOG_PID``)."""
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 2e6 if usec > 0 else None
