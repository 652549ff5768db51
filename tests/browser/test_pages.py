"""Every page of the dashboard in a real Chromium: loads clean, shows what the API holds."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import Dashboard, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGES = {"fleet": "/fleet", "device": "/device/pump-01", "alerts": "/alerts",
         "pipeline": "/pipeline"}
#: Webhook endpoints and deliveries need ``admin`` (their URLs may carry secrets), so the
#: pipeline page is checked whole with an operator's token; a viewer's is checked below.
NEEDS_ADMIN = {"pipeline"}


def _token(dashboard: Dashboard, name: str) -> str:
    return dashboard.tokens["admin"] if name in NEEDS_ADMIN else dashboard.token


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_with_no_errors_and_no_failed_requests(
        open_page, dashboard: Dashboard, name: str) -> None:
    watch = open_page(PAGES[name], token=_token(dashboard, name))
    watch.wait_live()
    if name == "device":
        watch.page.wait_for_selector("svg.chart path.line")
    assert watch.problems == []
    screenshot(watch, name)


def test_a_viewer_sees_the_pipeline_and_is_told_webhooks_need_admin(
        open_page, dashboard: Dashboard) -> None:
    watch = open_page("/pipeline")  # read + alerts:write
    watch.wait_live()
    assert "need a token with the admin scope" in watch.page.inner_text("#pipeline-webhooks")
    assert watch.page.locator("#pipeline-freshness tr[data-device]").count() > 0
    # The one refused request (and the browser's console line about it) is the webhook list.
    refused = [p for p in watch.problems if "403" in p]
    assert refused and all("/v1/webhooks" in p or p.startswith("console:") for p in refused)
    assert [p for p in watch.problems if "403" not in p] == []


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_fits_a_phone(open_page, dashboard: Dashboard, name: str) -> None:
    watch = open_page(PAGES[name], token=_token(dashboard, name), width=390, height=844)
    watch.wait_live()
    overflow = watch.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "the page scrolls sideways at a phone's width"
    assert watch.problems == []
    screenshot(watch, f"{name}-phone")


def test_fleet_lists_exactly_the_ingested_devices_and_the_stale_one_stands_out(
        open_page, dashboard: Dashboard) -> None:
    from tests.support.dashboard_data import DEVICES, STALE

    watch = open_page("/fleet")
    watch.wait_live()
    rows = watch.page.locator("#fleet-table tbody tr")
    shown = {rows.nth(i).get_attribute("data-device") for i in range(rows.count())}
    assert shown == set(DEVICES)
    states = {d: watch.page.locator(f'tr[data-device="{d}"] .badge').get_attribute("data-state")
              for d in DEVICES}
    assert states == {d: "stale" if d == STALE else "fresh" for d in DEVICES}
    assert watch.page.locator(f'tr[data-device="{STALE}"]').get_attribute("class") == "stale"
    # Filtering and sorting happen in the page without another request.
    watch.page.fill("#fleet-filter", "fan")
    assert rows.count() == 2
    watch.page.fill("#fleet-filter", "")
    watch.page.check("#fleet-stale")
    assert rows.count() == 1
    assert watch.problems == []


def test_device_page_draws_every_bucket_and_the_anomalies_at_their_timestamps(
        open_page, dashboard: Dashboard) -> None:
    fleet = dashboard.fleet
    at = fleet.now_ms - 12 * 3_600_000
    watch = open_page(f"/device/pump-01?at={at}&range=24h")
    watch.wait_live()
    page = watch.page
    for sensor in ("temperature", "vibration", "pressure"):
        card = page.locator(f'section.sensor[data-sensor="{sensor}"]')
        svg = card.locator("svg.chart")
        start, end = int(svg.get_attribute("data-start")), int(svg.get_attribute("data-end"))
        assert (start, end) == (at - 12 * 3_600_000, at + 12 * 3_600_000)
        expected = dashboard.api.get("/v1/series", params={
            "device": "pump-01", "sensor": sensor, "start": start, "end": end,
            "agg": "mean,min,max"}).json()
        d = card.locator("path.line").get_attribute("d")
        assert len(re.findall(r"[ML]", d)) == len(expected["t"]) > 1000
        assert int(card.locator("path.line").get_attribute("data-points")) == len(expected["t"])
        marks = card.locator("path.anomaly")
        drawn = sorted(int(marks.nth(i).get_attribute("data-ts")) for i in range(marks.count()))
        assert drawn == sorted(ts for ts in fleet.anomalies.get(("pump-01", sensor), [])
                               if start <= ts <= end)
        left = float(svg.get_attribute("data-plot-left"))
        width = float(svg.get_attribute("data-plot-width"))
        for i in range(marks.count()):
            ts = int(marks.nth(i).get_attribute("data-ts"))
            x = float(marks.nth(i).get_attribute("data-x"))
            assert x == pytest.approx(left + (ts - start) / (end - start) * width, abs=0.1)
    assert page.locator('section[data-sensor="temperature"] path.anomaly').count() == 3
    # The overheat threshold is drawn on the temperature chart.
    assert page.locator('section[data-sensor="temperature"] line.threshold').get_attribute(
        "data-value") == "80"
    assert watch.problems == []


def test_device_page_projects_the_forecast_rule_to_its_limit(
        open_page, dashboard: Dashboard) -> None:
    from tests.support.dashboard_data import HOURS

    watch = open_page("/device/pump-01?range=7d")
    watch.wait_live()
    card = watch.page.locator('section.sensor[data-sensor="vibration"]')
    trend = dashboard.api.get("/v1/trends", params={
        "device": "pump-01", "sensor": "vibration", "window": f"{HOURS * 3600}s",
        "threshold": 7.1}).json()
    assert trend["crossing_ts"] is not None
    text = card.locator(".forecast-text").inner_text()
    assert "bearing wear: projected to reach 7.1 at" in text
    assert card.locator("path.forecast").count() == 1
    crossing = int(card.locator("path.crossing").get_attribute("data-ts"))
    assert abs(crossing - trend["crossing_ts"]) < 3_600_000  # recomputed a moment apart
    assert watch.problems == []
