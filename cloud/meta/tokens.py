"""API tokens with scopes, stored hashed: the plain token is shown once, at creation.

A token is ``iotgw_<id>_<secret>`` with 32 random bytes of secret, so a fast hash (SHA-256) is
enough: there is nothing to brute-force, unlike a password. ``id`` is public and names the token
in ``token list`` and ``token revoke``.

Scopes (docs/security.md): ``ingest`` (a gateway writing its own devices; the token names its
gateway), ``read``, ``alerts:write`` and ``admin``; ``admin`` implies every scope but
``ingest``, which only a gateway's token carries. Last use is recorded at most once per
``touch_every_ms`` per token and process, so authentication adds no write per request.

>>> t = TokenInfo("t1", None, 0, None, scopes=("admin",))
>>> t.allows(Scope.READ), t.allows(Scope.ALERTS_WRITE), t.allows(Scope.INGEST)
(True, True, False)
>>> parse_scopes(["read", "alerts:write", "read"])
('alerts:write', 'read')
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import BigInteger, Column, String, Table, bindparam, or_, select, update

from cloud.errors import CloudError
from cloud.meta.db import MetaDB, metadata, now_ms


class Scope(StrEnum):
    """What a token may do."""

    INGEST = "ingest"
    READ = "read"
    ALERTS_WRITE = "alerts:write"
    ADMIN = "admin"


class TokenError(CloudError):
    """A token cannot be made as asked (unknown scope, ``ingest`` without a gateway, ...)."""


tokens = Table(
    "gateway_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("gateway_id", String(128), nullable=True, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("scopes", String(200), nullable=False, server_default="ingest"),
    Column("name", String(128), nullable=True),
    Column("expires_ms", BigInteger, nullable=True),
    Column("last_used_ms", BigInteger, nullable=True),
)


#: The statement of every authenticated request, built once.
_BY_HASH = select(tokens).where(tokens.c.token_hash == bindparam("h"))
#: Tokens remembered by :meth:`TokenRepo.lookup` at most (then the memory starts afresh).
_CACHE_MAX = 10_000


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(names: Iterable[str]) -> tuple[str, ...]:
    """Known scope names, sorted and without repeats; :class:`TokenError` for others."""
    out = set()
    for name in names:
        try:
            out.add(Scope(name.strip()).value)
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise TokenError(f"unknown scope {name!r}; use one of {known}") from None
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    gateway_id: str | None
    created_ms: int
    revoked_ms: int | None
    scopes: tuple[str, ...] = (Scope.INGEST.value,)
    name: str | None = None
    expires_ms: int | None = None
    last_used_ms: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None

    def expired(self, at_ms: int) -> bool:
        return self.expires_ms is not None and at_ms >= self.expires_ms

    def allows(self, scope: str) -> bool:
        """Whether the token carries ``scope`` (``admin`` implies all but ``ingest``)."""
        if scope in self.scopes:
            return scope != Scope.INGEST or self.gateway_id is not None
        return Scope.ADMIN in self.scopes and scope != Scope.INGEST


class TokenRepo:
    """Create, look up, list and revoke API tokens."""

    def __init__(self, db: MetaDB, touch_every_s: float = 60.0, cache_s: float = 0.0) -> None:
        self.db = db
        self.touch_every_ms = int(touch_every_s * 1000)
        self.cache_ms = int(cache_s * 1000)
        self._touched: dict[str, int] = {}
        #: token hash -> (when it was read, its info): known tokens only, at most _CACHE_MAX
        self._cache: dict[str, tuple[int, TokenInfo]] = {}
        self._revocations = 0  #: revocations through this repository so far
        self._lock = threading.Lock()

    def create(self, gateway_id: str | None = None, scopes: Iterable[str] = ("ingest",),
               name: str | None = None, expires_ms: int | None = None
               ) -> tuple[TokenInfo, str]:
        """A new token: its info and the plain token (never stored). ``ingest`` needs a
        gateway; a gateway id is kept only with ``ingest``."""
        chosen = parse_scopes(scopes)
        if not chosen:
            raise TokenError("a token needs at least one scope")
        if Scope.INGEST in chosen and not gateway_id:
            raise TokenError("the 'ingest' scope needs --gateway: the gateway the token is for")
        if gateway_id and Scope.INGEST not in chosen:
            raise TokenError("--gateway goes with the 'ingest' scope only")
        token_id = secrets.token_hex(6)
        plain = f"iotgw_{token_id}_{secrets.token_urlsafe(32)}"
        info = TokenInfo(token_id, gateway_id, now_ms(), None, chosen, name, expires_ms)
        with self.db.engine.begin() as conn:
            conn.execute(tokens.insert().values(
                token_id=token_id, gateway_id=gateway_id, token_hash=hash_token(plain),
                created_ms=info.created_ms, scopes=",".join(chosen), name=name,
                expires_ms=expires_ms,
            ))
        return info, plain

    def lookup(self, plain: str) -> TokenInfo | None:
        """The token's info, or None when no such token exists (read from the database, and
        remembered for :meth:`cached` when ``cache_s`` is on)."""
        digest = hash_token(plain)
        revocations = self._revocations
        with self.db.engine.connect() as conn:
            row = conn.execute(_BY_HASH, {"h": digest}).first()
        if row is None:
            return None
        info = _info(row)
        if self.cache_ms > 0:
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                if revocations == self._revocations:  # else it may predate a revocation
                    self._cache[digest] = (now_ms(), info)
        return info

    def cached(self, plain: str, at_ms: int) -> TokenInfo | None:
        """The token's info as read by :meth:`lookup` less than ``cache_s`` before ``at_ms``,
        else None (look it up): no I/O, so an event loop may call it. A revocation through
        this repository takes effect at once; one made elsewhere (another process, another
        replica) within ``cache_s``."""
        if self.cache_ms <= 0:
            return None
        hit = self._cache.get(hash_token(plain))
        if hit is None or at_ms - hit[0] >= self.cache_ms or at_ms < hit[0]:
            return None
        return hit[1]

    def touch_due(self, info: TokenInfo, at_ms: int) -> bool:
        """Whether :meth:`touch` would write now."""
        return at_ms - self._touched.get(info.token_id, -self.touch_every_ms) >= self.touch_every_ms

    def touch(self, info: TokenInfo, at_ms: int | None = None) -> None:
        """Record a use of ``info``; written at most once per ``touch_every_s`` per token."""
        now = now_ms() if at_ms is None else at_ms
        with self._lock:
            if now - self._touched.get(info.token_id, -self.touch_every_ms) < self.touch_every_ms:
                return
            self._touched[info.token_id] = now
            if len(self._touched) > 10_000:
                self._touched = {info.token_id: now}
        with self.db.engine.begin() as conn:
            conn.execute(update(tokens).where(tokens.c.token_id == info.token_id)
                         .values(last_used_ms=now))

    def list(self) -> list[TokenInfo]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(tokens).order_by(tokens.c.created_ms)).all()
        return [_info(r) for r in rows]

    def has_active(self, scope: str, at_ms: int | None = None) -> bool:
        """Whether an unrevoked, unexpired token carries ``scope``."""
        now = now_ms() if at_ms is None else at_ms
        grants = [scope] if scope == Scope.INGEST else [scope, Scope.ADMIN.value]
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(tokens).where(
                tokens.c.revoked_ms.is_(None),
                or_(*(tokens.c.scopes.contains(g) for g in grants)))).all()
        return any(t.allows(scope) and not t.expired(now) for t in map(_info, rows))

    def revoke(self, token_id: str) -> bool:
        """Revoke by id; False when no such (unrevoked) token exists."""
        with self.db.engine.begin() as conn:
            res = conn.execute(
                update(tokens)
                .where(tokens.c.token_id == token_id, tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms())
            )
        with self._lock:
            self._revocations += 1
            self._cache.clear()
        return bool(res.rowcount)


def _info(row: object) -> TokenInfo:
    m = row._mapping  # type: ignore[attr-defined]
    scopes = tuple(s for s in (m["scopes"] or "").split(",") if s)
    return TokenInfo(m["token_id"], m["gateway_id"], m["created_ms"], m["revoked_ms"],
                     scopes, m["name"], m["expires_ms"], m["last_used_ms"])
