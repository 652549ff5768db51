"""SIGHUP: apply the settings that can change while the gateway runs; name the rest.

Reloaded in place: the log level; the uplink's URL, token, time-out, compression (a new HTTP
sender from the next batch on), its retry backoff and batch sizes; the detectors' threshold,
warm-up, relearn count, physical limits and stream bounds. Anything else (the broker, the
buffer, the health port, the detector kind, ...) is logged as needing a restart and stays as
it was, so a second SIGHUP names it again until the gateway restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, SecretStr

from common.backoff import Backoff
from gateway.detect.bank import DetectorBank
from gateway.score_worker import ScoreWorker
from gateway.settings import GatewaySettings
from gateway.uplink import HttpSender, Uplink

log = logging.getLogger("gateway.reload")

SENDER_KEYS = frozenset({"uplink.url", "uplink.token", "uplink.timeout_s", "uplink.gzip"})
RETRY_KEYS = frozenset({"uplink.retry_min_s", "uplink.retry_max_s", "uplink.retry_after_max_s"})
#: uplink settings that are plain attributes of the running :class:`Uplink`.
UPLINK_ATTRS = {"uplink.max_batch_rows": "max_rows", "uplink.max_batch_bytes": "max_bytes",
                "uplink.max_batch_readings": "max_readings", "uplink.linger_ms": "linger_ms",
                "uplink.batch_ready_rows": "ready_rows",
                "uplink.max_batch_anomalies": "max_anomalies",
                "uplink.shutdown_flush_s": "shutdown_flush_s"}
DETECT_KEYS = frozenset({"detect.threshold", "detect.warmup", "detect.relearn_after",
                         "detect.limits", "detect.idle_evict_s", "detect.max_streams"})
RELOADABLE = SENDER_KEYS | RETRY_KEYS | set(UPLINK_ATTRS) | DETECT_KEYS | {"log.level"}


@dataclass
class Reloaded:
    """What a reload did: the keys applied, the keys that need a restart, the settings now."""

    settings: GatewaySettings
    applied: list[str] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)


def flatten(model: BaseModel, prefix: str = "") -> dict[str, Any]:
    """``{"section.key": value}`` of every setting; secrets by value (to notice a new token)."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.update(flatten(value, f"{prefix}{name}."))
        elif isinstance(value, SecretStr):
            out[prefix + name] = value.get_secret_value()
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            out[prefix + name] = [flatten(v) for v in value]
        else:
            out[prefix + name] = value
    return out


def _merged(old: GatewaySettings, new: GatewaySettings, keys: list[str]) -> GatewaySettings:
    data = old.model_dump()
    for key in keys:
        section, name = key.split(".", 1)
        data[section][name] = getattr(getattr(new, section), name)
    return GatewaySettings.model_validate(data)


def apply(old: GatewaySettings, new: GatewaySettings, uplink: Uplink,
          bank: DetectorBank | ScoreWorker | None) -> Reloaded:
    """Apply the reloadable differences between ``old`` and ``new`` to the running parts."""
    before, after = flatten(old), flatten(new)
    changed = sorted(k for k in after if before.get(k) != after[k])
    reloadable = [k for k in changed if k in RELOADABLE and (bank is not None
                                                             or k not in DETECT_KEYS)]
    result = Reloaded(_merged(old, new, reloadable), reloadable,
                      [k for k in changed if k not in reloadable])
    keys = set(reloadable)
    if "log.level" in keys:
        logging.getLogger("gateway").setLevel(new.log.level)
        log.debug("log level is now %s", new.log.level)
    u = new.uplink
    if keys & SENDER_KEYS:
        uplink.reconfigure(sender=HttpSender(u.url, u.token.get_secret_value(), u.timeout_s,
                                             u.gzip))
    if keys & RETRY_KEYS:
        uplink.reconfigure(retry=Backoff(u.retry_min_s, u.retry_max_s, u.retry_after_max_s))
    for key, attr in UPLINK_ATTRS.items():
        if key in keys:
            setattr(uplink, attr, getattr(u, key.split(".", 1)[1]))
    if bank is not None and keys & DETECT_KEYS:
        update = {k.split(".", 1)[1]: getattr(new.detect, k.split(".", 1)[1])
                  for k in keys & DETECT_KEYS}
        bank.apply_settings(update)
    return result
