"""Hypothesis strategies for valid messages, and the example budget every property test uses.

``IOTGW_FW_EXAMPLES`` raises the budget for a longer local run (default 150 per property).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from firmware_protocol.codecs._units import UNIT_CODES
from firmware_protocol.model import (
    INT_MAX,
    INT_MIN,
    MAX_OFFSET_MS,
    MAX_TS_MS,
    MIN_TS_MS,
    Message,
    Quality,
    Reading,
)

settings.register_profile(
    "firmware_protocol",
    max_examples=int(os.environ.get("IOTGW_FW_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Decorator applying the shared profile to a property test.
PROFILE = settings.get_profile("firmware_protocol")

_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))


def names(max_bytes: int = 64) -> st.SearchStrategy[str]:
    """Printable strings of 1..``max_bytes`` bytes of UTF-8."""
    return st.text(_CHARS, min_size=1, max_size=max_bytes).filter(
        lambda s: len(s.encode()) <= max_bytes
    )


values = st.one_of(
    st.booleans(),
    st.integers(INT_MIN, INT_MAX),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(places=3, min_value=-10_000, max_value=10_000).map(float),
)
units = st.one_of(st.none(), st.sampled_from(UNIT_CODES), names(16))
readings = st.builds(
    Reading,
    sensor=st.one_of(names(), st.sampled_from(["temperature", "humidity", "rssi"])),
    value=values,
    unit=units,
    offset_ms=st.one_of(st.just(0), st.integers(-MAX_OFFSET_MS, MAX_OFFSET_MS)),
    quality=st.integers(0, 255).map(Quality),
)
messages = st.builds(
    Message,
    device=names(),
    seq=st.integers(0, 2**32 - 1),
    ts_ms=st.integers(MIN_TS_MS + MAX_OFFSET_MS, MAX_TS_MS - MAX_OFFSET_MS),
    readings=st.lists(readings, min_size=1, max_size=8, unique_by=lambda r: (r.sensor, r.offset_ms))
    .map(tuple),
    site=st.one_of(st.none(), names()),
)
