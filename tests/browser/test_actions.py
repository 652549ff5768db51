"""What a visitor does in the dashboard reaches the API: sign in, acknowledge, silence,
redeliver; and what the API refuses sends the visitor back to the sign-in page."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import TOKEN_KEY, Dashboard, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _firing(dashboard: Dashboard, rule: str) -> dict:
    alerts = dashboard.api.get("/v1/alerts", params={"state": "firing"}).json()
    return next(a for a in alerts if a["rule_name"] == rule)


def test_without_a_token_the_sign_in_page_and_no_data_request(
        open_page, dashboard: Dashboard) -> None:
    watch = open_page("/fleet", token=False)
    page = watch.page
    page.wait_for_selector("form#signin")
    for where in ("/device/pump-01", "/alerts", "/pipeline"):
        page.goto(f"{dashboard.url}/ui/#{where}")
        page.wait_for_selector("form#signin")
    assert page.locator("table").count() == 0
    assert [u for u in watch.requests if "/v1/" in u] == []
    assert watch.problems == []
    screenshot(watch, "sign-in")
    # Signing in with a token loads the data, and every API call carries the token.
    sent: list[str | None] = []
    page.on("request", lambda r: "/v1/" in r.url and sent.append(r.headers.get("authorization")))
    page.fill("#token", dashboard.token)
    page.click("form#signin button[type=submit]")
    watch.wait_live()
    assert sent and set(sent) == {f"Bearer {dashboard.token}"}


def test_the_root_redirects_to_the_dashboard(open_page, dashboard: Dashboard) -> None:
    r = dashboard.api.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    watch = open_page("/fleet", token=False)
    watch.page.goto(dashboard.url)
    assert watch.page.url.startswith(f"{dashboard.url}/ui/")


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_goes_back_to_sign_in_with_the_reason(
        open_page, dashboard: Dashboard, status: int) -> None:
    # 401: a token the cloud does not know; 403: a gateway's token (ingest scope, no read).
    refused = "iotgw_unknown_token" if status == 401 else dashboard.tokens["gw-a"]
    watch = open_page("/fleet", token=refused)
    message = watch.page.locator("form#signin .message")
    message.wait_for()
    assert f"({status})" in message.inner_text()
    assert watch.page.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})") is None


def test_acknowledging_in_the_page_acknowledges_in_the_api(
        open_page, dashboard: Dashboard) -> None:
    alert = _firing(dashboard, "overheat")
    assert alert["acked_ms"] is None
    watch = open_page("/alerts")
    watch.wait_live()
    row = watch.page.locator(f'tr[data-alert="{alert["id"]}"]')
    row.locator("button.ack").click()
    row.locator(".tag", has_text="acknowledged").wait_for()
    after = dashboard.api.get(f"/v1/alerts/{alert['id']}").json()
    assert after["acked_ms"] is not None and after["acked_by"] == "dashboard"
    assert watch.problems == []


def test_a_silence_made_in_the_page_mutes_the_rule(open_page, dashboard: Dashboard) -> None:
    alert = _firing(dashboard, "low pressure")
    watch = open_page("/alerts")
    watch.wait_live()
    watch.page.locator(f'tr[data-alert="{alert["id"]}"] button.silence').click()
    watch.page.select_option("#silence-scope", "rule")
    watch.page.fill("#silence-comment", "valve swap")
    watch.page.click("#silence-ok")
    watch.page.locator("#silence-list li", has_text="valve swap").wait_for()
    silences = dashboard.api.get("/v1/silences").json()
    assert [s["matcher"]["rule"] for s in silences] == [alert["rule_id"]]
    # fan-01's pressure now drops too: the rule fires, but nobody is notified.
    hooks = dashboard.api.get("/v1/webhooks").json()
    before = _deliveries(dashboard, hooks[0]["id"])
    now = int(time.time() * 1000)
    body = {"gateway_id": "gw-b", "batch_id": "silenced-1", "readings": [
        {"device": "fan-01", "sensor": "pressure", "ts": now, "value": 0.5, "seq": 99_999,
         "unit": "bar", "site": "plant-b"}]}
    r = dashboard.api.post("/v1/ingest", json=body, headers={
        "Authorization": f"Bearer {dashboard.tokens['gw-b']}", "Idempotency-Key": "silenced-1"})
    assert r.status_code == 200, r.text
    new = [a for a in dashboard.api.get("/v1/alerts", params={"device": "fan-01"}).json()
           if a["rule_id"] == alert["rule_id"]]
    assert len(new) == 1 and new[0]["state"] == "firing" and new[0]["silenced"] is True
    assert _deliveries(dashboard, hooks[0]["id"]) == before
    assert watch.problems == []


def _deliveries(dashboard: Dashboard, hook: str) -> int:
    return len(dashboard.api.get(f"/v1/webhooks/{hook}/deliveries",
                                 params={"limit": 1000}).json())


def test_redeliver_button_sends_a_failed_delivery_again(open_page, dashboard: Dashboard) -> None:
    watch = open_page("/pipeline", token=dashboard.tokens["admin"])
    watch.wait_live()
    row = watch.page.locator("tr[data-state=failed]").first
    delivery = row.get_attribute("data-delivery")
    hook = watch.page.locator(".webhook").first.get_attribute("data-webhook")
    row.locator("button.redeliver").click()

    def attempts() -> int:
        found = dashboard.api.get(f"/v1/webhooks/{hook}/deliveries",
                                  params={"limit": 1000}).json()
        return len(next(d for d in found if d["id"] == delivery)["attempt_log"])

    deadline = time.monotonic() + 20
    while attempts() < 2:
        assert time.monotonic() < deadline, "the delivery was not sent again"
        time.sleep(0.2)
    assert watch.problems == []


def test_the_keyboard_reaches_navigation_sorting_and_devices(open_page) -> None:
    watch = open_page("/fleet")
    watch.wait_live()
    seen: list[str] = []
    for _ in range(40):
        watch.page.keyboard.press("Tab")
        seen.append(watch.page.evaluate(
            "(() => { const e = document.activeElement;"
            " return `${e.tagName}:${e.getAttribute('href') || e.textContent.trim()}`; })()"))
    assert "A:#/alerts" in seen and "A:#/pipeline" in seen
    assert any(s.startswith("BUTTON:Device") for s in seen)
    assert any(s.startswith("A:#/device/") for s in seen)
    # Enter on a sort button sorts.
    watch.page.locator("th button.sort", has_text="Anomalies").focus()
    watch.page.keyboard.press("Enter")
    first = watch.page.locator("#fleet-table tbody tr").first.get_attribute("data-device")
    assert first == "pump-01"  # the most anomalies
