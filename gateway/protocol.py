"""The gateway's view of ``firmware_protocol``: codecs by name and topic templates.

Kept in one place so the intake and the dead-letter replay resolve subscriptions the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from firmware_protocol.codecs import get_codec
from firmware_protocol.topics import TopicTemplate

from firmware_protocol.codec import Codec


class TopicMatcher(Protocol):
    """A topic template: its MQTT subscription filter and the tags it extracts from a topic."""

    @property
    def filter(self) -> str: ...

    def match(self, topic: str) -> dict[str, str] | None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """One subscription: messages on topics matching ``matcher`` are decoded by ``codec``."""

    template: str
    matcher: TopicMatcher
    codec_name: str
    codec: Codec


def make_route(template: str, codec_name: str) -> Route:
    """A route for a configured subscription; :class:`ValueError` naming what is wrong."""
    codec = get_codec(codec_name)
    matcher = TopicTemplate(template)
    return Route(template, matcher, codec_name, codec)


def find_route(routes: list[Route], topic: str) -> tuple[Route, dict[str, str]] | None:
    """The first route whose template matches ``topic``, with the extracted tags."""
    for route in routes:
        tags = route.matcher.match(topic)
        if tags is not None:
            return route, tags
    return None
