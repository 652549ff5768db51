"""``iotgw cloud``: run the cloud service; ``migrate``, ``token`` and ``device`` are in
:mod:`cloud.admin_cli`.

Kept light at import: FastAPI, uvicorn and SQLAlchemy are imported inside the commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cloud import admin_cli as admin_commands

#: Environment variable through which ``run`` hands the config file to uvicorn's workers.
CONFIG_ENV = "IOTGW_CLOUD_CONFIG"


def register(subparsers: Any) -> None:
    """Add the ``cloud`` group to the ``iotgw`` command."""
    p = subparsers.add_parser("cloud", help="the cloud service: ingest API, trend queries",
                              description="Run the cloud service; manage tokens, device owners "
                                          "and the metadata schema.")
    sub = p.add_subparsers(dest="cloud_command", metavar="COMMAND")
    p.set_defaults(func=lambda _a: _usage(p))

    run = sub.add_parser("run", help="serve the API with uvicorn")
    _config_arg(run)
    run.add_argument("--host", help="listen address (default: server.host)")
    run.add_argument("--port", type=int, help="listen port (default: server.port)")
    run.add_argument("--workers", type=int, help="worker processes (default: server.workers)")
    run.set_defaults(func=cmd_run)

    admin_commands.register(sub, _config_arg, _usage)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="TOML settings file (environment IOTGW_CLOUD_* overrides it)")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    """Validate the settings, then hand over to uvicorn (which builds the app per worker)."""
    settings = admin_commands.settings_or_none(args)
    if settings is None:
        return 2
    import uvicorn

    server = settings.server
    if not admin_commands.prepare_schema(settings):
        return 1
    if args.config is not None:
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    uvicorn.run(
        "cloud.app:app_from_environment", factory=True,
        host=args.host or server.host, port=args.port if args.port is not None else server.port,
        workers=args.workers or server.workers, log_level=server.log_level,
    )
    return 0
