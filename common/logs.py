"""Logging set-up shared by the gateway and the cloud: text for a terminal, or one JSON object
per line; a request id (when one is being handled) in every line.

>>> import logging
>>> record = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
>>> JsonFormatter().format(record)[:46]
'{"level": "INFO", "logger": "gateway.x", "msg"'
>>> token = REQUEST_ID.set("r-1")
>>> '"request_id": "r-1"' in JsonFormatter().format(record)
True
>>> REQUEST_ID.reset(token)
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from contextvars import ContextVar
from importlib import metadata
from typing import Any

__all__ = ["REQUEST_ID", "JsonFormatter", "TextFormatter", "configure", "version"]

#: The id of the request being handled in this context (set by the cloud's middleware).
REQUEST_ID: ContextVar[str | None] = ContextVar("iotgw_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """Structured logs: ``{"level", "logger", "msg", "ts", "thread"[, "request_id"][, "exc"]}``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "thread": record.threadName,
        }
        rid = REQUEST_ID.get()
        if rid is not None:
            data["request_id"] = rid
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message`` plus `` [request_id=...]`` while a request is handled."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = REQUEST_ID.get()
        return f"{text} [request_id={rid}]" if rid is not None else text


def configure(level: str, fmt: str, loggers: Sequence[str]) -> None:
    """Send the named loggers' records to stderr in ``fmt`` ("text" or "json") at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for name in loggers:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def version() -> str:
    """The installed distribution's version (``0+unknown`` from a bare checkout)."""
    try:
        return metadata.version("iotgw")
    except metadata.PackageNotFoundError:
        return "0+unknown"
