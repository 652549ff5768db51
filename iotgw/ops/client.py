"""The HTTP client of ``iotgw alerts`` and ``iotgw rules``: where the cloud is, the token,
output as a table or JSON, and one line per failure.

The cloud URL comes from ``--cloud-url``, else ``$IOTGW_CLOUD_URL``, else the cloud's default
address; the token from ``--token-file`` (first line), else ``$IOTGW_TOKEN`` (none: requests go
without ``Authorization``, which read routes accept while they are open).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_ENV = "IOTGW_TOKEN"
URL_ENV = "IOTGW_CLOUD_URL"


class OpsError(Exception):
    """A request failed, or the input is wrong; the message is one line. ``code`` is the exit
    status (1: the cloud refused or is unreachable, 2: a usage or input error)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_connection_args(p: argparse.ArgumentParser) -> None:
    """``--cloud-url``, ``--token-file`` and ``-o table|json``."""
    p.add_argument("--cloud-url", default=None,
                   help=f"the cloud's base URL (default: ${URL_ENV} or {DEFAULT_URL})")
    p.add_argument("--token-file", type=Path, default=None,
                   help=f"file whose first line is the API token (default: ${TOKEN_ENV})")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table",
                   help="output format")


class Client:
    """Thin JSON-over-HTTP calls to the cloud API with the token, if any."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "iotgw-ops"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    @classmethod
    def from_args(cls, args: argparse.Namespace,
                  env: Mapping[str, str] | None = None) -> Client:
        env = os.environ if env is None else env
        url = args.cloud_url or env.get(URL_ENV) or DEFAULT_URL
        token: str | None = env.get(TOKEN_ENV) or None
        if args.token_file is not None:
            try:
                lines = args.token_file.read_text().splitlines()
            except OSError as exc:
                raise OpsError(f"{args.token_file}: cannot read: {exc.strerror or exc}",
                               2) from None
            token = lines[0].strip() if lines else ""
            if not token:
                raise OpsError(f"{args.token_file}: no token on its first line", 2)
        return cls(url, token)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, body: Any = None,
             params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON answer (None for 204); OpsError naming the status otherwise."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(method, path, json=body, params=query)
        except httpx.HTTPError as exc:
            raise OpsError(f"cannot reach the cloud at {self.base_url}: {exc}") from None
        if resp.status_code == 204:
            return None
        if resp.status_code >= 400:
            raise OpsError(f"{method} {path}: {resp.status_code} {_detail(resp)}")
        return resp.json()


def _detail(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail", "")
    except (ValueError, AttributeError):
        return resp.text[:200]
    return detail if isinstance(detail, str) else json.dumps(detail)[:300]


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain aligned table with upper-case headers; ``-`` for empty cells."""
    cells = [[("-" if r.get(c) in (None, "") else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def show(args: argparse.Namespace, data: Any, columns: Sequence[str]) -> None:
    """Print ``data`` (a row or a list of rows) as JSON or as a table of ``columns``."""
    if args.output == "json":
        print(json.dumps(data, indent=2))
        return
    rows = data if isinstance(data, list) else [data]
    print(table(rows, columns))


def command(func: Callable[[argparse.Namespace, Client], int]) -> Callable[..., int]:
    """Run ``func`` with a client; an :class:`OpsError` is one line on stderr and its code."""

    def run(args: argparse.Namespace) -> int:
        try:
            client = Client.from_args(args)
        except OpsError as exc:
            print(f"iotgw: {exc}", file=sys.stderr)
            return exc.code
        try:
            return func(args, client)
        except OpsError as exc:
            print(f"iotgw: {exc}", file=sys.stderr)
            return exc.code
        finally:
            client.close()

    return run
