"""The hostile-input classes at the edges: error bodies without secrets, file modes, and the
gateway's own defences (bounded dead letters, rate-limited logs, clear-text warnings, names
the cloud would refuse)."""

from __future__ import annotations

import hashlib
import logging
import stat
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from cloud.redact import redact
from firmware_protocol.topics import Subscription
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.decoding import decode
from gateway.service import plaintext_credentials
from gateway.settings import GatewaySettings
from tests.support.processes import run_iotgw, toml_text


def test_readyz_does_not_print_the_store_password(make_cloud):
    unreachable = SimpleNamespace(url="http://admin:s3cret-pw@127.0.0.1:9", database="x")
    cloud = make_cloud("influxdb", influx=unreachable)
    r = cloud.http.get("/readyz")
    assert r.status_code == 503
    assert "s3cret-pw" not in r.text and "admin:" not in r.text
    assert "127.0.0.1:9" in r.text  # still says which store


def test_sqlalchemy_errors_lose_their_sql_and_parameters():
    engine = create_engine("sqlite://")
    with pytest.raises(SQLAlchemyError) as info, engine.connect() as conn:
        conn.execute(text("SELECT secret FROM tokens WHERE hash = :h"), {"h": "tok_value"})
    assert "[SQL:" in str(info.value)
    clean = redact(str(info.value))
    assert "SELECT" not in clean and "tok_value" not in clean and "no such table" in clean


def test_the_metadata_database_and_its_companions_are_0600(make_cloud):
    cloud = make_cloud("sqlite")
    assert cloud.http.post("/v1/rules", json={"kind": "deadman", "name": "q"}).status_code == 201
    meta = cloud.services.settings.data_dir / "meta.sqlite3"
    files = [p for p in meta.parent.iterdir()
             if p.name in ("meta.sqlite3", "meta.sqlite3-wal", "meta.sqlite3-shm")]
    assert meta in files and len(files) >= 2  # the database and its WAL
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_dead_letters_are_truncated_hashed_and_evicted_oldest_first(tmp_path):
    evictions: list[int] = []
    db = Database(tmp_path / "gateway.db")
    db.open()
    dead = DeadLetterStore(db, max_payload_bytes=1024, max_total_bytes=64 * 1024,
                           on_evict=evictions.append)
    huge = b"\xff" * (10 * 1024 * 1024)
    dead.add_payload("sensors/s/d/json", "json", "malformed", "garbage", huge)
    [entry] = dead.entries()
    assert len(entry.payload) == 1024 and entry.truncated
    assert entry.payload_bytes == len(huge)
    assert entry.payload_sha256 == hashlib.sha256(huge).hexdigest()
    for i in range(200):
        dead.add_payload("sensors/s/d/json", "json", "malformed", str(i), b"x" * 1000)
    kept = dead.entries(limit=1000)
    assert sum(len(e.payload) for e in kept) <= 64 * 1024
    assert kept[0].detail == "199" and dead.evicted() == sum(evictions) > 0
    assert dead.evicted() + len(kept) == 201
    db.close()


def test_dlq_list_shows_evictions_and_truncation(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(toml_text({
        "gateway": {"id": "gw-1", "data_dir": str(tmp_path / "data")},
        "deadletter": {"max_payload_bytes": 256, "max_total_bytes": 65536}}))
    settings = GatewaySettings.load(config)
    from gateway.service import open_stores

    db, dead, _buffer = open_stores(settings)
    for i in range(400):  # 400 x 256 kept bytes: more than the 64 KiB bound
        dead.add_payload("t", "json", "malformed", str(i), b"y" * 2000)
    db.close()
    out = run_iotgw(["gateway", "dlq", "list", "--config", str(config), "--json"])
    assert '"truncated": true' in out.stdout and '"bytes": 2000' in out.stdout
    assert "evicted (oldest first)" in out.stderr and " 0 evicted" not in out.stderr


def test_every_node_of_a_broker_list_is_judged_for_clear_text_credentials():
    cluster = GatewaySettings(mqtt={"urls": ["mqtt://127.0.0.1:1883", "mqtt://nats-2.example:1883",
                                            "mqtt://nats-3.example:1883"],
                                    "username": "gw", "password": "pw"})
    problems = plaintext_credentials(cluster)
    assert [p.split(" goes to ")[1].split()[0] for p in problems] == [
        "mqtt://nats-2.example:1883", "mqtt://nats-3.example:1883"]
    tls = GatewaySettings(mqtt={"urls": ["mqtts://nats-2.example:8883"], "username": "gw",
                                "password": "pw"})
    assert plaintext_credentials(tls) == []


def test_credentials_in_clear_text_to_another_host_are_warned_about():
    remote = GatewaySettings(mqtt={"url": "mqtt://broker.example:1883", "username": "gw",
                                   "password": "pw"},
                             uplink={"url": "http://cloud.example:8080", "token": "t"})
    assert len(plaintext_credentials(remote)) == 2
    local = GatewaySettings(mqtt={"url": "mqtt://127.0.0.1:1883", "username": "gw",
                                  "password": "pw"},
                            uplink={"url": "http://localhost:8080", "token": "t"})
    assert plaintext_credentials(local) == []
    tls = GatewaySettings(mqtt={"url": "mqtts://broker.example:8883", "username": "gw",
                                "password": "pw"},
                          uplink={"url": "https://cloud.example", "token": "t"})
    assert plaintext_credentials(tls) == []


@pytest.mark.parametrize("device", ["ends\\", "back\\ slash", "a\\,b", "pump\u202e7"])
def test_names_the_cloud_refuses_are_dead_lettered_at_the_gateway(device):
    from urllib.parse import quote

    payload = b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 1}]}'
    result = decode([Subscription()], f"sensors/s1/{device}/json", payload, 0)
    if getattr(result, "reason", None) == "no_route":  # not expressible in a topic level
        pytest.skip(f"{quote(device)} cannot be a topic level")
    assert result.reason == "invalid_name", result


def test_bad_payload_log_lines_are_rate_limited(tmp_path, caplog):
    from gateway.ratelog import RateLimitedLog

    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("hostile.ratelog"), 3, 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="hostile.ratelog"):
        for i in range(10_000):
            rl.info("malformed", "bad payload %d", i)
        now[0] = 60.0
        rl.info("malformed", "bad payload after")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5 and "9997 more lines suppressed" in lines[3]
