"""Reading a ``/metrics`` body in tests, with ``prometheus_client``'s own text parser.

>>> text = '# TYPE x_total counter\\nx_total{reason="a"} 2\\nx_total{reason="b"} 3\\n'
>>> sample_totals(text)
{'x_total': 5.0}
>>> sample_totals(text, keep_labels=True)
{'x_total{reason="a"}': 2.0, 'x_total{reason="b"}': 3.0}
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample_totals(text: str, keep_labels: bool = False) -> dict[str, float]:
    """Every sample's value by sample name, summed over label sets unless ``keep_labels``
    (then keyed ``name{label="value",...}`` in exposition order)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name
            if keep_labels and s.labels:
                key += "{" + ",".join(f'{k}="{v}"' for k, v in s.labels.items()) + "}"
            out[key] = out.get(key, 0.0) + s.value
    return out
