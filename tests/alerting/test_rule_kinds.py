"""Every rule kind fires and resolves on sensor-like data ingested through ``POST /v1/ingest``,
with rules created through ``/v1/rules`` and alerts read from ``/v1/alerts``."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.alerting.core.clock import ManualClock
from tests.alerting.harness import T0, Cloud, reading, seconds, states
from tests.alerting.signals import degrading_vibration, temperature


@pytest.fixture
def cloud(tmp_path):
    with Cloud(tmp_path, ManualClock(T0)) as c:
        yield c


def test_threshold_waits_for_duration_and_clears_only_below_the_clear_level(cloud):
    rng = np.random.default_rng(1)
    rid = cloud.rule(name="motor hot", kind="threshold", op="above", limit=80.0, clear=75.0,
                     for_s=120, severity="critical", scope={"device": "motor-*"},
                     message="{device} {sensor} {value:.1f} {unit} over {limit:.0f}")
    ts = seconds(T0, 600, 1.0)
    values = temperature(600, rng)
    values[100:160] += 25.0   # 60 s over the limit: shorter than for_s -> never fires
    values[300:450] += 25.0   # 150 s over the limit -> fires after 120 s
    values[450:500] = 78.0    # between clear (75) and limit (80): stays firing (hysteresis)
    cloud.feed("motor-1", "temp", ts[:200], values[:200], unit="Cel", batch=30)
    assert cloud.alerts() == []  # the short excursion was pending, then dropped
    cloud.feed("motor-1", "temp", ts[200:500], values[200:500], unit="Cel", batch=30)
    [alert] = cloud.alerts(state="firing")
    assert alert["rule_id"] == rid and alert["severity"] == "critical"
    assert alert["fired_ms"] - alert["started_ms"] >= 120_000
    assert alert["message"].startswith("motor-1 temp ") and "Cel over 80" in alert["message"]
    cloud.feed("motor-1", "temp", ts[500:], values[500:], unit="Cel", batch=30)
    [alert] = cloud.alerts()
    assert alert["state"] == "resolved" and alert["resolved_ms"] >= int(ts[500])
    # Out-of-scope devices never alert.
    cloud.feed("pump-1", "temp", ts[300:400], values[300:400] + 30, unit="Cel")
    assert len(cloud.alerts()) == 1


def test_threshold_outside_a_band_and_below(cloud):
    cloud.rule(name="pressure band", kind="threshold", op="outside", low=2.0, high=6.0,
               scope={"sensor": "pressure"})
    cloud.rule(name="flow low", kind="threshold", op="below", limit=1.0, clear=1.5,
               scope={"sensor": "flow"})
    ts = seconds(T0, 120, 1.0)
    pressure = np.full(120, 4.0)
    pressure[40:60] = 7.0
    flow = np.full(120, 3.0)
    flow[50:80] = 0.5
    flow[80:90] = 1.2   # below the clear level: still firing
    cloud.feed("pump-1", "pressure", ts, pressure, batch=20)
    cloud.feed("pump-1", "flow", ts[:90], flow[:90], batch=10)
    by_rule = {a["rule_name"]: a["state"] for a in cloud.alerts()}
    assert by_rule == {"pressure band": "resolved", "flow low": "firing"}
    cloud.feed("pump-1", "flow", ts[90:], flow[90:], batch=10)
    assert states(cloud.alerts(device="pump-1", state="resolved")) == ["resolved", "resolved"]


def test_rate_of_change_fires_on_a_fast_rise_and_resolves(cloud):
    cloud.rule(name="heating fast", kind="rate_of_change", window_s=300, per_s=60,
               max_rise=1.0)
    ts = seconds(T0, 1800, 1.0)
    rng = np.random.default_rng(2)
    values = 40 + rng.normal(0, 0.2, 1800)
    values[600:900] += np.linspace(0, 15, 300)   # 3 K/min for 5 minutes
    values[900:] += 15
    cloud.feed("oven-1", "temp", ts[:900], values[:900], batch=60, tick_every_s=60)
    [alert] = cloud.alerts(state="firing")
    assert "per min" in alert["message"]
    cloud.feed("oven-1", "temp", ts[900:], values[900:], batch=60, tick_every_s=60)
    assert states(cloud.alerts()) == ["resolved"]


def test_deadman_per_device_fires_when_silent_and_resolves_when_data_returns(cloud):
    cloud.rule(name="silent", kind="deadman", after_s=300, per="device")
    ts = seconds(T0, 120, 1.0)
    cloud.feed("meter-1", "power", ts, np.full(120, 5.0))
    cloud.feed("meter-1", "voltage", ts, np.full(120, 230.0))
    cloud.tick()
    assert cloud.alerts() == []
    cloud.clock.advance(seconds=600)
    cloud.tick()
    [alert] = cloud.alerts(state="firing")
    assert alert["device"] == "meter-1" and alert["sensor"] == ""
    assert "no data from meter-1" in alert["message"]
    cloud.tick()  # still silent: still one alert
    assert len(cloud.alerts()) == 1
    cloud.ingest([reading("meter-1", "power", cloud.clock.now_ms(), 5.0)])
    cloud.tick()
    assert states(cloud.alerts()) == ["resolved"]


def test_anomaly_rate_fires_on_a_burst_of_edge_anomalies_and_resolves(cloud):
    cloud.rule(name="anomalous", kind="anomaly_rate", window_s=600, min_events=3)
    now = cloud.clock.now_ms()

    def anomaly(ts):
        return {"device": "fan-1", "sensor": "vib", "ts": ts, "value": 9.0, "score": 0.99,
                "detector": "hst"}

    cloud.ingest([reading("fan-1", "vib", now, 9.0)], [anomaly(now)])
    cloud.ingest([reading("fan-1", "vib", now + 1000, 2.0)], [anomaly(now + 1000)])
    assert cloud.alerts() == []
    cloud.clock.advance(seconds=2)
    cloud.ingest([reading("fan-1", "vib", now + 2000, 9.5)], [anomaly(now + 2000)])
    [alert] = cloud.alerts(state="firing")  # fired as the third event arrived
    assert alert["message"].startswith("3 anomalies on fan-1/vib")
    cloud.clock.advance(seconds=900)
    cloud.tick()
    assert states(cloud.alerts()) == ["resolved"]


def test_forecast_fires_before_the_degrading_machine_fails(cloud):
    """Hourly vibration of a bearing wearing out; it fails (reaches 7.1 mm/s) at hour 240.
    The forecast rule, evaluated every hour, must warn before then with a useful message."""
    fail_h = 240.0
    hours = np.arange(0, 260, 0.25)
    rng = np.random.default_rng(7)
    vib = degrading_vibration(hours, fail_h, rng)
    ts = (T0 + hours * 3_600_000).astype(np.int64)
    cloud.rule(name="bearing wear", kind="forecast", limit=7.1, lookback_s=48 * 3600,
               horizon_s=72 * 3600, scope={"sensor": "vibration"},
               message="{sensor} reaches {limit:.1f} {unit} in ~{eta_h:.0f} h")
    fired_at = None
    for start in range(0, len(ts), 4):   # one hour of data per batch, then a tick
        cloud.feed("press-3", "vibration", ts[start:start + 4], vib[start:start + 4],
                   unit="mm/s", batch=4)
        cloud.tick()
        if fired_at is None and cloud.alerts(state="firing"):
            fired_at = hours[start + 3]
            [alert] = cloud.alerts(state="firing")
            break
    assert fired_at is not None, "the forecast never fired"
    print(f"forecast fired at h{fired_at}: {alert['message']}")
    assert fired_at < fail_h - 12, f"fired at h{fired_at}, too close to the failure at h{fail_h}"
    assert fired_at > fail_h * 0.4, f"fired at h{fired_at}, before wear even began"
    assert alert["message"].startswith("vibration reaches 7.1 mm/s in ~")
    eta_h = float(alert["message"].split("~")[1].split()[0])
    assert 0 < eta_h <= 72
    # After maintenance the vibration is back to healthy: the projection leaves the horizon.
    after = ts[-1] + (np.arange(1, 200) * 900_000)
    cloud.feed("press-3", "vibration", after, 2.0 + rng.normal(0, 0.05, len(after)),
               unit="mm/s", batch=50)
    cloud.tick()
    assert states(cloud.alerts()) == ["resolved"]


def test_forecast_fires_before_the_simulated_machine_fails(cloud):
    """The fleet simulator's degrading machine (bearing wear growing quadratically, then a
    trip): the forecast rule warns before the failure and resolves after it."""
    signals = pytest.importorskip("simulators.signals", reason="the simulator has not landed")
    start_h, duration_h = 48, 120
    fail_ms = T0 + (start_h + duration_h) * 3_600_000
    dev = signals.DeviceSignals(3, seed=11, sensors=("vibration",),
                                degradation=signals.Degradation(T0 + start_h * 3_600_000,
                                                                duration_h * 3_600_000))
    ts = T0 + np.arange(0, (start_h + duration_h + 72) * 4) * 900_000   # every 15 min
    vib = np.array([dev.sample(int(t))["vibration"] for t in ts])
    limit = 4 * float(np.median(vib[: 24 * 4]))   # four times the healthy level
    cloud.rule(name="wear", kind="forecast", limit=limit, lookback_s=48 * 3600,
               horizon_s=72 * 3600)
    fired_ms = None
    for start in range(0, len(ts), 8):   # two hours per batch, then a tick
        cloud.feed("sim-3", "vibration", ts[start:start + 8], vib[start:start + 8],
                   unit="m/s2", batch=8)
        cloud.tick()
        if fired_ms is None and cloud.alerts(state="firing"):
            fired_ms = cloud.clock.now_ms()
    assert fired_ms is not None and fired_ms < fail_ms - 12 * 3_600_000, (fired_ms, fail_ms)
    print(f"simulated failure: forecast fired {(fail_ms - fired_ms) / 3.6e6:.0f} h before it")
    assert states(cloud.alerts()) == ["resolved"]    # the machine tripped: no more trend
