"""``iotgw alerts list|ack|silence|unsilence|silences``: alerts and silences through the API.

    iotgw alerts list --state firing
    iotgw alerts ack 42 --by alice
    iotgw alerts silence --device 'pump-*' --duration 2h --comment "maintenance"
    iotgw alerts unsilence SILENCE_ID
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from typing import Any

from iotgw.ops.client import Client, OpsError, add_connection_args, command, show

ALERT_COLUMNS = ("id", "state", "severity", "rule_name", "device", "sensor", "started",
                 "acked_by", "silenced", "message")
SILENCE_COLUMNS = ("id", "starts", "ends", "matcher", "created_by", "comment")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_s(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1w`` in seconds.

    >>> duration_s("2h"), duration_s("1.5m")
    (7200.0, 90.0)
    """
    m = _DURATION.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number and s, m, h, d or w")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _when(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def register(subparsers: Any) -> None:
    """Add the ``alerts`` group to the ``iotgw`` command."""
    p = subparsers.add_parser("alerts", help="list, acknowledge and silence alerts (cloud API)",
                              description=__doc__.split("\n\n")[0])
    p.set_defaults(func=lambda _a: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="alerts_command", metavar="ACTION")

    ls = sub.add_parser("list", help="alerts, newest first")
    add_connection_args(ls)
    ls.add_argument("--state", choices=("pending", "firing", "resolved"))
    ls.add_argument("--severity", choices=("info", "warning", "critical"))
    ls.add_argument("--device")
    ls.add_argument("--limit", type=int, default=500)
    ls.set_defaults(func=command(cmd_list))

    ack = sub.add_parser("ack", help="acknowledge alerts by id")
    add_connection_args(ack)
    ack.add_argument("ids", type=int, nargs="+", metavar="ID")
    ack.add_argument("--by", default="", help="who acknowledges")
    ack.set_defaults(func=command(cmd_ack))

    sil = sub.add_parser("silence", help="silence matching alerts for a while")
    add_connection_args(sil)
    for field in ("site", "device", "sensor", "rule", "severity"):
        sil.add_argument(f"--{field}", default="*", help=f"{field} pattern (default: *)")
    sil.add_argument("--duration", type=duration_s, required=True, help="e.g. 30m, 2h, 1d")
    sil.add_argument("--comment", default="")
    sil.add_argument("--by", default="", help="who silences")
    sil.set_defaults(func=command(cmd_silence))

    uns = sub.add_parser("unsilence", help="end silences now, by id")
    add_connection_args(uns)
    uns.add_argument("ids", nargs="+", metavar="SILENCE_ID")
    uns.set_defaults(func=command(cmd_unsilence))

    sls = sub.add_parser("silences", help="list silences")
    add_connection_args(sls)
    sls.set_defaults(func=command(cmd_silences))


def _alert_rows(args: argparse.Namespace, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if args.output == "json":
        return alerts
    return [{**a, "started": _when(a.get("started_ms"))} for a in alerts]


def cmd_list(args: argparse.Namespace, client: Client) -> int:
    alerts = client.call("GET", "/v1/alerts", params={
        "state": args.state, "severity": args.severity, "device": args.device,
        "limit": args.limit})
    show(args, _alert_rows(args, alerts), ALERT_COLUMNS)
    return 0


def cmd_ack(args: argparse.Namespace, client: Client) -> int:
    done = [client.call("POST", f"/v1/alerts/{i}/ack", body={"by": args.by}) for i in args.ids]
    show(args, _alert_rows(args, done), ALERT_COLUMNS)
    return 0


def _silence_rows(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if args.output == "json":
        return rows
    out = []
    for s in rows:
        matcher = " ".join(f"{k}={v}" for k, v in s["matcher"].items() if v != "*") or "*"
        out.append({**s, "starts": _when(s["starts_ms"]), "ends": _when(s["ends_ms"]),
                    "matcher": matcher})
    return out


def cmd_silence(args: argparse.Namespace, client: Client) -> int:
    if args.duration <= 0:
        raise OpsError("--duration must be positive", 2)
    matcher = {f: getattr(args, f) for f in ("site", "device", "sensor", "rule", "severity")}
    ends_ms = int((time.time() + args.duration) * 1000)
    created = client.call("POST", "/v1/silences", body={
        "matcher": matcher, "ends_ms": ends_ms, "comment": args.comment,
        "created_by": args.by})
    show(args, _silence_rows(args, [created]), SILENCE_COLUMNS)
    return 0


def cmd_unsilence(args: argparse.Namespace, client: Client) -> int:
    for silence_id in args.ids:
        client.call("DELETE", f"/v1/silences/{silence_id}")
        if args.output == "table":
            print(f"ended silence {silence_id}")
    if args.output == "json":
        show(args, [{"id": i, "ended": True} for i in args.ids], ())
    return 0


def cmd_silences(args: argparse.Namespace, client: Client) -> int:
    show(args, _silence_rows(args, client.call("GET", "/v1/silences")), SILENCE_COLUMNS)
    return 0
