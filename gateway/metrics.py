"""Counters, gauges and latency summaries rendered in the Prometheus text format.

One :class:`Metrics` object is created in ``main()`` and injected into the services that count.

>>> m = Metrics()
>>> m.inc("iotgw_messages_received_total", help="MQTT messages received")
>>> m.inc("iotgw_dead_letters_total", reason="bad_field")
>>> m.observe("iotgw_commit_seconds", 0.004)
>>> 'iotgw_dead_letters_total{reason="bad_field"} 1' in m.render()
True
>>> m.value("iotgw_dead_letters_total", reason="bad_field")
1.0
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_Key = tuple[str, tuple[tuple[str, str], ...]]


class Metrics:
    """A small thread-safe metrics registry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[_Key, float] = {}
        self._gauges: dict[_Key, float] = {}
        self._summaries: dict[_Key, list[float]] = {}
        self._help: dict[str, str] = {}
        self._collectors: list[Callable[[Metrics], None]] = []

    def inc(self, name: str, amount: float = 1.0, help: str = "", **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + amount
            if help:
                self._help[name] = help

    def set(self, name: str, value: float, help: str = "", **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._gauges[key] = float(value)
            if help:
                self._help[name] = help

    def observe(self, name: str, seconds: float, help: str = "", **labels: str) -> None:
        """Add one observation to a summary (``_count``, ``_sum`` and ``_max`` are exported)."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            s = self._summaries.setdefault(key, [0.0, 0.0, 0.0])
            s[0] += 1
            s[1] += seconds
            s[2] = max(s[2], seconds)
            if help:
                self._help[name] = help

    def value(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            return self._counters.get(key, self._gauges.get(key, 0.0))

    def add_collector(self, collect: Callable[[Metrics], None]) -> None:
        """``collect(metrics)`` runs before each render, to refresh gauges."""
        self._collectors.append(collect)

    def render(self) -> str:
        for collect in self._collectors:
            collect(self)
        lines: list[str] = []
        with self._lock:
            self._render(lines, self._counters, "counter")
            self._render(lines, self._gauges, "gauge")
            summaries = {
                (f"{n}{suffix}", labels): v[i]
                for (n, labels), v in self._summaries.items()
                for i, suffix in enumerate(("_count", "_sum", "_max"))
            }
            self._render(lines, summaries, "summary", by_base=True)
        return "\n".join(lines) + "\n"

    def _render(self, lines: list[str], values: dict[_Key, float], kind: str,
                by_base: bool = False) -> None:
        typed: set[str] = set()
        for (name, labels), v in sorted(values.items()):
            base = name.rsplit("_", 1)[0] if by_base else name
            if base not in typed:
                typed.add(base)
                if base in self._help:
                    lines.append(f"# HELP {base} {self._help[base]}")
                lines.append(f"# TYPE {base} {'untyped' if by_base else kind}")
            lab = ",".join(f'{k}="{_escape(val)}"' for k, val in labels)
            lines.append(f"{name}{{{lab}}} {v:g}" if lab else f"{name} {v:g}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
