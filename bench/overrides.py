"""``--set SECTION.KEY=VALUE`` for the benchmarks that start a gateway: settings changed from
the defaults, as TOML values (``--set detect.worker=true --set uplink.max_in_flight=1``)."""

from __future__ import annotations

import argparse
import tomllib
from typing import Any


def add_set_argument(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help=f"a gateway setting (TOML value), e.g. {example}")


def parse_sets(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, dict[str, Any]]:
    """``{section: {key: value}}`` of the ``--set`` items; a malformed one is a usage error."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if not (section and name and value):
            parser.error(f"--set {item!r}: expected SECTION.KEY=VALUE")
        try:
            out.setdefault(section, {})[name] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError as exc:
            parser.error(f"--set {item!r}: {value!r} is not a TOML value ({exc}); quote "
                         "strings, e.g. uplink.encoding='\"json\"'")
    return out
