"""Filters an earlier configuration subscribed are unsubscribed from the persistent session:
against a real Mosquitto, and the record's own rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_protocol.codecs import get_codec
from gateway.service import GatewayService
from gateway.session_filters import FILE, SessionFilters
from tests.gateway.helpers import gateway_config, settings_from, wait_until
from tests.support.cloud_sink import CloudSink
from tests.support.publisher import Publisher, message
from tests.support.servers import Mosquitto


def test_the_record_names_a_superset_until_the_broker_confirms(tmp_path: Path) -> None:
    path = tmp_path / FILE
    assert SessionFilters(path, "gw", ["a/#"]).stale(session_present=True) == []
    moved = SessionFilters(path, "gw", ["b/#"])
    assert moved.stale(session_present=True) == ["a/#"]
    assert json.loads(path.read_text())["filters"] == ["b/#", "a/#"]  # a crash now: again
    assert SessionFilters(path, "gw", ["b/#"]).stale(session_present=True) == ["a/#"]
    moved.unsubscribed()
    assert SessionFilters(path, "gw", ["b/#"]).stale(session_present=True) == []


def test_another_client_id_or_a_new_session_holds_nothing_of_the_record(tmp_path: Path) -> None:
    path = tmp_path / FILE
    SessionFilters(path, "gw", ["a/#"]).stale(session_present=True)
    assert SessionFilters(path, "other", ["b/#"]).stale(session_present=True) == []
    SessionFilters(path, "gw", ["a/#"]).stale(session_present=True)
    assert SessionFilters(path, "gw", ["b/#"]).stale(session_present=False) == []
    path.write_text("{not json")
    assert SessionFilters(path, "gw", ["b/#"]).stale(session_present=True) == []


@pytest.mark.integration
def test_a_moved_site_no_longer_reaches_the_gateway(tmp_path: Path, mosquitto: Mosquitto,
                                                     sink: CloudSink) -> None:
    def run(site: str) -> GatewayService:
        cfg = gateway_config(tmp_path, mosquitto, sink.url, sink.token,
                             mqtt={"subscriptions": [{"topic": f"sensors/{site}/{{device}}/"
                                                               "{format}"}]})
        service = GatewayService(settings_from(cfg, tmp_path))
        service.start()
        assert wait_until(lambda: service.intake.connected, 15)
        return service

    run("site-a").stop()  # the session now holds sensors/site-a/...
    service = run("site-b")  # same client id, same persistent session, site-a moved away
    pub = Publisher(mosquitto.host, mosquitto.port)
    codec = get_codec("json")
    try:
        for seq in range(5):
            pub.publish_raw("sensors/site-a/dev-a/json", codec.encode(message("dev-a", seq)))
            pub.publish_raw("sensors/site-b/dev-b/json", codec.encode(message("dev-b", seq)))
        assert pub.wait_acked()
        def devices() -> set[str]:
            stored = sink.keys()
            return {key[0] for key in stored}

        assert sink.wait_for(lambda: devices() == {"dev-b"}, 30)
        assert wait_until(lambda: service.metrics.messages_received._value.get() >= 5, 10)
        assert service.metrics.messages_received._value.get() == 5  # none from site-a
    finally:
        pub.close()
        service.stop()
