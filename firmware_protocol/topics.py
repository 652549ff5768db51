"""The topic scheme: where devices publish, and how a topic yields tags and a codec.

Default topic: ``sensors/{site}/{device}/{format}``, e.g. ``sensors/plant-a/pump-7/binary``.
A :class:`TopicTemplate` is a topic with named placeholders, one MQTT level each:

- ``{name}`` matches one level and captures it as tag ``name`` (MQTT ``+``);
- ``+`` matches one level without capturing it;
- ``{name...}`` as the last level matches all remaining levels (MQTT ``#``) into tag ``name``;
- ``#`` as the last level matches the remaining levels without capturing them;
- any other level is literal.

A :class:`Subscription` pairs a template with the rule that picks the codec: a fixed codec
name for every topic it matches, or (the default) the ``{format}`` level of each topic.

>>> t = TopicTemplate(DEFAULT_TOPIC_TEMPLATE)
>>> t.filter
'sensors/+/+/+'
>>> t.match("sensors/plant-a/pump-7/binary")
{'site': 'plant-a', 'device': 'pump-7', 'format': 'binary'}
>>> t.match("sensors/plant-a/pump-7") is None
True
>>> t.format(site="plant-a", device="pump-7", format="json")
'sensors/plant-a/pump-7/json'
>>> route = Subscription().route("sensors/plant-a/pump-7/senml-cbor", received_ms=5)
>>> route.codec.name, route.context
('senml-cbor', DecodeContext(device='pump-7', site='plant-a', received_ms=5))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmware_protocol.codec import Codec, DecodeContext
from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.errors import TopicError, UnknownFormat

DEFAULT_TOPIC_TEMPLATE = "sensors/{site}/{device}/{format}"
#: Longest topic, in UTF-8 bytes, ``format`` builds (MQTT allows 65535; brokers often less).
MAX_TOPIC_BYTES = 1024

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FORBIDDEN_IN_TAG = ("/", "+", "#", "\x00")


@dataclass(frozen=True, slots=True)
class _Level:
    kind: str  # "literal", "one", "rest"
    text: str = ""  # literal text, or the tag name ("" for an anonymous wildcard)


class TopicTemplate:
    """A topic with named placeholders; see the module docstring for the syntax.

    >>> TopicTemplate("farm/{device}/{rest...}").match("farm/cow-1/a/b")
    {'device': 'cow-1', 'rest': 'a/b'}
    >>> TopicTemplate("farm/dev-{id}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    firmware_protocol.errors.TopicError: topic template 'farm/dev-{id}': level 2 'dev-{id}': ...
    """

    def __init__(self, template: str = DEFAULT_TOPIC_TEMPLATE) -> None:
        self.template = template
        self._levels = _parse(template)
        self.names: tuple[str, ...] = tuple(lv.text for lv in self._levels if lv.text and
                                            lv.kind != "literal")

    def __repr__(self) -> str:
        return f"TopicTemplate({self.template!r})"

    @property
    def filter(self) -> str:
        """The MQTT subscription filter: placeholders become ``+`` (``#`` for a trailing rest)."""
        out = []
        for lv in self._levels:
            out.append(lv.text if lv.kind == "literal" else "+" if lv.kind == "one" else "#")
        return "/".join(out)

    def match(self, topic: str) -> dict[str, str] | None:
        """The tags in ``topic``, or ``None`` if it does not match (or a captured level is empty).

        As in MQTT, a template starting with a wildcard does not match ``$SYS``-style topics.
        """
        parts = topic.split("/")
        if topic.startswith("$") and self._levels[0].kind != "literal":
            return None
        tags: dict[str, str] = {}
        for i, lv in enumerate(self._levels):
            if lv.kind == "rest":
                if lv.text:
                    tags[lv.text] = "/".join(parts[i:])
                return tags
            if i >= len(parts):
                return None
            if lv.kind == "literal":
                if parts[i] != lv.text:
                    return None
            elif lv.text:
                if not parts[i]:
                    return None
                tags[lv.text] = parts[i]
        return tags if len(parts) == len(self._levels) else None

    def format(self, **tags: str) -> str:
        """The topic for ``tags``; :class:`TopicError` for missing, extra or unsafe tag values."""
        missing = [n for n in self.names if n not in tags]
        extra = sorted(set(tags) - set(self.names))
        if missing or extra:
            raise TopicError(f"topic template {self.template!r}: missing tags {missing}, "
                             f"unknown tags {extra}")
        out = []
        for lv in self._levels:
            if lv.kind == "literal":
                out.append(lv.text)
                continue
            if not lv.text:
                raise TopicError(f"topic template {self.template!r} has an anonymous wildcard; "
                                 "it can subscribe but not build topics")
            out.append(_safe(lv.text, tags[lv.text], rest=lv.kind == "rest"))
        topic = "/".join(out)
        if len(topic.encode("utf-8", "replace")) > MAX_TOPIC_BYTES:
            raise TopicError(f"topic {topic[:40]!r}... is longer than {MAX_TOPIC_BYTES} bytes")
        return topic


def _safe(name: str, value: object, rest: bool) -> str:
    if not isinstance(value, str) or not value:
        raise TopicError(f"tag {name!r} is {value!r}; a tag is a non-empty string")
    bad = [c for c in _FORBIDDEN_IN_TAG if c in value and not (rest and c == "/")]
    if bad:
        raise TopicError(f"tag {name}={value!r} contains {bad[0]!r}, which MQTT topics reserve")
    if rest and "" in value.split("/"):
        raise TopicError(f"tag {name}={value!r} has an empty level")
    return value


def _parse(template: str) -> tuple[_Level, ...]:
    def fail(problem: str) -> TopicError:
        return TopicError(f"topic template {template!r}: {problem}")

    if not isinstance(template, str) or not template:
        raise fail("is empty")
    raw = template.split("/")
    levels: list[_Level] = []
    for i, part in enumerate(raw, start=1):
        last = i == len(raw)
        found = _PLACEHOLDER.fullmatch(part)
        if part in ("+", "#"):
            if part == "#" and not last:
                raise fail(f"level {i} '#' must be the last level")
            levels.append(_Level("one" if part == "+" else "rest"))
        elif found:
            name, rest = found.group(1), False
            if name.endswith("..."):
                name, rest = name[:-3], True
                if not last:
                    raise fail(f"level {i} {part!r} matches the rest, so it must be the last")
            if not _NAME.fullmatch(name):
                raise fail(f"level {i} {part!r}: {name!r} is not a valid tag name")
            if any(lv.text == name and lv.kind != "literal" for lv in levels):
                raise fail(f"tag {name!r} appears twice")
            levels.append(_Level("rest" if rest else "one", name))
        elif any(c in part for c in "{}+#"):
            raise fail(f"level {i} {part!r}: a placeholder must be a whole level, and + or # "
                       "a whole level of their own")
        else:
            levels.append(_Level("literal", part))
    return tuple(levels)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a received topic leads: its tags, the codec to decode with, the decode context."""

    tags: dict[str, str]
    codec: Codec
    context: DecodeContext


class Subscription:
    """A topic template plus the rule that picks each payload's codec.

    ``codec=None`` (the default) takes the codec from the topic's ``{format}`` level; a codec
    name fixes it for every topic the template matches (for firmware whose topics carry no
    format). Tags ``device`` and ``site`` feed the :class:`DecodeContext`.

    >>> sub = Subscription("plant/{device}/up", codec="json")
    >>> sub.filter, sub.route("plant/p1/up").codec.name
    ('plant/+/up', 'json')
    """

    def __init__(self, template: str | TopicTemplate = DEFAULT_TOPIC_TEMPLATE,
                 codec: str | None = None) -> None:
        self.template = template if isinstance(template, TopicTemplate) else TopicTemplate(template)
        if codec is None and "format" not in self.template.names:
            raise TopicError(f"subscription {self.template.template!r} names no codec and has "
                             "no {format} level; give codec= one of " + ", ".join(CODEC_NAMES))
        if codec is not None and codec not in CODEC_NAMES:
            raise TopicError(f"unknown codec {codec!r}; valid names: {', '.join(CODEC_NAMES)}")
        self.codec_name = codec
        self._codecs = {name: get_codec(name) for name in CODEC_NAMES}

    @property
    def filter(self) -> str:
        """The MQTT filter to subscribe to."""
        return self.template.filter

    def route(self, topic: str, received_ms: int | None = None) -> Route | None:
        """The route for ``topic`` (``None`` if it does not match); :class:`UnknownFormat` if
        its ``{format}`` level names no codec."""
        tags = self.template.match(topic)
        if tags is None:
            return None
        name = self.codec_name or tags["format"]
        codec = self._codecs.get(name)
        if codec is None:
            raise UnknownFormat(f"topic {topic!r}: format {name!r} is not one of "
                                + ", ".join(CODEC_NAMES))
        context = DecodeContext(tags.get("device"), tags.get("site"), received_ms)
        return Route(tags, codec, context)
