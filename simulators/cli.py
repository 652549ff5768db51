"""``iotgw sim``: publish a simulated sensor fleet (``run``) or a CSV series (``replay``) to MQTT.

This module only declares the command line; the work is imported when a command runs
(:mod:`simulators.commands`), so ``iotgw --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

FORMATS = ("binary", "json", "senml-json", "senml-cbor")
ALL_SENSORS = "temperature,vibration,pressure,humidity,current"

FAULTS_HELP = """\
fault spec (--faults SPEC):
  SPEC  := FAULT[,FAULT...]      FAULT := KIND[=RATE][@DEVICE][/LEN]
  RATE    probability per message, 0..1 (for lasting kinds: chance an episode starts)
  @DEVICE only this device (name like dev-0003, or its index 3); without RATE it hits
          every message of that device (a lasting kind: one episode from the first
          message, /LEN messages long or the whole run)
  /LEN    episode length in messages for lasting kinds (default 20)
  kinds:  spike       one reading jumps by 6-12x its sensor's typical span
          drift       one reading drifts, 2% of its span more each message (lasting)
          stuck       one reading repeats its value (lasting)
          dropout     the device stays silent; manifest line with sent=false (lasting)
          clock-skew  the device clock is 1 h (+1 ms) ahead or behind (lasting)
          duplicate   the payload is published twice (same device and seq)
          out-of-order the message goes out after the device's next one
          bad-crc     broken CRC (binary) / corrupted first byte (other formats)
          truncated   payload cut short
          wrong-type  a value of the wrong type (quoted number; binary: bool byte 2)
  example: --faults "spike=0.01,duplicate=0.02,dropout=0.001/30,stuck@dev-0002,bad-crc=0.005"

degradation (--degrade DEVICE:DURATION[@AFTER], repeatable):
  the machine wears out over DURATION of device time, starting AFTER into the run (default 0),
  then fails: vibration rises (steeply at the end), casing temperature follows with a lag,
  current creeps up; at failure the motor trips (current and vibration drop to ~0).
  DURATION/AFTER: 90, 90s, 15m, 6h.  Compressed demo: --degrade dev-0001:2m
  The manifest's "degradation" field carries the wear (0..1; 1 = failed).

"""

COMMON_HELP = """\
manifest (--manifest FILE.jsonl): one JSON line per publish, in send order, with device, seq,
  ts (UTC ms), site, topic, format, qos, readings [{sensor, value, ts, unit, fault}], fault,
  faults, malformed, duplicate, sent, acked (QoS 1: PUBACK received; QoS 0: written to the
  socket, no broker confirmation) and degradation. See simulators/manifest.py for readers.
  With --processes N, one file per process: run.jsonl -> run.p0.jsonl .. run.p{N-1}.jsonl
  (the readers take run.jsonl and merge them).

exit status: 0 all publishes acknowledged; 1 some were not; 2 bad arguments or input;
  3 the broker cannot be reached, refused the connection, or acknowledged nothing for
  --ack-timeout seconds mid-run; 130 interrupted (manifest kept).
"""


def _device_prefix(text: str) -> str:
    """Letters, digits and ``-_.:`` only: the name is also an MQTT topic level."""
    if not text or len(text) > 48 or not all(c.isascii() and (c.isalnum() or c in "-_.:")
                                             for c in text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use 1-48 ASCII letters, digits or - _ . :")
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _add_broker_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("broker")
    g.add_argument("--broker", default="mqtt://127.0.0.1:1883", metavar="URL",
                   help="mqtt://HOST:PORT or mqtts://HOST:PORT (default %(default)s)")
    g.add_argument("--username", help="MQTT user name")
    g.add_argument("--password", default=os.environ.get("IOTGW_SIM_PASSWORD"),
                   help="MQTT password (default: $IOTGW_SIM_PASSWORD)")
    g.add_argument("--ca-file", metavar="PEM",
                   help="CA certificate(s) to verify an mqtts:// broker")
    g.add_argument("--qos", type=int, choices=(0, 1), default=1, help="MQTT QoS (default 1)")
    g.add_argument("--ack-timeout", type=_non_negative, default=30.0, metavar="SECONDS",
                   help="longest wait for a PUBACK: at the end for the last ones, and mid-run "
                   "before a silent broker stops the run (default 30)")
    out = p.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="json",
                     help="payload encoding, also the topic's last level (default json)")
    out.add_argument("--site", default="site-1", metavar="NAME", help="site tag (default site-1)")
    out.add_argument("--manifest", metavar="FILE.jsonl",
                     help="write one JSON line per publish (ground truth for reconciliation)")


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="publish a simulated fleet of machines",
        description="Publish a simulated fleet to an MQTT broker: daily cycles, noise, "
        "correlated sensors,\ndegradation to failure, injected faults; every publish "
        "recorded in a manifest.\n\nexample:\n  iotgw sim run --broker mqtt://127.0.0.1:1883 "
        "--devices 100 --rate 200 --duration 60 \\\n      --faults spike=0.01,duplicate=0.01 "
        "--degrade dev-0007:5m --manifest run.jsonl",
        epilog=FAULTS_HELP + "\n" + COMMON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_broker_options(p)
    f = p.add_argument_group("fleet")
    f.add_argument("--devices", type=_positive_int, default=10, metavar="N",
                   help="number of devices (default 10)")
    f.add_argument("--device-prefix", type=_device_prefix, default="dev-", metavar="TEXT",
                   help="device names are TEXT plus a zero-padded index (default dev-); "
                        "device names are unique fleet-wide, so give each site its own")
    f.add_argument("--sensors", default=ALL_SENSORS, metavar="LIST",
                   help=f"comma-separated sensors (default {ALL_SENSORS})")
    f.add_argument("--rate", type=_non_negative, default=10.0, metavar="MSGS_PER_S",
                   help="messages per second for the whole fleet; 0 = as fast as the broker "
                   "takes them (default 10)")
    stop = f.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=_positive, metavar="SECONDS",
                      help="run this long (default 10 s when --count is not given)")
    stop.add_argument("--count", type=_positive_int, metavar="N",
                      help="produce this many messages in all")
    f.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    f.add_argument("--start", metavar="TIME",
                   help="device time of the first message: ISO 8601 or epoch ms (default now); "
                   "with --seed and --rate it makes runs byte-identical")
    f.add_argument("--faults", default="", metavar="SPEC", help="faults to inject (see below)")
    f.add_argument("--degrade", action="append", default=[], metavar="DEVICE:DURATION[@AFTER]",
                   help="make a machine wear out and fail (see below; repeatable)")
    f.add_argument("--connections", choices=("shared", "per-device"), default="shared",
                   help="one MQTT connection for the fleet (default) or one per device")
    f.add_argument("--processes", type=_positive_int, default=1, metavar="N",
                   help="publish from N processes, device i from process i %% N, each with "
                   "its own connection(s) and manifest file (--manifest run.jsonl: run.p0.jsonl "
                   "...; the readers in simulators/manifest.py merge them); same messages as "
                   "one process (default 1; at most --devices)")
    p.set_defaults(func=_run)


def _add_replay(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a CSV series as one device",
        description="Publish a CSV series (timestamp,value as in NAB, or several value columns "
        "as several sensors)\nas one device, keeping the CSV's timestamps as device timestamps. "
        "Timestamps: ISO 8601\n(UTC unless a zone is given) or Unix epoch seconds/ms. Rows that "
        "cannot be read are\nskipped and counted.\n\nexample:\n  iotgw sim replay "
        "speed_7578.csv --device road-7578 --sensor speed --speedup 600",
        epilog=COMMON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("csv", metavar="FILE.csv", help="CSV file with a header row")
    p.add_argument("--device", help="device name (default: the file name without .csv)")
    p.add_argument("--sensor", metavar="NAME[,NAME...]",
                   help="sensor name(s) for the value column(s) (default: the CSV header)")
    p.add_argument("--speedup", type=_positive, metavar="X",
                   help="replay X times faster than the CSV's time (default: as fast as the "
                   "broker takes them)")
    _add_broker_options(p)
    p.set_defaults(func=_replay)


def _run(args: argparse.Namespace) -> int:
    from simulators.commands import run_fleet

    return run_fleet(args)


def _replay(args: argparse.Namespace) -> int:
    from simulators.commands import run_replay

    return run_replay(args)


def register(subparsers: Any) -> None:
    """Add the ``sim`` group (``run``, ``replay``) to the ``iotgw`` command."""
    p = subparsers.add_parser("sim", help="simulate devices: publish a fleet or replay a CSV",
                              description="Device simulators that publish to an MQTT broker.")
    sub = p.add_subparsers(dest="sim_command", metavar="COMMAND", required=True)
    _add_run(sub)
    _add_replay(sub)
