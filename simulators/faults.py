"""Fault injection: the ``--faults SPEC`` grammar and the per-device injector.

Grammar (also in ``iotgw sim run --help``)::

    SPEC  := FAULT ("," FAULT)*
    FAULT := KIND ["=" RATE] ["@" DEVICE] ["/" LEN]

``RATE`` is a probability per message in [0, 1]. ``@DEVICE`` (a device name such as ``dev-0003``
or its index ``3``) limits the fault to that device; without a rate it then hits every message
of that device. Kinds that last (``drift``, ``stuck``, ``dropout``, ``clock-skew``) hit in
*episodes*: ``RATE`` is the chance per message that an episode starts, ``LEN`` its length in
messages (default 20). With ``@DEVICE`` and no rate there is one episode from the device's
first message: ``LEN`` messages long, or the whole run without ``/LEN``.

Kinds and what the manifest records (``fault`` label, per-reading ``fault`` where one reading
is hit):

- ``spike``: one reading jumps by 6-12 times its sensor's typical span.
- ``drift``: one reading drifts away, 2% of its span more each message of the episode.
- ``stuck``: one reading repeats the value it had when the episode started.
- ``dropout``: the device is silent; the line has ``sent: false`` (its ``seq`` is used up).
- ``duplicate``: the same payload is published twice (two lines, same device and seq).
- ``out-of-order``: the message is held back and published after the device's next one.
- ``clock-skew``: the device clock is off by one hour and 1 ms (either way) for the episode.
- ``bad-crc``, ``truncated``, ``wrong-type``: malformed payloads (``malformed: true``).

>>> [(r.kind, r.rate, r.device, r.length) for r in parse_fault_spec("spike=0.01,dropout@dev-0003")]
[('spike', 0.01, None, None), ('dropout', None, 'dev-0003', None)]
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from simulators.errors import ConfigError
from simulators.signals import SENSORS

SPIKE, DRIFT, STUCK, DROPOUT = "spike", "drift", "stuck", "dropout"
DUPLICATE, OUT_OF_ORDER, CLOCK_SKEW = "duplicate", "out-of-order", "clock-skew"
BAD_CRC, TRUNCATED, WRONG_TYPE = "bad-crc", "truncated", "wrong-type"

#: Kinds that last several messages.
EPISODE_KINDS = (DRIFT, STUCK, DROPOUT, CLOCK_SKEW)
#: Kinds that make the payload undecodable.
MALFORMED_KINDS = (BAD_CRC, TRUNCATED, WRONG_TYPE)
#: Every kind, in the order labels are listed in a message's ``faults``.
FAULT_KINDS = (DROPOUT, SPIKE, DRIFT, STUCK, CLOCK_SKEW, *MALFORMED_KINDS, DUPLICATE, OUT_OF_ORDER)
DEFAULT_EPISODE_LEN = 20
#: One hour and one millisecond: the extra millisecond keeps a skewed timestamp off the device's
#: regular sampling grid, so it never lands on the timestamp of another of its readings (a store
#: keyed by device, sensor and time would otherwise overwrite one with the other).
SKEW_MS = 3_600_001

_FAULT_RE = re.compile(
    r"^(?P<kind>[a-z-]+)(?:=(?P<rate>[^@/]+))?(?:@(?P<device>[^/]+))?(?:/(?P<len>[^/]+))?$"
)


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One ``KIND[=RATE][@DEVICE][/LEN]`` item of a fault spec."""

    kind: str
    rate: float | None
    device: str | None
    length: int | None

    def applies_to(self, device: str) -> bool:
        return self.device is None or self.device == device


def _parse_one(item: str) -> FaultRule:
    m = _FAULT_RE.match(item)
    if m is None or m["kind"] not in FAULT_KINDS:
        raise ConfigError(
            f"--faults: cannot read {item!r}; expected KIND[=RATE][@DEVICE][/LEN] with KIND "
            f"one of {', '.join(FAULT_KINDS)}"
        )
    kind, rate, length = m["kind"], None, None
    if m["rate"] is not None:
        try:
            rate = float(m["rate"])
        except ValueError:
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"--faults: rate in {item!r} must be a number between 0 and 1")
    if m["len"] is not None:
        if kind not in EPISODE_KINDS:
            raise ConfigError(f"--faults: /LEN in {item!r} only applies to {EPISODE_KINDS}")
        if not m["len"].isdigit() or int(m["len"]) < 1:
            raise ConfigError(f"--faults: /LEN in {item!r} must be a whole number of messages")
        length = int(m["len"])
    if rate is None and m["device"] is None:
        raise ConfigError(
            f"--faults: {item!r} needs a rate ({kind}=0.01) or a device ({kind}@dev-0000)"
        )
    return FaultRule(kind, rate, m["device"], length)


def parse_fault_spec(spec: str) -> tuple[FaultRule, ...]:
    """The rules of a ``--faults`` spec; raises :class:`ConfigError` with what to fix."""
    items = [part.strip() for part in spec.split(",") if part.strip()]
    return tuple(_parse_one(item) for item in items)


@dataclass(slots=True)
class FaultPlan:
    """What the faults do to one message: labels, changed values and timestamp, transport."""

    values: dict[str, float]
    ts_ms: int
    labels: list[str] = field(default_factory=list)
    reading_faults: dict[str, str] = field(default_factory=dict)
    dropped: bool = False
    malformed: str | None = None
    duplicate: bool = False
    out_of_order: bool = False


@dataclass(slots=True)
class _Episode:
    remaining: float
    sensor: str
    steps: int = 0
    stuck_value: float | None = None
    skew_ms: int = 0


class FaultInjector:
    """Decides, message by message, which faults hit one device (deterministic per seed)."""

    def __init__(self, rules: Sequence[FaultRule], seed: int, index: int, device: str) -> None:
        self.rules = tuple(r for r in rules if r.applies_to(device))
        self._rng = random.Random(f"faults:{seed}:{index}")
        self._episodes: dict[int, _Episode] = {}
        self._finished: set[int] = set()

    def _hits(self, rule: FaultRule) -> bool:
        draw = self._rng.random()
        return rule.rate is None or draw < rule.rate

    def _episode(self, i: int, rule: FaultRule, sensors: Sequence[str]) -> _Episode | None:
        ep = self._episodes.get(i)
        if ep is None and rule.rate is None and i in self._finished:
            return None  # @DEVICE/LEN without a rate: one episode, at the start
        if ep is None and self._hits(rule):
            whole_run = rule.rate is None and rule.length is None
            length = float("inf") if whole_run else (rule.length or DEFAULT_EPISODE_LEN)
            ep = _Episode(length, self._rng.choice(list(sensors)))
            ep.skew_ms = SKEW_MS if self._rng.random() < 0.5 else -SKEW_MS
            self._episodes[i] = ep
        if ep is None:
            return None
        ep.remaining -= 1
        ep.steps += 1
        if ep.remaining <= 0:
            del self._episodes[i]
            self._finished.add(i)
        return ep

    def plan(self, values: dict[str, float], ts_ms: int) -> FaultPlan:
        """Apply every rule to one message's ``values`` (not modified) sampled at ``ts_ms``."""
        plan = FaultPlan(dict(values), ts_ms)
        sensors = list(values)
        for i, rule in enumerate(self.rules):
            if rule.kind in EPISODE_KINDS:
                ep = self._episode(i, rule, sensors)
                if ep is not None:
                    self._apply_episode(plan, rule.kind, ep)
            elif self._hits(rule):
                self._apply_instant(plan, rule.kind, sensors)
        if plan.dropped:  # nothing goes on the air: transport faults do not happen
            plan.malformed, plan.duplicate, plan.out_of_order = None, False, False
            transport = (*MALFORMED_KINDS, DUPLICATE, OUT_OF_ORDER)
            plan.labels = [k for k in plan.labels if k not in transport]
        plan.labels.sort(key=FAULT_KINDS.index)
        return plan

    def _apply_episode(self, plan: FaultPlan, kind: str, ep: _Episode) -> None:
        if kind == DROPOUT:
            plan.dropped = True
        elif kind == CLOCK_SKEW:
            plan.ts_ms += ep.skew_ms
        elif kind == DRIFT:
            spec = SENSORS[ep.sensor]
            drifted = plan.values[ep.sensor] + 0.02 * spec.scale * ep.steps
            plan.values[ep.sensor] = round(drifted, spec.decimals)
            plan.reading_faults[ep.sensor] = DRIFT
        else:  # stuck
            if ep.stuck_value is None:
                ep.stuck_value = plan.values[ep.sensor]
            plan.values[ep.sensor] = ep.stuck_value
            plan.reading_faults[ep.sensor] = STUCK
        if kind not in plan.labels:
            plan.labels.append(kind)

    def _apply_instant(self, plan: FaultPlan, kind: str, sensors: Sequence[str]) -> None:
        if kind == SPIKE:
            sensor = self._rng.choice(list(sensors))
            spec = SENSORS[sensor]
            jump = self._rng.uniform(6.0, 12.0) * spec.scale * self._rng.choice((-1, 1))
            plan.values[sensor] = round(plan.values[sensor] + jump, spec.decimals)
            plan.reading_faults[sensor] = SPIKE
        elif kind in MALFORMED_KINDS:
            if plan.malformed is not None:
                return  # one way of being malformed per message
            plan.malformed = kind
        elif kind == DUPLICATE:
            plan.duplicate = True
        else:  # out-of-order
            plan.out_of_order = True
        if kind not in plan.labels:
            plan.labels.append(kind)
