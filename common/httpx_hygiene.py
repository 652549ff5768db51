"""httpx without its command-line client, and breaking the cycle between a response and its
stream.

httpx imports its command-line client (click, rich, pygments: ~9 MB resident) whenever those
happen to be installed, e.g. beside uvicorn or typer; no service of ours runs it. httpx falls
back to a stub ``main`` when that import fails, and a None entry in ``sys.modules`` makes it
fail (decision 74): import httpx from here (``from common.httpx_hygiene import httpx``) in a
module a daemon loads. A process that imported the client before keeps it.

httpx wraps a response's stream in one that points back at the response, so every request
(its possibly large body included) lives until the cyclic garbage collector runs. Under a
raised ``gc_threshold``, or with the collector busy, they piled up into the older generations
(soak finding, decision 38). Call :func:`unbound` on every response right after the request
returns; its body has already been read by then (no ``stream=True``), so nothing is lost.

>>> import httpx
>>> resp = unbound(httpx.Response(200, content=b"ok"))
>>> resp.text, resp.status_code
('ok', 200)
"""

from __future__ import annotations

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: E402

__all__ = ["httpx", "unbound"]


def unbound(resp: httpx.Response) -> httpx.Response:
    """``resp`` (body already read) with its stream replaced by an empty one: no cycle left."""
    resp.stream = httpx.ByteStream(b"")
    return resp
