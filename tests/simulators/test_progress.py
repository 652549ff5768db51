"""The live progress line appears on terminals only; the summary says what happened."""

from __future__ import annotations

import io

from simulators.progress import Progress, RunStats


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal() -> None:
    stream = _Tty()
    progress = Progress(stream)
    stats = RunStats(published=10, acked=8, errors=1)
    progress.update(stats, started=0.0, force=True)
    progress.update(stats, started=0.0)  # throttled: nothing new
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\rsent 10  acked 8  rate ") and "errors 1" in text
    assert text.count("\r") == 1 and text.endswith("\n")


def test_no_progress_line_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress.update(RunStats(published=1), started=0.0, force=True)
    progress.close()
    assert stream.getvalue() == ""


def test_summary_names_every_counter() -> None:
    stats = RunStats(produced=9, published=10, acked=9, unacked=1, silent=1, duplicates=2,
                     malformed=3, errors=4, elapsed_s=2.0)
    text = stats.summary("m.jsonl")
    for part in ("published 10", "9 produced", "(5/s)", "9 acknowledged",
                 "1 not acknowledged", "2 duplicate(s)", "3 malformed", "1 kept silent",
                 "4 error(s)", "manifest m.jsonl"):
        assert part in text
