"""Standard Webhooks signatures (https://www.standardwebhooks.com).

A secret is ``whsec_`` + base64 of random bytes; the HMAC key is the decoded bytes. A delivery
carries ``webhook-id`` (stable across retries), ``webhook-timestamp`` (Unix seconds of this
attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` (several
space-separated signatures are allowed, e.g. during secret rotation).

>>> secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
>>> sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
>>> sig
'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
>>> verify(secret, {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
...                 "webhook-timestamp": "1614265330", "webhook-signature": sig},
...        b'{"test": 2432232314}', now_s=1614265331)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from cloud.alerting.core.errors import InvalidSignature

PREFIX = "whsec_"
#: Deliveries older or newer than this many seconds are refused (replay window).
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 24 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise InvalidSignature("the secret is not base64 after 'whsec_'") from exc


def sign(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one attempt."""
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers (plus the content type)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": sign(secret, msg_id, timestamp_s, body),
        "content-type": "application/json",
    }


def verify(
    secret: str, hdrs: Mapping[str, str], body: bytes, now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Check a received delivery; raise :class:`InvalidSignature` when it does not verify."""
    lower = {k.lower(): v for k, v in hdrs.items()}
    try:
        msg_id, ts_text, sigs = (lower[h] for h in
                                 ("webhook-id", "webhook-timestamp", "webhook-signature"))
    except KeyError as exc:
        raise InvalidSignature(f"missing header {exc.args[0]}") from None
    try:
        ts = int(ts_text)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    if abs(now_s - ts) > tolerance_s:
        raise InvalidSignature("webhook-timestamp is outside the tolerance (replay?)")
    expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
    for candidate in sigs.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise InvalidSignature("no matching v1 signature")
