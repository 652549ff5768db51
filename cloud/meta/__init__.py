"""Metadata: API tokens, idempotency records, the device registry, device ownership and dead
letters; the schema is versioned (:mod:`cloud.meta.schema`).

SQLAlchemy 2 Core on one :data:`metadata`; SQLite by default, PostgreSQL for several replicas.
"""

from cloud.meta.db import MetaDB, metadata, now_ms
from cloud.meta.deadletters import DeadLetter, DeadLetters
from cloud.meta.devices import DeviceInfo, DeviceRegistry, SeenStream
from cloud.meta.idempotency import IdempotencyRepo, StoredResponse
from cloud.meta.ownership import DeviceOwnership, Owner
from cloud.meta.tokens import Scope, TokenError, TokenInfo, TokenRepo

__all__ = [
    "DeadLetter",
    "DeadLetters",
    "DeviceInfo",
    "DeviceOwnership",
    "DeviceRegistry",
    "IdempotencyRepo",
    "MetaDB",
    "Owner",
    "Scope",
    "SeenStream",
    "StoredResponse",
    "TokenError",
    "TokenInfo",
    "TokenRepo",
    "metadata",
    "now_ms",
]
