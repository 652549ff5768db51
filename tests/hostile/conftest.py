"""The hostile-input suite's client: every request goes through :meth:`Hostile.send`, which
adds the credentials a route needs (one place to extend when routes require tokens), checks
that the answer is not a 5xx, and counts requests by route and status for the summary line.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.cloud import CloudClient

#: Every hostile request of the session: (method, route template, status).
SENT: list[tuple[str, str, int]] = []


class Hostile:
    """A client for one running cloud that sends hostile requests and counts the answers."""

    def __init__(self, cloud: CloudClient, kind: str) -> None:
        self.cloud = cloud
        self.kind = kind
        self.http: httpx.Client = cloud.http
        #: Headers every request carries (e.g. ``Authorization`` once routes need tokens).
        self.auth_headers: dict[str, str] = {}

    def headers(self, route: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The headers of a request to ``route``: credentials, then ``extra``."""
        out = dict(self.auth_headers)
        if route == "/v1/ingest":
            out["Authorization"] = f"Bearer {self.cloud.token}"
        out.update(extra or {})
        return out

    def send(self, method: str, route: str, path: str | None = None, *, body: Any = None,
             content: bytes | None = None, params: Any = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """One request; ``route`` names it in the counts, ``path`` is the URL path when it
        differs (path parameters filled in). ``body`` is sent as JSON (NaN and infinities as
        the non-standard tokens Python writes), ``content`` as raw bytes."""
        h = self.headers(route, headers)
        if body is not None:
            content = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
            h.setdefault("Content-Type", "application/json")
        url = path or route
        if params:  # encoded here: a lone surrogate must reach the server as its bytes
            url += "?" + "&".join(
                f"{quote(str(k))}={quote(str(v).encode('utf-8', 'surrogatepass'), safe='')}"
                for k, v in params.items())
        response = self.http.request(method, url, content=content, headers=h)
        SENT.append((method, route, response.status_code))
        assert response.status_code < 500, (method, path or route, params, content and
                                            content[:200], response.text[:500])
        return response


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.integration)])
def hostile(request, make_cloud) -> Hostile:
    """A :class:`Hostile` client of the real app (real uvicorn) on each store backend."""
    if request.param == "sqlite":
        cloud = make_cloud("sqlite")
    else:
        cloud = make_cloud("influxdb", influx=request.getfixturevalue("influxdb"))
    return Hostile(cloud, request.param)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SENT:
        return
    by_class = Counter(f"{status // 100}xx" for _m, _r, status in SENT)
    routes = len({(m, r) for m, r, _s in SENT})
    terminalreporter.write_line(
        f"hostile requests: {len(SENT)} over {routes} routes; "
        + ", ".join(f"{k}={v}" for k, v in sorted(by_class.items()))
        + f"; 5xx={by_class.get('5xx', 0)}")
