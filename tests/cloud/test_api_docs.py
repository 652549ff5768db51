"""docs/api.md for REST users and webhook consumers: a curl example (with the Authorization
header) for every endpoint of the OpenAPI document, an example payload per webhook event type
that validates against the documented model, the webhooks in the OpenAPI document, and the
signature checks in examples/ accepting a delivery the cloud signed and refusing a tampered
one (Python always; Node when ``node`` is installed; Go when ``go`` is)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloud.alerting.webhooks.endpoints import EVENT_TYPES
from cloud.alerting.webhooks.signing import headers, new_secret
from cloud.api.webhook_events import EVENTS
from cloud.app import create_app
from cloud.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "api.md").read_text()
VERIFY = ROOT / "examples" / "webhook_verify"


def _openapi(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return create_app(load_settings(None, env={}, data_dir=str(tmp_path))).openapi()


def _curls() -> list[str]:
    """Every curl command of the doc, continuation lines joined."""
    text = DOC.replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]


def _method(cmd: str) -> str:
    m = re.search(r"-X (\w+)", cmd)
    return m.group(1) if m else ("POST" if " -d " in cmd else "GET")


def test_every_endpoint_has_a_curl_example_with_the_token(tmp_path: Path) -> None:
    curls = _curls()
    assert curls and all('-H "Authorization: Bearer $IOTGW_TOKEN"' in c for c in curls)
    missing = []
    for path, ops in _openapi(tmp_path)["paths"].items():
        pattern = re.compile(re.escape("$IOTGW_URL" + path).replace(r"\{", "{").replace(
            r"\}", "}"))
        regex = re.compile(re.sub(r"\{[^}]+\}", r"[^/?\"]+", pattern.pattern) + r"[?\"]")
        for method in ops:
            if not any(_method(c) == method.upper() and regex.search(c) for c in curls):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_the_openapi_document_has_the_webhook_payloads(tmp_path: Path) -> None:
    doc = _openapi(tmp_path)
    assert doc["openapi"].startswith("3.1")
    assert sorted(doc["webhooks"]) == sorted(EVENT_TYPES) == sorted(EVENTS)
    for event_type, item in doc["webhooks"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        schema = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        assert schema["properties"]["type"]["const"] == event_type
        names = {p["name"] for p in item["post"]["parameters"]}
        assert names == {"webhook-id", "webhook-timestamp", "webhook-signature"}


def _payloads() -> dict[str, str]:
    found = re.findall(r"### (alert\.\w+)\n\n```json\n(.*?)```", DOC, re.S)
    return dict(found)


def test_each_event_type_has_an_example_payload_that_validates() -> None:
    payloads = _payloads()
    assert sorted(payloads) == sorted(EVENT_TYPES)
    for event_type, text in payloads.items():
        event = EVENTS[event_type].model_validate_json(text)
        assert event.model_dump()["type"] == event_type


def _verifiers() -> list[list[str]]:
    out = [[sys.executable, str(VERIFY / "verify.py")]]
    if shutil.which("node"):
        out.append(["node", str(VERIFY / "verify.js")])
    if shutil.which("go"):
        out.append(["go", "run", str(VERIFY / "verify.go")])
    return out


@pytest.mark.parametrize("verifier", _verifiers(), ids=lambda v: Path(v[-1]).suffix)
def test_the_signature_checks_accept_a_signed_delivery_and_refuse_tampering(
        verifier: list[str]) -> None:
    secret = new_secret()
    body = json.dumps(json.loads(_payloads()["alert.firing"]), separators=(",", ":")).encode()
    now = int(time.time())
    h = headers(secret, "msg_0123456789abcdef", now, body)
    args = [secret, h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"]]

    def run(data: bytes, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*verifier, *argv], input=data, capture_output=True, timeout=120,
                              check=False)

    ok = run(body, args)
    assert (ok.returncode, ok.stdout.strip()) == (0, b"valid"), ok.stderr
    rotated = run(body, [*args[:3], f"v1,AAAA {args[3]}"])  # several signatures, one good
    assert rotated.returncode == 0
    tampered = run(body.replace(b"91.5", b"11.5"), args)
    assert (tampered.returncode, tampered.stdout.strip()) == (1, b"invalid: no matching v1 "
                                                                b"signature")
    stale = headers(secret, "msg_old", now - 3600, body)
    old = run(body, [secret, "msg_old", stale["webhook-timestamp"], stale["webhook-signature"]])
    assert old.returncode == 1 and b"tolerance" in old.stdout
