"""The trend API through real uvicorn: series, trends, devices, anomalies, hostile names, 400s."""

from __future__ import annotations

import csv
import io
import time

import numpy as np
import pytest

from cloud.metrics import package_version
from cloud.store.aggregate import percentile_index
from tests.cloud.conftest import reading
from tests.support.metrics import sample_totals

HOUR = 3_600_000
HOSTILE = ['q"uote', "it's", "back\\slash", "semi;colon'; DROP MEASUREMENT readings; --",
           "space name", "comma,eq=x", "温度°C", "emoji🔥", "slash/and?x=1&y", "%2F%00"]


def _ingest(cloud, readings, anomalies=(), key="k"):
    r = cloud.ingest(cloud.batch(readings, anomalies, batch_id=key), key=key, compress=True)
    assert r.status_code == 200, r.text
    return r.json()


def test_series_aggregates_match_numpy_and_csv_agrees(cloud):
    rng = np.random.default_rng(3)
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
    ts = t0 + np.sort(rng.choice(3 * HOUR, 2000, replace=False))
    vals = rng.normal(50, 10, ts.size).round(4)
    _ingest(cloud, [reading("pump", "p", int(t), float(v), i)
                    for i, (t, v) in enumerate(zip(ts, vals, strict=True))])
    r = cloud.get("/v1/series", device="pump", sensor="p", start=str(t0), end=str(t0 + 3 * HOUR),
                  every="15m", agg="mean,min,max,count,last,p95")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["every"] == 900_000 and not data["every_auto"]
    buckets = ts - ts % 900_000
    assert data["t"] == [int(b) for b in np.unique(buckets)]
    for i, b in enumerate(np.unique(buckets)):
        sel = vals[buckets == b]
        assert data["mean"][i] == pytest.approx(np.mean(sel))
        assert data["min"][i] == np.min(sel) and data["max"][i] == np.max(sel)
        assert data["count"][i] == sel.size and data["last"][i] == sel[-1]
        assert data["p95"][i] == np.sort(sel)[percentile_index(sel.size)]
    text = cloud.get("/v1/series", device="pump", sensor="p", start=str(t0),
                     end=str(t0 + 3 * HOUR), every="15m", agg="mean,count", format="csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(x["t"]) for x in rows] == data["t"]
    assert [float(x["count"]) for x in rows] == data["count"]
    assert rows[0]["time"].endswith("Z")


def test_automatic_every_keeps_within_the_point_budget(make_cloud):
    cloud = make_cloud(series_point_budget=50)
    now = int(time.time() * 1000)
    _ingest(cloud, [reading("d", "s", now - i * 60_000, float(i), i) for i in range(600)])
    r = cloud.get("/v1/series", device="d", sensor="s", start="-10h", end=str(now + 1))
    data = r.json()
    assert data["every_auto"] and len(data["t"]) <= 50
    assert data["every"] == 900_000  # 10 h / 49 buckets -> the next readable width
    assert sum(cloud.get("/v1/series", device="d", sensor="s", start="-10h", end=str(now + 1),
                         agg="count").json()["count"]) == 600
    over = cloud.get("/v1/series", device="d", sensor="s", start="-10h", every="1m")
    assert over.status_code == 400 and "point budget" in over.json()["detail"]


@pytest.mark.parametrize("params, fragment", [
    ({"sensor": "s"}, "`device` is required"),
    ({"device": "d", "sensor": "s", "agg": "mean,median"}, "unknown aggregate median"),
    ({"device": "d", "sensor": "s", "start": "2024-01-02", "end": "2024-01-01"}, "before"),
    ({"device": "d", "sensor": "s", "start": "yesterday"}, "not a time"),
    ({"device": "d", "sensor": "s", "every": "fast"}, "not a duration"),
    ({"device": "d", "sensor": "s", "every": "0s"}, "positive"),
    ({"device": "d", "sensor": "s", "start": "0", "end": "now"}, "range is longer"),
    ({"device": "d", "sensor": "s", "format": "xml"}, "json or csv"),
])
def test_series_bad_parameters_are_clear_400s(cloud, params, fragment):
    r = cloud.get("/v1/series", **params)
    assert r.status_code == 400
    assert fragment in r.json()["detail"]


def test_trend_slope_level_and_crossing(cloud):
    now = int(time.time() * 1000)
    rng = np.random.default_rng(1)
    # 2 units per hour upwards over 6 h, some noise and a few wild outliers.
    readings = []
    for i in range(360):
        ts = now - (359 - i) * 60_000
        v = 10 + 2 * (ts - now) / HOUR + rng.normal(0, 0.05)
        readings.append(reading("tank", "level", ts, 500.0 if i % 97 == 5 else v, i))
    _ingest(cloud, readings)
    tr = cloud.get("/v1/trends", device="tank", sensor="level", window="6h", threshold="20")
    assert tr.status_code == 200, tr.text
    t = tr.json()
    assert t["slope_per_hour"] == pytest.approx(2.0, abs=0.05)
    assert t["level"] == pytest.approx(10.0, abs=0.3)
    assert t["crossing_in_hours"] == pytest.approx(5.0, abs=0.3)
    assert t["crossing_ts"] == pytest.approx(now + 5 * HOUR, abs=0.3 * HOUR)
    assert t["already_beyond"] is False
    below = cloud.get("/v1/trends", device="tank", sensor="level", window="6h",
                      threshold="0").json()
    assert below["crossing_ts"] is None and below["already_beyond"] is True
    empty = cloud.get("/v1/trends", device="tank", sensor="nothing").json()
    assert empty["points"] == 0 and empty["level"] is None
    assert cloud.get("/v1/trends", device="tank", sensor="level", window="1000d"
                     ).status_code == 400
    assert cloud.get("/v1/trends", device="tank", sensor="level", threshold="inf"
                     ).status_code == 400
    assert cloud.get("/v1/trends", device="tank", sensor="level", threshold="high"
                     ).status_code == 400


def test_hostile_names_through_ingest_and_every_query(cloud):
    now = int(time.time() * 1000)
    readings, anomalies = [], []
    for i, name in enumerate(HOSTILE):
        readings += [reading(name, name, now - k * 1000, float(i), k, site=name, unit="°C")
                     for k in range(i + 1)]
        anomalies.append({"device": name, "sensor": name, "ts": now, "value": 1.0,
                          "score": 0.5, "detector": name, "site": name})
    readings.append(reading("new\nline", "s", now))
    readings.append(reading("trail\\", "s", now))
    out = _ingest(cloud, readings, anomalies)
    assert out["accepted"] == sum(range(1, len(HOSTILE) + 1))
    assert len(out["rejected"]) == 2 and out["anomalies_rejected"] == []
    for i, name in enumerate(HOSTILE):
        s = cloud.get("/v1/series", device=name, sensor=name, start="-1h", end=str(now + 1),
                      agg="count,mean", every="1h").json()
        assert (sum(s["count"]), s["mean"][0]) == (i + 1, float(i)), name
        (a,) = cloud.get("/v1/anomalies", device=name, sensor=name, start="-1h",
                         end=str(now + 1)).json()
        assert a["detector"] == name and a["site"] == name
        tr = cloud.get("/v1/trends", device=name, sensor=name, window="1h")
        assert tr.status_code == 200 and tr.json()["points"] >= 1
    names = {d["device"] for d in cloud.get("/v1/devices").json()}
    assert names == set(HOSTILE)
    # Path-unsafe names work as path segments when percent-encoded.
    from urllib.parse import quote
    for name in HOSTILE:
        d = cloud.http.get("/v1/devices/" + quote(name, safe=""))
        assert d.status_code == 200 and d.json()["device"] == name, name
    # Queries for names no store holds answer normally (400 or empty), never 500.
    for bad in ["new\nline", "trail\\", "'", '"', "\\"]:
        r = cloud.get("/v1/series", device=bad, sensor="s", start="-1h")
        # A control character is not a name (400); anything else finds nothing.
        assert (r.status_code, bad) == (400, "new\nline") or r.json()["t"] == []


def test_devices_registry_and_anomaly_listing(cloud):
    now = int(time.time() * 1000)
    _ingest(cloud, [reading("d1", "t", now - 5000, 1.0, 1, unit="Cel", site="plant"),
                    reading("d1", "h", now - 1000, 2.0, 2),
                    reading("d2", "t", now - 9000, 3.0, 3)],
            [{"device": "d2", "sensor": "t", "ts": now - 9000, "value": 3.0, "score": 0.9,
              "detector": "zscore", "expected_low": 0.5, "expected_high": 1.5}])
    devices = cloud.get("/v1/devices").json()
    assert [d["device"] for d in devices] == ["d1", "d2"]
    d1 = cloud.get("/v1/devices/d1").json()
    assert d1["site"] == "plant" and d1["gateway_id"] == "gw-1"
    assert [(s["sensor"], s["unit"]) for s in d1["sensors"]] == [("h", None), ("t", "Cel")]
    assert d1["last_seen"] == now - 1000 and 0 <= d1["seconds_since"] < 60
    assert cloud.get("/v1/devices/nope").status_code == 404
    (a,) = cloud.get("/v1/anomalies", start="-1h").json()
    assert (a["device"], a["detector"], a["expected_high"]) == ("d2", "zscore", 1.5)
    assert cloud.get("/v1/anomalies", device="d1", start="-1h").json() == []
    assert cloud.get("/v1/anomalies", limit="0").status_code == 400
    assert cloud.get("/v1/anomalies", limit="many").status_code == 400


def test_health_ready_metrics_and_docs(cloud):
    assert cloud.get("/healthz").json() == {"status": "ok"}
    assert cloud.get("/readyz").json()["ready"] is True
    _ingest(cloud, [reading()])
    cloud.get("/v1/series", device="d1", sensor="temp")
    m = sample_totals(cloud.get("/metrics").text, keep_labels=True)
    assert m["iotgw_cloud_ingest_readings_total"] == 1
    assert m["iotgw_cloud_store_write_duration_seconds_count"] == 1
    assert m['iotgw_cloud_ingest_requests_total{status="200"}'] == 1
    assert m["iotgw_cloud_query_duration_seconds_count"] == 1
    assert m[f'iotgw_build_info{{service="cloud",version="{package_version()}"}}'] == 1
    assert cloud.get("/docs").status_code == 200
    paths = cloud.get("/openapi.json").json()["paths"]
    assert {"/v1/ingest", "/v1/series", "/v1/trends", "/v1/devices", "/v1/anomalies",
            "/healthz", "/readyz", "/metrics"} <= set(paths)
    body = paths["/v1/ingest"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) >= {"gateway_id", "batch_id", "sent_at", "readings"}
