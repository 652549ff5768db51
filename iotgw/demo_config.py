"""The settings files the demo writes for the cloud and the gateway it starts.

Values are written as TOML with JSON-style quoting (valid TOML basic strings), so paths and
URLs with any characters survive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


def _q(value: str | Path) -> str:
    return json.dumps(str(value))


@dataclass(frozen=True)
class InfluxTarget:
    """Where the demo's cloud writes when ``--influx-url`` is given."""

    url: str
    database: str = "iotgw"
    token: str = ""
    username: str = ""
    password: str = ""


def cloud_toml(data_dir: Path, port: int, influx: InfluxTarget | None) -> str:
    lines = [
        f"data_dir = {_q(data_dir)}",
        "",
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        'log_level = "warning"',
        "",
        "[store]",
    ]
    store = ['kind = "sqlite"']
    if influx is not None:
        store = [
            'kind = "influxdb"',
            f"url = {_q(influx.url)}",
            f"database = {_q(influx.database)}",
            'precision = "ms"',
        ]
        if influx.token:
            store.append(f"token = {_q(influx.token)}")
        if influx.username:
            store += [f"username = {_q(influx.username)}", f"password = {_q(influx.password)}"]
    # Scheduled rules (the forecast) are evaluated every few seconds so the demo shows them.
    return "\n".join([*lines, *store, "", "[alerting]", "evaluate_every_s = 5", ""])


def gateway_toml(data_dir: Path, broker_url: str, cloud_url: str, token: str,
                 health_port: int) -> str:
    return "\n".join(
        [
            "[gateway]",
            'id = "demo-gateway"',
            f"data_dir = {_q(data_dir)}",
            "",
            "[mqtt]",
            f"url = {_q(broker_url)}",
            "",
            "[uplink]",
            f"url = {_q(cloud_url)}",
            f"token = {_q(token)}",
            "",
            "[health]",
            'host = "127.0.0.1"',
            f"port = {health_port}",
            "",
            "[log]",
            'level = "WARNING"',
            "",
        ]
    )
