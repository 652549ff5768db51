"""Metadata: gateway tokens, idempotency records, the device registry and dead letters.

SQLAlchemy 2 Core on one :data:`metadata`; SQLite by default, PostgreSQL for several replicas.
"""

from cloud.meta.db import MetaDB, metadata, now_ms
from cloud.meta.deadletters import DeadLetter, DeadLetters
from cloud.meta.devices import DeviceInfo, DeviceRegistry, SeenStream
from cloud.meta.idempotency import IdempotencyRepo, StoredResponse
from cloud.meta.tokens import TokenInfo, TokenRepo

__all__ = [
    "DeadLetter",
    "DeadLetters",
    "DeviceInfo",
    "DeviceRegistry",
    "IdempotencyRepo",
    "MetaDB",
    "SeenStream",
    "StoredResponse",
    "TokenInfo",
    "TokenRepo",
    "metadata",
    "now_ms",
]
