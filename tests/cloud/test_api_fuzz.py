"""A property test over the OpenAPI schema: no request, however odd, gets a 5xx.

Every GET endpoint is called with random values for its documented parameters (and junk), and
``POST /v1/ingest`` with random envelopes, entries, headers and encodings, against the app served
by real uvicorn on the SQLite store. (Schemathesis does this generically; this bounded,
hypothesis-based variant keeps the run to a few seconds.)
"""

from __future__ import annotations

import gzip
import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
MEANINGFUL = ["-1h", "-400d", "now", "1700000000000", "2024-01-01T00:00:00Z", "0001-01-01",
              "1m", "0s", "0", "-5", "mean,min,max,count,last,p95", "p95", "csv", "json",
              "1e309", "nan", "",
              "9" * 30, "9" * 15, "\udc80", "d1", "temp", "24h", "5ms"]
#: Text including lone surrogates, which JSON can carry as \\udXXX escapes.
texts = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=16)
values = st.one_of(st.sampled_from(MEANINGFUL), st.text(max_size=24),
                   st.integers(-(2**70), 2**70).map(str))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8)
entry = st.fixed_dictionaries({}, optional={
    k: st.one_of(scalars, st.sampled_from([1_700_000_000_000, "d1", "temp", 21.5]))
    for k in ("device", "sensor", "ts", "value", "seq", "unit", "quality", "site", "score",
              "detector", "expected_low", "expected_high")
})


@pytest.fixture
def served(make_cloud):
    cloud = make_cloud()
    cloud.ingest(cloud.batch([{"device": "d1", "sensor": "temp", "ts": 1_700_000_000_000,
                               "value": 1.0, "seq": 1}]))
    return cloud


def _get_endpoints(cloud):
    schema = cloud.get("/openapi.json").json()
    out = []
    for path, ops in schema["paths"].items():
        if "get" in ops and path not in ("/docs", "/redoc"):
            params = [(p["name"], p["in"]) for p in ops["get"].get("parameters", [])]
            out.append((path, params))
    return out


def test_get_endpoints_never_fail_with_5xx(served):
    endpoints = _get_endpoints(served)
    assert len(endpoints) >= 7

    @FUZZ
    @given(data=st.data())
    def run(data):
        path, params = data.draw(st.sampled_from(endpoints))
        query, url = {}, path
        for name, where in params:
            value = data.draw(values)
            if where == "path":
                url = url.replace("{" + name + "}", quote(value, safe="") or "x")
            elif data.draw(st.booleans()):
                query[name] = value
        if data.draw(st.booleans()):
            query[data.draw(st.text(max_size=6))] = data.draw(values)
        try:
            r = served.http.get(url, params=query)
        except UnicodeEncodeError:
            return  # the client cannot even send that
        assert r.status_code < 500, (url, query, r.status_code, r.text)

    run()


def test_ingest_never_fails_with_5xx(served):
    @FUZZ
    @given(
        envelope=st.fixed_dictionaries(
            {"gateway_id": st.sampled_from(["gw-1", "gw-1", "gw-x"]),
             "readings": st.lists(st.one_of(entry, json_values), max_size=6)},
            optional={"batch_id": st.one_of(st.text(max_size=10), scalars),
                      "sent_at": json_values,
                      "anomalies": st.one_of(st.lists(st.one_of(entry, json_values), max_size=3),
                                             json_values)}),
        raw=st.one_of(st.none(), st.binary(max_size=40)),
        key=st.one_of(st.none(), st.text(max_size=300)),
        encoding=st.sampled_from([None, "gzip", "identity", "br"]),
        token_ok=st.booleans(),
    )
    def run(envelope, raw, key, encoding, token_ok):
        body = raw if raw is not None else json.dumps(envelope).encode()
        headers = {"Authorization": f"Bearer {served.token if token_ok else 'x'}"}
        if key is not None:
            headers["Idempotency-Key"] = key.encode("utf-8", "replace").decode("latin-1")
        if encoding:
            headers["Content-Encoding"] = encoding
            if encoding == "gzip" and raw is None:
                body = gzip.compress(body)
        try:
            r = served.http.post("/v1/ingest", content=body, headers=headers)
        except UnicodeEncodeError:
            return  # the client cannot even send that header
        assert r.status_code < 500, (envelope, r.status_code, r.text)

    run()
