"""Upgrades never lose buffered data: a data dir written by the previous release (before the
intake log) is opened by today's gateway, which forwards everything it holds, once."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from firmware_protocol.codecs import get_codec
from firmware_protocol.model import Message, Reading
from gateway.service import GatewayService
from tests.gateway.helpers import gateway_config, settings_from, wait_until
from tests.support.cloud_sink import CloudSink
from tests.support.publisher import Publisher
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parent / "fixtures" / "release-buffer"


def test_a_buffer_from_the_previous_release_is_forwarded_whole(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink) -> None:
    expected = json.loads((FIXTURE / "expected.json").read_text())
    cfg = gateway_config(tmp_path, mosquitto, sink.url, sink.token)
    data = Path(cfg["gateway"]["data_dir"])
    shutil.copytree(FIXTURE, data, ignore=shutil.ignore_patterns("expected.json"))
    service = GatewayService(settings_from(cfg, tmp_path))
    service.start()
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        want = {(d, seq, sensor) for d, seq, sensor in expected["readings"]}
        assert sink.wait_for(lambda: sink.keys() >= want, 30), len(want - sink.keys())
        assert sink.keys() == want and not sink.duplicates()
        assert [(a["device"], a["sensor"], a["ts"]) for a in sink.anomalies] == [
            tuple(a) for a in expected["anomalies"]]
        assert wait_until(lambda: service.buffer.stats().rows == 0, 10)
        # The de-duplication window came along: a redelivery of a buffered message is known.
        msg = Message("fx-1", 5, 1_700_000_005_000,
                      (Reading("temperature", 20.0), Reading("humidity", 40.5)))
        assert wait_until(lambda: service.intake.connected, 15)
        pub.publish_raw("sensors/site-1/fx-1/json", get_codec("json").encode(msg))
        assert wait_until(lambda: service.metrics.value("iotgw_gateway_messages_total",
                                                        outcome="duplicate") == 1, 15)
        assert sum(service.dead_letters.counts().values()) == expected["dead_letters"]
    finally:
        pub.close()
        service.stop()
    conn = sqlite3.connect(data / "gateway.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM buffer_rows").fetchone()[0] == 0
    finally:
        conn.close()
