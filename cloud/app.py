"""The FastAPI application: :func:`create_app` composes the routers and the services.

The lifespan starts the services (metadata database, store) and stops them; errors from the
layers below map to HTTP here, once: a bad query parameter is 400, an unavailable store or
metadata database is 503 with ``Retry-After``, an unknown alerting id is 404 and an alerting
request the stores refuse is 422. Every error mapped here is a :class:`~cloud.errors.CloudError`
(plus the request-validation and SQLAlchemy errors raised by the frameworks).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from cloud.alerting.core.errors import InvalidRequest, InvalidRule, NotFound, UnsafeTarget
from cloud.api import ROUTERS, docs
from cloud.api.auth import add_scopes_to_openapi
from cloud.api.content_type import JsonBodiesOnly
from cloud.api.webhook_events import add_webhook_docs
from cloud.bodylimit import BodyLimit
from cloud.dashboard import mount_dashboard
from cloud.errors import CloudError, MetadataError, QueryError, StoreError
from cloud.redact import first_line, redact
from cloud.request_id import RequestIdMiddleware
from cloud.services import Services
from cloud.settings import CloudSettings

log = logging.getLogger(__name__)

DESCRIPTION = """Idempotent ingest of gateway batches, trend queries over the time-series store.

`POST /v1/ingest` answers 2xx only once the store accepted the points; any other status means
the gateway keeps its batch and retries with the same `Idempotency-Key`.

Every `/v1` route needs an API token (`Authorization: Bearer <token>`, made with
`iotgw cloud token create`) carrying the scope the operation lists (`x-required-scope`):
`ingest`, `read`, `alerts:write` or `admin` (which implies all but `ingest`). Without a token
the answer is 401, with a token lacking the scope 403. Bodies of POST, PUT, PATCH and DELETE
must be `application/json` (415 otherwise).
"""


def create_app(settings: CloudSettings, services: Services | None = None) -> FastAPI:
    """A new app; its services start with the app's lifespan and stop with it."""
    svc = services if services is not None else Services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(title="iotgw cloud", version="1", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    app.state.services = svc
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(docs.router)
    add_scopes_to_openapi(app)
    svc.alerting.install(app)
    add_webhook_docs(app)
    mount_dashboard(app)
    app.add_middleware(JsonBodiesOnly)
    _add_error_handlers(app, settings.limits.retry_after_s)
    app.add_middleware(BodyLimit, ingest_bytes=settings.limits.max_body_bytes,
                       other_bytes=settings.limits.max_admin_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # outermost: every response carries X-Request-ID
    return app


def _add_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    retry = {"Retry-After": str(retry_after_s)}

    @app.exception_handler(QueryError)
    async def _query_error(_r: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"detail": redact(str(exc))}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(_r: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
        return JSONResponse({"detail": redact(f"{where}: {err.get('msg')}")}, status_code=400)

    @app.exception_handler(NotFound)
    async def _not_found(_r: Request, exc: CloudError) -> JSONResponse:
        return JSONResponse({"detail": redact(str(exc))}, status_code=404)

    @app.exception_handler(InvalidRule)
    @app.exception_handler(InvalidRequest)
    @app.exception_handler(UnsafeTarget)
    async def _unprocessable(_r: Request, exc: CloudError) -> JSONResponse:
        return JSONResponse({"detail": redact(str(exc))}, status_code=422)

    @app.exception_handler(StoreError)
    async def _store_error(_r: Request, exc: StoreError) -> JSONResponse:
        log.warning("store error: %s", exc)
        return JSONResponse({"detail": f"the store is unavailable: {first_line(exc)}"},
                            status_code=503, headers=retry)

    @app.exception_handler(MetadataError)
    @app.exception_handler(SQLAlchemyError)
    async def _meta_error(_r: Request, exc: Exception) -> JSONResponse:
        log.warning("metadata error: %s", exc)
        first = first_line(exc)
        return JSONResponse({"detail": f"the metadata database is unavailable: {first}"},
                            status_code=503, headers=retry)


def app_from_environment() -> FastAPI:
    """The app for uvicorn's factory mode: settings from ``IOTGW_CLOUD_CONFIG`` and the env.

    This is the served process (one per worker), so it also tunes the garbage collector.
    """
    import os

    from cloud.runtime import configure_logging
    from cloud.settings import load_settings

    settings = load_settings(os.environ.get("IOTGW_CLOUD_CONFIG") or None)
    configure_logging(settings.server)
    app = create_app(settings)
    tune_gc(settings.server.gc_threshold)
    return app


def tune_gc(threshold: int) -> None:
    """Freeze what is alive now (modules, the app) out of future collections and collect the
    youngest generation every ``threshold`` new objects (0: leave the collector as it is).

    Only for a process that serves the app: it changes the interpreter's global collector.
    """
    if threshold <= 0:
        return
    import gc

    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
