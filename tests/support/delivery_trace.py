"""Where did a lost message stop? The gateway's intake trace and a broker-side witness.

With ``log.level = "DEBUG"`` the gateway's intake logs one line per message it appended to its
intake log (``delivered conn=.. mid=.. dup=.. acked=.. topic=.. payload=<hex>``, see
:mod:`gateway.intake`). For a message the manifest says was acknowledged but InfluxDB lacks:

- found in the trace: the broker delivered it and the gateway logged it durably, so the loss
  is the gateway's or the cloud's (after the intake log);
- not in the trace: it never reached the gateway; a witness that saw it on the node the device
  published to (:class:`~tests.support.nats_witness.NatsWitness`) shows the broker received it.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from firmware_protocol.codecs import get_codec
from tests.support.nats_witness import NatsWitness

_LINE = re.compile(
    r"^(?P<time>\S+ \S+) DEBUG gateway\.intake: delivered conn=(?P<conn>\d+) mid=(?P<mid>\d+) "
    r"qos=\d+ dup=(?P<dup>\d) acked=(?P<acked>\d) at=\d+ topic=(?P<topic>\S+) "
    r"payload=(?P<payload>[0-9a-f]*)$")

MessageKey = tuple[str, int]


class Delivery(NamedTuple):
    """One message as the gateway's intake trace shows it."""

    time: str
    conn: int
    mid: int
    dup: bool
    acked: bool

    def __str__(self) -> str:
        return (f"{self.time} conn={self.conn} mid={self.mid} dup={int(self.dup)} "
                f"acked={int(self.acked)}")


def message_key(topic: str, payload: bytes) -> MessageKey | None:
    """(device, seq) of a payload, decoded with the codec the topic's last level names."""
    try:
        msg = get_codec(topic.replace(".", "/").rsplit("/", 1)[-1]).decode(payload)
    except Exception:  # anything undecodable is simply not a reading message
        return None
    return msg.device, msg.seq


def gateway_deliveries(log_path: Path) -> dict[MessageKey, list[Delivery]]:
    """Every traced delivery in the gateway's log, by (device, seq), in log order."""
    out: dict[MessageKey, list[Delivery]] = {}
    if not log_path.exists():
        return out
    with log_path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _LINE.match(line.rstrip("\n"))
            if m is None:
                continue
            key = message_key(m["topic"], bytes.fromhex(m["payload"]))
            if key is not None:
                out.setdefault(key, []).append(Delivery(
                    m["time"], int(m["conn"]), int(m["mid"]), m["dup"] == "1",
                    m["acked"] == "1"))
    return out


def delivered_to_gateway(lost: Iterable[tuple[str, int, str]],
                         gateway_log: Path) -> list[MessageKey]:
    """The lost readings' messages that the gateway's intake trace shows it received: a loss
    of the gateway's or the cloud's, never of the broker's."""
    deliveries = gateway_deliveries(gateway_log)
    return sorted({(device, seq) for device, seq, _ in lost if (device, seq) in deliveries})


def witnessed(witnesses: Sequence[NatsWitness]) -> dict[MessageKey, list[str]]:
    """By (device, seq): which witness saw the message and when."""
    import time

    out: dict[MessageKey, list[str]] = {}
    for w in witnesses:
        for seen in list(w.seen):
            key = message_key(seen.subject, seen.payload)
            if key is not None:
                stamp = time.strftime("%H:%M:%S", time.localtime(seen.at))
                millis = int(seen.at * 1000) % 1000
                out.setdefault(key, []).append(f"{w.name} at {stamp}.{millis:03d}")
    return out


def dedup_slot(db: Path, device: str, seq: int, window: int = 256) -> str:
    """What the gateway's de-duplication window holds in the slot of ``seq``."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT seq, ts_ms FROM dedup WHERE device = ? AND slot = ?",
                               (device, seq % window)).fetchone()
    except sqlite3.Error as exc:
        return f"unreadable ({exc})"
    return "empty" if row is None else f"seq={row[0]} ts_ms={row[1]}"


def explain_losses(lost: Iterable[tuple[str, int, str]], gateway_log: Path,
                   witnesses: Sequence[NatsWitness] = (), gateway_db: Path | None = None,
                   limit: int = 20) -> str:
    """One paragraph per lost message: delivered to the gateway or not, seen by a witness."""
    messages = sorted({(device, seq) for device, seq, _ in lost})
    if not messages:
        return "delivery trace: nothing lost"
    deliveries = gateway_deliveries(gateway_log)
    seen = witnessed(witnesses)
    total = sum(len(d) for d in deliveries.values())
    conns = Counter(d.conn for ds in deliveries.values() for d in ds)
    dups = sum(d.dup for ds in deliveries.values() for d in ds)
    lines = [f"delivery trace: the gateway logged {total} deliveries of {len(deliveries)} "
             f"messages ({dups} with DUP; per connection {dict(sorted(conns.items()))}); "
             + "; ".join(f"{w.name}: {len(w.seen)} messages, {w.connects} connects"
                         for w in witnesses)]
    if total == 0:
        lines.append("  (no trace lines: is the gateway's log level DEBUG?)")
    for device, seq in messages[:limit]:
        got = deliveries.get((device, seq), [])
        where = seen.get((device, seq), [])
        verdict = ("DELIVERED to the gateway (a loss after its intake log)" if got else
                   "NEVER delivered to the gateway"
                   + (" though the broker received it" if where else ""))
        slot = f"; dedup slot: {dedup_slot(gateway_db, device, seq)}" if gateway_db else ""
        lines.append(f"  {device} seq {seq}: {verdict}; gateway: "
                     f"{'; '.join(map(str, got)) or 'none'}; witness: "
                     f"{', '.join(where) or 'not seen'}{slot}")
    if len(messages) > limit:
        lines.append(f"  ... and {len(messages) - limit} more messages")
    return "\n".join(lines)
