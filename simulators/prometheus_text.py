"""Read a Prometheus text exposition into totals per metric name (labels summed).

>>> text = '# HELP x_total X.\\nx_total{reason="a"} 2\\nx_total{reason="b"} 3\\ny 1.5\\n'
>>> totals = parse_totals(text)
>>> totals["x_total"], totals["y"]
(5.0, 1.5)
"""

from __future__ import annotations


def parse_totals(text: str) -> dict[str, float]:
    """Sum every sample of each metric over its labels; comments and bad lines are skipped."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value_part = line.rpartition(" ")
        name = name_part.split("{", 1)[0].strip()
        try:
            value = float(value_part)
        except ValueError:
            continue
        if name:
            totals[name] = totals.get(name, 0.0) + value
    return totals
