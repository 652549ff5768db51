"""Write the settings reference tables of docs/gateway.md and docs/cloud.md from the models.

    python scripts/generate_config_docs.py          # rewrite the tables
    python scripts/generate_config_docs.py --check  # exit 1 if a checked-in table is stale

Each table sits between ``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->``
markers; everything else in the files is left alone. ``iotgw gateway config`` and ``iotgw
cloud config`` print the same facts as a commented TOML file (common/sample_config.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]


def _tables() -> dict[str, tuple[Path, type[BaseModel]]]:
    from cloud.settings import CloudSettings
    from gateway.settings import GatewaySettings

    return {
        "gateway settings": (ROOT / "docs" / "gateway.md", GatewaySettings),
        "cloud settings": (ROOT / "docs" / "cloud.md", CloudSettings),
    }


def render(text: str, name: str, model: type[BaseModel]) -> str:
    """``text`` with the table ``name`` regenerated; ValueError if its markers are missing."""
    from common.sample_config import reference_table

    begin, end = f"<!-- BEGIN generated: {name} -->", f"<!-- END generated: {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {begin} ... {end} markers")
    note = ("<!-- written by scripts/generate_config_docs.py from the settings models; "
            "do not edit -->")
    block = f"{begin}\n{note}\n\n{reference_table(model)}\n{end}"
    return pattern.sub(lambda _m: block, text, count=1)


def stale() -> list[Path]:
    """The docs whose generated tables differ from the models."""
    out = []
    for name, (path, model) in _tables().items():
        text = path.read_text()
        if render(text, name, model) != text:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        paths = stale()
        for p in paths:
            print(f"{p.relative_to(ROOT)}: settings table is stale; run "
                  "python scripts/generate_config_docs.py", file=sys.stderr)
        return 1 if paths else 0
    for name, (path, model) in _tables().items():
        path.write_text(render(path.read_text(), name, model))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
