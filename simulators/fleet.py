"""The simulated fleet: N machines taking turns to publish, with signals and faults applied.

Message ``i`` of the run belongs to device ``i % N`` and is due ``i / rate`` seconds after the
start; its device timestamp is ``start_ms`` plus that delay, so the same seed and ``--start``
give byte-identical payloads. Without a rate (as fast as possible) the device timestamp is the
wall clock when the message is made. Per device, timestamps strictly increase (clock-skew and
out-of-order faults aside) and ``seq`` counts 0, 1, 2, ...

A fleet can be split between processes (``--processes N``, decision 62): shard ``p`` of ``N``
owns the devices whose index ``i % N == p`` and produces exactly the messages of those devices
that the whole fleet would, with the same ``i`` (so the same due time and device timestamp) and
the same per-device random streams. The union of the shards is the single-process run.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from firmware_protocol.codec import Codec
from firmware_protocol.model import MAX_SEQ, Message, Reading
from simulators.fastencode import DeviceEncoder
from simulators.faults import OUT_OF_ORDER, FaultInjector, FaultPlan, FaultRule
from simulators.malform import malform
from simulators.outgoing import LineTemplate, Outgoing, TopicFormatter
from simulators.signals import SENSORS, Degradation, DeviceSignals


def device_names(count: int, prefix: str = "dev-") -> list[str]:
    """``dev-0000``, ``dev-0001``, ... (zero-padded to at least four digits).

    >>> device_names(2), device_names(1, "north-")
    (['dev-0000', 'dev-0001'], ['north-0000'])
    """
    width = max(4, len(str(count - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Everything that decides what the fleet sends (not where it sends it)."""

    devices: int
    sensors: tuple[str, ...]
    #: Messages per second for the whole fleet; 0 means as fast as the broker takes them.
    rate: float
    fmt: str
    qos: int
    seed: int
    site: str
    start_ms: int
    faults: tuple[FaultRule, ...] = ()
    degradations: Mapping[str, Degradation] = field(default_factory=dict)
    #: Device names are this plus a zero-padded index; a device name is unique fleet-wide
    #: (the cloud gives each device to one gateway), so two sites need two prefixes.
    device_prefix: str = "dev-"


def shard_devices(devices: int, shard: int, shards: int) -> list[int]:
    """Indices of the devices shard ``shard`` of ``shards`` owns: ``i % shards == shard``.

    >>> shard_devices(5, 1, 2)
    [1, 3]
    """
    return list(range(shard, devices, shards))


def shard_count(count: int, devices: int, owned: Sequence[int]) -> int:
    """How many of the fleet's first ``count`` messages belong to the ``owned`` devices.

    >>> shard_count(7, 5, [1, 3]), shard_count(7, 5, [0, 2, 4])
    (3, 4)
    """
    return sum(max(0, -(-(count - d) // devices)) for d in owned)


class _Device:
    def __init__(self, index: int, slot: int, name: str, cfg: FleetConfig) -> None:
        self.index = index
        #: Position among this shard's devices: its connection in per-device mode.
        self.slot = slot
        self.name = name
        self.signals = DeviceSignals(index, cfg.seed, cfg.sensors, cfg.degradations.get(name))
        self.faults = FaultInjector(cfg.faults, cfg.seed, index, name)
        self.rng = random.Random(f"malform:{cfg.seed}:{index}")
        self.seq = 0
        self.last_ts = -1
        self.held: list[Outgoing] = []
        self.topic = ""
        self.encoder: DeviceEncoder | None = None
        self.line: LineTemplate | None = None


class FleetSource:
    """The :class:`~simulators.outgoing.Source` of a fleet (endless; the runner stops it).

    ``shard``/``shards`` select the devices of one process (see the module docstring).
    """

    def __init__(self, cfg: FleetConfig, codec: Codec, topic: TopicFormatter, *,
                 shard: int = 0, shards: int = 1) -> None:
        self.cfg = cfg
        self.codec = codec
        self.produced = 0
        self._topic = topic
        names = device_names(cfg.devices, cfg.device_prefix)
        owned = shard_devices(cfg.devices, shard, shards)
        self._devices = [_Device(i, slot, names[i], cfg) for slot, i in enumerate(owned)]

    @property
    def device_names(self) -> list[str]:
        return [d.name for d in self._devices]

    def __iter__(self) -> Iterator[list[Outgoing]]:
        while True:
            yield self.step()

    def step(self) -> list[Outgoing]:
        """The publishes of the next message (see :class:`~simulators.outgoing.Source`)."""
        k, slot = divmod(self.produced, len(self._devices))
        self.produced += 1
        dev = self._devices[slot]
        i = k * self.cfg.devices + dev.index  # the message's index in the whole fleet
        due_s = i / self.cfg.rate if self.cfg.rate > 0 else 0.0
        if self.cfg.rate > 0:
            ts = self.cfg.start_ms + round(due_s * 1000)
        else:
            ts = time.time_ns() // 1_000_000
        ts = max(ts, dev.last_ts + 1)
        dev.last_ts = ts
        values = dev.signals.sample(ts)
        plan = dev.faults.plan(values, ts)
        item = self._build(dev, plan, due_s, dev.signals.progress(ts))
        dev.seq = (dev.seq + 1) % (MAX_SEQ + 1)
        if plan.out_of_order and (dev.held or item.payload is None):
            item.labels.remove(OUT_OF_ORDER)  # one held-back message per device, never a silent one
            plan.out_of_order = False
        out = [item]
        if plan.duplicate and item.payload is not None:
            out.append(dataclasses.replace(item, duplicate=True))
        if plan.out_of_order:
            dev.held = out
            return []
        released, dev.held = dev.held, []
        return out + released

    def flush(self) -> list[Outgoing]:
        held = [o for d in self._devices for o in d.held]
        for d in self._devices:
            d.held = []
        return held

    def _device_topic(self, dev: _Device) -> str:
        dev.topic = self._topic(self.cfg.site, dev.name, self.cfg.fmt)
        return dev.topic

    def _build(self, dev: _Device, plan: FaultPlan, due_s: float, wear: float | None) -> Outgoing:
        cfg = self.cfg
        readings = tuple(
            Reading(name, value, unit=SENSORS[name].unit) for name, value in plan.values.items()
        )
        msg = Message(dev.name, dev.seq, plan.ts_ms, readings, site=cfg.site)
        topic = dev.topic or self._device_topic(dev)
        template = None
        if tuple(plan.values) == cfg.sensors:  # every sensor, in order: the template fits
            template = dev.line or self._line_template(dev, topic)
        payload: bytes | None = None
        if not plan.dropped:
            payload = self._encode(dev, msg, plan)
            if plan.malformed is not None:
                payload = malform(plan.malformed, self.codec, msg, payload, dev.rng)
        return Outgoing(
            message=msg,
            payload=payload,
            topic=topic,
            fmt=cfg.fmt,
            qos=cfg.qos,
            conn=dev.slot,
            due_s=due_s,
            labels=plan.labels,
            reading_faults=plan.reading_faults,
            malformed=plan.malformed is not None,
            degradation=None if wear is None else round(wear, 4),
            template=template,
        )

    def _line_template(self, dev: _Device, topic: str) -> LineTemplate:
        shape = tuple((name, SENSORS[name].unit) for name in self.cfg.sensors)
        dev.line = LineTemplate(dev.name, self.cfg.site, topic, self.cfg.fmt, self.cfg.qos, shape)
        return dev.line


    def _encode(self, dev: _Device, msg: Message, plan: FaultPlan) -> bytes:
        """``codec.encode(msg)``, through the device's template when it applies."""
        enc = dev.encoder
        if enc is None:
            shape = tuple((name, SENSORS[name].unit) for name in self.cfg.sensors)
            enc = dev.encoder = DeviceEncoder(self.codec, dev.name, self.cfg.site, shape)
        if enc.fast and tuple(plan.values) == self.cfg.sensors:
            payload = enc.encode(msg.seq, msg.ts_ms, tuple(plan.values.values()))
            if payload is not None:
                return payload
        return self.codec.encode(msg)


def resolve_device(names: Sequence[str], wanted: str) -> str:
    """``wanted`` as a device name of the fleet (a name or an index); ValueError otherwise.

    >>> resolve_device(device_names(3), "2")
    'dev-0002'
    """
    if wanted in names:
        return wanted
    if wanted.isdigit() and int(wanted) < len(names):
        return names[int(wanted)]
    raise ValueError(f"no device {wanted!r} in this fleet ({names[0]}..{names[-1]})")
