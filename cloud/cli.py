"""``iotgw cloud``: run the cloud service; ``migrate``, ``token`` and ``device`` are in
:mod:`cloud.admin_cli`.

Kept light at import: FastAPI, uvicorn and SQLAlchemy are imported inside the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloud import admin_cli as admin_commands

#: Environment variable through which ``run`` hands the config file to uvicorn's workers.
CONFIG_ENV = "IOTGW_CLOUD_CONFIG"
#: prometheus_client's multiprocess directory (``cloud.metrics.MULTIPROC_ENV``; not imported
#: here to keep this module light).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


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

    sub.add_parser("config", help="print a commented sample configuration (every key, "
                   "default and meaning)").set_defaults(func=cmd_config)
    check = sub.add_parser("check-config",
                           help="validate the settings and print them as TOML, secrets masked")
    _config_arg(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    check.add_argument("--connect", action="store_true",
                       help="also try the store and the metadata database")
    check.set_defaults(func=cmd_check_config)

    admin_commands.register(sub, _config_arg, _usage)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="TOML settings file (environment IOTGW_CLOUD_* overrides it)")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    """Validate the settings, then hand over to uvicorn (which builds the app per worker)."""
    from common.settings import EXIT_CONFIG

    settings = admin_commands.settings_or_none(args)
    if settings is None:
        return EXIT_CONFIG
    import uvicorn

    from cloud.runtime import SystemdReadiness, configure_logging, install_sighup, start_line

    server = settings.server
    if not admin_commands.prepare_schema(settings):
        return 1
    if args.config is not None:
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    host = args.host or server.host
    port = args.port if args.port is not None else server.port
    workers = args.workers or server.workers
    configure_logging(server)
    start_line(settings, args.config, host, port, workers)
    if workers == 1:
        install_sighup(settings, lambda: _load_or_raise(args))
    readiness = SystemdReadiness(host, port)
    readiness.start()
    # uvicorn re-raises the SIGTERM/SIGINT it handled once it has shut down, under the handler
    # installed before it: this one lets the command finish (STOPPING=1, exit status 0).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: log_signal(signum))
    try:
        with _metrics_dir(workers):
            uvicorn.run(
                "cloud.app:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level=server.log_level, log_config=None,
            )
    finally:
        readiness.stop()
    return 0


def log_signal(signum: int) -> None:
    import logging

    logging.getLogger("cloud.runtime").info("stopped on %s", signal.Signals(signum).name)


def _load_or_raise(args: argparse.Namespace) -> Any:
    from cloud.settings import load_settings

    return load_settings(args.config)


SAMPLE_TITLE = """iotgw cloud configuration ({source}).

Every key is optional; environment variables override the file:
IOTGW_CLOUD_<SECTION>__<KEY>, e.g. IOTGW_CLOUD_STORE__PASSWORD (keep secrets there).
Commented-out keys have no default value to show."""


def cmd_config(_args: argparse.Namespace) -> int:
    from cloud.settings import CloudSettings
    from common.sample_config import render_toml

    print(render_toml(CloudSettings, title=SAMPLE_TITLE.format(source="defaults")), end="")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate, print the effective settings (secrets masked); --connect tries the services."""
    from common.settings import EXIT_CONFIG

    settings = admin_commands.settings_or_none(args)
    if settings is None:
        return EXIT_CONFIG
    from cloud.settings import CloudSettings
    from common.sample_config import masked, render_toml

    if args.json:
        print(json.dumps(masked(settings), indent=2))
    else:
        source = f"effective: {args.config or 'no file'} + environment; secrets masked"
        print(render_toml(CloudSettings, settings, SAMPLE_TITLE.format(source=source)), end="")
    print("configuration OK", file=sys.stderr)
    if not args.connect:
        return 0
    from cloud.checks import run_checks

    return run_checks(settings)


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
