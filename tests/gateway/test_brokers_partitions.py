"""Broker lists (failover between the nodes of a clustered broker) and ``[[partition]]``
settings: one config, N gateway processes, each with its own subscriptions, identity and data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.settings import ConfigError
from gateway.brokers import BrokerList
from gateway.settings import GatewaySettings
from iotgw.cli import main as iotgw

PARTITIONED = """
[gateway]
id = "edge"
data_dir = "{data}"

[mqtt]
urls = ["mqtt://n1:1883", "mqtt://n2:1883", "mqtt://n3:1883"]

[health]
port = 9200

[[partition]]
name = "north"
subscriptions = [{{topic = "sensors/north/{{device}}/{{format}}"}}]

[[partition]]
name = "south"
id = "edge-s"
data_dir = "{data}/elsewhere"
health_port = 9300
token = "south-secret"
subscriptions = [{{topic = "sensors/south/{{device}}/{{format}}"}}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text.format(data=tmp_path / "data"))
    return path


def test_a_broker_list_goes_round_the_nodes_in_order() -> None:
    nodes = BrokerList(["mqtt://a:1", "mqtt://b:2", "mqtt://c:3"], tls=False)
    seen = [nodes.current.url] + [nodes.advance().url for _ in range(3)]
    assert seen == ["mqtt://a:1", "mqtt://b:2", "mqtt://c:3", "mqtt://a:1"]
    assert BrokerList(["mqtt://a"], tls=True).current.port == 8883
    with pytest.raises(ValueError, match="at least one"):
        BrokerList([], tls=False)


def test_urls_override_url_and_a_single_url_still_works() -> None:
    one = GatewaySettings.load(None, env={"IOTGW_GATEWAY_MQTT__URL": "mqtt://solo:1884"})
    assert one.mqtt.broker_urls == ["mqtt://solo:1884"]
    many = GatewaySettings.load(
        None, env={"IOTGW_GATEWAY_MQTT__URLS": '["mqtt://a:1", "mqtts://b:2"]'})
    assert many.mqtt.broker_urls == ["mqtt://a:1", "mqtts://b:2"]
    assert many.mqtt.use_tls  # one TLS node means TLS settings apply


def test_a_bad_url_in_the_list_is_one_line_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nurls = ["mqtt://ok:1", "http://bad"]\n')
    with pytest.raises(ConfigError, match=r": mqtt\.urls: 'http://bad' must"):
        GatewaySettings.load(path, env={})


def test_each_partition_gets_its_subscriptions_identity_data_and_port(tmp_path: Path) -> None:
    s = GatewaySettings.load(write(tmp_path, PARTITIONED), env={})
    north, south = s.for_partition("north"), s.for_partition("south")
    assert [x.topic for x in north.mqtt.subscriptions] == ["sensors/north/{device}/{format}"]
    assert (north.gateway.id, north.client_id, north.health.port) == (
        "edge-north", "iotgw-edge-north", 9201)
    assert north.gateway.data_dir == tmp_path / "data" / "north"
    assert (south.gateway.id, south.health.port) == ("edge-s", 9300)
    assert south.gateway.data_dir == tmp_path / "data" / "elsewhere"
    assert south.uplink.token.get_secret_value() == "south-secret"
    assert north.uplink.token == s.uplink.token
    assert north.mqtt.broker_urls == south.mqtt.broker_urls == s.mqtt.broker_urls
    assert north.partition == [] and len(s.partition) == 2
    with pytest.raises(ValueError, match="no partition 'west'"):
        s.for_partition("west")


def test_partition_names_are_unique(tmp_path: Path) -> None:
    text = PARTITIONED.replace('name = "south"', 'name = "north"')
    with pytest.raises(ConfigError, match="unique"):
        GatewaySettings.load(write(tmp_path, text), env={})


def test_check_config_shows_one_partition(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, PARTITIONED)
    assert iotgw(["gateway", "check-config", "--json", "--config", str(path), "--partition",
                  "south"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["gateway"]["id"] == "edge-s" and shown["partition"] == []
    assert shown["uplink"]["token"] == "***" and "south-secret" not in json.dumps(shown)
    assert iotgw(["gateway", "check-config", "--json", "--config", str(path)]) == 0
    whole = capsys.readouterr().out
    assert "south-secret" not in whole and json.loads(whole)["partition"][1]["token"] == "***"
    assert iotgw(["gateway", "check-config", "--config", str(path), "--partition",
                  "west"]) != 0
    assert "partition: no partition 'west'" in capsys.readouterr().err
