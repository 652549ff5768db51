"""Access control on the real app (SQLite store, real uvicorn): every ``/v1`` route answers 401
without a token, 403 with a token lacking its scope and neither with the right one; probes,
the OpenAPI security declaration, local ``/docs``, JSON-only bodies, expiry and last use."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from fastapi.routing import APIRoute

from cloud.api import ROUTERS
from cloud.api.auth import AuthFirstRoute
from cloud.meta import Scope, now_ms

#: For each scope a route may need, a token scope that must NOT be enough.
WRONG = {"ingest": "admin", "read": "ingest", "alerts:write": "read", "admin": "alerts:write"}


@pytest.fixture
def tokens(cloud_sqlite):
    s = cloud_sqlite.services.tokens
    return {"ingest": cloud_sqlite.token, "admin": cloud_sqlite.admin_token,
            "read": s.create(scopes=["read"])[1],
            "alerts:write": s.create(scopes=["alerts:write"])[1]}


@pytest.fixture
def cloud_sqlite(make_cloud):
    return make_cloud("sqlite")


def _routes(app):
    """(method, concrete path, required scope) for every /v1 operation of the app's routers
    (the same operations as its OpenAPI document: checked here)."""
    doc = app.openapi()
    out = []
    api_routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    declared = {(p, m.upper()) for p, ms in doc["paths"].items() for m in ms
                if p.startswith("/v1")}
    assert {(r.path.replace(":path", ""), m) for r in api_routes for m in r.methods
            if r.path.startswith("/v1")} == declared
    for route in api_routes:
        if not route.path.startswith("/v1"):
            continue
        assert isinstance(route, AuthFirstRoute), route.path  # checked before the body
        for method in sorted(route.methods):
            op = doc["paths"][route.path.replace(":path", "")][method.lower()]
            assert "x-required-scope" in op, f"{method} {route.path} declares no scope"
            path = re.sub(r"\{[^}]+\}", "x1", route.path)
            out.append((method, path, op["x-required-scope"]))
    return out


def _call(cloud, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return httpx.request(method, f"{cloud.url}{path}", headers=headers, content=body,
                         timeout=30)


def test_every_route_needs_a_token_with_its_scope(cloud_sqlite, tokens):
    routes = _routes(cloud_sqlite.app)
    assert len(routes) >= 20 and {r[2] for r in routes} == set(WRONG)
    for method, path, scope in routes:
        where = f"{method} {path} ({scope})"
        # A body that cannot parse: the token is checked first, whatever the body.
        bad = b"{not json" if method != "GET" else None
        r = _call(cloud_sqlite, method, path)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer", where
        assert _call(cloud_sqlite, method, path, body=bad).status_code == 401, where
        r = _call(cloud_sqlite, method, path, "iotgw_nope_nope", body=bad)
        assert r.status_code == 401, where
        for body in (None, bad):
            r = _call(cloud_sqlite, method, path, tokens[WRONG[scope]], body=body)
            assert r.status_code == 403, where
            assert r.json() == {"detail": f"this route needs the '{scope}' scope"}, where
        r = _call(cloud_sqlite, method, path, tokens[scope])
        assert r.status_code not in (401, 403), f"{where}: {r.status_code} {r.text}"
        if scope != "ingest":  # admin implies every scope but ingest
            r = _call(cloud_sqlite, method, path, tokens["admin"])
            assert r.status_code not in (401, 403), where


def test_openapi_declares_the_bearer_scheme_and_each_scope(cloud_sqlite):
    doc = cloud_sqlite.http.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"]}
    ops = [(p, m, op) for p, ms in doc["paths"].items() for m, op in ms.items()
           if p.startswith("/v1")]
    for path, method, op in ops:
        scope = op["x-required-scope"]
        assert op["security"] == [{"bearer": [scope]}], (path, method)
    assert doc["paths"]["/v1/rules"]["post"]["x-required-scope"] == "admin"
    assert doc["paths"]["/v1/alerts/{alert_id}/ack"]["post"]["x-required-scope"] == "alerts:write"
    assert doc["paths"]["/v1/ingest"]["post"]["x-required-scope"] == "ingest"
    assert "security" not in doc["paths"]["/healthz"]["get"]


def test_probes_are_open_on_loopback_by_default_and_scoped_when_configured(make_cloud, caplog):
    caplog.set_level(logging.WARNING, logger="cloud.services")
    default = make_cloud("sqlite")
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{default.url}{path}").status_code == 200, path
    assert any("iotgw cloud token create --scope admin --name admin" in r.getMessage()
               for r in caplog.records)  # started before the tests' admin token existed
    assert httpx.get(f"{default.url}/readyz").json()["warnings"] == {}
    strict = make_cloud("sqlite", auth={"probes": "token"})
    reader = strict.services.tokens.create(scopes=["read"])[1]
    assert httpx.get(f"{strict.url}/healthz").status_code == 200
    for path in ("/readyz", "/metrics"):
        assert httpx.get(f"{strict.url}{path}").status_code == 401, path
        ok = httpx.get(f"{strict.url}{path}", headers={"Authorization": f"Bearer {reader}"})
        assert ok.status_code == 200, path


def test_readyz_names_the_command_when_there_is_no_admin_token(cloud_sqlite):
    admin = [t for t in cloud_sqlite.services.tokens.list() if Scope.ADMIN in t.scopes]
    for t in admin:
        cloud_sqlite.services.tokens.revoke(t.token_id)
    body = httpx.get(f"{cloud_sqlite.url}/readyz").json()
    assert body["ready"] is True
    assert "iotgw cloud token create --scope admin --name admin" in body["warnings"][
        "admin_token"]


def test_docs_are_served_from_the_package(cloud_sqlite):
    page = httpx.get(f"{cloud_sqlite.url}/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "/docs/assets/swagger-ui.css" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        asset = httpx.get(f"{cloud_sqlite.url}/docs/assets/{name}")
        assert asset.status_code == 200 and len(asset.content) > 500, name
    assert httpx.get(f"{cloud_sqlite.url}/docs/assets/LICENSE").status_code == 404
    assert httpx.get(f"{cloud_sqlite.url}/docs/assets/..%2Fauth.py").status_code == 404
    assert httpx.get(f"{cloud_sqlite.url}/redoc").status_code == 404


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_state_changing_bodies_must_be_json(cloud_sqlite, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"kind": "threshold", "name": "x", "op": "above", "limit": 1}'
    for path in ("/v1/rules", "/v1/silences", "/v1/ingest"):
        r = cloud_sqlite.http.post(path, content=body, headers=headers)
        assert r.status_code == 415, (path, r.text)
    assert cloud_sqlite.http.get("/v1/rules").json() == []
    ok = cloud_sqlite.http.post("/v1/rules", content=body,
                                headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 201, ok.text


def test_expired_and_revoked_tokens_and_throttled_last_use(cloud_sqlite):
    repo = cloud_sqlite.services.tokens
    old, expired = repo.create(scopes=["read"], expires_ms=now_ms() - 1)
    r = _call(cloud_sqlite, "GET", "/v1/devices", expired)
    assert r.status_code == 403 and "expired" in r.json()["detail"]
    info, plain = repo.create(scopes=["read"], name="dash")
    assert _call(cloud_sqlite, "GET", "/v1/devices", plain).status_code == 200
    [first] = [t.last_used_ms for t in repo.list() if t.token_id == info.token_id]
    assert first is not None
    assert _call(cloud_sqlite, "GET", "/v1/devices", plain).status_code == 200
    [second] = [t.last_used_ms for t in repo.list() if t.token_id == info.token_id]
    assert second == first  # written at most once a minute, not per request
    repo.revoke(info.token_id)
    r = _call(cloud_sqlite, "GET", "/v1/devices", plain)
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    assert [t.last_used_ms for t in repo.list() if t.token_id == old.token_id] == [None]


def test_a_request_looks_its_token_up_once(cloud_sqlite, monkeypatch):
    repo = cloud_sqlite.services.tokens
    monkeypatch.setattr(repo, "cache_ms", 0)  # every request reads the database
    calls = []
    lookup = repo.lookup
    monkeypatch.setattr(repo, "lookup", lambda plain: calls.append(1) or lookup(plain))
    assert cloud_sqlite.http.get("/v1/devices").status_code == 200
    assert cloud_sqlite.http.post("/v1/rules", json={
        "kind": "threshold", "name": "x", "op": "above", "limit": 1}).status_code == 201
    assert cloud_sqlite.ingest(cloud_sqlite.batch([])).status_code == 200
    assert len(calls) == 3


def test_a_token_read_recently_is_not_read_again_and_a_revocation_holds_at_once(
        cloud_sqlite, monkeypatch):
    repo = cloud_sqlite.services.tokens
    monkeypatch.setattr(repo, "cache_ms", 60_000)
    calls = []
    lookup = repo.lookup
    monkeypatch.setattr(repo, "lookup", lambda plain: calls.append(1) or lookup(plain))
    for _ in range(3):
        assert cloud_sqlite.ingest(cloud_sqlite.batch([])).status_code == 200
    assert len(calls) == 1  # then from memory, decided on the event loop
    info = next(t for t in repo.list() if t.gateway_id is not None and not t.revoked)
    repo.revoke(info.token_id)
    r = cloud_sqlite.ingest(cloud_sqlite.batch([]))
    assert r.status_code == 403 and "revoked" in r.json()["detail"]

