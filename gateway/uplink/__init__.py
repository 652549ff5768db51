"""The uplink: batches from the buffer to the cloud's ingest API, retried, split and guarded."""

from gateway.uplink.base import IngestResult, OutgoingBatch, Sender, batch_key, build_batch
from gateway.uplink.breaker import CircuitBreaker
from gateway.uplink.forwarder import Uplink
from gateway.uplink.http import HttpSender

__all__ = [
    "CircuitBreaker",
    "HttpSender",
    "IngestResult",
    "OutgoingBatch",
    "Sender",
    "Uplink",
    "batch_key",
    "build_batch",
]
