"""Gateway tokens, stored hashed: the plain token is shown once, at creation.

A token is ``iotgw_<id>_<secret>`` with 32 random bytes of secret, so a fast hash (SHA-256) is
enough: there is nothing to brute-force, unlike a password. ``id`` is public and names the token
in ``token list`` and ``token revoke``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, String, Table, select, update

from cloud.meta.db import MetaDB, metadata, now_ms

tokens = Table(
    "gateway_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("gateway_id", String(128), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    gateway_id: str
    created_ms: int
    revoked_ms: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None


class TokenRepo:
    """Create, look up, list and revoke gateway tokens."""

    def __init__(self, db: MetaDB) -> None:
        self.db = db

    def create(self, gateway_id: str) -> tuple[TokenInfo, str]:
        """A new token for ``gateway_id``: its info and the plain token (never stored)."""
        token_id = secrets.token_hex(6)
        plain = f"iotgw_{token_id}_{secrets.token_urlsafe(32)}"
        info = TokenInfo(token_id, gateway_id, now_ms(), None)
        with self.db.engine.begin() as conn:
            conn.execute(tokens.insert().values(
                token_id=token_id, gateway_id=gateway_id, token_hash=hash_token(plain),
                created_ms=info.created_ms,
            ))
        return info, plain

    def lookup(self, plain: str) -> TokenInfo | None:
        """The token's info, or None when no such token exists."""
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(tokens).where(tokens.c.token_hash == hash_token(plain))
            ).first()
        return None if row is None else _info(row)

    def list(self) -> list[TokenInfo]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(tokens).order_by(tokens.c.created_ms)).all()
        return [_info(r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """Revoke by id; False when no such (unrevoked) token exists."""
        with self.db.engine.begin() as conn:
            res = conn.execute(
                update(tokens)
                .where(tokens.c.token_id == token_id, tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms())
            )
        return bool(res.rowcount)


def _info(row: object) -> TokenInfo:
    m = row._mapping  # type: ignore[attr-defined]
    return TokenInfo(m["token_id"], m["gateway_id"], m["created_ms"], m["revoked_ms"])
