"""Errors raised by the gateway; everything it raises on purpose is a :class:`GatewayError`.

Hierarchy::

    GatewayError
    ├── StoreError           the local SQLite database cannot be opened, read or written
    │   └── BufferFull       the buffer is at its size bound and the overflow policy is backpressure
    └── UplinkError          a batch could not be delivered to the cloud
        ├── RetryableUplinkError  try the same rows again later (5xx, 429, time-out, connection)
        └── BatchRejected    the cloud refused the batch as invalid (400, 413, 422): split it

A bad setting is :class:`common.settings.ConfigError`: one exception, one message format and one
exit code for every deployable's configuration.

Decoding errors are ``firmware_protocol.errors.DecodeError`` and never escape the pipeline: they
become dead letters.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class StoreError(GatewayError):
    """The gateway's SQLite database failed (open, read or write)."""


class BufferFull(StoreError):
    """The buffer is full and the overflow policy is ``backpressure``."""


class UplinkError(GatewayError):
    """A batch could not be delivered."""


class RetryableUplinkError(UplinkError):
    """Delivery failed in a way that a later retry of the same rows may fix.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one. ``undelivered``
    is true only when the cloud certainly stored nothing (the connection was refused, or a 429
    turned the request away); otherwise the outcome is in doubt and the rows stay in flight.
    """

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None,
                 undelivered: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.undelivered = undelivered


class BatchRejected(UplinkError):
    """The cloud refused the batch itself (400/413/422): some row in it is bad."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status
