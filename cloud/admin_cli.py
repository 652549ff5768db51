"""``iotgw cloud migrate | token ... | device ...``: the metadata database's admin commands.

``token create --scope SCOPE [--scope ...] [--gateway ID] [--name NAME] [--expires 30d|DATE]``
prints the token once (``--gateway`` alone is a gateway's ``ingest`` token, as before scopes);
``token list`` shows scopes, gateway, name, created, expires, last use and revocation;
``device bind DEVICE --gateway ID`` / ``device unbind DEVICE`` move a device between gateways;
``migrate`` applies pending schema migrations. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

SCOPES = ("ingest", "read", "alerts:write", "admin")


def register(sub: Any, config_arg: Callable[[argparse.ArgumentParser], None],
             usage: Callable[[argparse.ArgumentParser], int]) -> None:
    """Add ``migrate``, ``token`` and ``device`` to the ``cloud`` group's subparsers."""
    mig = sub.add_parser("migrate", help="apply pending migrations of the metadata database")
    config_arg(mig)
    mig.set_defaults(func=cmd_migrate)

    tok = sub.add_parser("token", help="create, list and revoke API tokens")
    tsub = tok.add_subparsers(dest="token_command", metavar="ACTION")
    tok.set_defaults(func=lambda _a: usage(tok))
    create = tsub.add_parser("create", help="create a token; prints it once")
    config_arg(create)
    create.add_argument("--scope", action="append", choices=SCOPES, default=None,
                        help="a scope (repeatable); default: ingest (needs --gateway)")
    create.add_argument("--gateway", help="the gateway an ingest token is for")
    create.add_argument("--name", help="a label shown by `token list`")
    create.add_argument("--expires", help="a lifetime (90d, 12h, 2w) or a UTC date/time "
                                          "(2027-01-31, 2027-01-31T12:00Z); default: never")
    create.set_defaults(func=cmd_token_create)
    lst = tsub.add_parser("list", help="list tokens (never their secrets)")
    config_arg(lst)
    lst.set_defaults(func=cmd_token_list)
    revoke = tsub.add_parser("revoke", help="revoke a token by its id (see `token list`)")
    config_arg(revoke)
    revoke.add_argument("token_id", help="the token's id")
    revoke.set_defaults(func=cmd_token_revoke)

    dev = sub.add_parser("device", help="which gateway may write a device")
    dsub = dev.add_subparsers(dest="device_command", metavar="ACTION")
    dev.set_defaults(func=lambda _a: usage(dev))
    bind = dsub.add_parser("bind", help="give a device to a gateway (an explicit move)")
    config_arg(bind)
    bind.add_argument("device")
    bind.add_argument("--gateway", required=True, help="the gateway that may write it")
    bind.set_defaults(func=cmd_device_bind)
    unbind = dsub.add_parser("unbind", help="forget a device's owner (next writer claims it)")
    config_arg(unbind)
    unbind.add_argument("device")
    unbind.set_defaults(func=cmd_device_unbind)


def _fail(message: str) -> int:
    print(f"iotgw cloud: {message}", file=sys.stderr)
    return 1


def settings_or_none(args: argparse.Namespace, **overrides: Any) -> Any:
    """The settings, or None after printing the one-line reason."""
    from cloud.settings import load_settings
    from common.settings import ConfigError

    try:
        return load_settings(args.config, **overrides)
    except ConfigError as exc:
        print(f"iotgw cloud: bad configuration: {exc}", file=sys.stderr)
        return None


def _open_db(args: argparse.Namespace, migrate: bool | None = None) -> Any:
    """The started metadata database (migrated when the settings say so), or the exit code
    to return: ``EXIT_CONFIG`` for a bad configuration, 1 for a database that fails."""
    from common.settings import EXIT_CONFIG

    settings = settings_or_none(args)
    if settings is None:
        return EXIT_CONFIG
    from cloud.errors import MetadataError
    from cloud.meta import MetaDB

    auto = settings.metadata.auto_migrate if migrate is None else migrate
    db = MetaDB(settings.metadata_url(), migrate=auto)
    try:
        db.start()
    except MetadataError as exc:
        return _fail(str(exc).splitlines()[0])
    return db


def prepare_schema(settings: Any) -> bool:
    """Before ``run`` starts workers: migrate (or check) once; False after one clear line."""
    from cloud.errors import MetadataError
    from cloud.meta import MetaDB

    db = MetaDB(settings.metadata_url(), migrate=settings.metadata.auto_migrate)
    try:
        db.start()
    except MetadataError as exc:
        _fail(str(exc).splitlines()[0])
        return False
    db.stop()
    return True


def cmd_migrate(args: argparse.Namespace) -> int:
    from common.settings import EXIT_CONFIG

    settings = settings_or_none(args)
    if settings is None:
        return EXIT_CONFIG
    from cloud.errors import MetadataError
    from cloud.meta import MetaDB

    db = MetaDB(settings.metadata_url(), migrate=True)
    try:
        db.start()
    except MetadataError as exc:
        return _fail(str(exc).splitlines()[0])
    before = db.schema_status
    db.stop()
    assert before is not None
    if before.pending:
        print(f"migrated the metadata database to {before.head} "
              f"(applied {', '.join(before.pending)})", file=sys.stderr)
    else:
        print(f"the metadata database is up to date ({before.head})", file=sys.stderr)
    return 0


def parse_expires(text: str | None, now_ms: int) -> int | None:
    """``--expires``: a duration from now or a UTC date/time, as epoch milliseconds.

    >>> parse_expires("1d", 0), parse_expires("1970-01-02", 0), parse_expires(None, 0)
    (86400000, 86400000, None)
    """
    if text is None:
        return None
    from cloud.errors import QueryError
    from cloud.timeparse import parse_duration

    try:
        return now_ms + parse_duration(text)
    except QueryError:
        pass
    from firmware_protocol.timestamps import parse_iso

    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(f"--expires {text!r}: use a lifetime like 90d or a date like "
                         "2027-01-31") from None


def cmd_token_create(args: argparse.Namespace) -> int:
    from cloud.meta import TokenError, TokenRepo, now_ms

    try:
        expires = parse_expires(args.expires, now_ms())
    except ValueError as exc:
        return _fail(str(exc))
    db = _open_db(args)
    if isinstance(db, int):
        return db
    try:
        info, plain = TokenRepo(db).create(args.gateway, args.scope or ["ingest"], args.name,
                                           expires)
    except TokenError as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    print(plain)
    whose = f" for gateway {info.gateway_id!r}" if info.gateway_id else ""
    print(f"token {info.token_id} ({', '.join(info.scopes)}){whose}: shown once, store it now",
          file=sys.stderr)
    return 0


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def cmd_token_list(args: argparse.Namespace) -> int:
    from cloud.meta import TokenRepo

    db = _open_db(args)
    if isinstance(db, int):
        return db
    try:
        rows = TokenRepo(db).list()
    finally:
        db.stop()
    print(f"{'ID':<14}{'SCOPES':<20}{'NAME':<16}{'GATEWAY':<18}{'CREATED':<19}{'EXPIRES':<19}"
          f"{'LAST USED':<19}REVOKED")
    for r in rows:
        print(f"{r.token_id:<14}{','.join(r.scopes):<20}{(r.name or '-'):<16}"
              f"{(r.gateway_id or '-'):<18}{_when(r.created_ms):<19}{_when(r.expires_ms):<19}"
              f"{_when(r.last_used_ms):<19}{_when(r.revoked_ms)}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from cloud.meta import TokenRepo

    db = _open_db(args)
    if isinstance(db, int):
        return db
    try:
        done = TokenRepo(db).revoke(args.token_id)
    finally:
        db.stop()
    if not done:
        return _fail(f"no active token {args.token_id!r}; see `iotgw cloud token list`")
    print(f"revoked {args.token_id}", file=sys.stderr)
    return 0


def cmd_device_bind(args: argparse.Namespace) -> int:
    from cloud.meta import DeviceOwnership

    db = _open_db(args)
    if isinstance(db, int):
        return db
    try:
        owner = DeviceOwnership(db).bind(args.device, args.gateway)
    finally:
        db.stop()
    print(f"device {owner.device!r} now belongs to gateway {owner.gateway_id!r} (running "
          "clouds apply it within auth.owner_cache_s)", file=sys.stderr)
    return 0


def cmd_device_unbind(args: argparse.Namespace) -> int:
    from cloud.meta import DeviceOwnership

    db = _open_db(args)
    if isinstance(db, int):
        return db
    try:
        done = DeviceOwnership(db).unbind(args.device)
    finally:
        db.stop()
    if not done:
        return _fail(f"device {args.device!r} has no owner")
    print(f"device {args.device!r} has no owner now: the next gateway to write it claims it",
          file=sys.stderr)
    return 0
