"""Where the simulator publishes: ``--broker mqtt://HOST:PORT`` or ``mqtts://`` plus credentials.

>>> s = parse_broker_url("mqtts://broker.example:8884", ca_file="ca.pem")
>>> (s.host, s.port, s.tls, s.ca_file)
('broker.example', 8884, True, 'ca.pem')
>>> parse_broker_url("mqtt://127.0.0.1").port
1883
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from simulators.errors import ConfigError

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """How to reach and log in to an MQTT broker."""

    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive: int = 30

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
) -> BrokerSettings:
    """Settings from a ``mqtt://`` or ``mqtts://`` URL; raises :class:`ConfigError`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"--broker: {url!r} is not mqtt://HOST:PORT or mqtts://HOST:PORT")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ConfigError(f"--broker: bad port in {url!r}") from exc
    if ca_file is not None and parts.scheme != "mqtts":
        raise ConfigError("--ca-file needs an mqtts:// broker URL")
    return BrokerSettings(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "mqtts",
        ca_file=ca_file,
        username=username if username is not None else parts.username,
        password=password if password is not None else parts.password,
    )
