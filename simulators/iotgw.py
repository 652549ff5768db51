"""The ``iotgw`` command: a thin dispatcher over the command groups of each package.

Each group lives in the package that owns it and exposes ``register(subparsers)``, which adds
one sub-parser whose ``func(args) -> int`` runs the command. Groups are named here by module
path and imported lazily, so this module imports nothing of ``gateway`` or ``cloud`` at import
time and the two packages never import each other (see docs/decisions.md).

A group is listed only once its issue has landed: there are no placeholder commands.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib import metadata

#: (group name, module that provides ``register``), in the order ``--help`` lists them.
GROUPS: tuple[tuple[str, str], ...] = (
    ("gateway", "gateway.cli"),
    ("cloud", "cloud.cli"),
    ("sim", "simulators.cli"),
    ("detect", "gateway.detect.cli"),
    ("demo", "simulators.demo"),
)


def version() -> str:
    """The installed distribution's version, or ``0+unknown`` when run from a bare checkout."""
    try:
        return metadata.version("iotgw")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree: the root options plus every registered group."""
    parser = argparse.ArgumentParser(
        prog="iotgw",
        description=(
            "Edge-to-cloud IoT ingestion gateway. A reading a device got a PUBACK for is "
            "never lost and never stored twice."
        ),
    )
    parser.add_argument("--version", action="version", version=f"iotgw {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, module_name in GROUPS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iotgw`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        code = func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
