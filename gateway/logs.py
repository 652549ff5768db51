"""Logging set-up: plain text for a terminal, one JSON object per line when asked.

>>> import logging
>>> record = logging.LogRecord("gateway.x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
>>> JsonFormatter().format(record)[:46]
'{"level": "INFO", "logger": "gateway.x", "msg"'
"""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    """Structured logs: ``{"level", "logger", "msg", "ts", "thread"[, "exc"]}``."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "thread": record.threadName,
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send the gateway's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("gateway")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
