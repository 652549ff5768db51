"""Versioned migrations of the metadata database (SQLite and PostgreSQL): a database made by
the release before migrations upgrades with every token (now ``ingest``), rule, alert, silence
and webhook intact; the migrated schema is exactly the tables the code declares; a database
newer than this release is refused with one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, insert, text

import cloud.alerting.service  # noqa: F401 - declares the alerting tables on the metadata
from cloud.meta import MetaDB, TokenRepo, metadata, schema
from cloud.meta.schema import SchemaOutOfDate, SchemaTooNew
from iotgw.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "meta-v0.sqlite"
#: The gateway token made in the fixture (by make_meta_v0.py, printed once then).
V0_TOKEN = "iotgw_90d44c55d871_VHWwKYrxZ6tioDJBHbOI0MfYTAMAtKj3KukTUYcnUzA"


def _v0_copy(tmp_path: Path) -> str:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE, data / "meta.sqlite3")
    return f"sqlite:///{data / 'meta.sqlite3'}"


def _postgres_v0(url: str) -> None:
    """The fixture's rows in a PostgreSQL database at the baseline revision."""
    engine = create_engine(url)
    try:
        schema.upgrade(engine, "0001")
        source = create_engine(f"sqlite:///{FIXTURE}")
        old = MetaData()
        old.reflect(source)
        with source.connect() as src, engine.begin() as dst:
            for table in old.sorted_tables:
                rows = [dict(r._mapping) for r in src.execute(table.select())]
                if rows:
                    dst.execute(insert(table), rows)
            dst.execute(text("SELECT setval('alerts_id_seq', (SELECT max(id) FROM alerts))"))
        source.dispose()
    finally:
        engine.dispose()


#: Tables whose every row and column must survive the upgrade unchanged.
KEPT = ("gateway_tokens", "alert_rules", "alerts", "alert_silences", "webhook_endpoints",
        "devices", "device_sensors")


def _rows(url: str, columns: dict[str, list[str]] | None = None) -> dict[str, list[dict]]:
    """Rows of :data:`KEPT` (only ``columns`` of each, when given), booleans as ints."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=KEPT)
    out = {}
    try:
        with engine.connect() as conn:
            for name in KEPT:
                table = meta.tables[name]
                cols = columns[name] if columns else [c.name for c in table.columns]
                rows = conn.execute(table.select().order_by(*table.primary_key.columns))
                out[name] = [{c: int(v) if isinstance(v, bool) else v
                              for c, v in r._mapping.items() if c in cols} for r in rows]
    finally:
        engine.dispose()
    return out


def _no_drift(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.integration)])
def test_a_database_of_the_previous_release_upgrades_intact(kind, request, tmp_path,
                                                            make_cloud):
    if kind == "sqlite":
        url = _v0_copy(tmp_path)
    else:
        url = request.getfixturevalue("postgres").url
        _postgres_v0(url)
    before = _rows(f"sqlite:///{FIXTURE}")
    cloud = make_cloud("sqlite", metadata_url=url)  # starts: migrates to head
    after = _rows(url, {name: list(rows[0]) for name, rows in before.items()})
    old_ids = {t["token_id"] for t in before["gateway_tokens"]}  # the test client adds two
    after["gateway_tokens"] = [t for t in after["gateway_tokens"] if t["token_id"] in old_ids]
    assert after == before  # every old row and column, as it was
    assert all(before[name] for name in KEPT)
    assert schema.status(cloud.services.meta.engine).up_to_date
    old = [t for t in cloud.services.tokens.list() if t.token_id == "90d44c55d871"]
    assert [(t.gateway_id, t.scopes, t.revoked) for t in old] == [("gw-test", ("ingest",),
                                                                    False)]
    body = {"gateway_id": "gw-test", "batch_id": "after-upgrade", "readings": [
        {"device": "motor-2", "sensor": "temp", "ts": 1_777_593_700_000, "value": 1.0,
         "seq": 1}]}
    r = httpx.post(f"{cloud.url}/v1/ingest", json=body, headers={
        "Authorization": f"Bearer {V0_TOKEN}", "Idempotency-Key": "after-upgrade"})
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert [x["name"] for x in cloud.get("/v1/rules").json()] == ["hot"]
    [alert] = cloud.get("/v1/alerts").json()
    assert (alert["state"], alert["device"], alert["rule_name"]) == ("firing", "motor-1", "hot")
    [silence] = cloud.get("/v1/silences").json()
    assert silence["comment"] == "maintenance"
    [hook] = cloud.get("/v1/webhooks").json()
    assert hook["url"] == "http://127.0.0.1:9/hook"
    # motor-1 was written by gw-test before ownership existed: it owns it now.
    assert cloud.services.ownership.get("motor-1").gateway_id == "gw-test"
    cloud.close()
    cloud.server.stop()
    assert _no_drift(url) == []


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.integration)])
def test_a_fresh_database_migrates_to_exactly_the_declared_schema(kind, request, tmp_path):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").url
    db = MetaDB(url)
    db.start()
    try:
        assert db.schema_status is not None and db.schema_status.current is None
        assert db.schema_status.pending[0] == "0001"
        TokenRepo(db).create("gw")
    finally:
        db.stop()
    assert _no_drift(url) == []


def test_a_newer_database_is_refused_with_one_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'data' / 'meta.sqlite3'}"
    MetaDB(url).start()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNew, match="newer than this release knows"):
        MetaDB(url).start()
    cfg = tmp_path / "cloud.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    assert main(["cloud", "run", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'9999', newer than this release knows" in err
    assert main(["cloud", "migrate", "--config", str(cfg)]) == 1


def test_without_auto_migrate_pending_migrations_are_refused_until_migrate(tmp_path, capsys):
    _v0_copy(tmp_path)
    cfg = tmp_path / "cloud.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[metadata]\nauto_migrate = false\n')
    with pytest.raises(SchemaOutOfDate, match="iotgw cloud migrate"):
        MetaDB(f"sqlite:///{tmp_path / 'data' / 'meta.sqlite3'}", migrate=False).start()
    assert main(["cloud", "token", "list", "--config", str(cfg)]) == 1
    assert "run `iotgw cloud migrate`" in capsys.readouterr().err
    assert main(["cloud", "migrate", "--config", str(cfg)]) == 0
    assert "applied 0001, 0002, 0003" in capsys.readouterr().err
    assert main(["cloud", "token", "list", "--config", str(cfg)]) == 0
    assert "gw-test" in capsys.readouterr().out
