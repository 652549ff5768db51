"""In-process metrics served at ``/metrics`` in the Prometheus text format.

Counters and histograms with fixed label names; thread-safe; no global registry (the app owns
one :class:`Metrics`). Other services (alerts, webhooks) register their own on the same object.

>>> m = Metrics()
>>> c = m.counter("demo_total", "Demo events.", ("reason",))
>>> c.inc(2, reason="x")
>>> print(m.render().splitlines()[2])
demo_total{reason="x"} 2.0
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    esc = [v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for v in values]
    return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, esc, strict=True)) + "}"


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels = name, help_text, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(str(labels[n]) for n in self.labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(str(labels[n]) for n in self.labels), 0.0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        out += [f"{self.name}{_labels(self.labels, k)} {v}" for k, v in items]
        return out


class Histogram:
    """Observations (seconds) in cumulative buckets, with sum and count."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float] = _BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, tuple(buckets)
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            running = 0
            for bound, n in zip(self.buckets, self._counts, strict=False):
                running += n
                out.append(f'{self.name}_bucket{{le="{bound}"}} {running}')
            out.append(f'{self.name}_bucket{{le="+Inf"}} {running + self._counts[-1]}')
            out.append(f"{self.name}_sum {self._sum}")
            out.append(f"{self.name}_count {running + self._counts[-1]}")
        return out


class Metrics:
    """The app's metrics; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self._items: dict[str, Counter | Histogram] = {}
        self._lock = threading.Lock()

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        with self._lock:
            item = self._items.setdefault(name, Counter(name, help_text, labels))
        assert isinstance(item, Counter)
        return item

    def histogram(self, name: str, help_text: str) -> Histogram:
        with self._lock:
            item = self._items.setdefault(name, Histogram(name, help_text))
        assert isinstance(item, Histogram)
        return item

    def render(self) -> str:
        with self._lock:
            items = list(self._items.values())
        return "\n".join(line for item in items for line in item.render()) + "\n"
