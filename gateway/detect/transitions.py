"""The sentinel detector's transition table, kept as plain ints and a bounded dict.

A transition between value bins ``a -> b`` is the one int ``a * SPAN + b`` (bins clamped to
+-SPAN/2): an int key costs about half a tuple of two ints, and a stream keeps up to
``max_transitions`` of them.

>>> source(7 * SPAN + 3), source(-2 * SPAN - 5), source(4 * SPAN - 1)
(7, -2, 4)
>>> decayed({1 * SPAN + 1: 4.0, 1 * SPAN + 2: 1.0, 2 * SPAN + 1: 2.0}, 2)
({4294967297: 2.0, 8589934593: 1.0}, {1: 2.0, 2: 1.0})
"""

from __future__ import annotations

SPAN = 1 << 32
BIN_LIMIT = (SPAN >> 1) - 1


def clamp(b: int) -> int:
    """Bin ``b`` within +-BIN_LIMIT."""
    return b if -BIN_LIMIT <= b <= BIN_LIMIT else max(-BIN_LIMIT, min(BIN_LIMIT, b))


def source(key: int) -> int:
    """The bin a transition key ``a * SPAN + b`` starts from (``b`` may be negative)."""
    low = key % SPAN
    b = low if low <= BIN_LIMIT else low - SPAN
    return (key - b) // SPAN


def decayed(counts: dict[int, float], keep: int) -> tuple[dict[int, float], dict[int, float]]:
    """Every count halved, only the ``keep`` strongest transitions kept (ties: lower key first),
    and each source bin's total: a bounded memory."""
    ranked = sorted(counts.items(), key=lambda kc: (-kc[1], kc[0]))
    kept = {k: c / 2 for k, c in ranked[:keep]}
    totals: dict[int, float] = {}
    for key, c in kept.items():
        a = source(key)
        totals[a] = totals.get(a, 0.0) + c
    return kept, totals
