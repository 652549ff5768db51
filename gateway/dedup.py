"""De-duplication of broker redeliveries by (device, seq), persisted so it survives restarts.

A broker redelivers a QoS 1 message it has no PUBACK for, for instance when the gateway was
killed after committing a message but before acknowledging it. The window remembers, per device,
the last ``window`` messages as slots ``seq % window`` holding ``(seq, ts_ms)``; a message is a
duplicate when its slot holds the same seq **and** the same device timestamp, so a device that
rebooted and restarted its counter at 0 is not mistaken for a redelivery.

Memory is two small arrays per device, 16 bytes per slot, grown only as far as the highest slot
used: a device's first ``window`` messages fill slots 0, 1, 2, ..., so a young or rarely sending
device does not pay for the whole window (a device past ``window`` messages does: 4 KB at the
default 256; decision 74). Slots are written to the database in the caller's transaction and
published in memory only after it commits.

>>> from pathlib import Path; import tempfile
>>> from gateway.db import Database
>>> db = Database(Path(tempfile.mkdtemp()) / "g.db"); db.open()
>>> window = DedupWindow(db, window=8)
>>> with db.transaction():
...     window.check_and_add("pump-1", 5, 1_700_000_000_000)
False
>>> window.check_and_add("pump-1", 5, 1_700_000_000_000)
True
>>> window.check_and_add("pump-1", 5, 1_700_000_999_000)  # same seq, new time: a reboot
False
"""

from __future__ import annotations

from array import array

from gateway.db import Database

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dedup (device TEXT NOT NULL, slot INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL, PRIMARY KEY (device, slot)) WITHOUT ROWID"
)


class DedupWindow:
    """Remembers the last ``window`` (seq, timestamp) pairs per device."""

    def __init__(self, db: Database, window: int = 256) -> None:
        self._db = db
        self.window = window
        self._seqs: dict[str, array[int]] = {}
        self._times: dict[str, array[int]] = {}
        self._txn = -1
        self._pending: dict[tuple[str, int], tuple[int, int]] = {}
        with db.transaction() as conn:
            conn.execute(_SCHEMA)
            rows = conn.execute("SELECT device, slot, seq, ts_ms FROM dedup").fetchall()
        for device, slot, seq, ts in rows:
            if slot < window:
                self._set(device, slot, seq, ts)

    def _set(self, device: str, slot: int, seq: int, ts: int) -> None:
        seqs = self._seqs.get(device)
        if seqs is None:
            seqs = self._seqs[device] = array("q")
            self._times[device] = array("q")
        times = self._times[device]
        if slot >= len(seqs):  # grow geometrically, never past the window
            grow = min(self.window, max(slot + 1, 2 * len(seqs), 8)) - len(seqs)
            seqs.extend(array("q", [-1]) * grow)
            times.extend(array("q", [-1]) * grow)
        seqs[slot] = seq
        times[slot] = ts

    def seen(self, device: str, seq: int, ts_ms: int) -> bool:
        """Whether (device, seq, ts_ms) is remembered, counting this transaction's additions."""
        slot = seq % self.window
        if self._txn == self._db.active_txn:
            pending = self._pending.get((device, slot))
            if pending is not None:
                return pending == (seq, ts_ms)
        seqs = self._seqs.get(device)
        return (seqs is not None and slot < len(seqs) and seqs[slot] == seq
                and self._times[device][slot] == ts_ms)

    def check_and_add(self, device: str, seq: int, ts_ms: int) -> bool:
        """True if a duplicate; otherwise remember it (joining the current transaction)."""
        if self.seen(device, seq, ts_ms):
            return True
        slot = seq % self.window
        if self._txn == self._db.active_txn:  # joined already: the flush and publish are due
            self._pending[(device, slot)] = (seq, ts_ms)
            return False
        with self._db.transaction():
            if self._txn != self._db.txn_id:
                self._txn = self._db.txn_id
                self._pending = {}
                self._db.before_commit(self._flush)
                self._db.after_commit(self._publish)
            self._pending[(device, slot)] = (seq, ts_ms)
        return False

    def _flush(self) -> None:
        """Write this transaction's slots in one statement, just before the commit."""
        self._db.conn.executemany(
            "INSERT OR REPLACE INTO dedup (device, slot, seq, ts_ms) VALUES (?, ?, ?, ?)",
            [(d, slot, seq, ts) for (d, slot), (seq, ts) in self._pending.items()],
        )

    def _publish(self) -> None:
        for (device, slot), (seq, ts) in self._pending.items():
            self._set(device, slot, seq, ts)
        self._pending = {}
        self._txn = -1
