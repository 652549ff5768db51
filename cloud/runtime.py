"""How ``iotgw cloud run`` behaves as a service: its logs, its start line, systemd's notify
protocol and SIGHUP.

- Logs: the one implementation in :mod:`common.logs` (``server.log_format`` text or json), for
  our loggers and uvicorn's, in the serving process and in every worker; each line written
  while a request is handled carries its request id (:mod:`cloud.request_id`).
- systemd (``Type=notify``): READY=1 once ``/healthz`` answers on the served address,
  WATCHDOG=1 while it keeps answering, STOPPING=1 when uvicorn returns.
- SIGHUP with one worker: the log level is re-read and applied; every other change is logged as
  needing a restart (with several workers uvicorn's supervisor restarts them instead, and each
  re-reads the file).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import httpx

from cloud.redact import redact
from cloud.settings import CloudSettings, ServerSettings
from common.logs import configure, version
from common.sdnotify import Notifier

log = logging.getLogger("cloud.runtime")

LOGGERS = ("cloud", "uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy")


def configure_logging(server: ServerSettings) -> None:
    """Our loggers and uvicorn's at ``server.log_level`` in ``server.log_format``."""
    configure(server.log_level, server.log_format, LOGGERS[:4])


def start_line(settings: CloudSettings, config: Path | None, host: str, port: int,
               workers: int) -> None:
    """The one line at start: version, config file and the addresses served."""
    store = (redact(settings.store.url) if settings.store.kind == "influxdb"
             else settings.series_path())
    log.info("iotgw %s cloud starting (config %s): serving http://%s:%d with %d worker(s), "
             "store %s %s, metadata %s", version(), config or "none, defaults",
             host, port, workers, settings.store.kind, store,
             settings.metadata_url().split("@")[-1])


def _probe_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class SystemdReadiness:
    """A thread reporting READY=1 when ``/healthz`` answers, then WATCHDOG=1 while it does."""

    def __init__(self, host: str, port: int, notifier: Notifier | None = None) -> None:
        self.url = f"http://{_probe_host(host)}:{port}/healthz"
        self.notifier = notifier or Notifier()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.notifier.enabled:
            return
        self._thread = threading.Thread(target=self._run, name="sd-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.notifier.send("STOPPING=1")

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _run(self) -> None:
        while not self._healthy():
            if self._stop.wait(0.2):
                return
        self.notifier.send("READY=1", "STATUS=serving")
        period = self.notifier.watchdog_interval_s() or 0.0
        while period and not self._stop.wait(period):
            if self._healthy():
                self.notifier.send("WATCHDOG=1")


def install_sighup(current: CloudSettings, reload_from: Callable[[], CloudSettings]) -> None:
    """SIGHUP in a single-process server: apply the log level, name what needs a restart."""
    state = {"settings": current}

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=_reload, name="reload", daemon=True).start()

    def _reload() -> None:
        from common.settings import ConfigError

        log.info("received SIGHUP: reloading the settings")
        try:
            new = reload_from()
        except ConfigError as exc:
            log.error("reload failed, keeping the running settings: %s", exc)
            return
        old = state["settings"]
        changed = _changed(old, new)
        if "server.log_level" in changed or "server.log_format" in changed:
            configure_logging(new.server)
            old = old.model_copy(update={"server": new.server})
            state["settings"] = old
        applied = [k for k in changed if k in ("server.log_level", "server.log_format")]
        log.info("reloaded: %s", ", ".join(applied) or "nothing changed that can reload")
        rest = [k for k in changed if k not in applied]
        if rest:
            log.warning("reload: these settings need a restart to take effect: %s",
                        ", ".join(rest))

    signal.signal(signal.SIGHUP, on_hup)


def _changed(old: CloudSettings, new: CloudSettings) -> list[str]:
    a, b = _flat(old.model_dump()), _flat(new.model_dump())
    return sorted(k for k in b if a.get(k) != b[k])


def _flat(data: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in ("params",):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = getattr(value, "get_secret_value", lambda v=value: v)()
    return out
