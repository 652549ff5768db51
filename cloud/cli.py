"""``iotgw cloud``: run the cloud service and manage gateway tokens.

Kept light at import: FastAPI, uvicorn and SQLAlchemy are imported inside the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Environment variable through which ``run`` hands the config file to uvicorn's workers.
CONFIG_ENV = "IOTGW_CLOUD_CONFIG"
#: prometheus_client's multiprocess directory (``cloud.metrics.MULTIPROC_ENV``; not imported
#: here to keep this module light).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def register(subparsers: Any) -> None:
    """Add the ``cloud`` group to the ``iotgw`` command."""
    p = subparsers.add_parser("cloud", help="the cloud service: ingest API, trend queries",
                              description="Run the cloud service and manage gateway tokens.")
    sub = p.add_subparsers(dest="cloud_command", metavar="COMMAND")
    p.set_defaults(func=lambda _a: _usage(p))

    run = sub.add_parser("run", help="serve the API with uvicorn")
    _config_arg(run)
    run.add_argument("--host", help="listen address (default: server.host)")
    run.add_argument("--port", type=int, help="listen port (default: server.port)")
    run.add_argument("--workers", type=int, help="worker processes (default: server.workers)")
    run.set_defaults(func=cmd_run)

    tok = sub.add_parser("token", help="create, list and revoke gateway tokens")
    tsub = tok.add_subparsers(dest="token_command", metavar="ACTION")
    tok.set_defaults(func=lambda _a: _usage(tok))
    create = tsub.add_parser("create", help="create a token for a gateway; prints it once")
    _config_arg(create)
    create.add_argument("--gateway", required=True, help="the gateway id the token is for")
    create.set_defaults(func=cmd_token_create)
    lst = tsub.add_parser("list", help="list tokens (never their secrets)")
    _config_arg(lst)
    lst.set_defaults(func=cmd_token_list)
    revoke = tsub.add_parser("revoke", help="revoke a token by its id (see `token list`)")
    _config_arg(revoke)
    revoke.add_argument("token_id", help="the token's id")
    revoke.set_defaults(func=cmd_token_revoke)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="TOML settings file (environment IOTGW_CLOUD_* overrides it)")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from cloud.settings import load_settings
    from common.settings import ConfigError

    try:
        return load_settings(args.config, **overrides)
    except ConfigError as exc:
        print(f"iotgw cloud: bad configuration: {exc}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    """Validate the settings, then hand over to uvicorn (which builds the app per worker)."""
    from common.settings import EXIT_CONFIG

    settings = _settings(args)
    if settings is None:
        return EXIT_CONFIG
    import uvicorn

    server = settings.server
    if args.config is not None:
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    workers = args.workers or server.workers
    with _metrics_dir(workers):
        uvicorn.run(
            "cloud.app:app_from_environment", factory=True,
            host=args.host or server.host,
            port=args.port if args.port is not None else server.port,
            workers=workers, log_level=server.log_level,
        )
    return 0


@contextlib.contextmanager
def _metrics_dir(workers: int) -> Iterator[None]:
    """With several workers, a fresh private directory for prometheus_client's multiprocess
    mode (each worker's counters live in files there and a scrape sums them all), removed at
    exit. An operator-set ``PROMETHEUS_MULTIPROC_DIR`` is used instead, emptied first: files of
    an earlier run would add that run's counts to this one's."""
    if workers <= 1:
        os.environ.pop(MULTIPROC_ENV, None)
        yield
        return
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        yield
        return
    path = Path(tempfile.mkdtemp(prefix="iotgw-cloud-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def _tokens(args: argparse.Namespace) -> Any:
    """The token repository, or the exit code to return (a bad config, a broken database)."""
    from common.settings import EXIT_CONFIG

    settings = _settings(args)
    if settings is None:
        return EXIT_CONFIG
    from cloud.errors import MetadataError
    from cloud.meta import MetaDB, TokenRepo

    db = MetaDB(settings.metadata_url())
    try:
        db.start()
    except MetadataError as exc:
        print(f"iotgw cloud: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return TokenRepo(db)


def cmd_token_create(args: argparse.Namespace) -> int:
    repo = _tokens(args)
    if isinstance(repo, int):
        return repo
    try:
        info, plain = repo.create(args.gateway)
    finally:
        repo.db.stop()
    print(plain)
    print(f"token {info.token_id} for gateway {info.gateway_id!r}: shown once, store it now",
          file=sys.stderr)
    return 0


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def cmd_token_list(args: argparse.Namespace) -> int:
    repo = _tokens(args)
    if isinstance(repo, int):
        return repo
    try:
        rows = repo.list()
    finally:
        repo.db.stop()
    print(f"{'ID':<14}{'GATEWAY':<24}{'CREATED':<19}REVOKED")
    for r in rows:
        print(f"{r.token_id:<14}{r.gateway_id:<24}{_when(r.created_ms):<19}{_when(r.revoked_ms)}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    repo = _tokens(args)
    if isinstance(repo, int):
        return repo
    try:
        done = repo.revoke(args.token_id)
    finally:
        repo.db.stop()
    if not done:
        print(f"iotgw cloud: no active token {args.token_id!r}; see `iotgw cloud token list`",
              file=sys.stderr)
        return 1
    print(f"revoked {args.token_id}", file=sys.stderr)
    return 0
