"""The gateway's :class:`~gateway.scoring.Scorer`: one detector per (device, sensor) stream.

Streams are created lazily on their first reading. At most ``max_streams`` live in memory; the
least recently used one is evicted (its state saved to ``state_dir``) when a new stream would
exceed the cap, and streams idle longer than ``idle_evict_s`` are evicted too. A stream's saved
state is restored on its next reading, also after a restart. State written by an incompatible
version (other detector, parameters or state layout, or an unreadable file) is discarded with
one log line and the stream starts afresh: never a crash.

Not thread-safe: the pipeline calls it from one thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.detect.device import DeviceState, MahalanobisDetector
from gateway.detect.errors import StateError
from gateway.detect.registry import create_detector, detector_class
from gateway.detect.settings import DetectSettings
from gateway.detect.stream import StreamState
from gateway.scoring import AnomalyEvent

#: Layout of the state files themselves; bump when the envelope changes.
STATE_FORMAT = 3
#: The "sensor" under which a device's joint model is kept and saved.
DEVICE_KEY = "\0device"

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Live:
    state: Any  # StreamState, or DeviceState under (device, DEVICE_KEY)
    last_used: float


class DetectorBank:
    """Scores readings per stream with the detector the settings name."""

    def __init__(
        self,
        settings: DetectSettings,
        state_dir: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.policy = settings.policy()
        self.device_policy = replace(
            self.policy, threshold=MahalanobisDetector.default_threshold
        )
        self.state_dir = state_dir
        self._clock = clock
        self._streams: OrderedDict[tuple[str, str], _Live] = OrderedDict()
        self._version = detector_class(settings.detector).state_version
        self._observed = 0
        self.evicted = 0
        self.restored = 0
        self.discarded = 0
        self.save_errors = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Create the state directory (state itself is loaded lazily, per stream)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def stop(self) -> None:
        """Save every live stream's state and drop it from memory."""
        while self._streams:
            key, live = self._streams.popitem(last=False)
            self._save(key, live.state)

    def checkpoint(self) -> int:
        """Save every live stream's state, keeping it in memory (call it now and then, so a
        crash loses at most the learning since the last checkpoint); how many were saved."""
        for key, live in self._streams.items():
            self._save(key, live.state)
        return len(self._streams)

    def apply_settings(self, update: dict[str, Any]) -> None:
        """Reloaded settings (``{name: value}`` of the reloadable ``detect`` keys), from the
        next reading on."""
        self.settings = self.settings.model_copy(update=update)
        self.policy = self.settings.policy()

    @property
    def live_streams(self) -> int:
        """How many streams are in memory."""
        return len(self._streams)

    # -- scoring -----------------------------------------------------------------------------
    def observe(
        self, device: str, sensor: str, ts_ms: int, value: float, site: str | None = None
    ) -> AnomalyEvent | None:
        """Score one reading (learning from it unless flagged); an event when flagged."""
        return self.step(device, sensor, ts_ms, value, site)[1]

    def step(
        self, device: str, sensor: str, ts_ms: int, value: float, site: str | None = None
    ) -> tuple[float, AnomalyEvent | None]:
        """Like :meth:`observe`, also returning the score (0.0 when detection is disabled)."""
        if not self.settings.enabled:
            return 0.0, None
        now = self._clock()
        state = self._stream((device, sensor), now)
        limits = self.settings.limits.get(sensor)
        if limits is not None and not limits[0] <= value <= limits[1]:
            # Physically impossible: an event whatever the model says, and never learned.
            state.seen += 1
            state.detector.skip_value(value, ts_ms)
            return 1.0, AnomalyEvent(
                device, sensor, ts_ms, value, 1.0, "range", limits[0], limits[1], site
            )
        score, flagged = state.step(value, ts_ms, self.policy)
        self._observed += 1
        if self._observed % 1024 == 0:
            self.evict_idle(now)
        if not flagged:
            return score, None
        expected = state.detector.expected_range()
        return score, AnomalyEvent(
            device=device,
            sensor=sensor,
            ts_ms=ts_ms,
            value=value,
            score=score,
            detector=self.settings.detector,
            expected_low=None if expected is None else expected[0],
            expected_high=None if expected is None else expected[1],
            site=site,
        )

    def observe_device(
        self, device: str, ts_ms: int, values: dict[str, float], site: str | None = None
    ) -> AnomalyEvent | None:
        """Score one message of ``device`` jointly (when ``device_detector`` is on); an event
        whose ``sensor`` names the contributing sensors (``"vibration+temperature"``)."""
        if not (self.settings.enabled and self.settings.device_detector) or len(values) < 2:
            return None
        now = self._clock()
        state = self._stream((device, DEVICE_KEY), now)
        x = {**values, "t": ts_ms}
        score, flagged = state.step(x, self.device_policy)
        if not flagged:
            return None
        sensors = state.detector.contributors(x) or sorted(values)
        return AnomalyEvent(device, "+".join(sensors), ts_ms, values[sensors[0]], score,
                            "device:" + MahalanobisDetector.name, site=site)

    def evict_idle(self, now: float | None = None) -> int:
        """Evict (save and drop) streams idle for longer than ``idle_evict_s``; how many."""
        now = self._clock() if now is None else now
        count = 0
        while self._streams:
            key, live = next(iter(self._streams.items()))
            if now - live.last_used <= self.settings.idle_evict_s:
                break
            self._evict(key)
            count += 1
        return count

    def _stream(self, key: tuple[str, str], now: float) -> Any:
        live = self._streams.get(key)
        if live is not None:
            self._streams.move_to_end(key)
            live.last_used = now
            return live.state
        while len(self._streams) >= self.settings.max_streams:
            self._evict(next(iter(self._streams)))
        state = self._load(key) or self._fresh(key)
        # The names come fresh from each message's decoding; kept as the key, interned ones
        # are shared by a device's streams and a sensor's devices (decision 83).
        self._streams[(sys.intern(key[0]), sys.intern(key[1]))] = _Live(state, now)
        return state

    def _fresh(self, key: tuple[str, str]) -> Any:
        if key[1] == DEVICE_KEY:
            params: dict[str, Any] = dict(self.settings.device_params)
            return DeviceState(MahalanobisDetector(**params))
        return StreamState(create_detector(self.settings.detector, **self.settings.params))

    def _evict(self, key: tuple[str, str]) -> None:
        live = self._streams.pop(key)
        self._save(key, live.state)
        self.evicted += 1

    # -- persistence -------------------------------------------------------------------------
    def _path(self, key: tuple[str, str]) -> Path:
        digest = hashlib.sha256(f"{key[0]}\0{key[1]}".encode()).hexdigest()[:40]
        return self.state_dir / f"{digest}.state"

    def _header(self, key: tuple[str, str]) -> dict[str, Any]:
        device = key[1] == DEVICE_KEY
        return {
            "format": STATE_FORMAT,
            "detector": MahalanobisDetector.name if device else self.settings.detector,
            "version": MahalanobisDetector.state_version if device else self._version,
            "params": sorted((self.settings.device_params if device else self.settings.params)
                             .items()),
            "stream": list(key),
        }

    def _save(self, key: tuple[str, str], state: Any) -> None:
        """Write one stream's state; a disk error costs that state, never the scoring."""
        try:
            self._write(key, state)
        except OSError as exc:
            self.save_errors += 1
            level = logging.WARNING if self.save_errors == 1 else logging.DEBUG
            log.log(level, "cannot save detector state for %s/%s: %s", *key, exc)

    def _write(self, key: tuple[str, str], state: Any) -> None:
        path = self._path(key)
        tmp = path.with_suffix(".tmp")
        payload = pickle.dumps((self._header(key), state), protocol=pickle.HIGHEST_PROTOCOL)
        with tmp.open("wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _load(self, key: tuple[str, str]) -> Any:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            state = self._unpickle(path, key)
        except StateError as exc:
            self.discarded += 1
            # One warning per bank; a whole directory of stale state must not flood the log.
            level = logging.WARNING if self.discarded == 1 else logging.DEBUG
            log.log(level, "discarding saved detector state for %s/%s: %s", *key, exc)
            path.unlink(missing_ok=True)
            return None
        self.restored += 1
        return state

    def _unpickle(self, path: Path, key: tuple[str, str]) -> Any:
        try:
            header, state = pickle.loads(path.read_bytes())
        except Exception as exc:  # any unreadable or foreign pickle is just stale state
            raise StateError(f"unreadable ({type(exc).__name__})") from exc
        if not isinstance(header, dict) or header != self._header(key):
            raise StateError(f"written by an incompatible version ({_describe(header)})")
        if not isinstance(state, DeviceState if key[1] == DEVICE_KEY else StreamState):
            raise StateError("not a stream state")
        return state


def _describe(header: object) -> str:
    if not isinstance(header, dict):
        return "no header"
    return ", ".join(f"{k}={header.get(k)!r}" for k in ("format", "detector", "version"))
