"""The de-duplication window holds memory only for the slots a device has used (decision 74),
and answers exactly as a full window would: through growth, wrap-around and a restart."""

from __future__ import annotations

from pathlib import Path

from gateway.db import Database
from gateway.dedup import DedupWindow


def _add(window: DedupWindow, db: Database, device: str, seq: int, ts: int) -> bool:
    with db.transaction():
        return window.check_and_add(device, seq, ts)


def test_window_grows_with_use_and_still_catches_every_redelivery(tmp_path: Path) -> None:
    db = Database(tmp_path / "g.db")
    db.open()
    window = DedupWindow(db, window=64)
    assert not _add(window, db, "young", 3, 1003)
    assert len(window._seqs["young"]) < 64  # three slots used, not the whole window
    assert not window.seen("young", 40, 1040)  # a slot beyond the used ones: new
    for seq in range(200):
        assert not _add(window, db, "busy", seq, 1000 + seq)
    assert len(window._seqs["busy"]) == 64  # never past the window
    assert all(window.seen("busy", seq, 1000 + seq) for seq in range(136, 200))
    assert not any(window.seen("busy", seq, 1000 + seq) for seq in range(0, 136))
    assert window.seen("young", 3, 1003) and not window.seen("young", 3, 9999)
    db.close()

    db.open()  # a restart reads the slots back from the database
    again = DedupWindow(db, window=64)
    assert again.seen("young", 3, 1003) and not again.seen("young", 4, 1004)
    assert all(again.seen("busy", seq, 1000 + seq) for seq in range(136, 200))
    db.close()
