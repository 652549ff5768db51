"""``iotgw gateway``: run the daemon, check its configuration, inspect and replay dead letters.

Kept light at import: the daemon's modules load only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.settings import GatewaySettings


def register(subparsers: Any) -> None:
    """Add the ``gateway`` command group to the ``iotgw`` parser."""
    p = subparsers.add_parser(
        "gateway", help="the edge gateway daemon",
        description="The edge gateway: MQTT intake acknowledged only after a durable commit, "
        "a store-and-forward buffer, dead letters and a resilient uplink.")
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="gateway_command", metavar="COMMAND")

    def with_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--config", metavar="FILE", default=None,
                            help="TOML settings file (environment IOTGW_GATEWAY_* overrides it)")
        parser.add_argument("--partition", metavar="NAME", default=None,
                            help="act as this [[partition]] of the settings file: its "
                            "subscriptions, id, data directory and health port")
        return parser

    with_config(sub.add_parser("run", help="run the gateway until SIGTERM/SIGINT")
                ).set_defaults(func=cmd_run)
    sub.add_parser("config", help="print a commented sample configuration (every key, "
                   "default and meaning)").set_defaults(func=cmd_config)
    check = with_config(sub.add_parser(
        "check-config", help="validate the settings and print them as TOML, secrets masked"))
    check.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    check.add_argument("--connect", action="store_true",
                       help="also try the broker and the cloud (with the token)")
    check.set_defaults(func=cmd_check_config)

    dlq = sub.add_parser("dlq", help="inspect, replay or purge dead letters")
    dlq.set_defaults(func=lambda _a: (dlq.print_help(), 2)[1])
    dsub = dlq.add_subparsers(dest="dlq_command", metavar="ACTION")
    ls = with_config(dsub.add_parser("list", help="list dead letters, newest first"))
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--reason", default=None, help="only this reason")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=cmd_dlq_list)
    show = with_config(dsub.add_parser("show", help="show one dead letter with its payload"))
    show.add_argument("id", type=int)
    show.set_defaults(func=cmd_dlq_show)
    rp = with_config(dsub.add_parser("replay", help="run dead letters through the pipeline again"))
    rp.add_argument("ids", type=int, nargs="*", metavar="ID")
    rp.add_argument("--all", action="store_true", help="replay every dead letter")
    rp.set_defaults(func=cmd_dlq_replay)
    pg = with_config(dsub.add_parser("purge", help="delete dead letters for good"))
    pg.add_argument("ids", type=int, nargs="*", metavar="ID")
    pg.add_argument("--all", action="store_true", help="delete every dead letter")
    pg.set_defaults(func=cmd_dlq_purge)


def _fail(message: str, code: int = 2) -> int:  # 2: a usage error, as argparse's
    print(f"iotgw gateway: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> GatewaySettings:
    from common.settings import ConfigError
    from gateway.settings import GatewaySettings

    settings = GatewaySettings.load(args.config)
    if args.partition is None:
        return settings
    try:
        return settings.for_partition(args.partition)
    except ValueError as exc:
        where = f"{args.config}: " if args.config else ""
        raise ConfigError(f"{where}partition: {exc}") from None


def _guard(func: Any) -> Any:
    """Turn the gateway's own errors into one line on stderr and a non-zero exit."""

    def wrapped(args: argparse.Namespace) -> int:
        from common.settings import EXIT_CONFIG, ConfigError
        from gateway.errors import GatewayError

        try:
            return int(func(args))
        except ConfigError as exc:
            return _fail(f"bad configuration: {exc}", EXIT_CONFIG)
        except GatewayError as exc:
            return _fail(str(exc), 1)

    return wrapped


@_guard
def cmd_run(args: argparse.Namespace) -> int:
    from gateway import logs, service

    settings = _settings(args)
    logs.configure(settings.log.level, settings.log.format)
    return service.run(settings, reload_from=lambda: _settings(args), config_file=args.config)


SAMPLE_TITLE = """iotgw gateway configuration ({source}).

Every key is optional; environment variables override the file:
IOTGW_GATEWAY_<SECTION>__<KEY>, e.g. IOTGW_GATEWAY_UPLINK__TOKEN (keep secrets there).
Commented-out keys have no default value to show."""


def cmd_config(_args: argparse.Namespace) -> int:
    from common.sample_config import render_toml
    from gateway.settings import GatewaySettings

    print(render_toml(GatewaySettings, title=SAMPLE_TITLE.format(source="defaults")), end="")
    return 0


@_guard
def cmd_check_config(args: argparse.Namespace) -> int:
    from common.sample_config import render_toml
    from gateway.settings import GatewaySettings

    settings = _settings(args)
    if args.json:
        print(json.dumps(settings.masked(), indent=2))
    else:
        source = f"effective: {args.config or 'no file'} + environment; secrets masked"
        print(render_toml(GatewaySettings, settings, SAMPLE_TITLE.format(source=source)), end="")
    print("configuration OK", file=sys.stderr)
    if not args.connect:
        return 0
    from gateway.checks import run_checks

    return run_checks(settings)


def _stores(args: argparse.Namespace) -> Any:
    from gateway.service import open_stores

    settings = _settings(args)
    if not (settings.gateway.data_dir / "gateway.db").exists():
        from common.settings import ConfigError

        where = f"{args.config}: " if args.config else ""
        raise ConfigError(
            f"{where}gateway.data_dir: no gateway database in {settings.gateway.data_dir}")
    return settings, *open_stores(settings)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@_guard
def cmd_dlq_list(args: argparse.Namespace) -> int:
    _s, db, dead, _b = _stores(args)
    entries = dead.entries(args.limit, args.reason)
    for e in entries:
        row = {"id": e.id, "time": _when(e.created_ms), "source": e.source, "reason": e.reason,
               "topic": e.topic, "bytes": e.payload_bytes or len(e.payload),
               "truncated": e.truncated, "sha256": e.payload_sha256, "detail": e.detail}
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{e.id:>8}  {row['time']}  {e.source:<6}  {e.reason:<16} "
                  f"{e.topic or e.stream or '-'}  {e.detail[:80]}")
    counts = dead.counts()
    print(f"{sum(counts.values())} dead letters: "
          + (", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none")
          + f"; {dead.evicted()} evicted (oldest first) to keep the store within "
            f"{dead.max_total_bytes} bytes", file=sys.stderr)
    db.close()
    return 0


@_guard
def cmd_dlq_show(args: argparse.Namespace) -> int:
    _s, db, dead, _b = _stores(args)
    e = dead.get(args.id)
    db.close()
    if e is None:
        return _fail(f"no dead letter with id {args.id} (see `iotgw gateway dlq list`)", 1)
    try:
        text: str | None = e.payload.decode()
    except UnicodeDecodeError:
        text = None
    print(json.dumps({
        "id": e.id, "time": _when(e.created_ms), "source": e.source, "reason": e.reason,
        "detail": e.detail, "topic": e.topic, "codec": e.codec, "stream": e.stream,
        "payload_text": text, "payload_hex": None if text is not None else e.payload.hex(),
    }, indent=2))
    return 0


@_guard
def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from gateway.dedup import DedupWindow
    from gateway.metrics import GatewayMetrics
    from gateway.pipeline import Pipeline
    from gateway.replay import replay

    if not args.ids and not args.all:
        return _fail("name the dead letters to replay (IDs) or pass --all")
    settings, db, dead, buffer = _stores(args)
    pipeline = Pipeline(db, [s.build() for s in settings.mqtt.subscriptions], buffer, dead,
                        DedupWindow(db, settings.buffer.dedup_window), GatewayMetrics())
    ids = dead.all_ids() if args.all else args.ids
    result = replay(ids, db, dead, buffer, pipeline)
    db.close()
    print(f"replayed {len(ids)}: buffered {result.buffered}, duplicates {result.duplicates}, "
          f"still failing {result.still_failing}, not found {result.missing}")
    return 0 if result.still_failing == 0 and result.missing == 0 else 1


@_guard
def cmd_dlq_purge(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        return _fail("name the dead letters to purge (IDs) or pass --all")
    _s, db, dead, _b = _stores(args)
    n = dead.purge() if args.all else dead.delete(args.ids)
    db.close()
    print(f"purged {n} dead letters")
    return 0
