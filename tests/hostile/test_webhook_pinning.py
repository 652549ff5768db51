"""Webhooks go to the address that was checked: one DNS lookup per attempt (the check), the
connection to that address, the name kept for ``Host``; a DNS answer that changes after the
check (rebinding to an internal address) cannot redirect a delivery. Against a real receiver
on loopback (the guard's loopback allowance, as the alerting tests use)."""

from __future__ import annotations

import socket

import pytest

from cloud.alerting.core.clock import ManualClock
from cloud.alerting.core.errors import UnsafeTarget
from cloud.alerting.webhooks.ssrf import check_url, classify
from tests.alerting.harness import T0, Cloud
from tests.alerting.receiver import Receiver
from tests.alerting.test_webhooks import overheat, register

NAME = "hooks.rebind.test"


@pytest.fixture
def cloud(tmp_path):
    with Cloud(tmp_path, ManualClock(T0)) as c:
        yield c


def test_a_delivery_connects_to_the_checked_address_only(cloud, monkeypatch):
    real = socket.getaddrinfo
    answers = ["127.0.0.1", "127.0.0.1"]  # registration, then the attempt's check
    lookups: list[str] = []

    def dns(host, port, *args, **kwargs):
        if host != NAME:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        # After the two checked answers, the name "rebinds" to an internal address.
        address = answers.pop(0) if answers else "10.0.0.1"
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    cloud.rule(name="hot", kind="threshold", op="above", limit=90.0, clear=80.0)
    with Receiver(lambda: cloud.clock.now_ms() / 1000) as receiver:
        port = receiver.server.url.rsplit(":", 1)[1]
        register(cloud, f"http://{NAME}:{port}/hook", receiver)
        overheat(cloud)
        assert cloud.deliver() == 1
        assert len(receiver.received) == 1 and receiver.received[0]["valid"]
        assert receiver.received[0]["headers"]["host"] == f"{NAME}:{port}"
    assert lookups == [NAME, NAME]  # registration and the attempt's check: no second lookup


@pytest.mark.parametrize("address", [
    "2002:7f00:1::1", "2002:a00:1::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::808:808", "::ffff:10.0.0.1", "::a00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "::ffff:169.254.169.254",
])
def test_ipv6_forms_embedding_internal_ipv4_are_refused(address):
    assert classify(address) in ("private", "loopback")
    with pytest.raises(UnsafeTarget):
        check_url(f"http://[{address}]/hook", allow_loopback=False, allow_private=False)


def test_public_translations_stay_public():
    assert classify("64:ff9b::808:808") == "public"  # NAT64 to 8.8.8.8
    assert classify("2002:808:808::1") == "public"  # 6to4 of 8.8.8.8
