"""Hostile requests, generated systematically over every route and parameter, against the real
app (real uvicorn) on the SQLite and the real InfluxDB store: no 5xx, non-finite numbers and
invisible names always refused, and afterwards nothing hostile in the store while the good
readings of the same batches are all there."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any
from urllib.parse import quote

from tests.hostile.conftest import SENT, Hostile
from tests.hostile.inputs import (
    BAD_DURATIONS,
    BAD_FLOATS,
    BAD_INTS,
    BAD_NAMES,
    BAD_TEMPLATES,
    BAD_TIMES,
    BAD_WEBHOOK_URLS,
    NON_FINITE,
    RULE_NAMES,
    RULE_NUMBERS,
    RULES,
    SILENCE,
    WEBHOOK,
    deep,
    deep_object,
    mutations,
)

REFUSED = (400, 413, 422)
#: Names refused everywhere (what a length limit alone would not catch).
INVISIBLE = [n for n in BAD_NAMES if n and len(n) <= 64 and not n.isprintable()]
#: In a URL a lone surrogate arrives as invalid UTF-8, which the server decodes to U+FFFD.
INVISIBLE_IN_URL = [n for n in INVISIBLE if "\ud800" not in n]


def refused(r) -> bool:
    return r.status_code in REFUSED


def sweep_rules(h: Hostile) -> None:
    for kind, base in RULES.items():
        for field in RULE_NUMBERS[kind]:
            for body in mutations(base, field, BAD_FLOATS + BAD_INTS[:4]):
                r = h.send("POST", "/v1/rules", body=body)
                value = body[field]
                if (isinstance(value, float) and value != value) or value in NON_FINITE:
                    assert refused(r), (kind, field, value, r.text)
    for field in RULE_NAMES:
        for body in mutations(RULES["threshold"], field, BAD_NAMES):
            r = h.send("POST", "/v1/rules", body=body)
            if field.startswith("scope") or body["name"] in INVISIBLE:
                value = body["scope"][field[6:]] if field.startswith("scope") else body["name"]
                if value in INVISIBLE or value == "" or len(value) > 64:
                    assert refused(r), (field, value, r.text)
    for body in mutations(RULES["threshold"], "message", BAD_TEMPLATES):
        assert refused(h.send("POST", "/v1/rules", body=body)), body["message"]
    rid = h.send("POST", "/v1/rules", body=RULES["threshold"]).json()["id"]
    for body in mutations(RULES["threshold"], "limit", [*NON_FINITE, "1e999"]):
        h.send("PUT", "/v1/rules/{rule_id}", f"/v1/rules/{rid}", body=body)
    for bad in ["x" * 65, "..%2F..%2Fetc", "rule_\u200b", "%00", "a b"]:
        h.send("GET", "/v1/rules/{rule_id}", f"/v1/rules/{bad}")
        h.send("PUT", "/v1/rules/{rule_id}", f"/v1/rules/{bad}", body=RULES["deadman"])
        h.send("DELETE", "/v1/rules/{rule_id}", f"/v1/rules/{bad}")
    listed = h.send("GET", "/v1/rules")
    assert listed.status_code == 200
    for rule in listed.json():  # everything accepted is a sane, loadable rule
        assert "load_error" not in rule
        assert "NaN" not in json.dumps(rule) and "Infinity" not in json.dumps(rule)


def sweep_silences(h: Hostile) -> None:
    for field in ["ends_ms", "starts_ms"]:
        for body in mutations(SILENCE, field, BAD_INTS):
            r = h.send("POST", "/v1/silences", body=body)
            if body[field] in (2**70, 2**63, 1.5) or body[field] != body[field]:
                assert refused(r), (field, body[field], r.text)
    for field in ["site", "device", "sensor", "rule", "severity"]:
        for body in mutations(SILENCE, f"matcher.{field}", BAD_NAMES):
            r = h.send("POST", "/v1/silences", body=body)
            if body["matcher"][field] in INVISIBLE:
                assert refused(r), (field, r.text)
    for body in mutations(SILENCE, "comment", ["ctl\x07", "lone\ud800", "x" * 1001]):
        assert refused(h.send("POST", "/v1/silences", body=body))
    for bad in ["sil_\u202e", "x" * 65]:
        h.send("DELETE", "/v1/silences/{silence_id}", f"/v1/silences/{bad}")
    assert h.send("GET", "/v1/silences").status_code == 200


def sweep_webhooks(h: Hostile) -> None:
    for body in mutations(WEBHOOK, "url", BAD_WEBHOOK_URLS):
        assert refused(h.send("POST", "/v1/webhooks", body=body)), body["url"]
    for body in mutations(WEBHOOK, "events", [[n] for n in BAD_NAMES] + [[], ["*"] * 51]):
        h.send("POST", "/v1/webhooks", body=body)
    for body in mutations(WEBHOOK, "description", ["\x1b[31mred", "x" * 501]):
        assert refused(h.send("POST", "/v1/webhooks", body=body))
    for bad in ["ep_\u200b", "x" * 65]:
        h.send("GET", "/v1/webhooks/{webhook_id}", f"/v1/webhooks/{bad}")
        h.send("DELETE", "/v1/webhooks/{webhook_id}", f"/v1/webhooks/{bad}")
        h.send("GET", "/v1/webhooks/{webhook_id}/deliveries",
               f"/v1/webhooks/{bad}/deliveries", params={"limit": "99999999999"})
        h.send("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
               f"/v1/webhooks/{bad}/deliveries/{bad}/redeliver")
    h.send("GET", "/v1/webhooks")


def sweep_alerts(h: Hostile) -> None:
    for params in ([{"device": n} for n in BAD_NAMES] + [{"limit": v} for v in
                   ["0", "-1", str(2**70), "NaN", "1e3"]] + [{"state": "x"}, {"severity": "\x00"}]):
        h.send("GET", "/v1/alerts", params=params)
    for bad in [str(2**70), "0", "-1", "1e3", "NaN"]:
        h.send("GET", "/v1/alerts/{alert_id}", f"/v1/alerts/{bad}")
        h.send("POST", "/v1/alerts/{alert_id}/ack", f"/v1/alerts/{bad}/ack", body={"by": "x"})
    for body in [{"by": "\x00"}, {"by": "x" * 201}, {"by": math_nan()}, {"extra": 1}, [1], "x"]:
        h.send("POST", "/v1/alerts/{alert_id}/ack", "/v1/alerts/1/ack", body=body)


def math_nan() -> float:
    return float("nan")


def sweep_queries(h: Hostile) -> None:
    base = {"device": "good-0", "sensor": "t", "start": "-1h"}
    for route in ["/v1/series", "/v1/trends", "/v1/anomalies"]:
        for key in ["device", "sensor"]:
            for name in BAD_NAMES:
                r = h.send("GET", route, params={**base, key: name})
                if name in INVISIBLE_IN_URL:
                    assert refused(r), (route, key, name)
    for key in ["start", "end"]:
        for t in BAD_TIMES:
            h.send("GET", "/v1/series", params={**base, key: t})
            h.send("GET", "/v1/anomalies", params={key: t})
    for d in BAD_DURATIONS:
        h.send("GET", "/v1/series", params={**base, "every": d})
        h.send("GET", "/v1/trends", params={**base, "window": d})
    for agg in ["", "mean," * 50, "p101", "\u200bmean"]:
        h.send("GET", "/v1/series", params={**base, "agg": agg})
    for fmt in ["xml", "CSV\x00", "j" * 1000]:
        h.send("GET", "/v1/series", params={**base, "format": fmt})
    for thr in ["nan", "inf", "-inf", "1e999"]:
        assert refused(h.send("GET", "/v1/trends", params={**base, "threshold": thr})), thr
    for thr in ["0x10", "\u0665", "1_0", " 5 "]:
        h.send("GET", "/v1/trends", params={**base, "threshold": thr})
    for limit in ["-1", str(2**70), "NaN", "1.5", ""]:
        h.send("GET", "/v1/anomalies", params={"limit": limit})
    for name in [*BAD_NAMES, "..", "a/b/../../c"]:
        quoted = quote(name.encode("utf-8", "surrogatepass"), safe="")
        h.send("GET", "/v1/devices/{device}", "/v1/devices/" + quoted)
        h.send("PUT", "/v1/devices/{device}/owner", f"/v1/devices/{quoted}/owner",
               body={"gateway_id": "gw-1"})
        h.send("DELETE", "/v1/devices/{device}/owner", f"/v1/devices/{quoted}/owner")
    for gw in BAD_NAMES:
        r = h.send("PUT", "/v1/devices/{device}/owner", "/v1/devices/good-0/owner",
                   body={"gateway_id": gw})
        if gw in INVISIBLE or gw == "":
            assert refused(r), (gw, r.text)
    for route in ["/v1/devices", "/v1/pipeline/health", "/healthz", "/readyz", "/metrics",
                  "/v1/fleet", "/v1/pipeline/gateways"]:
        h.send("GET", route, params={"x": "\u202e", "y": "9" * 5000})


def sweep_bodies(h: Hostile) -> None:
    """Every route that takes a body: deep JSON, not JSON, too large."""
    posts = [("POST", "/v1/rules", None), ("PUT", "/v1/rules/{rule_id}", "/v1/rules/rule_x"),
             ("POST", "/v1/silences", None), ("POST", "/v1/webhooks", None),
             ("POST", "/v1/alerts/{alert_id}/ack", "/v1/alerts/1/ack")]
    for method, route, path in posts:
        for content in [deep(1000), deep_object(1000), deep(33), b"{oops", b"\xff\xfe",
                        b"NaN", b'{"kind": "threshold", "limit": NaN}']:
            r = h.send(method, route, path, content=content,
                       headers={"Content-Type": "application/json"})
            assert refused(r), (route, content[:40], r.text)
        r = h.send(method, route, path, content=b" " * (65 * 1024),
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 413, (route, r.text)
    for route in ["/v1/series", "/v1/rules", "/healthz"]:  # a body where none is expected
        assert h.send("GET", route, content=b"x" * (65 * 1024)).status_code == 413


def sweep_ingest(h: Hostile) -> tuple[set[str], int]:
    """Batches of good readings with hostile ones among them; the good devices and how many
    good readings were sent."""
    now = int(time.time() * 1000)
    good: set[str] = set()
    sent_good = 0
    seq = 0

    def batch(bad: list[dict[str, Any]], anomalies: list[Any] | None = None) -> None:
        nonlocal sent_good, seq
        seq += 1
        ok = [{"device": f"good-{seq % 7}", "sensor": "t", "ts": now - 60_000 + seq,
               "value": float(seq), "seq": seq}]
        good.add(ok[0]["device"])
        body = h.cloud.batch(bad + ok, anomalies or [], batch_id=f"hostile-{seq}")
        r = h.send("POST", "/v1/ingest", body=body, headers={"Idempotency-Key": f"k-{seq}"})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["accepted"] == 1, (bad, result)
        assert [x["index"] for x in result["rejected"]] == list(range(len(bad)))
        sent_good += 1

    def reading(**kw: Any) -> dict[str, Any]:
        return {"device": "bad-reading", "sensor": "t", "ts": now - 1000, "value": 1.0,
                "seq": 1, **kw}

    for v in [v for v in BAD_FLOATS if v is not True] + ["true"]:  # booleans are values
        batch([reading(value=v)])
    for t in [*BAD_INTS, "1700000000000", now + 2 * 86400000, 4000000000000, True]:
        batch([reading(ts=t)])
    for s in [-1, 2**32, 1.0, "1", None]:
        batch([reading(seq=s)])
    for q in [256, -1, 1.5, "0"]:
        batch([reading(quality=q)])
    for key in ["device", "sensor", "site", "unit"]:
        for name in [*BAD_NAMES, "ends\\", "back\\ slash"]:
            if key == "unit" and name == "n" * 65:
                name = "u" * 17
            batch([reading(**{key: name})])
    anomaly = {"device": "bad-anomaly", "sensor": "t", "ts": now, "value": 1.0, "score": 0.5,
               "detector": "hst"}
    for field in ["value", "score", "expected_low"]:
        for v in [*NON_FINITE, "1"]:
            batch([], [{**anomaly, field: v}])
    return good, sent_good


def sweep_ingest_envelopes(h: Hostile) -> None:
    base = h.cloud.batch([{"device": "bad-env", "sensor": "t", "ts": 1_700_000_000_000,
                           "value": 1.0, "seq": 1}])
    for gw in BAD_NAMES:
        r = h.send("POST", "/v1/ingest", body={**base, "gateway_id": gw},
                   headers={"Idempotency-Key": "env"})
        assert r.status_code in (403, 422), (gw, r.text)
    for content in [deep(1000), deep_object(1000), b"{oops", b"\xff", b"[]", b"null",
                    json.dumps({**base, "note": json.loads(deep(40))}).encode()]:
        r = h.send("POST", "/v1/ingest", content=content,
                   headers={"Idempotency-Key": "env", "Content-Type": "application/json"})
        assert r.status_code in (400, 422), (content[:40], r.text)
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB
    r = h.send("POST", "/v1/ingest", content=bomb, headers={
        "Idempotency-Key": "bomb", "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 413
    many = {**base, "readings": [{}] * 20_000}
    assert h.send("POST", "/v1/ingest", body=many,
                  headers={"Idempotency-Key": "many"}).status_code == 413


def stored_counts(h: Hostile, devices: set[str]) -> int:
    total = 0
    for device in devices:
        r = h.send("GET", "/v1/series", params={"device": device, "sensor": "t", "start": "-1d",
                                                "end": "now", "every": "1d", "agg": "count"})
        total += int(sum(r.json()["count"]))
    return total


def test_hostile_requests_on_every_route(hostile: Hostile):
    first = len(SENT)
    good, sent_good = sweep_ingest(hostile)
    sweep_ingest_envelopes(hostile)
    sweep_rules(hostile)
    sweep_silences(hostile)
    sweep_webhooks(hostile)
    sweep_alerts(hostile)
    sweep_queries(hostile)
    sweep_bodies(hostile)
    sent = SENT[first:]
    # Nothing hostile stored, every good reading of the same batches stored.
    registry = {d["device"] for d in hostile.send("GET", "/v1/devices").json()}
    assert registry == good
    assert stored_counts(hostile, good) == sent_good
    # Every route of the API got hostile requests.
    app_routes = {(m.upper(), p) for p, ops in hostile.cloud.app.openapi()["paths"].items()
                  for m in ops}
    assert app_routes <= {(m, r) for m, r, _s in sent}, app_routes - {(m, r) for m, r, _ in sent}
    assert len(sent) >= 300
    assert all(s < 500 for _m, _r, s in sent)
    print(f"\n{hostile.kind}: {len(sent)} hostile requests, "
          f"{sum(s >= 500 for _m, _r, s in sent)} 5xx, {sent_good} good readings stored, "
          f"0 hostile stored")
