"""What the fast decoding paths' differential tests share: one comparison with the full path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firmware_protocol.topics import Subscription
from gateway.decoding import Decoded, Decoder, decode

SUBS = [Subscription()]
#: A fast path: (payload, device, site, keep) -> its result, or None (the full path decides).
FastPath = Callable[[bytes, str, str | None, bool], Any]


def agree(fast_path: FastPath, fmt: str, payload: bytes, device: str, site: str,
          keep: bool = True, must_take: bool = False) -> None:
    """``fast_path`` accepts only what the full path accepts, with equal output (and, with
    ``must_take``, takes every payload the full path accepts)."""
    topic = f"sensors/{site}/{device}/{fmt}"
    full = decode(SUBS, topic, payload, 0, keep)
    assert Decoder(SUBS, keep).decode(topic, payload, 0) == full
    route = SUBS[0].route(topic)
    if route is None:  # a name with "/" in it: no route, never the fast path
        return
    shown = payload.hex() if fmt == "binary" else payload
    fast = fast_path(payload, route.context.device, route.context.site, keep)
    if fast is not None:
        assert fast == full, shown
    elif must_take:
        assert not isinstance(full, Decoded), (shown, full)
