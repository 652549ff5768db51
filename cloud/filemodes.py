"""Files the cloud creates that hold secrets are readable by its user only (mode 0600).

The metadata database holds token hashes and webhook signing secrets. SQLite creates the
``-wal`` and ``-shm`` files with the mode of the database file, so creating that file 0600
(and tightening an existing one, with its companions) covers all three.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE = 0o600
PRIVATE_DIR = 0o700


def private_file(path: Path) -> None:
    """Create ``path`` (and its directory, 0700) if missing, and make it 0600."""
    if not path.parent.exists():
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE)
    os.close(fd)
    os.chmod(path, PRIVATE)


def private_sqlite(path: Path) -> None:
    """A SQLite database file and its ``-wal``/``-shm``/``-journal`` companions: 0600."""
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        # None, or gone already: another replica starting on the same file just ended the
        # transaction that had it (a rollback journal lives only that long).
        with contextlib.suppress(FileNotFoundError):
            os.chmod(companion, PRIVATE)
