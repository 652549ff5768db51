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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from firmware_protocol.errors import TimestampError
from firmware_protocol.timestamps import parse_iso
from simulators.errors import ConfigError, SimulatorError
from simulators.progress import Outcome, Progress, finish

if TYPE_CHECKING:
    from simulators.broker import BrokerSettings
    from simulators.fleet import FleetConfig
    from simulators.outgoing import Source, TopicFormatter
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


def publish_run(args: argparse.Namespace, source: Source, connections: int, count: int | None,
                duration_s: float | None, manifest_path: str | Path | None,
                progress: Progress) -> Outcome:
    """Connect, run ``source`` through a :class:`Runner`, disconnect; nothing printed."""
    from simulators.manifest import ManifestWriter
    from simulators.mqtt_publisher import MqttPublisher
    from simulators.runner import Runner

    settings = _broker_settings(args)
    publisher = MqttPublisher(settings, connections=connections,
                              client_id_prefix=f"iotgw-sim-{args.site}-{os.getpid()}")
    manifest = ManifestWriter(manifest_path)
    try:
        manifest.start()
    except OSError as exc:
        raise ConfigError(f"--manifest: cannot write {manifest_path}: {exc.strerror}") from None
    try:
        publisher.start()
    except BaseException:
        manifest.stop()
        raise
    runner = Runner(source, publisher, manifest, count=count, duration_s=duration_s,
                    ack_timeout=args.ack_timeout, progress=progress)
    try:
        stats = runner.run()
    finally:
        publisher.stop()
        manifest.stop()
    stalled = None
    if runner.stalled:
        stalled = (f"the broker at {settings.url} acknowledged nothing for "
                   f"{args.ack_timeout:g} s with {runner.max_pending} publishes waiting; stopped "
                   "(is it still running?)")
    return Outcome(stats, stalled, runner.interrupted)


def _broker_settings(args: argparse.Namespace) -> BrokerSettings:
    from simulators.broker import parse_broker_url

    settings = parse_broker_url(args.broker, username=args.username, password=args.password,
                                ca_file=args.ca_file)
    if args.ca_file and not Path(args.ca_file).is_file():
        raise ConfigError(f"--ca-file: {args.ca_file} does not exist")
    return settings


def _publish(args: argparse.Namespace, source: Source, connections: int, count: int | None,
             duration_s: float | None) -> int:
    from simulators.manifest import prepare_manifest
    from simulators.progress import Progress

    if args.manifest is not None:
        _prepare(args.manifest, 1, prepare_manifest)
    out = publish_run(args, source, connections, count, duration_s, args.manifest, Progress())
    return finish(out.stats, out.stalled, out.interrupted, args.manifest)


def _prepare(manifest: str, processes: int, prepare: Callable[[str, int], object]) -> None:
    try:
        prepare(manifest, processes)
    except OSError as exc:
        raise ConfigError(f"--manifest: cannot write {manifest}: {exc.strerror}") from None


def _fleet_config(args: argparse.Namespace) -> FleetConfig:
    from simulators.faults import FaultRule, parse_fault_spec
    from simulators.fleet import FleetConfig, device_names, resolve_device
    from simulators.signals import parse_sensors

    try:
        sensors = parse_sensors(args.sensors)
    except ValueError as exc:
        raise ConfigError(f"--sensors: {exc}") from None
    names = device_names(args.devices, args.device_prefix)
    rules = []
    for rule in parse_fault_spec(args.faults):
        try:
            dev = None if rule.device is None else resolve_device(names, rule.device)
        except ValueError as exc:
            raise ConfigError(f"--faults: {exc}") from None
        rules.append(FaultRule(rule.kind, rule.rate, dev, rule.length))
    start_ms = parse_start_ms(args.start)
    return FleetConfig(
        devices=args.devices, sensors=sensors, rate=args.rate, fmt=args.format, qos=args.qos,
        seed=args.seed, site=args.site, start_ms=start_ms, faults=tuple(rules),
        degradations=_degradations(args.degrade, names, start_ms),
        device_prefix=args.device_prefix,
    )


def run_fleet(args: argparse.Namespace) -> int:
    """``iotgw sim run``."""

    def body() -> int:
        from firmware_protocol.codecs import get_codec
        from simulators.fleet import FleetSource, device_names

        cfg = _fleet_config(args)
        topics = _topics(args.site, device_names(1, args.device_prefix)[0])
        count, duration = args.count, args.duration
        if count is None and duration is None:
            duration = 10.0
        if count is None and args.rate > 0 and duration is not None:
            count, duration = max(1, math.ceil(duration * args.rate)), None
        processes = min(args.processes, args.devices, count or args.devices)
        if processes > 1:
            return _run_sharded(args, cfg, count, duration, processes)
        source = FleetSource(cfg, get_codec(args.format), topics)
        connections = args.devices if args.connections == "per-device" else 1
        return _publish(args, source, connections, count, duration)

    return _guard(body)


def _run_sharded(args: argparse.Namespace, cfg: FleetConfig, count: int | None,
                 duration: float | None, processes: int) -> int:
    """``--processes N``: the fleet's devices split between N publishing processes."""
    from simulators.manifest import prepare_manifest
    from simulators.sharded import ShardedRun

    _broker_settings(args)  # a bad --broker or --ca-file: one line from the parent, not N
    if args.manifest is not None:
        _prepare(args.manifest, processes, prepare_manifest)
    work = FleetShard(args, cfg, processes, count, duration)
    return ShardedRun(work, processes, args.ack_timeout).run(args.manifest)


@dataclass(frozen=True, slots=True)
class FleetShard:
    """What publishing process ``index`` of ``processes`` runs: its devices (``i % N ==
    index``), its share of ``count``, its manifest part. Pickled into a spawned process."""

    args: argparse.Namespace
    cfg: FleetConfig
    processes: int
    count: int | None
    duration: float | None

    def __call__(self, index: int, progress: Progress) -> Outcome:
        from firmware_protocol.codecs import get_codec
        from simulators.fleet import FleetSource, shard_count, shard_devices
        from simulators.manifest import part_path

        args, cfg = self.args, self.cfg
        topics = _topics(args.site, "dev-0000")
        source = FleetSource(cfg, get_codec(args.format), topics, shard=index,
                             shards=self.processes)
        owned = shard_devices(cfg.devices, index, self.processes)
        share = None if self.count is None else shard_count(self.count, cfg.devices, owned)
        connections = len(owned) if args.connections == "per-device" else 1
        manifest = None if args.manifest is None else part_path(args.manifest, index)
        return publish_run(args, source, connections, share, self.duration, manifest, progress)


def _topics(site: str, device: str) -> TopicFormatter:
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
