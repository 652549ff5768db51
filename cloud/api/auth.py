"""Authorization: ``RequireScope(scope)``, the one dependency every ``/v1`` route declares.

A route (or a whole router) declares the scope it needs, e.g.
``APIRouter(dependencies=[RequireScope(Scope.READ)])`` or, for a handler that needs the token,
the :data:`IngestToken` annotation. Without a usable bearer token the answer is 401 (with
``WWW-Authenticate: Bearer``); with a token that lacks the scope, 403 naming the scope. The
scope is an OpenAPI security requirement (``security: [{"bearer": ["read"]}]``) and the
operation's ``x-required-scope`` (:func:`add_scopes_to_openapi`), so a generated client knows.
``/readyz`` and ``/metrics`` use :data:`ProbeAccess` (settings ``auth.probes``).
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy.exc import SQLAlchemyError

from cloud.api.deps import ServicesDep
from cloud.meta import Scope, TokenInfo, now_ms

SCHEME = "bearer"
_bearer = HTTPBearer(
    auto_error=False, scheme_name=SCHEME,
    description="An API token (`iotgw cloud token create`), sent as "
                "`Authorization: Bearer <token>`. Each operation lists the scope it needs.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _lookup(s: ServicesDep, plain: str) -> TokenInfo | None:
    try:
        return s.tokens.lookup(plain)
    except SQLAlchemyError:
        raise HTTPException(503, "the metadata database is unavailable",
                            headers={"Retry-After": str(s.settings.limits.retry_after_s)}
                            ) from None


def authorize(security_scopes: SecurityScopes, s: ServicesDep, cred: Credentials) -> TokenInfo:
    """The caller's token if it carries every scope of ``security_scopes``."""
    if cred is None or not cred.credentials.strip():
        raise _unauthorized("missing `Authorization: Bearer <token>`")
    info = _lookup(s, cred.credentials.strip())
    now = now_ms()
    if info is None:
        raise _unauthorized("unknown token")
    if info.revoked:  # a known token that may no longer do anything: 403, as before scopes
        raise HTTPException(403, "this token has been revoked")
    if info.expired(now):
        raise HTTPException(403, "this token has expired")
    for scope in security_scopes.scopes:
        if not info.allows(scope):
            raise HTTPException(403, f"this route needs the {scope!r} scope")
    with contextlib.suppress(SQLAlchemyError):  # last use is best effort
        s.tokens.touch(info, now)
    return info


def RequireScope(scope: Scope) -> Any:
    """The dependency of a route that needs ``scope`` (for ``dependencies=[...]``)."""
    return Security(authorize, scopes=[scope.value])


#: The calling gateway's token (``ingest`` scope; the token names the gateway).
IngestToken = Annotated[TokenInfo, Security(authorize, scopes=[Scope.INGEST.value])]


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe_access(request: Request, s: ServicesDep, cred: Credentials) -> None:
    """``/readyz`` and ``/metrics``: open, open on loopback, or a ``read`` token (settings)."""
    mode = s.settings.auth.probes
    if mode == "open" or (mode == "loopback" and _is_loopback(request)):
        return
    authorize(SecurityScopes([Scope.READ.value]), s, cred)


ProbeAccess = Depends(probe_access)


def add_scopes_to_openapi(app: FastAPI) -> None:
    """Give every secured operation of ``app``'s OpenAPI document ``x-required-scope``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                scopes = [sc for req in op.get("security", []) for sc in req.get(SCHEME, [])]
                if scopes:
                    op["x-required-scope"] = scopes[0] if len(scopes) == 1 else scopes
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
