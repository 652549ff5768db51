"""The ``iotgw`` command: a thin dispatcher over the command groups of each package.

Each group lives in the package that owns it and exposes ``register(subparsers)``, which adds
one sub-parser whose ``func(args) -> int`` runs the command. Groups are named here by module
path and imported lazily, so this module imports nothing of ``gateway`` or ``cloud`` at import
time and the two packages never import each other (see docs/decisions.md).

Each group needs an extra of the distribution (``pip install 'iotgw[cloud]'``, ...). When a
third-party module it needs is missing, at import or while it runs, the command prints one line
naming the extra and exits 2 (decision 44); ``iotgw --help`` lists every group regardless.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

#: (group name, module that provides ``register``, the extra it needs), in ``--help`` order.
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("gateway", "gateway.cli", "gateway"),
    ("cloud", "cloud.cli", "cloud"),
    ("sim", "simulators.cli", "sim"),
    ("detect", "gateway.detect.cli", "gateway"),
    ("demo", "iotgw.demo", "demo"),
    ("alerts", "iotgw.ops.alerts", "ops"),
    ("rules", "iotgw.ops.rules", "ops"),
)

#: Our own top-level packages: a missing one is a broken install, not a missing extra.
OUR_PACKAGES = frozenset(
    {"iotgw", "gateway", "cloud", "simulators", "firmware_protocol", "ingest_protocol", "common"}
)

#: Third-party modules that belong to an extra other than the group's own.
MODULE_EXTRAS = {"psycopg": "postgres", "psycopg_binary": "postgres", "amqtt": "demo"}

#: Exit code when a command needs an extra that is not installed.
EXIT_MISSING_EXTRA = 2


def version() -> str:
    """The installed distribution's version, or ``0+unknown`` when run from a bare checkout."""
    try:
        return metadata.version("iotgw")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def missing_extra(exc: ImportError, group: str, extra: str) -> str | None:
    """The one line telling which extra to install, when ``exc`` is a missing third-party
    module; ``None`` when it is about our own code (a real bug, re-raised by the caller).

    >>> missing_extra(ModuleNotFoundError("x", name="uvicorn.config"), "cloud", "cloud")
    "iotgw cloud needs the 'cloud' extra: pip install 'iotgw[cloud]' (no module named 'uvicorn')"
    >>> missing_extra(ModuleNotFoundError("x", name="gateway.nope"), "gateway", "gateway")
    """
    name = exc.name or ""
    top = name.split(".", 1)[0]
    if not top or top in OUR_PACKAGES:
        return None
    extra = MODULE_EXTRAS.get(top, extra)
    return (f"iotgw {group} needs the {extra!r} extra: pip install 'iotgw[{extra}]' "
            f"(no module named {top!r})")


def _report_missing(line: str) -> Callable[[argparse.Namespace], int]:
    def run(_args: argparse.Namespace) -> int:
        print(line, file=sys.stderr)
        return EXIT_MISSING_EXTRA

    return run


def _register(sub: Any, name: str, module_name: str, extra: str) -> None:
    """Add one group; a group whose module cannot import for want of an extra still appears,
    and running it prints which extra to install."""
    try:
        importlib.import_module(module_name).register(sub)
    except ImportError as exc:
        line = missing_extra(exc, name, extra)
        if line is None:
            raise
        p = sub.add_parser(name, help=f"(needs: pip install 'iotgw[{extra}]')", add_help=False)
        p.set_defaults(func=_report_missing(line), missing_extra=True)
        return
    parser = sub.choices[name]
    parser.set_defaults(group=name, group_extra=extra)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command tree: the root options plus every registered group (only group
    ``only`` when given: see :func:`named_group`)."""
    parser = argparse.ArgumentParser(
        prog="iotgw",
        description=(
            "Edge-to-cloud IoT ingestion gateway. A reading a device got a PUBACK for is "
            "never lost and never stored twice."
        ),
    )
    parser.add_argument("--version", action="version", version=f"iotgw {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, extra in GROUPS:
        if only is None or name == only:
            _register(sub, name, module_name, extra)
    return parser


def named_group(argv: Sequence[str]) -> str | None:
    """The group the command line runs, when its first word names one; else None.

    Only that group's module is imported then: a daemon (``iotgw gateway run``) must not carry
    the modules of every other command (the HTTP client of ``alerts``, the demo's broker, the
    cloud's admin commands; decision 74). ``iotgw --help`` and the like still build them all.

    >>> named_group(["gateway", "run"]), named_group(["--help"]), named_group(["nope"])
    ('gateway', None, None)
    """
    if not argv:
        return None
    # A root option first (``--version``, ``--help``) names no group: the whole tree.
    return argv[0] if any(argv[0] == name for name, _m, _e in GROUPS) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iotgw`` console script; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(named_group(argv))
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "missing_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        code = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except ImportError as exc:
        line = missing_extra(exc, getattr(args, "group", args.command),
                             getattr(args, "group_extra", "dev"))
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_MISSING_EXTRA
    return int(code or 0)


#: Exit status after the reader of our output went away (``... | head``): 128 + SIGPIPE,
#: what a shell reports for a command killed by the signal.
EXIT_BROKEN_PIPE = 141


def _quiet_broken_pipe() -> int:
    """The reader of stdout has gone (``iotgw gateway dlq show 1 | head``): stop quietly.

    Python would print a traceback, and another one at exit when it flushes stdout again;
    pointing stdout at /dev/null makes that last flush harmless.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
