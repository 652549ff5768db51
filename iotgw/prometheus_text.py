"""Read a Prometheus text exposition into ``{name: value}``, summing label sets unless kept.

>>> text = '# HELP x_total X.\\nx_total{reason="a"} 2\\nx_total{reason="b"} 3\\ny 1.5\\n'
>>> totals = parse_totals(text)
>>> totals["x_total"], totals["y"]
(5.0, 1.5)
>>> parse_totals('# HELP x y\\nx_total{a="1"} 2\\nx_total{a="2"} 3\\nup 1')
{'x_total': 5.0, 'up': 1.0}
>>> parse_totals('x_total{a="1"} 2\\nx_total{a="2"} 3', keep_labels=True)
{'x_total{a="1"}': 2.0, 'x_total{a="2"}': 3.0}
"""

from __future__ import annotations


def parse_totals(text: str, keep_labels: bool = False) -> dict[str, float]:
    """Sum every sample of each metric (over its labels unless ``keep_labels``); comments and
    bad lines are skipped."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value_part = line.rpartition(" ")
        name = name_part.strip() if keep_labels else name_part.split("{", 1)[0].strip()
        try:
            value = float(value_part)
        except ValueError:
            continue
        if name:
            totals[name] = totals.get(name, 0.0) + value
    return totals
