"""CPU cost of parsing a lookup batch's ids: over-long and odd ids must cost about what ordinary ones do.

    .venv/bin/python bench/identifier_cost.py [--ids 10000] [--repeat 5]

Parses --ids ids of each kind with registry.identifiers.parse_identifier (the first step of every lookup) and
prints the best of --repeat runs in process CPU seconds. No database: parsing is pure Python.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.identifiers import InvalidIdentifier, parse_identifier  # noqa: E402

KINDS = {
    "domain, 2,000 ASCII characters": "domain:" + "a" * 2000,
    "domain, 2,000 characters in labels of 60": "domain:" + ".".join(["a" * 60] * 33),
    "domain, 2,000 non-ASCII characters": "domain:" + "é" * 2000,
    "url, 2,000-character host": "url:https://" + "a" * 2000 + "/",
    "isbn with hyphens (ordinary)": "isbn:978-4-9901661-3-7",
    "bare isbn (scheme inferred)": "978-4-9901661-3-7",
    "domain, ordinary": "domain:hoshi-pub.example",
    "url, ordinary": "url:https://hoshi-pub.example/works/1",
}


def _run(ids: list[str]) -> float:
    started = time.process_time()
    for text in ids:
        try:
            parse_identifier(text)
        except InvalidIdentifier:
            pass
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    parse_identifier("domain:hoshi-pub.co.uk")  # load the IDNA tables and the Public Suffix List once
    for name, text in KINDS.items():
        ids = [text] * args.ids
        best = min(_run(ids) for _ in range(args.repeat))
        print(f"{name:45} {args.ids:>7,} ids  {best:7.3f} s CPU  {best / args.ids * 1e6:7.1f} us/id")


if __name__ == "__main__":
    main()
