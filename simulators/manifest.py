"""The delivery manifest: one JSON line per message, the ground truth reconciliation counts against.

Each line is one publish (or one message a ``dropout`` kept off the air), in the order the
simulator handed them to the MQTT client. Fields:

``n``         send index (0, 1, ...), so out-of-order publishes are visible
``device``    device name; ``seq`` its message counter (u32); ``site``
``ts``        the message's device timestamp, UTC milliseconds (as sent, clock skew included)
``topic``, ``format`` (codec name), ``qos``
``readings``  ``[{"sensor", "value", "ts", "unit", "fault"}]`` as encoded into the payload
``fault``     the first fault label of the message or ``null``; ``faults`` all of them
``malformed`` true when the payload was deliberately broken (``bad-crc``, ``truncated``,
              ``wrong-type``): a gateway must dead-letter it, its readings are not expected
``duplicate`` true on the second publish of a ``duplicate`` fault (same device and seq)
``sent``      false only for messages a ``dropout`` kept off the air
``acked``     QoS 1: the broker's PUBACK arrived. QoS 0: the client wrote the publish to its
              socket (no broker confirmation exists, so a QoS 0 reading may still be lost)
``degradation`` wear progress in [0, 1] of a degrading machine (1 = failed), else ``null``

The reader functions below are what reconciliation tests use: a reading is identified by
``(device, seq, sensor)``, so a duplicate publish still stands for one expected reading.

A run split between processes (``iotgw sim run --processes N``) writes one file per process
next to the path it was given: ``run.jsonl`` becomes ``run.p0.jsonl`` ... ``run.p{N-1}.jsonl``
(:func:`part_path`). Every reader takes the path that was given and reads whatever the run
wrote (:func:`manifest_files`): the parts one after the other, each in its own send order, with
``n`` counting per part. A writer removes the other layout's files left by an earlier run on
the same path (:func:`prepare_manifest`), so a reader never mixes two runs.

>>> import json, tempfile, os
>>> line = {"device": "d", "seq": 1, "ts": 1, "readings": [{"sensor": "t", "value": 2.0, "ts": 1}],
...         "malformed": False, "sent": True, "acked": True, "fault": None}
>>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
...     _ = f.write(json.dumps(line) + "\\n" + json.dumps(line | {"duplicate": True}) + "\\n")
>>> expected_readings(f.name)
{('d', 1, 't')}
>>> os.unlink(f.name)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

#: A running simulator flushes the manifest file at least this often (seconds).
FLUSH_EVERY_S = 0.2
#: One compact encoder for every line (``json.dumps`` with options builds a new one per call).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
#: (device, seq, sensor): one reading's identity.
ReadingKey = tuple[str, int, str]


class ManifestWriter:
    """Appends manifest lines to a file (``None`` path: counts only, writes nothing)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._file: IO[str] | None = None
        self._next_flush = 0.0
        self.lines = 0

    def start(self) -> None:
        """Create (truncate) the file."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Write one line; flushed at least every ``FLUSH_EVERY_S``, and on :meth:`stop`."""
        self.write_line(_ENCODE(record))

    def write_line(self, text: str) -> None:
        """Write one line already encoded (one JSON object, no newline)."""
        self.lines += 1
        if self._file is not None:
            self._file.write(text + "\n")
            now = time.monotonic()
            if now >= self._next_flush:
                self._file.flush()
                self._next_flush = now + FLUSH_EVERY_S

    def stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def part_path(path: str | Path, index: int) -> Path:
    """The manifest file of process ``index`` of a multi-process run written to ``path``.

    >>> part_path("out/run.jsonl", 2).as_posix(), part_path("run", 0).as_posix()
    ('out/run.p2.jsonl', 'run.p0')
    """
    p = Path(path)
    return p.with_name(f"{p.stem}.p{index}{p.suffix}")


def _parts(path: Path) -> list[Path]:
    parts: list[Path] = []
    while (candidate := part_path(path, len(parts))).exists():
        parts.append(candidate)
    return parts


def manifest_files(path: str | Path) -> list[Path]:
    """The files a run given ``path`` wrote: its per-process parts if there are any, else
    ``path`` itself (which may not exist yet)."""
    p = Path(path)
    return _parts(p) or [p]


def prepare_manifest(path: str | Path, processes: int = 1) -> list[Path]:
    """Remove what an earlier run on ``path`` left in the other layout, create (empty) the
    files this run writes and return them: ``[path]`` for one process, else its parts.

    Raises :class:`OSError` when the directory cannot be written.
    """
    p = Path(path)
    keep = [p] if processes == 1 else [part_path(p, i) for i in range(processes)]
    for f in [p, *_parts(p)]:
        if f not in keep:
            f.unlink(missing_ok=True)
    p.parent.mkdir(parents=True, exist_ok=True)
    for f in keep:
        f.open("w").close()
    return keep


def manifest_lines(path: str | Path) -> int:
    """Number of lines written so far (while a run is going: those flushed)."""
    total = 0
    for f in manifest_files(path):
        try:
            with f.open("rb") as handle:
                total += sum(1 for _ in handle)
        except FileNotFoundError:
            pass
    return total


def read_manifest(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every line of a manifest as a dict: file by file (see :func:`manifest_files`), each in
    send order."""
    for part in manifest_files(path):
        with part.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def _readings(lines: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for line in lines:
        if line.get("sent", True) and not line.get("malformed", False):
            for reading in line["readings"]:
                yield line, reading


def expected_readings(path: str | Path, exclude_faults: Iterable[str] = ()) -> set[ReadingKey]:
    """Readings that must arrive exactly once: acknowledged, well-formed publishes.

    ``exclude_faults`` drops messages carrying any of these labels (e.g. ``clock-skew`` when
    the gateway under test rejects skewed clocks by design).
    """
    skip = set(exclude_faults)
    return {
        (line["device"], line["seq"], r["sensor"])
        for line, r in _readings(read_manifest(path))
        if line.get("acked") and not skip.intersection(line.get("faults") or ())
    }


def published_readings(path: str | Path) -> set[ReadingKey]:
    """Readings that *may* arrive: every well-formed publish, acknowledged or not.

    A store must hold nothing outside this set (anything else was never sent).
    """
    lines = read_manifest(path)
    return {(line["device"], line["seq"], r["sensor"]) for line, r in _readings(lines)}


def expected_values(path: str | Path) -> dict[ReadingKey, tuple[int, float | int | bool]]:
    """``(device, seq, sensor) -> (ts_ms, value)`` of every well-formed published reading."""
    return {
        (line["device"], line["seq"], r["sensor"]): (r["ts"], r["value"])
        for line, r in _readings(read_manifest(path))
    }


def expected_dead_letters(path: str | Path) -> set[tuple[str, int]]:
    """``(device, seq)`` of acknowledged malformed publishes: each must be dead-lettered.

    A malformed payload that is also published twice (``duplicate``) is two dead letters for
    the gateway (it cannot read a seq out of garbage): see :func:`dead_letter_count`.
    """
    return {
        (line["device"], line["seq"])
        for line in read_manifest(path)
        if line.get("sent", True) and line.get("malformed") and line.get("acked")
    }


def dead_letter_count(path: str | Path) -> int:
    """Number of acknowledged malformed publishes (duplicates counted twice)."""
    return sum(
        1
        for line in read_manifest(path)
        if line.get("sent", True) and line.get("malformed") and line.get("acked")
    )
