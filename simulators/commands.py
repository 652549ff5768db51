"""What ``iotgw sim run`` and ``iotgw sim replay`` do once their arguments are parsed.

User errors (:class:`~simulators.errors.SimulatorError`) become one line on stderr and an exit
code; SIGTERM and Ctrl-C stop the run cleanly, with the manifest complete for what was sent.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from firmware_protocol.errors import TimestampError
from firmware_protocol.timestamps import parse_iso
from simulators.errors import ConfigError, SimulatorError

if TYPE_CHECKING:
    from simulators.outgoing import Source
    from simulators.signals import Degradation

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration_ms(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``6h`` as milliseconds.

    >>> parse_duration_ms("15m"), parse_duration_ms("2")
    (900000, 2000)
    """
    m = _DURATION_RE.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m or 6h")
    return round(float(m[1]) * _UNIT_S[m[2]] * 1000)


def parse_start_ms(text: str | None) -> int:
    """``--start``: ISO 8601 (UTC unless a zone is given) or epoch ms; now when absent."""
    if text is None:
        return time.time_ns() // 1_000_000
    if text.isdigit():
        return int(text)
    try:
        return parse_iso(text)
    except TimestampError:
        raise ConfigError(f"--start: {text!r} is not ISO 8601 or epoch milliseconds") from None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM stop a run like Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _guard(body: Callable[[], int]) -> int:
    try:
        with _sigterm_as_interrupt():
            return body()
    except SimulatorError as exc:
        print(f"iotgw sim: {exc}", file=sys.stderr)
        return exc.exit_code


def _degradations(specs: list[str], names: list[str], start_ms: int) -> dict[str, Degradation]:
    from simulators.fleet import resolve_device
    from simulators.signals import Degradation

    out: dict[str, Degradation] = {}
    for spec in specs:
        device, _, rest = spec.partition(":")
        duration, _, after = rest.partition("@")
        try:
            name = resolve_device(names, device)
            dur_ms = parse_duration_ms(duration)
            after_ms = parse_duration_ms(after) if after else 0
        except ValueError as exc:
            raise ConfigError(
                f"--degrade {spec!r}: {exc} (expected DEVICE:DURATION[@AFTER])"
            ) from None
        if dur_ms <= 0:
            raise ConfigError(f"--degrade {spec!r}: the duration must be more than 0")
        out[name] = Degradation(start_ms + after_ms, dur_ms)
    return out


def _publish(args: argparse.Namespace, source: Source, connections: int, count: int | None,
             duration_s: float | None) -> int:
    from simulators.broker import parse_broker_url
    from simulators.manifest import ManifestWriter
    from simulators.mqtt_publisher import MqttPublisher
    from simulators.progress import Progress
    from simulators.runner import Runner

    settings = parse_broker_url(args.broker, username=args.username, password=args.password,
                                ca_file=args.ca_file)
    if args.ca_file and not Path(args.ca_file).is_file():
        raise ConfigError(f"--ca-file: {args.ca_file} does not exist")
    publisher = MqttPublisher(settings, connections=connections,
                              client_id_prefix=f"iotgw-sim-{args.site}-{os.getpid()}")
    manifest = ManifestWriter(args.manifest)
    try:
        manifest.start()
    except OSError as exc:
        raise ConfigError(f"--manifest: cannot write {args.manifest}: {exc.strerror}") from None
    try:
        publisher.start()
    except BaseException:
        manifest.stop()
        raise
    runner = Runner(source, publisher, manifest, count=count, duration_s=duration_s,
                    ack_timeout=args.ack_timeout, progress=Progress())
    try:
        stats = runner.run()
    finally:
        publisher.stop()
        manifest.stop()
    print(f"iotgw sim: {stats.summary(args.manifest)}")
    if runner.stalled:
        print(f"iotgw sim: the broker at {settings.url} acknowledged nothing for "
              f"{args.ack_timeout:g} s with {runner.max_pending} publishes waiting; stopped "
              "(is it still running?)", file=sys.stderr)
        return 3
    if runner.interrupted:
        print("iotgw sim: interrupted; the manifest holds everything sent", file=sys.stderr)
        return 130
    if stats.unacked:
        print(f"iotgw sim: {stats.unacked} publish(es) were not acknowledged by the broker",
              file=sys.stderr)
        return 1
    return 0


def run_fleet(args: argparse.Namespace) -> int:
    """``iotgw sim run``."""

    def body() -> int:
        from firmware_protocol.codecs import get_codec
        from simulators.faults import FaultRule, parse_fault_spec
        from simulators.fleet import FleetConfig, FleetSource, device_names, resolve_device
        from simulators.signals import parse_sensors

        try:
            sensors = parse_sensors(args.sensors)
        except ValueError as exc:
            raise ConfigError(f"--sensors: {exc}") from None
        names = device_names(args.devices)
        rules = []
        for rule in parse_fault_spec(args.faults):
            try:
                dev = None if rule.device is None else resolve_device(names, rule.device)
            except ValueError as exc:
                raise ConfigError(f"--faults: {exc}") from None
            rules.append(FaultRule(rule.kind, rule.rate, dev, rule.length))
        start_ms = parse_start_ms(args.start)
        cfg = FleetConfig(
            devices=args.devices, sensors=sensors, rate=args.rate, fmt=args.format, qos=args.qos,
            seed=args.seed, site=args.site, start_ms=start_ms, faults=tuple(rules),
            degradations=_degradations(args.degrade, names, start_ms),
        )
        source = FleetSource(cfg, get_codec(args.format), _topics(args.site, names[0]))
        count, duration = args.count, args.duration
        if count is None and duration is None:
            duration = 10.0
        if count is None and args.rate > 0 and duration is not None:
            count, duration = max(1, math.ceil(duration * args.rate)), None
        connections = args.devices if args.connections == "per-device" else 1
        return _publish(args, source, connections, count, duration)

    return _guard(body)


def _topics(site: str, device: str) -> Callable[[str, str, str], str]:
    from firmware_protocol.errors import TopicError
    from simulators.outgoing import topic_formatter

    build = topic_formatter()
    try:
        build(site, device, "json")
    except TopicError as exc:
        raise ConfigError(f"--site/--device: {exc}") from None
    return build


def run_replay(args: argparse.Namespace) -> int:
    """``iotgw sim replay``."""

    def body() -> int:
        from firmware_protocol.codecs import get_codec
        from simulators.replay import ReplaySource, read_csv

        sensors = None if args.sensor is None else [s.strip() for s in args.sensor.split(",")]
        series = read_csv(args.csv, sensors)
        device = args.device or Path(args.csv).stem
        source = ReplaySource(
            series, device=device, site=args.site, codec=get_codec(args.format), fmt=args.format,
            qos=args.qos, topic=_topics(args.site, device), speedup=args.speedup,
        )
        code = _publish(args, source, 1, None, None)
        if series.skipped:
            print(f"iotgw sim: skipped {series.skipped} unusable row(s), first at "
                  f"{series.first_problem}", file=sys.stderr)
        return code

    return _guard(body)
