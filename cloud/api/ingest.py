"""``POST /v1/ingest``: the idempotent ingest endpoint the gateway posts batches to."""

from __future__ import annotations

import logging
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cloud.api.auth import AuthFirstRoute, IngestToken
from cloud.api.deps import IngestDep, LimitsDep
from cloud.errors import KeyInFlight, KeyReused, MetadataError, RequestRejected, StoreError
from cloud.models import IngestBatch, IngestResponse
from cloud.redact import first_line
from ingest_protocol.compact import COMPACT_JSON, MSGPACK, media_type

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"],
                   route_class=AuthFirstRoute)
MAX_KEY_LEN = 256


def inline_schema(model: Any) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined (for ``openapi_extra``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, gunzipped when ``Content-Encoding: gzip``; 413 above ``limit`` either way."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is larger than {limit} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise HTTPException(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise HTTPException(415, f"Content-Encoding {encoding!r} is not supported; use gzip")
    try:
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(raw, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise HTTPException(413, f"the decompressed body is larger than {limit} bytes")
        if not d.eof:
            raise zlib.error("truncated gzip stream")
    except zlib.error as exc:
        raise HTTPException(400, f"the body is not valid gzip: {exc}") from None
    return out


@router.post(
    "/v1/ingest",
    response_model=IngestResponse,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": inline_schema(IngestBatch)},
        # The compact batch (readings per series); see ingest_protocol/SPEC.md section 8.
        MSGPACK: {"schema": {"type": "string", "format": "binary"}},
        COMPACT_JSON: {"schema": {"type": "object"}}}}},
    responses={
        400: {"description": "Missing Idempotency-Key, or the body is not JSON/gzip."},
        401: {"description": "Missing or unknown token."},
        403: {"description": "Revoked token, no `ingest` scope, or the token's gateway is "
                             "not `gateway_id`."},
        409: {"description": "A request with this Idempotency-Key is still in progress."},
        413: {"description": "Body or batch larger than the documented limits."},
        422: {"description": "Invalid envelope, or the key was used with a different body."},
        429: {"description": "Too many ingest requests at once; see Retry-After."},
        503: {"description": "The store (or metadata database) is unavailable; see Retry-After."},
    },
)
async def ingest(
    request: Request,
    gateway: IngestToken,
    service: IngestDep,
    limits: LimitsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Store a batch of readings and anomalies, exactly once per ``Idempotency-Key``.

    A 200 means every reading not listed in ``rejected`` is stored; rejected ones are kept in
    the dead-letter table. Repeating a request with the same key and body replays the first
    response (header ``Idempotent-Replayed: true``). Any other status means nothing may be
    assumed stored: keep the batch and retry (after ``Retry-After`` for 429 and 503).
    """
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_KEY_LEN:
        raise HTTPException(400, f"an `Idempotency-Key` header (1-{MAX_KEY_LEN} characters) "
                                 "is required")
    raw = await read_body(request, limits.max_body_bytes)
    assert gateway.gateway_id is not None  # the ingest scope needs a gateway
    retry = {"Retry-After": str(limits.retry_after_s)}
    try:
        outcome = await run_in_threadpool(service.ingest, raw, gateway.gateway_id, key,
                                          media_type(request.headers.get("content-type")))
    except RequestRejected as exc:
        raise HTTPException(exc.status, str(exc),
                            headers=retry if exc.status == 429 else None) from None
    except KeyReused as exc:
        raise HTTPException(422, str(exc)) from None
    except KeyInFlight as exc:
        raise HTTPException(409, str(exc), headers={"Retry-After": "1"}) from None
    except (StoreError, MetadataError, SQLAlchemyError) as exc:
        log.warning("ingest not stored: %s", exc)
        raise HTTPException(503, f"not stored, retry later: {first_line(exc)}",
                            headers=retry) from None
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, outcome.status, headers=headers,
                    media_type="application/json")
