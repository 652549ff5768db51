"""Verify an iotgw webhook delivery (Standard Webhooks signature), standard library only.

    python examples/webhook_verify/verify.py SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP SIGNATURES < body

Prints ``valid`` and exits 0, or ``invalid: <reason>`` and exits 1. Use :func:`verify` in
your own handler: pass the three headers and the raw body exactly as received (before any
JSON parsing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import time

TOLERANCE_S = 300  # refuse deliveries older or newer than this (replays)


def verify(secret: str, msg_id: str, timestamp: str, signatures: str, body: bytes,
           now_s: float | None = None) -> str | None:
    """None when the delivery is authentic and fresh, else the reason it is not."""
    try:
        ts = int(timestamp)
    except ValueError:
        return "webhook-timestamp is not an integer"
    now = time.time() if now_s is None else now_s
    if abs(now - ts) > TOLERANCE_S:
        return "webhook-timestamp is outside the tolerance"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{ts}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():  # several during a secret rotation
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no matching v1 signature"


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    reason = verify(*sys.argv[1:5], sys.stdin.buffer.read())
    print("valid" if reason is None else f"invalid: {reason}")
    sys.exit(0 if reason is None else 1)
