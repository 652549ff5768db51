"""``iotgw detect FILE.csv [--detector NAME] [--config gateway.toml]``.

Scores a ``timestamp,value`` CSV row by row, with no look-ahead, exactly as the gateway would
score one stream (same detector, threshold, warm-up and no-learning-from-flagged rule), and
writes ``timestamp,value,anomaly_score,is_anomaly`` to stdout, one row per input row. Heavy
imports happen inside :func:`run` so that ``iotgw --help`` stays fast.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

#: ``--detector`` naming the per-device (multi-column) detector.
DEVICE_DETECTOR = "mahalanobis"


def register(subparsers: Any) -> None:
    """Add the ``detect`` command to the ``iotgw`` root parser."""
    parser = subparsers.add_parser(
        "detect",
        help="score a timestamp,value CSV for anomalies as the gateway would",
        description=(
            "Score FILE.csv (columns timestamp,value; '-' for stdin) row by row with no "
            "look-ahead, using the detector and threshold the gateway would use, and write "
            "timestamp,value,anomaly_score,is_anomaly to stdout."
        ),
    )
    parser.add_argument("file", metavar="FILE.csv", help="input CSV, or - for stdin")
    parser.add_argument(
        "--detector",
        metavar="NAME",
        help="detector to use (overrides the config); 'mahalanobis': the per-device detector, "
        "FILE.csv then has columns timestamp,sensorA,sensorB,... scored jointly",
    )
    parser.add_argument(
        "--config", metavar="gateway.toml", type=Path, help="gateway settings; its [detect] table"
    )
    parser.set_defaults(func=run)


def _fail(message: str, code: int = 2) -> int:
    print(f"iotgw detect: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> Any:
    """The DetectSettings in force; ConfigError (one line) when the config or flag is bad."""
    from gateway.detect.settings import load_detect_settings

    device = args.detector == DEVICE_DETECTOR
    overrides = {} if args.detector is None or device else {"detector": args.detector}
    return load_detect_settings(args.config, overrides)


class _Progress:
    """A one-line progress bar on a terminal's stderr; silent otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.active = total > 0 and stream.isatty()
        self.done = 0

    def lines(self, fh: IO[str]) -> Iterator[str]:
        for n, line in enumerate(fh):
            self.done += len(line)
            if self.active and n % 2000 == 0:
                self._draw()
            yield line

    def _draw(self) -> None:
        frac = min(1.0, self.done / self.total)
        bar = "#" * int(frac * 30)
        self.stream.write(f"\rscoring [{bar:<30}] {frac:6.1%}")
        self.stream.flush()

    def close(self) -> None:
        if self.active:
            self.done = self.total
            self._draw()
            self.stream.write("\n")


def run(args: argparse.Namespace) -> int:
    """Score the file; 0 on success, 2 on a usage, config or file error."""
    from common.settings import EXIT_CONFIG, ConfigError

    try:
        settings = _settings(args)
    except ConfigError as exc:
        return _fail(f"bad configuration: {exc}", EXIT_CONFIG)
    try:
        fh: IO[str] = sys.stdin if args.file == "-" else open(args.file, newline="")  # noqa: SIM115
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    total = 0 if args.file == "-" else Path(args.file).stat().st_size
    progress = _Progress(total, sys.stderr)
    try:
        from gateway.detect.scorefile import score_csv, score_device_csv

        score = score_device_csv if args.detector == DEVICE_DETECTOR else score_csv
        bad = score(progress.lines(fh), sys.stdout, settings)
    except UnicodeDecodeError:
        return _fail(f"{args.file} is not a UTF-8 text CSV file")
    except csv.Error as exc:
        return _fail(f"{args.file} is not a valid CSV file: {exc}")
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as Unix filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        progress.close()
        if fh is not sys.stdin:
            fh.close()
    if bad:
        print(
            f"iotgw detect: {bad.count} row(s) could not be scored (first: line {bad.first_line}: "
            f"{bad.first_reason}); they are written with an empty anomaly_score",
            file=sys.stderr,
        )
    return 0
