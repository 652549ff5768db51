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
import json
import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from common.backoff import Backoff
from gateway.buffer import SqliteBuffer
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.decode_worker import DecodeWorker
from gateway.dedup import DedupWindow
from gateway.detect.bank import DetectorBank
from gateway.health import HealthServer
from gateway.intake import Intake
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.processor import Processor, load_cursor
from gateway.rawlog import RawLog
from gateway.scoring import AnomalyEvent, Scorer
from gateway.settings import GatewaySettings
from gateway.uplink import CircuitBreaker, HttpSender, Uplink
from gateway.uplink.forwarder import breaker_code

log = logging.getLogger("gateway.service")

DB_FILE = "gateway.db"
LOG_FILE = "intake.db"


def open_stores(settings: GatewaySettings) -> tuple[Database, DeadLetterStore, SqliteBuffer]:
    """The database, dead-letter store and buffer in ``gateway.data_dir``."""
    b = settings.buffer
    db = Database(settings.gateway.data_dir / DB_FILE, b.durability)
    db.open()
    dead = DeadLetterStore(db)
    return db, dead, SqliteBuffer(db, dead, b.max_bytes, b.overflow, b.retention_s)


class GatewayService:
    """Every gateway part, wired together; ``scorer=None`` runs without detectors."""

    def __init__(self, settings: GatewaySettings, scorer: Scorer | None = None) -> None:
        self.settings = settings
        self.scorer = scorer
        self.metrics = Metrics()
        self.health: HealthServer | None = None
        self._parts: dict[str, object] = {}

    def start(self) -> None:
        s = self.settings
        self._bank: DetectorBank | None = None
        if self.scorer is None and s.detect.enabled:
            self._bank = DetectorBank(s.detect, s.detect.state_path(s.gateway.data_dir))
            self._bank.start()
            self.scorer = self._bank
        db, dead, buffer = open_stores(s)
        dedup = DedupWindow(db, s.buffer.dedup_window)
        self.db, self.dead_letters, self.buffer = db, dead, buffer
        pipeline = Pipeline(db, [sub.build() for sub in s.mqtt.subscriptions], buffer, dead,
                            dedup, self.metrics, self.scorer, self._publish_anomaly)
        worker = None
        if s.mqtt.decode_worker:
            worker = DecodeWorker([(sub.topic, sub.codec) for sub in s.mqtt.subscriptions],
                                  keep_messages=self.scorer is not None)
        self.raw_log = RawLog(s.gateway.data_dir / LOG_FILE, s.buffer.durability)
        self.raw_log.open(floor=load_cursor(db))
        self.processor = Processor(db, self.raw_log, pipeline, self.metrics,
                                   s.intake.process_batch, lambda: self.intake.busy,
                                   s.intake.max_backlog // 2, worker)
        self.intake = Intake(s.mqtt, s.client_id, [sub.build().filter
                                                     for sub in s.mqtt.subscriptions],
                             self.raw_log, self, self.metrics, self.processor.notify)
        u = s.uplink
        self.uplink = Uplink(
            s.gateway.id, buffer,
            HttpSender(u.url, u.token.get_secret_value(), u.timeout_s, u.gzip),
            Backoff(u.retry_min_s, u.retry_max_s, u.retry_after_max_s),
            CircuitBreaker(u.breaker_failures, u.breaker_reset_s), self.metrics,
            u.max_batch_rows, u.max_batch_bytes, u.linger_ms, u.shutdown_flush_s,
        )
        self.metrics.add_collector(self._collect)
        self.processor.start()
        self.uplink.start()
        if s.health.port:
            self.health = HealthServer(s.health.host, s.health.port, self.metrics,
                                       {"broker_connected": lambda: self.intake.connected,
                                        "buffer_writable": self._buffer_writable})
            self.health.start()
        self.intake.start()
        log.info("gateway %s started: broker %s, cloud %s, data in %s", s.gateway.id,
                 s.mqtt.url, u.url, s.gateway.data_dir)

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
            self.metrics.inc("iotgw_log_full_waits_total",
                             help="loop turns not acknowledging: the intake log backlog is full")
            return False
        return self.buffer.has_room()

    def _publish_anomaly(self, event: AnomalyEvent) -> None:
        topic = self.settings.detect.topic_for(self.settings.gateway.id, event.device,
                                               event.sensor)
        self.intake.publish(topic, json.dumps(event.to_dict()).encode())

    def _buffer_writable(self) -> bool:
        with self.db.transaction():
            return self.buffer.has_room()

    def _collect(self, m: Metrics) -> None:
        st = self.buffer.stats()
        now = time.time_ns() // 10**6
        m.set("iotgw_buffer_rows", st.rows, help="rows waiting in the buffer")
        m.set("iotgw_buffer_bytes", st.bytes, help="bytes the buffered rows account for")
        m.set("iotgw_buffer_file_bytes", self.db.file_bytes(), help="database size on disk")
        m.set("iotgw_buffer_oldest_age_seconds",
              (now - st.oldest_ms) / 1000 if st.oldest_ms else 0,
              help="age of the oldest unsent row")
        m.set("iotgw_dropped_readings", st.dropped_readings, reason="overflow",
              help="readings dropped from the buffer (counter; persisted across restarts)")
        m.set("iotgw_dropped_readings", st.expired_readings, reason="expired")
        m.set("iotgw_dropped_anomalies", st.dropped_anomalies, reason="overflow",
              help="anomaly events dropped from the buffer")
        m.set("iotgw_dropped_anomalies", st.expired_anomalies, reason="expired")
        m.set("iotgw_breaker_state", breaker_code(self.uplink.breaker_state),
              help="uplink circuit breaker: 0 closed, 1 open, 2 half-open")
        m.set("iotgw_broker_connected", int(self.intake.connected), help="1 when connected")
        m.set("iotgw_intake_backlog", self.intake.backlog,
              help="messages received and not yet committed")
        m.set("iotgw_log_backlog", self.raw_log.backlog,
              help="messages acknowledged (in the intake log) and not yet processed")
        m.set("iotgw_log_file_bytes", _file_bytes(self.raw_log.path),
              help="intake log size on disk")


def _file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += Path(f"{path}{suffix}").stat().st_size
    return total


def run(settings: GatewaySettings, scorer: Scorer | None = None,
        stop_event: threading.Event | None = None) -> int:
    """Run until SIGTERM or SIGINT (or ``stop_event``), then shut down gracefully."""
    stop = stop_event or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    service = GatewayService(settings, scorer)
    service.start()
    try:
        stop.wait()
    finally:
        service.stop()
    return 0
