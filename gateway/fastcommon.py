"""What the one-pass decoders (:mod:`gateway.fastjson`, :mod:`gateway.fastbinary`) share: the
memoised name check and the framing of the ingest contract's JSON entries.

A name is valid when both the device protocol (``_check_name``) and the ingest contract
(``name_value_problem``) accept it, the two checks the full path makes; names repeat endlessly,
so each is checked once and remembered.

>>> valid("pump-7", NAMES, 64), valid("a\\\\", NAMES, 64)
(True, False)
>>> settle("", None, "pump-7", "s1")
('pump-7', 's1')
>>> settle("other", None, "pump-7", "s1") is None  # the payload and the topic disagree
True
>>> prefix, seq_text, site_text = framing("pump-7", "s1", 3)
>>> prefix + '"t","ts":1' + ',"value":2.5' + seq_text + site_text
'{"device":"pump-7","sensor":"t","ts":1,"value":2.5,"seq":3,"site":"s1"}'
"""

from __future__ import annotations

from firmware_protocol.errors import BadField
from firmware_protocol.model import MAX_NAME_LEN, _check_name
from ingest_protocol import name_value_problem
from ingest_protocol.encode import json_string

#: Entries a memo holds before it is cleared (a fleet's names fit many times over).
CACHE_MAX = 65_536
#: Names (device, site, sensor) and units seen, with whether each is valid.
NAMES: dict[str, bool] = {}
UNITS: dict[str, bool] = {}


def valid(name: str, cache: dict[str, bool], limit: int) -> bool:
    """Whether both the device protocol and the ingest contract accept ``name`` (memoised)."""
    ok = cache.get(name)
    if ok is None:
        try:
            _check_name(name, "name", limit)
            ok = name_value_problem(name, limit) is None
        except BadField:
            ok = False
        if len(cache) >= CACHE_MAX:
            cache.clear()
        cache[name] = ok
    return ok


def settle(device: str, site: str | None, device_tag: str | None,
           site_tag: str | None) -> tuple[str, str | None] | None:
    """Device and site as the codecs' ``finish`` settles them with the topic's tags, both
    valid names, or None (the full path then says why, or accepts)."""
    if device_tag is not None and device != device_tag:
        if device:
            return None  # the payload and the topic disagree
        device = device_tag
    if site_tag is not None:
        if site is None:
            site = site_tag
        elif site != site_tag:
            return None
    if not device or not valid(device, NAMES, MAX_NAME_LEN):
        return None
    if site is not None and not valid(site, NAMES, MAX_NAME_LEN):
        return None
    return device, site


def framing(device: str, site: str | None, seq: int) -> tuple[str, str, str]:
    """The parts of every entry of one message around its sensor, ts, value and extras:
    ``prefix + json(sensor) + ',"ts":..,"value":..' + seq_text + extra + site_text``
    (the layout of :func:`ingest_protocol.encode.reading_objects`)."""
    prefix = f'{{"device":{json_string(device)},"sensor":'
    site_text = "}" if site is None else f',"site":{json_string(site)}}}'
    return prefix, f',"seq":{seq}', site_text

