"""Decoding a received payload into what the buffer stores, or the reason it cannot be used.

Pure and side-effect free, so it can run inline in the intake thread or in a worker process
(:mod:`gateway.decode_worker`) while the intake keeps reading and committing.

>>> from firmware_protocol.topics import Subscription
>>> subs = [Subscription()]
>>> ok = decode(subs, "sensors/s1/pump-7/json",
...             b'{"seq": 3, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 2.5}]}', 0)
>>> ok.device, ok.seq, ok.readings
('pump-7', 3, 1)
>>> ok.body
'{"device":"pump-7","sensor":"t","ts":1700000000000,"value":2.5,"seq":3,"site":"s1"}'
>>> decode(subs, "sensors/s1/pump-7/json", b"{oops", 0).reason
'malformed'
>>> decode(subs, "elsewhere/x", b"", 0).reason
'no_route'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from firmware_protocol.errors import DecodeError
from firmware_protocol.model import MAX_NAME_LEN, MAX_UNIT_LEN, Message
from firmware_protocol.topics import Route, Subscription
from gateway.decoded import Decoded, Rejected, Result, ToScore
from gateway.fastbinary import fast_binary
from gateway.fastjson import fast_json
from ingest_protocol import name_value_problem
from ingest_protocol.encode import reading_objects

__all__ = ["Decoded", "Decoder", "Rejected", "Result", "ToScore", "decode", "decode_batch",
           "names_problem", "reading_objects"]

log = logging.getLogger("gateway.decoding")

#: Topics remembered by a :class:`Decoder` (a fleet's topics; cleared when it grows past this).
TOPIC_CACHE = 65_536


def decode(subscriptions: Sequence[Subscription], topic: str, payload: bytes, received_ms: int,
           keep_message: bool = False) -> Result:
    """Route ``topic`` to its codec and decode ``payload``; never raises."""
    try:
        route = _route(subscriptions, topic, received_ms)
    except DecodeError as exc:  # the topic names an unknown format
        return Rejected("", exc.reason, str(exc))
    if route is None:
        return Rejected("", "no_route", "no subscription matches the topic")
    codec = route.codec.name
    try:
        # Every registered codec validates what it decodes (firmware_protocol's contract).
        msg = route.codec.decode(payload, route.context)
    except DecodeError as exc:
        return Rejected(codec, exc.reason, str(exc))
    except Exception as exc:  # a codec bug must not take the stream down
        log.exception("codec %s crashed on a payload from %s", codec, topic)
        return Rejected(codec, "decoder_crash", repr(exc))
    problem = names_problem(msg)
    if problem is not None:
        return Rejected(codec, "invalid_name", problem)
    return Decoded(msg.device, msg.seq, msg.ts_ms, len(msg.readings), reading_objects(msg),
                   to_score(msg) if keep_message else None)


def to_score(msg: Message) -> ToScore:
    """What the scorer reads of ``msg``."""
    values = tuple((r.sensor, msg.reading_ts_ms(r), float(r.value)) for r in msg.readings
                   if not isinstance(r.value, bool))
    return ToScore(msg.site, msg.reading_ts_ms(msg.readings[0]), values)


def names_problem(msg: Message) -> str | None:
    """Why the cloud would refuse ``msg``'s names (the ingest contract's rule), or None.

    The device protocol accepts names the ingest contract refuses (a trailing backslash, a
    backslash before a space, invisible characters): such a message is dead-lettered here with
    its reason instead of being forwarded for the cloud to dead-letter reading by reading.
    """
    named = [("device", msg.device, MAX_NAME_LEN)]
    if msg.site is not None:
        named.append(("site", msg.site, MAX_NAME_LEN))
    for r in msg.readings:
        named.append(("sensor", r.sensor, MAX_NAME_LEN))
        if r.unit is not None:
            named.append(("unit", r.unit, MAX_UNIT_LEN))
    for field, value, limit in named:
        problem = name_value_problem(value, limit)
        if problem is not None:
            return f"{field} {value!r}: {problem}"
    return None


def decode_batch(subscriptions: Sequence[Subscription],
                 items: Sequence[tuple[str, bytes, int]], keep_message: bool) -> list[Result]:
    """:func:`decode` over ``(topic, payload, received_ms)`` items, in order."""
    return Decoder(subscriptions, keep_message).decode_batch(items)


#: A one-pass decoder: ``(payload, device tag, site tag, keep) -> Decoded | None``.
FastPath = Callable[[bytes, str | None, str | None, bool], Decoded | None]
#: Codecs with a one-pass path (:mod:`gateway.fastjson`, :mod:`gateway.fastbinary`).
FAST_PATHS: dict[str, FastPath] = {"json": fast_json, "binary": fast_binary}


class Decoder:
    """:func:`decode` with memory: each topic is routed once, and a JSON or binary payload
    takes its codec's one-pass path (the full path only when that one is unsure).

    >>> d = Decoder([Subscription()], keep_message=False)
    >>> [r.readings for r in d.decode_batch([("sensors/s/p/json",
    ...     b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 1}]}', 0)])]
    [1]
    """

    def __init__(self, subscriptions: Sequence[Subscription], keep_message: bool) -> None:
        self.subscriptions = subscriptions
        self.keep_message = keep_message
        #: topic -> (fast path, device tag, site tag) for a topic routed to a codec that has
        #: one, else None.
        self._fast_topics: dict[str, tuple[FastPath, str | None, str | None] | None] = {}

    def decode(self, topic: str, payload: bytes, received_ms: int) -> Result:
        known = self._fast_topics
        route = known[topic] if topic in known else self._learn(topic, received_ms)
        if route is not None:
            try:
                fast = route[0](payload, route[1], route[2], self.keep_message)
            except Exception:  # a fast-path bug must not take the stream down: full path
                log.exception("the fast path failed on a payload from %s", topic)
                fast = None
            if fast is not None:
                return fast
        return decode(self.subscriptions, topic, payload, received_ms, self.keep_message)

    def decode_batch(self, items: Sequence[tuple[str, bytes, int]]) -> list[Result]:
        """:meth:`decode` over ``(topic, payload, received_ms)`` items, in order."""
        one = self.decode
        return [one(t, p, r) for t, p, r in items]

    def _learn(self, topic: str,
               received_ms: int) -> tuple[FastPath, str | None, str | None] | None:
        try:
            route = _route(self.subscriptions, topic, received_ms)
        except DecodeError:
            return None  # not remembered: the full path rejects it each time
        fast = None
        path = FAST_PATHS.get(route.codec.name) if route is not None else None
        if route is not None and path is not None:
            fast = (path, route.context.device, route.context.site)
        if len(self._fast_topics) >= TOPIC_CACHE:
            self._fast_topics.clear()
        self._fast_topics[topic] = fast
        return fast


def _route(subscriptions: Sequence[Subscription], topic: str, received_ms: int) -> Route | None:
    for subscription in subscriptions:
        route = subscription.route(topic, received_ms)
        if route is not None:
            return route
    return None
