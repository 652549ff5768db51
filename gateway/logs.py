"""Logging set-up of the gateway: plain text for a terminal, one JSON object per line when
asked (the one implementation in :mod:`common.logs`, shared with the cloud).

>>> import logging
>>> record = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
>>> JsonFormatter().format(record)[:46]
'{"level": "INFO", "logger": "gateway.x", "msg"'
"""

from __future__ import annotations

from common.logs import JsonFormatter
from common.logs import configure as _configure

__all__ = ["JsonFormatter", "configure"]


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send the gateway's logs to stderr in the chosen format."""
    _configure(level, fmt, ["gateway"])
