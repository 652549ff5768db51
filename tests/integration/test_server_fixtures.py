"""The server fixtures really start Mosquitto and InfluxDB, and they behave as later tests need."""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import InfluxDatabase
from tests.support.servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration


def _client(broker: Mosquitto, client_id: str, clean: bool = True) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
        protocol=mqtt.MQTTv311,
    )
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    return client


def _collecting_subscriber(broker: Mosquitto, topic: str, client_id: str,
                           clean: bool = True) -> tuple[mqtt.Client, list[bytes], threading.Event]:
    received: list[bytes] = []
    subscribed = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
        protocol=mqtt.MQTTv311,
    )
    client.on_message = lambda _c, _u, msg: received.append(msg.payload)
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe(topic, qos=1)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    assert subscribed.wait(5), "subscription was not acknowledged"
    return client, received, subscribed


def _wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        done.wait(0.05)
    return predicate()


def test_qos1_round_trip(mosquitto: Mosquitto) -> None:
    sub, received, _ = _collecting_subscriber(mosquitto, "sensors/#", "smoke-sub")
    pub = _client(mosquitto, "smoke-pub")
    payloads = [f"reading-{i}".encode() for i in range(50)]
    for p in payloads:
        info = pub.publish("sensors/site/dev/json", p, qos=1)
        info.wait_for_publish(5)
        assert info.is_published()
    assert _wait_until(lambda: len(received) == len(payloads))
    assert received == payloads
    pub.loop_stop()
    sub.loop_stop()
    pub.disconnect()
    sub.disconnect()


def test_broker_restart_keeps_queued_messages_for_persistent_session(mosquitto: Mosquitto) -> None:
    """Persistence is on: QoS 1 messages queued for an offline persistent session survive a
    broker restart on the same port and data directory."""
    sub, _received, _ = _collecting_subscriber(mosquitto, "q/#", "persist-sub", clean=False)
    sub.loop_stop()
    sub.disconnect()
    pub = _client(mosquitto, "persist-pub")
    for i in range(20):
        pub.publish("q/x", str(i).encode(), qos=1).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()

    mosquitto.restart()

    sub2, received2, _ = _collecting_subscriber(mosquitto, "q/#", "persist-sub", clean=False)
    assert _wait_until(lambda: len(received2) >= 20)
    assert sorted(int(p) for p in set(received2)) == list(range(20))
    sub2.loop_stop()
    sub2.disconnect()


def test_influxdb_write_then_query(influxdb: InfluxDatabase) -> None:
    lines = "\n".join(
        f"readings,device=d1,sensor=temperature value={20 + i / 10} {1_700_000_000_000 + i * 1000}"
        for i in range(10)
    )
    assert influxdb.server.write_lines(influxdb.database, lines, precision="ms") == 204
    body = influxdb.server.query(
        'SELECT count("value"), mean("value") FROM "readings"', db=influxdb.database
    )
    series = json.loads(body)["results"][0]["series"][0]
    _, count, mean = series["values"][0]
    assert count == 10
    assert mean == pytest.approx(20.45)


def test_influxdb_private_server_restarts_with_its_data(influxdb_server: InfluxDB) -> None:
    db = f"restart_{uuid.uuid4().hex[:8]}"
    influxdb_server.create_database(db)
    influxdb_server.write_lines(db, "m,device=a value=1 1700000000000", precision="ms")
    influxdb_server.restart()
    body = json.loads(influxdb_server.query('SELECT count("value") FROM "m"', db=db))
    assert body["results"][0]["series"][0]["values"][0][1] == 1
