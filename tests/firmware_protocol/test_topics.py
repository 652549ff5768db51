"""The topic scheme: templates, filters, tag extraction, topic building, codec selection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.codecs import CODEC_NAMES
from firmware_protocol.errors import DecodeError, TopicError, UnknownFormat
from firmware_protocol.topics import DEFAULT_TOPIC_TEMPLATE, Subscription, TopicTemplate
from tests.firmware_protocol.strategies import PROFILE

DEFAULT = TopicTemplate(DEFAULT_TOPIC_TEMPLATE)
D = DEFAULT_TOPIC_TEMPLATE


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("sensors/{site}/{device}/{format}", "sensors/+/+/+"),
        ("farm/+/{device}/#", "farm/+/+/#"),
        ("farm/{device}/{rest...}", "farm/+/#"),
        ("plain/topic", "plain/topic"),
    ],
)
def test_filter(template: str, expected: str) -> None:
    assert TopicTemplate(template).filter == expected


@pytest.mark.parametrize(
    ("template", "topic", "tags"),
    [
        (D, "sensors/a/d1/json", {"site": "a", "device": "d1", "format": "json"}),
        (D, "sensors/a/d1/json/extra", None),
        (D, "sensors/a/d1", None),
        (D, "other/a/d1/json", None),
        (D, "sensors//d1/json", None),  # empty captured level
        ("farm/+/{device}/#", "farm/x/cow/a/b", {"device": "cow"}),
        ("farm/+/{device}/#", "farm/x/cow", {"device": "cow"}),  # '#' also matches the parent
        ("farm/{device}/{rest...}", "farm/cow/a/b", {"device": "cow", "rest": "a/b"}),
        ("{device}/up", "$SYS/up", None),  # wildcards never match $-topics
        ("$SYS/{what}", "$SYS/load", {"what": "load"}),
    ],
)
def test_match(template: str, topic: str, tags: dict[str, str] | None) -> None:
    assert TopicTemplate(template).match(topic) == tags


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("", "empty"),
        ("a/#/b", "last"),
        ("a/{rest...}/b", "last"),
        ("a/dev-{id}", "whole level"),
        ("a/x+", "whole level"),
        ("a/{1bad}", "not a valid tag name"),
        ("a/{d}/{d}", "twice"),
    ],
)
def test_bad_templates_say_what_is_wrong(template: str, problem: str) -> None:
    with pytest.raises(TopicError, match=problem):
        TopicTemplate(template)


@pytest.mark.parametrize("value", ["a/b", "a+", "#", "", "nul\x00"])
def test_format_rejects_unsafe_tag_values(value: str) -> None:
    with pytest.raises(TopicError):
        DEFAULT.format(site="s", device=value, format="json")


def test_format_rejects_missing_and_unknown_tags_and_anonymous_wildcards() -> None:
    with pytest.raises(TopicError, match="missing tags \\['format'\\]"):
        DEFAULT.format(site="s", device="d")
    with pytest.raises(TopicError, match="unknown tags \\['colour'\\]"):
        DEFAULT.format(site="s", device="d", format="json", colour="red")
    with pytest.raises(TopicError, match="anonymous"):
        TopicTemplate("farm/+/{device}").format(device="d")


_level = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/+#$"),
                 min_size=1, max_size=20)


@PROFILE
@given(site=_level, device=_level, fmt=st.sampled_from(CODEC_NAMES))
def test_format_then_match_round_trips(site: str, device: str, fmt: str) -> None:
    topic = DEFAULT.format(site=site, device=device, format=fmt)
    assert DEFAULT.match(topic) == {"site": site, "device": device, "format": fmt}


def test_subscription_selects_codec_from_format_level() -> None:
    sub = Subscription()
    assert sub.filter == "sensors/+/+/+"
    for name in CODEC_NAMES:
        route = sub.route(f"sensors/plant/p1/{name}", received_ms=7)
        assert route is not None
        assert route.codec.name == name
        assert (route.context.device, route.context.site, route.context.received_ms) == (
            "p1", "plant", 7)
    assert sub.route("elsewhere/p1") is None


def test_unknown_format_is_a_decode_error_for_dead_lettering() -> None:
    with pytest.raises(UnknownFormat, match="'xml'") as info:
        Subscription().route("sensors/plant/p1/xml")
    assert isinstance(info.value, DecodeError)
    assert info.value.reason == "unknown_format"


def test_fixed_codec_subscription() -> None:
    sub = Subscription("legacy/{device}", codec="binary")
    route = sub.route("legacy/p9")
    assert route is not None and route.codec.name == "binary" and route.context.site is None
    with pytest.raises(TopicError, match="no codec"):
        Subscription("legacy/{device}")
    with pytest.raises(TopicError, match="valid names"):
        Subscription("legacy/{device}", codec="xml")


def test_route_decodes_with_the_topic_context() -> None:
    from firmware_protocol.model import Message, Reading

    sub = Subscription()
    msg = Message("p1", 1, 1_700_000_000_000, (Reading("t", 1.5),))
    route = sub.route("sensors/plant/p1/json")
    assert route is not None
    decoded = route.codec.decode(route.codec.encode(msg), route.context)
    assert decoded.site == "plant" and decoded.device == "p1"
