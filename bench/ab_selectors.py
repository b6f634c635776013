"""A/B of the lookup path (consent.lookup) against an older version of it, same process, same data, same ids,
interleaved.

    # an older lookup package (after the split of consent/selectors.py):
    mkdir /tmp/old_lookup && git archive <commit> consent/lookup | tar -x -C /tmp/old_lookup --strip-components=2
    # or a version from before the split, when consent/selectors.py held the whole path:
    git show <commit>:consent/selectors.py > /tmp/old_selectors.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_engine \\
        .venv/bin/python bench/ab_selectors.py /tmp/old_lookup   # or /tmp/old_selectors.py

Loads the old version as `consent._old_lookup` (its relative imports resolve in the consent package), warms
both, then alternates them batch by batch (lookup_many, --batches batches of --batch ids of bench/decide.py's mix)
and id by id (lookup_one, --singles ids), so machine load falls on both alike. Reports each one's rate.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"


def _load_old(path: Path):
    """The older lookup path as module (a single file) or package (a directory) `consent._old_lookup`."""
    if path.is_dir():
        spec = importlib.util.spec_from_file_location("consent._old_lookup", path / "__init__.py",
                                                      submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location("consent._old_lookup", path)
    old = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = old  # before running it, so its own submodules can import it
    spec.loader.exec_module(old)
    return old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", help="an older consent/lookup directory (or consent/selectors.py, before the split)")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    import django

    django.setup()
    import decide

    from consent import lookup as new

    old = _load_old(Path(args.old))

    rng = random.Random(args.seed)
    ids = decide.lookup_ids(args.batch * args.batches + args.singles, works=1_000_000, holders=1_000, sites=50_000,
                            rng=rng)
    batches = [ids[k * args.batch:(k + 1) * args.batch] for k in range(args.batches)]
    singles = [i for i in ids[args.batch * args.batches:] if i != "isbn:978-0-00-000000-0"]
    ask = {"purpose": "train-genai", "jurisdiction": "JP", "as_of": decide.AS_OF}
    for module in (old, new):  # warm: caches, rule books, prepared statements
        for chunk in batches:
            module.lookup_many(ids=chunk, **ask)
        for one in singles:
            module.lookup_one(id=one, **ask)
    spent = {"old": [0.0, 0.0], "new": [0.0, 0.0]}
    for chunk in batches:
        for name, module in (("old", old), ("new", new)):
            t = time.perf_counter()
            answers = module.lookup_many(ids=chunk, **ask)
            spent[name][0] += time.perf_counter() - t
            assert len(answers) == len(chunk)
    for one in singles:
        answers = []
        for name, module in (("old", old), ("new", new)):
            t = time.perf_counter()
            answers.append(module.lookup_one(id=one, **ask))
            spent[name][1] += time.perf_counter() - t
        assert answers[0] == answers[1], one
    n = args.batch * args.batches
    for name in ("old", "new"):
        print(f"{name}: lookup_many {n / spent[name][0]:,.0f} ids/s (batches of {args.batch}); "
              f"lookup_one {len(singles) / spent[name][1]:,.0f}/s")
    load = os.getloadavg()
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
