"""Debug-only allocation tracer for soak runs (not imported unless this folder is on PYTHONPATH).

    PYTHONPATH=$PWD:$PWD/bench/memtrace MEMTRACE_DIR=/tmp/mt python bench/e2e.py --soak ...

Every process started with this folder on ``PYTHONPATH`` and ``MEMTRACE_DIR`` set traces
allocations (``tracemalloc``, 6 frames), takes a baseline snapshot after
``MEMTRACE_WARMUP_S`` (default 60) and then every ``MEMTRACE_EVERY_S`` (default 60)
writes the 40 biggest growths since the baseline to ``<dir>/<pid>-<command>.txt``. Heavy: it
slows the process several times over; never on by default. With ``MEMTRACE_LIGHT=1`` it only
logs RSS, glibc malloc totals, SQLite's heap and the live object count to ``<pid>-<command>.rss``
every ``MEMTRACE_EVERY_S`` (default 30): cheap enough for a full-rate soak.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

#: Leave out this tracer's own allocations (snapshots, statistics, source lines).
_OWN = [tracemalloc.Filter(False, tracemalloc.__file__, all_frames=True),
        tracemalloc.Filter(False, __file__, all_frames=True),
        tracemalloc.Filter(False, "*/linecache.py", all_frames=True)]


def _loop(out: Path, warmup: float, every: float) -> None:
    time.sleep(warmup)
    base = tracemalloc.take_snapshot().filter_traces(_OWN)
    n = 0
    while True:
        time.sleep(every)
        n += 1
        snap = tracemalloc.take_snapshot().filter_traces(_OWN)
        stats = snap.compare_to(base, "traceback")
        del snap
        lines = [f"== dump {n} at {time.strftime('%H:%M:%S')}, traced "
                 f"{tracemalloc.get_traced_memory()[0] / 2**20:.1f} MB"]
        for st in stats[:40]:
            lines.append(f"{st.size_diff / 1024:+9.1f} KiB {st.count_diff:+7d} blocks")
            lines.extend("    " + ln for ln in st.traceback.format(limit=6))
        with out.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n\n")
        del stats, lines


def _light(out: Path, every: float) -> None:
    """RSS, SQLite's own heap, glibc's malloc totals and live Python objects, no tracing."""
    import ctypes
    import gc

    libc = ctypes.CDLL("libc.so.6")
    try:
        sqlite = ctypes.CDLL("libsqlite3.so.0")
        sqlite.sqlite3_memory_used.restype = ctypes.c_int64
    except OSError:
        sqlite = None

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = Mallinfo2
    trim = bool(os.environ.get("MEMTRACE_TRIM"))
    while True:
        rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE")
        if trim:  # what the allocator holds but does not use: RSS before and after a trim
            libc.malloc_trim(0)
            after = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE")
            with out.open("a", encoding="utf-8") as f:
                f.write(f"trim {rss / 2**20:7.1f} -> {after / 2**20:7.1f} MB\n")
            rss = after
        mi = libc.mallinfo2()
        sq = sqlite.sqlite3_memory_used() if sqlite is not None else -1
        line = (f"{time.strftime('%H:%M:%S')} rss {rss / 2**20:7.1f} MB  malloc arena "
                f"{mi.arena / 2**20:6.1f} mmap {mi.hblkhd / 2**20:6.1f} in use "
                f"{mi.uordblks / 2**20:6.1f} free {mi.fordblks / 2**20:6.1f}  sqlite "
                f"{sq / 2**20:6.1f} MB  objects {len(gc.get_objects())} threads "
                f"{threading.active_count()}")
        with out.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        time.sleep(every)


def _start() -> None:
    where = os.environ.get("MEMTRACE_DIR")
    if not where or not {"gateway", "cloud"} & set(sys.argv):
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    tag = "-".join(a for a in sys.argv[:3] if not a.startswith("-"))[:40] or "proc"
    if os.environ.get("MEMTRACE_LIGHT"):
        threading.Thread(target=_light, args=(Path(where) / f"{os.getpid()}-{tag}.rss",
                                              float(os.environ.get("MEMTRACE_EVERY_S", "30"))),
                         daemon=True, name="memtrace").start()
        return
    tracemalloc.start(6)
    out = Path(where) / f"{os.getpid()}-{tag}.txt"
    warmup = float(os.environ.get("MEMTRACE_WARMUP_S", "60"))
    every = float(os.environ.get("MEMTRACE_EVERY_S", "60"))
    threading.Thread(target=_loop, args=(out, warmup, every), daemon=True,
                     name="memtrace").start()


_start()
