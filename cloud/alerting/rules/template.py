"""Alert message templates: ``{name}`` / ``{name:format-spec}`` placeholders, bounded.

A template comes from the API, so what it may cost is bounded: a format spec's width is at
most :data:`MAX_WIDTH` and its precision at most :data:`MAX_PRECISION` (``{value:999999999}``
would build a 1 GB string), checked when a rule is written (:func:`check_template`) and again
when rendering (a row written before the check renders the plain value), and a rendered
message is cut at :data:`MAX_RENDERED` characters.

>>> render("{sensor} reaches {limit:.1f} {unit} in ~{eta_h:.0f} h",
...        {"sensor": "vibration", "limit": 7.08, "unit": "mm/s", "eta_h": 35.6})
'vibration reaches 7.1 mm/s in ~36 h'
>>> render("{nope} {value:bad}", {"value": 1.5})
'{nope} 1.5'
>>> check_template("{value:>999999}")
Traceback (most recent call last):
...
ValueError: {value:>999999}: the width is at most 64
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_WIDTH = 64
MAX_PRECISION = 20
MAX_RENDERED = 2000

#: ``{name}`` or ``{name:format-spec}``; anything else in a template is literal text.
_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^{}]{0,20}))?\}")
#: Python's format-spec mini-language: [[fill]align][sign][z][#][0][width][grouping][.prec][type]
_SPEC = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(?P<w>\d*)[,_]?(?:\.(?P<p>\d+))?[a-zA-Z%]?$",
                   re.DOTALL)


def spec_problem(spec: str) -> str | None:
    """Why a format spec is not allowed, or None."""
    m = _SPEC.match(spec)
    if m is None:
        return "is not a format spec"
    if m.group("w") and int(m.group("w")) > MAX_WIDTH:
        return f"the width is at most {MAX_WIDTH}"
    if m.group("p") and int(m.group("p")) > MAX_PRECISION:
        return f"the precision is at most {MAX_PRECISION}"
    return None


def check_template(template: str) -> str:
    """``template`` unchanged; ValueError naming the first placeholder whose spec is not
    allowed (for use as a pydantic ``AfterValidator``)."""
    for match in _PLACEHOLDER.finditer(template):
        spec = match.group(2)
        problem = spec_problem(spec) if spec else None
        if problem is not None:
            raise ValueError(f"{match.group(0)}: {problem}")
    return template


def render(template: str, fields: Mapping[str, Any]) -> str:
    """Fill ``{name}`` / ``{name:spec}`` placeholders; unknown names stay as written.

    Only plain names and format specs are understood (no attribute or index access), so a
    template from the API cannot reach into objects.
    """

    def one(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2) or ""
        if name not in fields:
            return match.group(0)
        value = fields[name]
        if value is None:
            return "?"
        if spec and spec_problem(spec) is not None:
            return str(value)[:MAX_RENDERED]
        try:
            return format(value, spec)[:MAX_RENDERED]
        except (ValueError, TypeError):
            return str(value)[:MAX_RENDERED]

    return _PLACEHOLDER.sub(one, template)[:MAX_RENDERED]
