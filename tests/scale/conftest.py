"""Helpers for the scaling suites: clustered broker, partitioned gateways, balanced cloud."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

from iotgw.processes import LOOPBACK
from tests.support.nats import NatsCluster


def merge_manifests(paths: Iterable[Path], out: Path) -> Path:
    """One manifest holding the lines of several simulators (their readings must not share a
    ``(device, seq, sensor)`` identity: give them different sensors or devices)."""
    with out.open("w", encoding="utf-8") as f:
        for p in paths:
            f.write(p.read_text(encoding="utf-8"))
    return out


def lost_ranges(lost: Iterable[tuple[str, int, str]]) -> str:
    """``device: first-last, ...`` seq ranges of the messages ``lost`` readings belong to, so a
    failure shows at once whether a run lost a window, a tail or scattered messages.

    >>> lost_ranges([("d1", 5, "t"), ("d1", 6, "t"), ("d1", 6, "h"), ("d1", 9, "t"),
    ...              ("d0", 1, "t")])
    'd0: 1; d1: 5-6, 9'
    """
    seqs: dict[str, set[int]] = {}
    for device, seq, _sensor in lost:
        seqs.setdefault(device, set()).add(seq)
    out = []
    for device in sorted(seqs):
        spans: list[list[int]] = []
        for seq in sorted(seqs[device]):
            if spans and seq == spans[-1][1] + 1:
                spans[-1][1] = seq
            else:
                spans.append([seq, seq])
        out.append(f"{device}: " + ", ".join(
            str(a) if a == b else f"{a}-{b}" for a, b in spans))
    return "; ".join(out) or "none"


def connected_node(cluster: NatsCluster, client_id: str) -> int | None:
    """Index of the node holding the MQTT connection of ``client_id`` (from each node's
    ``/connz`` monitoring endpoint), or ``None``."""
    for i, node in enumerate(cluster.nodes):
        if not node.running:
            continue
        with contextlib.suppress(httpx.HTTPError, ValueError):
            conns = httpx.get(f"http://{LOOPBACK}:{node.http_port}/connz",
                              params={"limit": 1024}, timeout=3).json()["connections"] or []
            if any(c.get("mqtt_client") == client_id for c in conns):
                return i
    return None


def keep_work_folder(work: Path) -> Path:
    """Copy a failed run's folder (logs, manifests, databases, broker stores) to
    ``$IOTGW_KEEP_DIR`` (default ``<tmp>/iotgw-kept``), where no later pytest run deletes it;
    returns the copy's path (the original's when copying failed)."""
    root = Path(os.environ.get("IOTGW_KEEP_DIR") or Path(tempfile.gettempdir()) / "iotgw-kept")
    dest = root / f"{work.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        shutil.copytree(work, dest, ignore_dangling_symlinks=True)
    except (OSError, shutil.Error):
        return work
    return dest
