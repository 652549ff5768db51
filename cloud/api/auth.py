"""Authorization: ``RequireScope(scope)``, the one dependency every ``/v1`` route declares.

A route (or a whole router) declares the scope it needs, e.g.
``APIRouter(dependencies=[RequireScope(Scope.READ)])`` or, for a handler that needs the token,
the :data:`IngestToken` annotation. Without a usable bearer token the answer is 401 (with
``WWW-Authenticate: Bearer``); with a token that lacks the scope, 403 naming the scope; a
revoked or expired token is 403. The scope is an OpenAPI security requirement
(``security: [{"bearer": ["read"]}]``) and the operation's ``x-required-scope``
(:func:`add_scopes_to_openapi`), so a generated client knows.

Routers use :class:`AuthFirstRoute`, which runs the scopes a route declares before FastAPI reads
and parses the request body: a request without the right token costs no body read, and gets
401/403 whatever its body. The dependency then reuses that result (one token lookup per
request). ``/readyz`` and ``/metrics`` use :data:`ProbeAccess` (settings ``auth.probes``).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cloud.api.deps import ServicesDep
from cloud.meta import Scope, TokenInfo, now_ms
from cloud.services import Services

SCHEME = "bearer"
_bearer = HTTPBearer(
    auto_error=False, scheme_name=SCHEME,
    description="An API token (`iotgw cloud token create`), sent as "
                "`Authorization: Bearer <token>`. Each operation lists the scope it needs.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _authenticate(s: Services, cred: HTTPAuthorizationCredentials | None) -> TokenInfo:
    """The caller's usable token: 401 when missing or unknown, 403 when revoked or expired."""
    plain = _plain(cred)
    try:
        info = s.tokens.lookup(plain)
    except SQLAlchemyError:
        raise HTTPException(503, "the metadata database is unavailable",
                            headers={"Retry-After": str(s.settings.limits.retry_after_s)}
                            ) from None
    now = now_ms()
    _usable(info, now)
    assert info is not None
    with contextlib.suppress(SQLAlchemyError):  # last use is best effort
        s.tokens.touch(info, now)
    return info


def _plain(cred: HTTPAuthorizationCredentials | None) -> str:
    plain = cred.credentials.strip() if cred is not None else ""
    if not plain:
        raise _unauthorized("missing `Authorization: Bearer <token>`")
    return plain


def _usable(info: TokenInfo | None, now: int) -> None:
    if info is None:
        raise _unauthorized("unknown token")
    if info.revoked:  # a known token that may no longer do anything: 403, as before scopes
        raise HTTPException(403, "this token has been revoked")
    if info.expired(now):
        raise HTTPException(403, "this token has expired")


def _check_scopes(info: TokenInfo, scopes: Sequence[str]) -> None:
    for scope in scopes:
        if not info.allows(scope):
            raise HTTPException(403, f"this route needs the {scope!r} scope")


def authorize(request: Request, s: Services, cred: HTTPAuthorizationCredentials | None,
              scopes: Sequence[str]) -> TokenInfo:
    """The caller's token if it carries every one of ``scopes`` (authenticated once per
    request: the result is kept on ``request.state``)."""
    info: TokenInfo | None = getattr(request.state, "token", None)
    if info is None:
        info = _authenticate(s, cred)
        request.state.token = info
    _check_scopes(info, scopes)
    return info


def authorize_cached(request: Request, s: Services, cred: HTTPAuthorizationCredentials | None,
                     scopes: Sequence[str]) -> bool:
    """:func:`authorize` when the token is in memory (``auth.token_cache_s``) and its last use
    need not be written: no I/O, so the event loop runs it. False: it could not decide
    without the database (call :func:`authorize` in a thread)."""
    plain = _plain(cred)
    now = now_ms()
    info = s.tokens.cached(plain, now)
    if info is None or s.tokens.touch_due(info, now):
        return False
    _usable(info, now)
    request.state.token = info
    _check_scopes(info, scopes)
    return True


class ScopeCheck:
    """The dependency behind ``RequireScope(scope)``; :class:`AuthFirstRoute` finds it."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope.value

    async def __call__(self, request: Request, cred: Credentials) -> TokenInfo:
        info: TokenInfo | None = getattr(request.state, "token", None)
        if info is not None:  # AuthFirstRoute authenticated this request: no thread hop
            return authorize(request, request.app.state.services, cred, [self.scope])
        return await run_in_threadpool(authorize, request, request.app.state.services, cred,
                                       [self.scope])


def RequireScope(scope: Scope) -> Any:
    """The dependency of a route that needs ``scope`` (for ``dependencies=[...]``)."""
    return Security(ScopeCheck(scope), scopes=[scope.value])


#: The calling gateway's token (``ingest`` scope; the token names the gateway).
IngestToken = Annotated[TokenInfo, RequireScope(Scope.INGEST)]


def declared_scopes(dependant: Dependant) -> list[str]:
    """The scopes a route's dependencies (at any depth) require."""
    found: list[str] = []
    for dep in dependant.dependencies:
        if isinstance(dep.call, ScopeCheck):
            found.append(dep.call.scope)
        found += declared_scopes(dep)
    return found


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class AuthFirstRoute(APIRoute):
    """A route that checks its declared scopes before its body is read or parsed."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        scopes = declared_scopes(self.dependant)
        if not scopes:
            return handler

        async def auth_first(request: Request) -> Response:
            cred = await _bearer(request)
            services = request.app.state.services
            if not authorize_cached(request, services, cred, scopes):
                await run_in_threadpool(authorize, request, services, cred, scopes)
            return await handler(request)

        return auth_first


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
    authorize(request, s, cred, [Scope.READ.value])


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
