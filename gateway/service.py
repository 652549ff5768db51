"""The gateway daemon composed from its parts: ``GatewayService.start()`` / ``.stop()``.

Start order: database → stores → intake log → processing stage → uplink → health → intake (the
broker is last, so nothing is received before it can be committed). Stop order is the reverse of
the data flow: the intake appends and acknowledges what it has and disconnects (anything
unacknowledged stays with the broker and arrives again), the processing stage finishes its
batch (the rest waits in the log), the uplink makes one last delivery attempt within its
deadline, then the health port and the databases close.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from common.backoff import Backoff
from common.logs import version
from common.sdnotify import Notifier
from gateway.buffer import SqliteBuffer
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.decode_worker import DecodeWorker
from gateway.dedup import DedupWindow
from gateway.detect.bank import DetectorBank
from gateway.health import HealthServer
from gateway.intake import Intake
from gateway.metrics import GatewayMetrics, ScrapeValues
from gateway.pipeline import Pipeline
from gateway.processor import Processor, load_cursor
from gateway.ratelog import RateLimitedLog
from gateway.rawlog import RawLog
from gateway.reload import Reloaded
from gateway.reload import apply as apply_reload
from gateway.score_worker import ScoreWorker
from gateway.scoring import AnomalyEvent, Scorer
from gateway.session_filters import FILE as SESSION_FILTERS
from gateway.settings import GatewaySettings
from gateway.uplink import CircuitBreaker, HttpSender, Uplink
from gateway.uplink.forwarder import breaker_code

log = logging.getLogger("gateway.service")

DB_FILE = "gateway.db"
LOG_FILE = "intake.db"


def open_stores(settings: GatewaySettings, on_evict: Callable[[int], None] | None = None,
                ) -> tuple[Database, DeadLetterStore, SqliteBuffer]:
    """The database, dead-letter store and buffer in ``gateway.data_dir``."""
    b, d = settings.buffer, settings.deadletter
    db = Database(settings.gateway.data_dir / DB_FILE, b.durability)
    db.open()
    dead = DeadLetterStore(db, d.max_payload_bytes, d.max_total_bytes, on_evict)
    return db, dead, SqliteBuffer(db, dead, b.max_bytes, b.overflow, b.retention_s)


def plaintext_credentials(s: GatewaySettings) -> list[str]:
    """What sends credentials unencrypted to a host other than this one."""
    out = []
    if s.mqtt.username and not s.mqtt.use_tls:
        out += [f"the MQTT password goes to {url} without TLS (use mqtts://)"
                for url in s.mqtt.broker_urls if not _loopback(urlsplit(url).hostname)]
    uplink = urlsplit(s.uplink.url)
    if (s.uplink.token.get_secret_value() and uplink.scheme == "http"
            and not _loopback(uplink.hostname)):
        out.append(f"the cloud token goes to {s.uplink.url} without TLS (use https://)")
    return out


def warn_plaintext_credentials(s: GatewaySettings) -> None:
    """Log a warning per credential that would cross the network in clear text."""
    for problem in plaintext_credentials(s):
        log.warning("credentials in clear text: %s", problem)


def _loopback(host: str | None) -> bool:
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewayService:
    """Every gateway part, wired together; ``scorer=None`` runs without detectors."""

    def __init__(self, settings: GatewaySettings, scorer: Scorer | None = None,
                 config_file: str | None = None) -> None:
        self.settings = settings
        self.config_file = config_file
        self.scorer = scorer
        self.metrics = GatewayMetrics()
        self.health: HealthServer | None = None
        self._parts: dict[str, object] = {}

    def _evicted(self, n: int) -> None:
        self.metrics.dead_letters_evicted.inc(n)

    def start(self) -> None:
        s = self.settings
        self._bank: DetectorBank | ScoreWorker | None = None
        if self.scorer is None and s.detect.enabled:
            state = s.detect.state_path(s.gateway.data_dir)
            self._bank = (ScoreWorker(s.detect, state, self.metrics.score_worker_failures.inc)
                          if s.detect.worker else DetectorBank(s.detect, state))
            self._bank.start()
            self.scorer = self._bank
        warn_plaintext_credentials(s)
        db, dead, buffer = open_stores(s, self._evicted)
        dedup = DedupWindow(db, s.buffer.dedup_window)
        self.db, self.dead_letters, self.buffer = db, dead, buffer
        pipeline = Pipeline(db, [sub.build() for sub in s.mqtt.subscriptions], buffer, dead,
                            dedup, self.metrics, self.scorer, self._publish_anomaly,
                            RateLimitedLog(logging.getLogger("gateway.pipeline"),
                                           s.deadletter.log_burst, s.deadletter.log_interval_s))
        worker = None
        if s.mqtt.decode_worker:
            worker = DecodeWorker([(sub.topic, sub.codec) for sub in s.mqtt.subscriptions],
                                  keep_messages=self.scorer is not None)
        self.raw_log = RawLog(s.gateway.data_dir / LOG_FILE, s.buffer.durability)
        self.raw_log.open(floor=load_cursor(db))
        self.processor = Processor(db, self.raw_log, pipeline, self.metrics,
                                   s.intake.process_batch, lambda: self.intake.busy,
                                   s.intake.max_backlog // 2, worker,
                                   linger_ms=s.intake.process_linger_ms)
        self.intake = Intake(s.mqtt, s.client_id, [sub.build().filter
                                                     for sub in s.mqtt.subscriptions],
                             self.raw_log, self, self.metrics, self.processor.notify,
                             s.gateway.data_dir / SESSION_FILTERS)
        u = s.uplink
        self.uplink = Uplink(
            s.gateway.id, buffer,
            HttpSender(u.url, u.token.get_secret_value(), u.timeout_s, u.gzip),
            Backoff(u.retry_min_s, u.retry_max_s, u.retry_after_max_s),
            CircuitBreaker(u.breaker_failures, u.breaker_reset_s), self.metrics,
            u.max_batch_rows, u.max_batch_bytes, u.linger_ms, u.shutdown_flush_s,
            encoding=u.encoding, max_in_flight=u.max_in_flight,
            max_readings=u.max_batch_readings, ready_rows=u.batch_ready_rows,
            max_anomalies=u.max_batch_anomalies,
        )
        self.metrics.add_source(self)
        self.processor.start()
        self.uplink.start()
        if s.health.port:
            self.health = HealthServer(s.health.host, s.health.port, self.metrics,
                                       {"broker_connected": self._broker_check,
                                        "buffer_writable": self._buffer_check,
                                        "uplink_auth": lambda: self.uplink.auth_refused})
            self.health.start()
        self.intake.start()
        health = f"http://{s.health.host}:{s.health.port}" if s.health.port else "off"
        log.info("iotgw %s gateway %s started (config %s): broker %s, cloud %s, health %s, "
                 "data in %s", version(), s.gateway.id, self.config_file or "none, defaults",
                 ", ".join(s.mqtt.broker_urls), u.url, health, s.gateway.data_dir)

    def reload(self, new: GatewaySettings) -> Reloaded:
        """Apply what ``new`` changes and can change while running (SIGHUP)."""
        result = apply_reload(self.settings, new, self.uplink, self._bank)
        self.settings = result.settings
        return result

    def stop(self) -> None:
        log.info("stopping: committing received messages, then a last uplink attempt")
        self.intake.stop()
        self.processor.stop()
        if self._bank is not None:  # the processing stage, its only caller, has ended
            self._bank.stop()
        self.uplink.stop()
        if self.health is not None:
            self.health.stop()
        stats = self.buffer.stats()
        log.info("stopped: %d rows (%d bytes) stay buffered; dropped so far %d readings",
                 stats.rows, stats.bytes, stats.dropped_readings)
        self.raw_log.close()
        self.db.close()

    def has_room(self) -> bool:
        """Whether the intake may acknowledge more: the buffer has room (``backpressure``)
        and the intake log's backlog is under ``intake.max_backlog``."""
        if self.raw_log.backlog >= self.settings.intake.max_backlog:
            self.metrics.log_full_waits.inc()
            return False
        return self.buffer.has_room()

    def _publish_anomaly(self, event: AnomalyEvent) -> None:
        topic = self.settings.detect.topic_for(self.settings.gateway.id, event.device,
                                               event.sensor)
        self.intake.publish(topic, json.dumps(event.to_dict()).encode())

    def _broker_check(self) -> str | None:
        return None if self.intake.connected else "not connected to the MQTT broker"

    def _buffer_check(self) -> str | None:
        with self.db.transaction():
            return None if self.buffer.has_room() else "the buffer is full"

    def scrape_values(self) -> ScrapeValues:
        """The values ``/metrics`` reads at each scrape (the buffer's and the parts' state)."""
        st = self.buffer.stats()
        now = time.time_ns() // 10**6
        return ScrapeValues(
            buffer_rows=st.rows, buffer_bytes=st.bytes, buffer_file_bytes=self.db.file_bytes(),
            buffer_oldest_age_s=(now - st.oldest_ms) / 1000 if st.oldest_ms else 0.0,
            dropped_readings={"overflow": st.dropped_readings, "expired": st.expired_readings},
            dropped_anomalies={"overflow": st.dropped_anomalies,
                               "expired": st.expired_anomalies},
            breaker_state=breaker_code(self.uplink.breaker_state),
            broker_connected=self.intake.connected, intake_backlog=self.intake.backlog,
            log_backlog=self.raw_log.backlog, log_file_bytes=_file_bytes(self.raw_log.path))


def _file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += Path(f"{path}{suffix}").stat().st_size
    return total


def run(settings: GatewaySettings, scorer: Scorer | None = None,
        stop_event: threading.Event | None = None,
        reload_from: Callable[[], GatewaySettings] | None = None,
        config_file: str | None = None) -> int:
    """Run until SIGTERM or SIGINT (or ``stop_event``), then shut down gracefully.

    SIGHUP re-reads the settings with ``reload_from`` and applies what can change while
    running (see :mod:`gateway.reload`). Under systemd (``Type=notify``) it reports READY,
    RELOADING and STOPPING and sends the watchdog's keep-alives from this loop.
    """
    stop = stop_event or threading.Event()
    wake = threading.Event()
    hup: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            hup.append(signum)
        else:
            log.info("received %s", signal.Signals(signum).name)
            stop.set()
        wake.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)
    notifier = Notifier()
    service = GatewayService(settings, scorer, config_file)
    service.start()
    notifier.send("READY=1", f"STATUS=gateway {settings.gateway.id} running")
    period = min(notifier.watchdog_interval_s() or 1.0, 1.0)
    try:
        while not stop.is_set():
            wake.wait(period)
            wake.clear()
            notifier.send("WATCHDOG=1")
            if hup:
                hup.clear()
                _reload(service, reload_from, notifier)
    finally:
        notifier.send("STOPPING=1")
        service.stop()
    return 0


def _reload(service: GatewayService, reload_from: Callable[[], GatewaySettings] | None,
            notifier: Notifier) -> None:
    from common.settings import ConfigError

    log.info("received SIGHUP: reloading the settings")
    if reload_from is None:
        log.warning("reload: no settings source; nothing reloaded")
        return
    notifier.send("RELOADING=1")
    try:
        result = service.reload(reload_from())
    except ConfigError as exc:
        log.error("reload failed, keeping the running settings: %s", exc)
    else:
        log.info("reloaded: %s", ", ".join(result.applied) or "nothing changed that can reload")
        if result.restart:
            log.warning("reload: these settings need a restart to take effect: %s",
                        ", ".join(result.restart))
    notifier.send("READY=1")
