"""Metadata (tokens, idempotency, device registry, dead letters) on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from cloud.errors import KeyInFlight, KeyReused
from cloud.meta import (
    DeadLetter,
    DeadLetters,
    DeviceRegistry,
    IdempotencyRepo,
    MetaDB,
    Scope,
    SeenStream,
    TokenError,
    TokenRepo,
    now_ms,
)
from cloud.meta.idempotency import idempotency


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def meta(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").url
    db = MetaDB(url)
    db.start()
    try:
        yield db
    finally:
        db.stop()


def test_tokens_are_stored_hashed_and_can_be_revoked(meta):
    repo = TokenRepo(meta)
    info, plain = repo.create("gw-1")
    assert plain.startswith(f"iotgw_{info.token_id}_")
    with meta.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM gateway_tokens").scalar_one()
    assert plain not in stored and len(stored) == 64
    assert repo.lookup(plain).gateway_id == "gw-1"
    assert repo.lookup(plain + "x") is None
    assert repo.revoke(info.token_id) is True
    assert repo.revoke(info.token_id) is False
    assert repo.lookup(plain).revoked
    assert [t.token_id for t in repo.list()] == [info.token_id]


def test_token_scopes_gateways_and_the_admin_check(meta):
    repo = TokenRepo(meta)
    assert repo.lookup(repo.create("gw-1")[1]).scopes == ("ingest",)  # as before scopes
    with pytest.raises(TokenError, match="needs --gateway"):
        repo.create(scopes=["ingest"])
    with pytest.raises(TokenError, match="'ingest' scope only"):
        repo.create("gw-1", scopes=["read"])
    with pytest.raises(TokenError, match="unknown scope 'write'"):
        repo.create(scopes=["write"])
    repo.create(scopes=["read", "alerts:write"], name="dash")
    assert not repo.has_active(Scope.ADMIN)
    repo.create(scopes=["admin"], expires_ms=now_ms() - 1)
    assert not repo.has_active(Scope.ADMIN)
    info, plain = repo.create(scopes=["admin"], name="ops")
    assert repo.has_active(Scope.ADMIN) and repo.has_active(Scope.ALERTS_WRITE)
    got = repo.lookup(plain)
    assert (got.scopes, got.name, got.gateway_id) == (("admin",), "ops", None)
    assert got.allows(Scope.READ) and not got.allows(Scope.INGEST)
    repo.revoke(info.token_id)
    assert not repo.has_active(Scope.ADMIN)


def test_idempotency_claim_replay_conflicts_and_expiry(meta):
    repo = IdempotencyRepo(meta, lease_s=60, ttl_s=3600)
    assert repo.claim("gw", "k1", "h1") is None
    with pytest.raises(KeyInFlight):
        repo.claim("gw", "k1", "h1")
    with pytest.raises(KeyReused):
        repo.claim("gw", "k1", "h2")
    repo.complete("gw", "k1", 200, '{"accepted": 1}')
    stored = repo.claim("gw", "k1", "h1")
    assert (stored.status_code, stored.body) == (200, '{"accepted": 1}')
    with pytest.raises(KeyReused):
        repo.claim("gw", "k1", "h2")
    assert repo.claim("other-gw", "k1", "h2") is None  # keys are per gateway
    repo.release("other-gw", "k1")
    assert repo.claim("other-gw", "k1", "h3") is None
    # An expired lease (a crashed replica) lets the key be claimed again.
    short = IdempotencyRepo(meta, lease_s=0.001, ttl_s=0.001)
    assert short.claim("gw", "k2", "h") is None
    import time
    time.sleep(0.01)
    assert short.claim("gw", "k2", "h") is None
    short.complete("gw", "k2", 200, "{}")
    time.sleep(0.01)
    assert short.purge_expired() >= 1
    # Claims purge expired records now and then, so the table does not grow without bound.
    purging = IdempotencyRepo(meta, lease_s=60, ttl_s=0.001, purge_every_s=0)
    for i in range(3):
        assert purging.claim("gw", f"p{i}", "h") is None
        purging.complete("gw", f"p{i}", 200, "{}")
        time.sleep(0.01)
    with meta.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(idempotency).where(
            idempotency.c.idem_key.like("p%"))).scalar_one()
    assert left <= 1


def test_device_registry_last_seen_moves_forward_only(meta):
    reg = DeviceRegistry(meta)
    reg.record("gw", [SeenStream("d1", "t", 2000, "site-a", "Cel"), SeenStream("d1", "h", 1500)])
    reg.record("gw", [SeenStream("d1", "t", 1000)])
    (d,) = reg.list()
    assert (d.device, d.site, d.last_ts_ms) == ("d1", "site-a", 2000)
    assert [(s["sensor"], s["unit"], s["last_ts"]) for s in d.sensors] == [
        ("h", None, 1500), ("t", "Cel", 2000)]
    reg.record("gw2", [SeenStream("d1", "t", 3000), SeenStream("d2", "x", 5)])
    assert [(x.device, x.last_ts_ms, x.gateway_id) for x in reg.list()] == [
        ("d1", 3000, "gw2"), ("d2", 5, "gw2")]
    assert reg.list("nope") == []


def test_dead_letters_keep_the_payload(meta):
    dl = DeadLetters(meta)
    dl.add("gw", "b1", [DeadLetter("reading", 3, "invalid", "ts: bad", {"ts": "x", "ü": 1})])
    (row,) = dl.recent()
    assert (row["batch_id"], row["idx"], row["code"]) == ("b1", 3, "invalid")
    assert json.loads(row["payload"]) == {"ts": "x", "ü": 1}
    assert dl.count() == 1



@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.integration)])
def test_replicas_creating_the_tables_at_once(kind, request, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").url  # a fresh, empty database
    dbs = [MetaDB(url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda db: db.start(), dbs))
        info, _plain = TokenRepo(dbs[0]).create("gw")
        assert [t.token_id for t in TokenRepo(dbs[3]).list()] == [info.token_id]
    finally:
        for db in dbs:
            db.stop()


def _registry_rows(meta) -> tuple[list, list]:
    from cloud.meta.devices import device_sensors, devices

    with meta.engine.connect() as conn:
        devs = [(r.device, r.site, r.gateway_id, r.last_ts_ms)
                for r in conn.execute(select(devices).order_by(devices.c.device))]
        sens = [tuple(r) for r in conn.execute(
            select(device_sensors).order_by(device_sensors.c.device, device_sensors.c.sensor))]
    return devs, sens


def test_registry_merging_updates_ends_where_writing_each_batch_ends(meta, tmp_path):
    batches = [
        ("gw", [SeenStream("d1", "t", 2000, "site-a", "Cel"), SeenStream("d1", "h", 1500)]),
        ("gw", [SeenStream("d1", "t", 1000, None, None), SeenStream("d1", "h", 1800, "b")]),
        ("gw2", [SeenStream("d1", "t", 2500, None, "K")]),
        ("gw2", [SeenStream("d1", "h", 1700, None, "%")]),
    ]
    lazy = DeviceRegistry(meta, flush_every_s=3600)
    lazy.record(*batches[0])  # new streams: written at once
    assert [d.last_ts_ms for d in DeviceRegistry(meta).list()] == [2000]
    for gw, seen in batches[1:]:
        lazy.record(gw, seen)  # known streams: merged, not written yet
    assert _registry_rows(meta)[0] == [("d1", "site-a", "gw", 2000)]
    lazy.flush()
    merged = _registry_rows(meta)

    other = MetaDB(f"sqlite:///{tmp_path / 'each.sqlite3'}")
    other.start()
    try:
        eager = DeviceRegistry(other)
        for gw, seen in batches:
            eager.record(gw, seen)
        assert merged == _registry_rows(other)
    finally:
        other.stop()
    assert merged[0] == [("d1", "b", "gw2", 2500)]
    assert [(s[1], s[2], s[3]) for s in merged[1]] == [("h", "%", 1800), ("t", "K", 2500)]


def test_registry_lists_what_is_pending_and_writes_new_streams_at_once(meta):
    lazy = DeviceRegistry(meta, flush_every_s=3600)
    lazy.record("gw", [SeenStream("d1", "t", 1000)])
    lazy.record("gw", [SeenStream("d1", "t", 3000)])
    assert [d.last_ts_ms for d in DeviceRegistry(meta).list()] == [1000]  # another process
    lazy.record("gw", [SeenStream("d2", "t", 10)])  # a new device: everything pending goes
    assert [(d.device, d.last_ts_ms) for d in DeviceRegistry(meta).list()] == [
        ("d1", 3000), ("d2", 10)]
    lazy.record("gw", [SeenStream("d2", "t", 20)])
    assert [d.last_ts_ms for d in lazy.list()] == [3000, 20]  # list() writes what is pending


def test_the_token_memory_forgets_after_token_cache_s(meta):
    repo = TokenRepo(meta, cache_s=1.0)
    info, plain = repo.create("gw")
    assert repo.cached(plain, now_ms()) is None  # never looked up
    assert repo.lookup(plain) == info
    assert repo.cached(plain, now_ms()) == info
    assert repo.cached(plain, now_ms() + 1000) is None
    assert TokenRepo(meta).cached(plain, now_ms()) is None  # off by default in the repository
