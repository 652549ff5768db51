"""The uplink: batches from the buffer to the cloud's ingest API, retried, split and guarded."""

from gateway.uplink.base import IngestResult, OutgoingBatch, Sender, batch_key, build_batch
from gateway.uplink.breaker import CircuitBreaker
from gateway.uplink.forwarder import Uplink
from gateway.uplink.http import HttpSender
from gateway.uplink.retry import RetryPolicy, parse_retry_after

__all__ = [
    "CircuitBreaker",
    "HttpSender",
    "IngestResult",
    "OutgoingBatch",
    "RetryPolicy",
    "Sender",
    "Uplink",
    "batch_key",
    "build_batch",
    "parse_retry_after",
]
