"""Peak memory and speed of `kyodaku check --offline` on a copy with a large snapshot filter (docs/client.md and
docs/performance.md, "The filter held once"), this tree's client against an older one, alternately, in one run.

    git worktree add --detach /tmp/filtermem-base <rev>      # the client before, with its _offline built in place
    .venv/bin/python bench/client_filter_memory.py --before-client /tmp/filtermem-base/client --flagged 10000000

1. In a process of its own (so that this one stays small: a child's ru_maxrss starts from its parent's), build a
   copy under --workdir: the filter with the project's builder (sync.filters.bloom_build, --flagged keys at --fpr,
   the registry's default 1e-6: 36 MB at 10,000,000 keys), an answers file of a few keys, the manifest, state
   and overlay as `kyodaku sync` leaves them; and --ids ids the copy does not hold (half `doi:`, half `url:`), none
   of which the filter flags (those few are dropped, so that no run asks the API). Kept and reused when its
   parameters are the same.
2. --rounds times, alternately: the client before, then this tree's, then the floor (this tree's client on the
   same copy with a filter of 8 bytes of bits, none set: what the check holds besides the filter); with the
   compiled accelerator where each was built, then pure Python (KYODAKU_PURE_PYTHON=1). Each check in a process
   of its own, from a copy of its own (the filter hard-linked: each client writes its own bulk index),
   interpreter start included: wall seconds, CPU seconds (its own and its forked processes'), its peak RSS
   (VmHWM, read at exit) and its forked processes' largest (ru_maxrss, which counts the pages they share with
   it). Every CSV is compared with the first, byte for byte.

Prints a table and, on the last line, JSON with every figure.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIR = ("train-genai", "JP")

BUILD = r"""
import gzip, json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from sync.filters import bloom_build, bloom_load

copy, flagged, ids_count, fpr = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
copy.mkdir(parents=True)
started = time.perf_counter()
stated = bloom_build((f"doi:10.5555/flagged-{i}" for i in range(flagged)), count=flagged, false_positive_rate=fpr,
                     path=str(copy / "filter"))
built = time.perf_counter() - started
answers = [{"key": f"doi:10.5555/flagged-{i}", "outcome": "allowed", "basis": "granted", "holder": "kaze",
            "declaration": f"d-{i}", "license_url": None, "disputed": False} for i in range(1000)]
(copy / "answers").write_bytes(gzip.compress(b"".join(json.dumps(a).encode() + b"\n" for a in answers)))
files = [{"name": "answers", "count": len(answers), "sha256": "b" * 64},
         {"name": "filter", "count": flagged, "default_outcome": "denied", **stated}]
(copy / "manifest.json").write_text(json.dumps({"payload": {"purpose": sys.argv[6], "jurisdiction": sys.argv[7],
                                                            "files": files}}))
(copy / "state.json").write_text(json.dumps({"cursor": "1", "synced_at": time.time()}))
(copy / "overlay.json").write_text("{}")
bloom = bloom_load((copy / "filter").read_bytes())
ids = [f"doi:10.5555/unheld-{i}" if i % 2 else f"url:https://site{i % 5000}.example/p/{i}" for i in range(ids_count)]
kept = [raw for raw in ids if raw not in bloom]
(copy.parent / "ids.txt").write_text("\n".join(kept) + "\n")
print(json.dumps({"build_s": round(built, 1), "filter_bytes": (copy / "filter").stat().st_size,
                  "ids": len(kept), "dropped_flagged": len(ids) - len(kept)}))
"""

# kyodaku's CLI in this process, then its peak figures into argv[1] (VmHWM: this process's peak RSS, which exec
# resets; RUSAGE_CHILDREN: the forked processes of the pure path)
LAUNCH = r"""
import json, resource, sys
from pathlib import Path
from kyodaku.cli import main
code = main(sys.argv[2:])
status = Path("/proc/self/status").read_text()
me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
Path(sys.argv[1]).write_text(json.dumps({
    "code": code, "peak_rss": int(status.split("VmHWM:")[1].split()[0]) * 1024,
    "children_peak_rss": children.ru_maxrss * 1024,
    "cpu": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime}))
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build(workdir: Path, *, flagged: int, ids: int, fpr: float) -> dict:
    stamp = workdir / "built.json"
    params = {"flagged": flagged, "ids": ids, "fpr": fpr}
    if stamp.exists() and json.loads(stamp.read_text())["params"] == params:
        return json.loads(stamp.read_text())
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    log(f"building the copy: a filter of {flagged:,} keys at {fpr}, {ids:,} ids")
    done = subprocess.run([sys.executable, "-c", BUILD, str(ROOT), str(workdir / "copy"), str(flagged), str(ids),
                           str(fpr), *PAIR], check=True, capture_output=True, text=True)
    figures = {"params": params, **json.loads(done.stdout)}
    stamp.write_text(json.dumps(figures))
    return figures


def a_copy_for(workdir: Path, name: str, *, floor: bool = False) -> Path:
    """A copies root of its own for one client: the filter and answers hard-linked, the bulk index its own. The
    floor's filter is 8 bytes of bits, none set: the same answers (it flags none of the ids), no filter to hold."""
    root = workdir / f"copies-{name}"
    shutil.rmtree(root, ignore_errors=True)
    directory = root / PAIR[0] / PAIR[1]
    directory.mkdir(parents=True)
    for path in (workdir / "copy").iterdir():
        if path.name == "filter" and floor:
            (directory / "filter").write_bytes((19).to_bytes(8, "little") + bytes(8))
        elif path.name in ("filter", "answers"):
            os.link(path, directory / path.name)
        else:
            shutil.copy(path, directory / path.name)
    return root


def check(client_dir: str, root: Path, ids: Path, out: Path, *, pure: bool) -> dict:
    figures_path = out.with_suffix(".figures.json")
    for path in (out, figures_path):
        if path.exists():
            path.unlink()
    env = {**os.environ, "PYTHONPATH": client_dir, "KYODAKU_PURE_PYTHON": "1" if pure else ""}
    env.pop("KYODAKU_URL", None)  # no id of these needs the API: a run that tried would fail, not wait
    os.sync()  # the runs before's dirty pages are not this run's work
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", LAUNCH, str(figures_path), "check", str(ids), "--purpose", PAIR[0],
                    "--jurisdiction", PAIR[1], "--offline", "--dir", str(root), "--max-age", "1e9", "--out",
                    str(out), "--quiet", "--restart"], check=True, env=env)
    figures = json.loads(figures_path.read_text())
    assert figures["code"] == 0, f"the check exited {figures['code']}"
    figures["wall"] = time.perf_counter() - started
    with open(out, "rb") as handle:
        figures["csv_sha256"] = hashlib.file_digest(handle, "sha256").hexdigest()
    return figures


def accelerated(client_dir: str) -> bool:
    code = "import kyodaku.offline as o; print(o.compiled() is not None)"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": client_dir,
                                                              "KYODAKU_PURE_PYTHON": ""},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before-client", required=True, help="a directory holding the older kyodaku package")
    parser.add_argument("--flagged", type=int, default=10_000_000)
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--fpr", type=float, default=1e-6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/kyodaku-filter-memory")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    built = build(workdir, flagged=args.flagged, ids=args.ids, fpr=args.fpr)
    log(f"copy: {built}")
    clients = {"before": args.before_client, "after": str(ROOT / "client")}
    for client_dir in clients.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{client_dir}/kyodaku"], check=True)
    paths = {name: ["accelerated", "pure"] if accelerated(client_dir) else ["pure"]
             for name, client_dir in clients.items()}
    runs, reference = [], None
    clients["floor"], paths["floor"] = clients["after"], paths["after"]  # this tree's client, an empty filter
    for number in range(args.rounds):
        for path in ("accelerated", "pure"):
            for name, client_dir in clients.items():
                if path not in paths[name]:
                    continue
                root = a_copy_for(workdir, name, floor=name == "floor")
                figures = check(client_dir, root, workdir / "ids.txt", workdir / f"{name}.csv", pure=path == "pure")
                reference = reference or figures["csv_sha256"]
                assert figures["csv_sha256"] == reference, f"{name} {path}: another CSV than the first run's"
                runs.append({"round": number, "client": name, "path": path, **figures})
                log(f"round {number} {name:6} {path:11}: {figures['wall']:.2f} s wall, {figures['cpu']:.2f} s CPU,"
                    f" peak RSS {figures['peak_rss'] / 2**20:.1f} MiB (forked: "
                    f"{figures['children_peak_rss'] / 2**20:.1f} MiB)")
    print(f"\nfilter: {built['filter_bytes'] / 2**20:.1f} MiB ({args.flagged:,} keys at {args.fpr}); "
          f"{built['ids']:,} ids; every CSV the same bytes")
    print("| client | path | peak RSS MiB (min-max) | forked peak MiB | wall s | CPU s |")
    print("|---|---|---|---|---|---|")
    for path in ("accelerated", "pure"):
        for name in clients:
            mine = [r for r in runs if r["client"] == name and r["path"] == path]
            if not mine:
                continue

            def span(key: str, scale: float = 1.0, digits: int = 2, rows=mine) -> str:
                values = sorted(r[key] / scale for r in rows)
                return f"{values[0]:.{digits}f}-{values[-1]:.{digits}f}"
            print(f"| {name} | {path} | {span('peak_rss', 2**20, 1)} | {span('children_peak_rss', 2**20, 1)} | "
                  f"{span('wall')} | {span('cpu')} |")
    print(json.dumps({"built": built, "runs": runs}))


if __name__ == "__main__":
    main()
