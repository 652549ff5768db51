"""``iotgw gateway check-config --connect``: try what the settings point at, one line each.

The broker is tried with a throw-away clean session (never the gateway's own client id, which
would take over a running gateway's persistent session); the cloud with ``GET /healthz`` and
the token with a ``POST /v1/ingest`` that carries no ``Idempotency-Key``: the cloud checks the
token first (401/403) and then refuses the request (400), so nothing is ever stored.
"""

from __future__ import annotations

import ssl
import sys
import threading
import uuid
from collections.abc import Callable

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.settings import GatewaySettings, MqttSection, UplinkSection

#: Seconds each check may take.
CHECK_TIMEOUT_S = 10.0


class CheckFailed(Exception):
    """One check did not pass; the message says why, in one line."""


def check_broker(m: MqttSection, timeout_s: float = CHECK_TIMEOUT_S) -> str:
    """Connect (and authenticate) to the broker with a clean throw-away session."""
    version = mqtt.MQTTv5 if m.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=version,
                         client_id=f"iotgw-check-{uuid.uuid4().hex[:8]}")
    if m.username is not None:
        client.username_pw_set(m.username, m.password.get_secret_value() if m.password else None)
    if m.use_tls:
        client.tls_set(ca_certs=str(m.tls.ca_file) if m.tls.ca_file else None,
                       certfile=str(m.tls.cert_file) if m.tls.cert_file else None,
                       keyfile=str(m.tls.key_file) if m.tls.key_file else None,
                       cert_reqs=ssl.CERT_NONE if m.tls.insecure else ssl.CERT_REQUIRED)
        client.tls_insecure_set(m.tls.insecure)
    done = threading.Event()
    outcome: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        outcome.append(str(reason))
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(m.host, m.port, keepalive=max(5, int(timeout_s)))
    except (OSError, ssl.SSLError) as exc:
        raise CheckFailed(f"cannot connect: {exc}") from None
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise CheckFailed(f"no CONNACK within {timeout_s:g} s")
        if outcome[0] != "Success":
            raise CheckFailed(f"refused: {outcome[0]}")
    finally:
        client.disconnect()
        client.loop_stop()
    return "connected"


def check_cloud(u: UplinkSection, timeout_s: float = CHECK_TIMEOUT_S) -> str:
    """``GET /healthz`` of the cloud."""
    try:
        resp = httpx.get(f"{u.url}/healthz", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise CheckFailed(f"cannot reach: {exc!r}") from None
    if resp.status_code != 200:
        raise CheckFailed(f"/healthz answered {resp.status_code}")
    return "reachable"


def check_token(u: UplinkSection, timeout_s: float = CHECK_TIMEOUT_S) -> str:
    """The token, by an ingest request the cloud refuses after checking it (stores nothing)."""
    token = u.token.get_secret_value()
    if not token:
        raise CheckFailed("token rejected: none set (uplink.token / IOTGW_GATEWAY_UPLINK__TOKEN)")
    try:
        resp = httpx.post(f"{u.url}/v1/ingest", content=b"{}", timeout=timeout_s,
                          headers={"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise CheckFailed(f"cannot reach: {exc!r}") from None
    if resp.status_code in (401, 403):
        try:
            detail = str(resp.json().get("detail", ""))
        except ValueError:
            detail = resp.text[:100]
        raise CheckFailed(f"token rejected: {resp.status_code} {detail}".rstrip())
    if resp.status_code >= 500:
        raise CheckFailed(f"the cloud answered {resp.status_code}")
    return "accepted"


def run_checks(settings: GatewaySettings) -> int:
    """Run every check, print one line each on stdout; 0 when all pass, else 1 naming them."""
    checks: list[tuple[str, Callable[[], str]]] = [
        (f"broker {settings.mqtt.url}", lambda: check_broker(settings.mqtt)),
        (f"cloud {settings.uplink.url}", lambda: check_cloud(settings.uplink)),
        ("cloud token", lambda: check_token(settings.uplink)),
    ]
    failed = []
    for name, check in checks:
        try:
            print(f"{name}: OK ({check()})")
        except CheckFailed as exc:
            print(f"{name}: FAILED: {exc}")
            failed.append(name.split(" ", 1)[0] if name != "cloud token" else name)
    if failed:
        print(f"iotgw gateway: check failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
