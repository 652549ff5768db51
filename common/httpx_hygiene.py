"""Breaking the reference cycle httpx leaves between a response and its stream.

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

import httpx

__all__ = ["unbound"]


def unbound(resp: httpx.Response) -> httpx.Response:
    """``resp`` (body already read) with its stream replaced by an empty one: no cycle left."""
    resp.stream = httpx.ByteStream(b"")
    return resp
