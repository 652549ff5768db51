"""The broker list: which node of a clustered broker the intake connects to next.

A clustered MQTT broker (NATS with JetStream, EMQX, HiveMQ, VerneMQ) keeps a persistent session
and its unacknowledged QoS 1 messages on every node, so when the node the gateway is connected
to dies, the gateway connects to the next one with the same client id and ``clean_session``
off and the cluster hands it the same session. This list only decides the order: it starts at
the first URL and moves to the next on every failed connect or lost connection, wrapping around.

>>> b = BrokerList(["mqtt://a:1883", "mqtt://b:1884"], tls=False)
>>> b.current.host, b.current.port
('a', 1883)
>>> b.advance().url, b.advance().url
('mqtt://b:1884', 'mqtt://a:1883')
>>> BrokerList(["mqtts://c"], tls=False).current.port
8883
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

TLS_SCHEMES = frozenset({"mqtts", "ssl"})


@dataclass(frozen=True)
class Broker:
    """One node: its URL as configured, and where to connect."""

    url: str
    host: str
    port: int


def parse_broker(url: str, tls: bool) -> Broker:
    """``mqtt://host:port`` as a :class:`Broker`; the port defaults to 1883 (8883 with TLS)."""
    parts = urlsplit(url)
    secure = tls or parts.scheme in TLS_SCHEMES
    return Broker(url, parts.hostname or "127.0.0.1", parts.port or (8883 if secure else 1883))


class BrokerList:
    """The configured nodes in order, and the one to use now."""

    def __init__(self, urls: Sequence[str], tls: bool) -> None:
        if not urls:
            raise ValueError("a broker list needs at least one URL")
        self._brokers = [parse_broker(u, tls) for u in urls]
        self._index = 0

    @property
    def current(self) -> Broker:
        return self._brokers[self._index]

    def advance(self) -> Broker:
        """Move to the next node (the first after the last) and return it."""
        self._index = (self._index + 1) % len(self._brokers)
        return self.current

    def __len__(self) -> int:
        return len(self._brokers)
