"""Escaping for InfluxDB line protocol and InfluxQL: every identifier and literal goes through here.

>>> tag_escape('a b,c=d')
'a\\\\ b\\\\,c\\\\=d'
>>> field_string('say "hi" \\\\')
'"say \\\\"hi\\\\" \\\\\\\\"'
>>> ql_ident('x"; DROP')
'"x\\\\"; DROP"'
>>> ql_string("it's\\n")
"'it\\\\'s\\\\n'"
"""

from __future__ import annotations

_TAG = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})
_QL = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "'": "\\'", '"': '\\"'})


def tag_escape(s: str) -> str:
    """A tag key or value (or field key) for line protocol."""
    return s.translate(_TAG)


def measurement_escape(s: str) -> str:
    return s.translate(_MEASUREMENT)


def field_string(s: str) -> str:
    """A string field value, quoted."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ql_ident(s: str) -> str:
    """A double-quoted InfluxQL identifier (database, retention policy, measurement, tag key)."""
    return '"' + s.translate(_QL) + '"'


def ql_string(s: str) -> str:
    """A single-quoted InfluxQL string literal."""
    return "'" + s.translate(_QL) + "'"
