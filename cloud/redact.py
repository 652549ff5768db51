"""What an error may say to a client: no credentials, no SQL, no parameters.

Error messages come from below (httpx, SQLAlchemy, the stores) and can hold the store's URL
with its password (``http://admin:secret@influx:8086``), a query string with a token, or a
SQLAlchemy statement with its bound parameters. :func:`redact` is applied by every exception
handler and by ``/readyz`` before anything reaches a response body; the full message still
goes to the log.

>>> redact("InfluxDB at http://admin:s3cret@db:8086 is unreachable")
'InfluxDB at http://***@db:8086 is unreachable'
>>> redact("(sqlite3.OperationalError) disk I/O error\\n[SQL: INSERT INTO t VALUES (?)]"
...        "\\n[parameters: ('x',)]\\n(Background on this error at: https://sqlalche.me/e/20/e3q8)")
'(sqlite3.OperationalError) disk I/O error'
>>> redact("GET http://db:8086/query?db=x&u=admin&p=hunter2&token=abc failed")
'GET http://db:8086/query?db=x&u=***&p=***&token=*** failed'
"""

from __future__ import annotations

import re

#: Longest text an error message may carry to a client.
MAX_DETAIL = 500

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRET_PARAMS = re.compile(
    r"(?i)([?&;](?:p|u|password|passwd|pwd|token|secret|key|api_key|apikey|access_token)=)"
    r"[^&;\s'\"]*")
_SQLALCHEMY_TAIL = re.compile(r"(?s)\s*(?:\[SQL:|\[parameters:|\(Background on this error).*$")
_AUTH_HEADER = re.compile(r"(?i)\b(authorization|bearer|token)([:=\s]+)[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str) -> str:
    """``text`` without URL credentials, secret query parameters, SQL statements and their
    parameters, and cut to :data:`MAX_DETAIL` characters."""
    out = _SQLALCHEMY_TAIL.sub("", text)
    out = _URL_CREDENTIALS.sub(r"\1***@", out)
    out = _SECRET_PARAMS.sub(r"\1***", out)
    out = _AUTH_HEADER.sub(r"\1\2***", out)
    return out[:MAX_DETAIL]


def first_line(exc: BaseException) -> str:
    """The redacted first line of an exception's message (its type when it has none)."""
    text = redact(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
