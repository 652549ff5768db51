"""``iotgw cloud check-config --connect``: try the store and the metadata database, one line
each, without starting the service (nothing is created or written).

The store: InfluxDB answers ``/ping`` and a query on ``store.database`` (a missing database is
a failure unless ``store.create_database`` would create it); SQLite's directory must be
writable. The metadata database: a connection and ``SELECT 1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from cloud.redact import redact
from cloud.settings import CloudSettings, StoreSettings


class CheckFailed(Exception):
    """One check did not pass; the message says why, in one line."""


def _influx_client(s: StoreSettings) -> httpx.Client:
    headers = {"User-Agent": "iotgw-cloud-check"}
    auth: tuple[str, str] | None = None
    if s.token.get_secret_value():
        headers["Authorization"] = f"Token {s.token.get_secret_value()}"
    elif s.username:
        auth = (s.username, s.password.get_secret_value())
    return httpx.Client(base_url=s.url, headers=headers, auth=auth, timeout=s.timeout_s,
                        verify=s.verify_tls)


def check_influxdb(s: StoreSettings) -> str:
    """``/ping``, then ``SHOW MEASUREMENTS`` on the database (auth and existence)."""
    with _influx_client(s) as client:
        try:
            ping = client.get("/ping")
            if ping.status_code != 204:
                raise CheckFailed(f"/ping answered {ping.status_code}")
            resp = client.get("/query", params={"q": "SHOW MEASUREMENTS LIMIT 1",
                                                "db": s.database})
        except httpx.HTTPError as exc:
            raise CheckFailed(f"cannot reach: {exc!r}") from None
    if resp.status_code in (401, 403):
        raise CheckFailed(f"credentials rejected: {resp.status_code}")
    try:
        payload = resp.json()
    except ValueError:
        raise CheckFailed(f"/query answered {resp.status_code}: not JSON") from None
    error = payload.get("error") or (payload.get("results") or [{}])[0].get("error")
    if error and "database not found" in str(error):
        if s.create_database:
            return f"reachable; database {s.database!r} is created at start-up"
        raise CheckFailed(f"database {s.database!r} not found (store.create_database is false)")
    if error:
        raise CheckFailed(f"query failed: {error}")
    version = ping.headers.get("X-Influxdb-Version", "?")
    return f"InfluxDB {version}, database {s.database!r} answers queries"


def check_sqlite_store(path: Path) -> str:
    directory = path.parent if path.parent != Path("") else Path(".")
    target = path if path.exists() else directory
    if not target.exists():
        ancestor = next(p for p in target.parents if p.exists())
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise CheckFailed(f"{directory} is missing and {ancestor} is not writable")
        return f"{directory} is created at start-up"
    if not os.access(target, os.R_OK | os.W_OK):
        raise CheckFailed(f"{target} is not readable and writable by this user")
    return f"{path} usable"


def check_metadata(url: str) -> str:
    """A connection and ``SELECT 1`` (SQLite in a directory not made yet: it can be made)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        directory = Path(parsed.database).parent
        if not directory.exists():
            return check_sqlite_store(Path(parsed.database))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise CheckFailed(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    return f"{engine.dialect.name} answers"


def _safe_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def run_checks(settings: CloudSettings) -> int:
    """Run every check, print one line each on stdout; 0 when all pass, else 1 naming them."""
    s = settings.store
    store: tuple[str, Callable[[], str]]
    if s.kind == "influxdb":
        store = (f"store influxdb {redact(s.url)}", lambda: check_influxdb(s))
    else:
        store = (f"store sqlite {settings.series_path()}",
                 lambda: check_sqlite_store(settings.series_path()))
    url = settings.metadata_url()
    checks = [store, (f"metadata {_safe_url(url)}", lambda: check_metadata(url))]
    failed = []
    for name, check in checks:
        try:
            print(f"{name}: OK ({check()})")
        except CheckFailed as exc:
            print(f"{name}: FAILED: {exc}")
            failed.append(name.split(" ", 1)[0])
    if failed:
        print(f"iotgw cloud: check failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
