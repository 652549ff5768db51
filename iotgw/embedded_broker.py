"""An in-process MQTT broker (amqtt) for the quick start, so the demo needs no services.

It runs its own asyncio loop on a background thread and listens on loopback only. It is a
convenience for trying iotgw on a bare machine; production uses Mosquitto (compose.yaml).

It speaks MQTT on the port it picked, and frees the port when stopped:

>>> import socket
>>> from iotgw.processes import port_open
>>> broker = EmbeddedBroker()
>>> broker.start()
>>> with socket.create_connection((LOOPBACK, broker.port), timeout=5) as conn:
...     _ = conn.sendall(bytes([0x10, 14, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 2]) + b"dt")
...     conn.recv(4)  # CONNACK, session present 0, return code 0 (accepted)
b' \\x02\\x00\\x00'
>>> broker.stop()
>>> port_open(broker.port)
False
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from iotgw.processes import LOOPBACK, free_port


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not start."""


class EmbeddedBroker:
    """amqtt on ``127.0.0.1:port`` (a free port when ``port`` is 0), with explicit start/stop."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        from amqtt.broker import Broker

        if self.port == 0:
            self.port = free_port()
        # amqtt logs every connection at INFO; the demo's own summary is what users read.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._broker = Broker(config, loop=loop)
                loop.run_until_complete(self._broker.start())
            except BaseException as exc:  # reported to start()'s caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            reason = failure[0] if failure else "timed out"
            raise EmbeddedBrokerError(f"embedded MQTT broker on port {self.port}: {reason}")

    def stop(self, timeout: float = 10.0) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout)
            loop.close()
            self._loop = self._broker = self._thread = None
