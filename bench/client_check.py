"""Benchmark of the official client (issue 14, docs/client.md): `kyodaku check` of --ids ids online, beside its
floor (the raw batch endpoint driven by a minimal loop), and offline from a synced copy, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_client \\
        .venv/bin/python bench/client_check.py --keys 100000 --ids 1000000

1. Load (the database is dropped and created first: give a scratch one) bench/sync.py's catalogue: --keys works
   with one identifier each (99 % `doi:`, 1 % `domain:`), every tenth granted (train-ai, JP), a catalogue-wide
   reservation by the second holder. Build the (train-genai, JP) snapshot in this process.
2. Start gunicorn (production settings, 2 sync workers, a free port on 127.0.0.1) and issue an API key without a
   rate limit. The ids: half `doi:` keys of the catalogue or just beyond it (registered or not), half
   `url:https://site<n>.example/p/<j>` (under a registered `domain:` for one site in a hundred).
3. Floor: POST /api/v1/lookup in batches of 10,000 from --concurrency threads (httpx, nothing else done with the
   answers). Then `kyodaku check` online (same batch size and concurrency, CSV written, state file kept). Then
   `kyodaku sync` and `kyodaku check --offline`, twice: pure Python (KYODAKU_PURE_PYTHON=1), then with the
   compiled accelerator (kyodaku._offline, when the client was installed where it builds): ids/s, and each
   offline CSV's answers compared with the online one's for every id (and the two offline CSVs byte for byte).

The offline check also runs on --repeat copies of the ids file in one (10,000,000 ids by default: interpreter
start and loading the copy amortised), compared with the online CSV repeated as many times; and beside both, an
offline floor: a Python process that reads the ids file and writes each id with one fixed CSV tail (the least any
Python client does that writes a row per id). Every offline figure is wall and CPU seconds (user + system of the
process and its children: `kyodaku check --offline` forks --processes, the CPUs available by default).

With --before-client DIR (a directory holding an older `kyodaku` package, e.g. made by
`git archive <commit> client/kyodaku | tar -x -C /tmp/old` and given as /tmp/old/client), the offline check runs
twice in the same run, each in a process of its own (interpreter start included in both): the older client,
then this tree's; each one's CSV is compared with the online one for every id.

Prints a human summary and, on the last line, JSON with every figure. The client shares the 2 cores with gunicorn
and PostgreSQL: online figures are a floor of what a separate client machine sees.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"
PAIR = {"purpose": "train-genai", "jurisdiction": "JP"}

import _serve  # noqa: E402  (bench/_serve.py, beside this script: gunicorn for the HTTP benchmarks)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bench_sync():
    spec = importlib.util.spec_from_file_location("bench_sync", ROOT / "bench" / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_ids(n: int, keys: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    ids = []
    for _ in range(n // 2):
        k = rng.randint(1, keys + keys // 10)
        ids.append(f"doi:10.5555/bench-{k}")
        site = rng.randint(1, keys) // 100 * 100 or 100
        ids.append(f"url:https://site{site if rng.random() < 0.5 else site + 1}.example/p/{rng.randint(1, 10**6)}")
    return ids


def floor(url: str, key: str, ids: list[str], concurrency: int) -> float:
    import httpx

    client = httpx.Client(base_url=url, headers={"Authorization": f"Api-Key {key}"}, timeout=120)
    batches = [ids[i:i + 10_000] for i in range(0, len(ids), 10_000)]

    def one(batch):
        response = client.post("/api/v1/lookup", json={"ids": batch, **PAIR})
        assert response.status_code == 200, response.text[:300]
        return len(response.json()["results"])

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        assert sum(pool.map(one, batches)) == len(ids)
    return time.perf_counter() - started


def kyodaku(*args) -> float:
    from kyodaku.cli import main

    started = time.perf_counter()
    code = main(list(args))
    assert code == 0, f"kyodaku {args[0]} exited {code}"
    return time.perf_counter() - started


PURE = {"KYODAKU_PURE_PYTHON": "1"}  # the bulk offline path without the compiled accelerator (kyodaku._offline)


def kyodaku_process(client_dir: str, *args, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `kyodaku ARGS` in a process of its own, importing kyodaku from client_dir."""
    code = "import sys; from kyodaku.cli import main; sys.exit(main(sys.argv[1:]))"
    # As `pip install ./client` leaves it: the package's bytecode compiled once, beforehand (pip compiles on
    # install), so that no run compiles kyodaku's modules from source again (PYTHONDONTWRITEBYTECODE, set on some
    # machines, this one among them, would have every run do so: ~0.02-0.04 s of a run's start).
    subprocess.run([sys.executable, "-m", "compileall", "-q", f"{client_dir}/kyodaku"], check=True)
    env = {**{key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"},
           "PYTHONPATH": client_dir, "KYODAKU_PURE_PYTHON": "", **(env or {})}
    out = args[args.index("--out") + 1]
    if os.path.exists(out):
        os.remove(out)  # freeing an earlier run's CSV is not this run's work
    return timed([sys.executable, "-c", code, *args], env=env)


FLOOR = """import sys
data = open(sys.argv[1], "rb").read()
tail = b",denied,permission-required,,,,false,,offline,,\\r\\n"
with open(sys.argv[2], "wb") as out:
    out.write(tail.join(data.split(b"\\n")[:-1]) + tail)
"""


def offline_floor(source: str, out: str) -> tuple[float, float]:
    """(wall, CPU) of FLOOR in a process of its own: start, read the ids, write a line per id."""
    return timed([sys.executable, "-c", FLOOR, source, out])


# The least any client does that writes a row per id, without an interpreter: read the file in one piece, write
# each line's id and one fixed CSV tail into a buffer, write the buffer out in blocks of 8 MB. One thread.
C_FLOOR = r"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
    static const char tail[] = ",denied,permission-required,,,,false,,offline,,\r\n";
    int in = open(argv[1], O_RDONLY), out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct stat st;
    if (in < 0 || out < 0 || fstat(in, &st) < 0) return 1;
    char *data = malloc(st.st_size + 1), *buf = malloc(8 << 20);
    size_t got = 0, used = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(in, data + got, st.st_size - got);
        if (n <= 0) return 1;
        got += n;
    }
    for (char *line = data, *end = data + got, *nl; line < end; line = nl + 1) {
        nl = memchr(line, '\n', end - line);
        if (nl == NULL) nl = end;
        size_t len = nl - line;
        if (used + len + sizeof tail > (8 << 20)) { if (write(out, buf, used) != (ssize_t)used) return 1; used = 0; }
        memcpy(buf + used, line, len); used += len;
        memcpy(buf + used, tail, sizeof tail - 1); used += sizeof tail - 1;
    }
    if (write(out, buf, used) != (ssize_t)used) return 1;
    return close(out);
}
"""


def c_floor_program(workdir: str) -> str | None:
    """C_FLOOR compiled (cc -O2) in workdir, or None without a C compiler."""
    import shutil

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    Path(f"{workdir}/floor.c").write_text(C_FLOOR)
    built = subprocess.run([compiler, "-O2", "-o", f"{workdir}/floor", f"{workdir}/floor.c"], capture_output=True)
    return f"{workdir}/floor" if built.returncode == 0 else None


def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of a command in a process of its own, after the page cache's dirty pages of the runs
    before it are written out (os.sync: their writeback must not be counted in this run)."""
    os.sync()
    before = os.times()
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def accelerated(client_dir: str) -> bool:
    """Whether the client in client_dir has its compiled accelerator (built by `pip install -e ./client`) and
    uses it: built from this tree's _offline.c (kyodaku.offline.compiled() refuses one of another interface)."""
    code = ("import sys, kyodaku._offline\n"
            "from kyodaku import offline\n"
            "sys.exit(0 if getattr(offline, 'compiled', lambda: True)() is not None else 1)")
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": client_dir,
                                                             "KYODAKU_PURE_PYTHON": ""},
                          capture_output=True).returncode == 0


def rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 2)


def same_bytes_of(one: str, other: str) -> bool:
    """Whether two files hold the same bytes (read 16 MB at a time: they may be gigabytes)."""
    with open(one, "rb") as first, open(other, "rb") as second:
        while True:
            a, b = first.read(1 << 24), second.read(1 << 24)
            if a != b:
                return False
            if not a:
                return True


def answers(path: str) -> list[tuple]:
    with open(path, newline="") as handle:
        return [(r["id"], r["outcome"], r["basis"], r["holder"], r["declaration"]) for r in csv.DictReader(handle)]


def same_answers(path: str, online: list[tuple], repeat: int) -> bool:
    """Whether the CSV at `path` holds `online`'s answers `repeat` times over, read row by row (10,000,000 rows
    as tuples would not fit in memory)."""
    with open(path, newline="") as handle:
        rows = csv.DictReader(handle)
        for expected in (row for _ in range(repeat) for row in online):
            got = next(rows, None)
            if got is None or (got["id"], got["outcome"], got["basis"], got["holder"], got["declaration"]) != expected:
                return False
        return next(rows, None) is None


def from_api_count(path: str) -> int:
    with open(path, newline="") as handle:
        return sum(1 for r in csv.DictReader(handle) if r["source"] == "api")


def prepare(args, workdir: str) -> str:
    os.environ["KYODAKU_SIGNING_KEY_DIR"] = f"{workdir}/keys"
    os.environ["KYODAKU_SNAPSHOT_ROOT"] = f"{workdir}/snapshots"
    sync = bench_sync()
    sync.recreate_database(os.environ["DATABASE_URL"])  # signing keys and snapshot files live in this run's workdir
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    log(f"loading {args.keys:,} keys")
    sync.load(keys=args.keys, feed_events=0)
    from keys.services import api_key_create
    from sync.snapshots import snapshot_build, snapshot_queue

    log("snapshot build")
    snapshot_build(snapshot_id=snapshot_queue(**PAIR).pk)
    _, key = api_key_create(name="bench client", rate="none")
    from django.db import connections

    connections.close_all()
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=10, help="the offline check again on this many copies of "
                        "the ids file in one (0: not)")
    parser.add_argument("--before-client", help="a directory holding an older kyodaku package: its offline check "
                        "is timed too, in the same run")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is dropped and created again).")
    if not accelerated(str(ROOT / "client")):
        log("kyodaku._offline is not built, or built from an older _offline.c: the 'accelerated' figures will be the "
            "pure path's (run `make install-dev` or `.venv/bin/pip install -e ./client` first)")
    with tempfile.TemporaryDirectory(prefix="kyodaku-bench-client-") as workdir:
        key = prepare(args, workdir)
        port = _serve.free_port()
        proc = _serve.start_gunicorn(["--workers", "2", "--bind", f"{_serve.HOST}:{port}", "--access-logfile",
                                      "/dev/null", "--log-level", "warning"], port=port,
                                     env=_serve.production_env(port=port, redis_url=args.redis_url))
        try:
            figures = run(args, workdir, key, f"http://{_serve.HOST}:{port}")
        finally:
            _serve.stop(proc)
    print(f"{args.ids:,} ids, {args.keys:,} registered keys, concurrency {args.concurrency}: floor (raw batch "
          f"loop) {figures['floor_ids_per_s']:,} ids/s; kyodaku check online {figures['online_ids_per_s']:,} ids/s; "
          f"kyodaku sync {figures['sync_s']} s; kyodaku check --offline {figures['offline_ids_per_s']:,} ids/s "
          f"({figures['offline_to_online']}x online); answers identical: {figures['identical']}")
    print(f"offline, pure Python (KYODAKU_PURE_PYTHON=1): {figures['pure_ids_per_s']:,} ids/s "
          f"({figures['pure_to_online']}x online), {figures['pure_s']} s wall, {figures['pure_cpu_s']} s CPU; answers "
          f"identical: {figures['pure_identical']}; the same bytes as accelerated: "
          f"{figures['pure_and_accelerated_same_bytes']} (accelerator built: {figures['accelerated']})")
    print(f"offline, {args.ids:,} ids: {figures['offline_s']} s wall, {figures['offline_cpu_s']} s CPU; floor (read "
          f"the ids, write a fixed line per id) {figures['offline_floor_s']} s wall, {figures['offline_floor_cpu_s']} "
          f"s CPU; the same in C (one thread): {figures['c_floor_s']} s wall, {figures['c_floor_cpu_s']} s CPU")
    if args.repeat:
        print(f"offline, {figures['big_ids']:,} ids (the file {args.repeat} times): {figures['big_offline_s']} s "
              f"wall, {figures['big_offline_cpu_s']} s CPU, {figures['big_offline_ids_per_s']:,} ids/s "
              f"({figures['big_offline_to_online']}x online); floor {figures['big_floor_s']} s wall, "
              f"{figures['big_floor_cpu_s']} s CPU; C floor {figures['big_c_floor_s']} s wall, "
              f"{figures['big_c_floor_cpu_s']} s CPU; answers identical: {figures['big_identical']}; the same bytes "
              f"as pure Python: {figures['big_pure_and_accelerated_same_bytes']}")
        print(f"  pure Python: {figures['big_pure_s']} s wall, {figures['big_pure_cpu_s']} s CPU, "
              f"{figures['big_pure_ids_per_s']:,} ids/s ({figures['big_pure_to_online']}x online); answers identical: "
              f"{figures['big_pure_identical']}")
    print(f"load average {figures['loadavg']}")
    if args.before_client:
        print(f"before ({args.before_client}): kyodaku check --offline {figures['before_offline_ids_per_s']:,} ids/s "
              f"({figures['before_offline_to_online']}x online, {figures['before_offline_cpu_s']} s CPU; this tree "
              f"{figures['offline_cpu_s']} s CPU); answers identical: {figures['before_identical']}")
    print(json.dumps(figures))


def run(args, workdir: str, key: str, url: str) -> dict:
    os.environ.update(KYODAKU_URL=url, KYODAKU_API_KEY=key)
    ids = make_ids(args.ids, args.keys, args.seed)
    source = f"{workdir}/ids.txt"
    Path(source).write_text("\n".join(ids) + "\n")
    log(f"floor: {len(ids):,} ids through the raw batch endpoint")
    floor_s = floor(url, key, ids, args.concurrency)
    log("kyodaku check (online)")
    online_s = kyodaku("check", source, "--purpose", PAIR["purpose"], "--jurisdiction", PAIR["jurisdiction"],
                       "--out", f"{workdir}/online.csv", "--concurrency", str(args.concurrency), "--quiet")
    log("kyodaku sync")
    sync_s = kyodaku("sync", "--purpose", PAIR["purpose"], "--jurisdiction", PAIR["jurisdiction"],
                     "--dir", f"{workdir}/copies")
    offline_args = ("check", source, "--purpose", PAIR["purpose"], "--jurisdiction", PAIR["jurisdiction"],
                    "--offline", "--dir", f"{workdir}/copies", "--quiet")
    online = answers(f"{workdir}/online.csv")
    before = {}
    if args.before_client:
        log(f"kyodaku check --offline, the client in {args.before_client} (own process)")
        before_s, before_cpu = kyodaku_process(args.before_client, *offline_args, "--out", f"{workdir}/before.csv")
        before = {"before_offline_s": round(before_s, 2), "before_offline_cpu_s": round(before_cpu, 2),
                  "before_offline_ids_per_s": round(len(ids) / before_s),
                  "before_offline_to_online": round(online_s / before_s, 1),
                  "before_identical": answers(f"{workdir}/before.csv") == online,
                  "before_from_api": from_api_count(f"{workdir}/before.csv")}
    log("kyodaku check --offline, pure Python (own process)")
    pure_s, pure_cpu = kyodaku_process(str(ROOT / "client"), *offline_args, "--out", f"{workdir}/pure.csv", env=PURE)
    pure_identical = answers(f"{workdir}/pure.csv") == online
    log("kyodaku check --offline (own process)")
    offline_s, offline_cpu = kyodaku_process(str(ROOT / "client"), *offline_args, "--out", f"{workdir}/offline.csv")
    offline = answers(f"{workdir}/offline.csv")
    from_api = from_api_count(f"{workdir}/offline.csv")
    with open(f"{workdir}/pure.csv", "rb") as one, open(f"{workdir}/offline.csv", "rb") as other:
        same_bytes = one.read() == other.read()
    floor_wall, floor_cpu = offline_floor(source, f"{workdir}/floor.csv")
    c_floor = c_floor_program(workdir)
    c_floor_wall, c_floor_cpu = timed([c_floor, source, f"{workdir}/floor.csv"]) if c_floor else (None, None)
    big = {}
    if args.repeat:
        big_source = f"{workdir}/ids-big.txt"
        with open(source, "rb") as handle:
            Path(big_source).write_bytes(handle.read() * args.repeat)
        log(f"kyodaku check --offline of {len(ids) * args.repeat:,} ids (own process)")
        big_args = [big_source if arg == source else arg for arg in offline_args]
        big_pure_s, big_pure_cpu = kyodaku_process(str(ROOT / "client"), *big_args, "--out",
                                                   f"{workdir}/pure-big.csv", env=PURE)
        big_pure_identical = same_answers(f"{workdir}/pure-big.csv", online, args.repeat)
        big_s, big_cpu = kyodaku_process(str(ROOT / "client"), *big_args, "--out", f"{workdir}/offline-big.csv")
        big_same_bytes = same_bytes_of(f"{workdir}/pure-big.csv", f"{workdir}/offline-big.csv")
        os.remove(f"{workdir}/pure-big.csv")
        big_floor_wall, big_floor_cpu = offline_floor(big_source, f"{workdir}/floor.csv")
        big_c_floor_wall, big_c_floor_cpu = (timed([c_floor, big_source, f"{workdir}/floor.csv"]) if c_floor
                                             else (None, None))
        big_identical = same_answers(f"{workdir}/offline-big.csv", online, args.repeat)
        big = {"big_ids": len(ids) * args.repeat, "big_offline_s": round(big_s, 2),
               "big_offline_cpu_s": round(big_cpu, 2),
               "big_offline_ids_per_s": round(len(ids) * args.repeat / big_s),
               "big_offline_to_online": round(online_s * args.repeat / big_s, 1),
               "big_floor_s": round(big_floor_wall, 2), "big_floor_cpu_s": round(big_floor_cpu, 2),
               "big_identical": big_identical, "big_pure_s": round(big_pure_s, 2),
               "big_pure_cpu_s": round(big_pure_cpu, 2),
               "big_pure_ids_per_s": round(len(ids) * args.repeat / big_pure_s),
               "big_pure_to_online": round(online_s * args.repeat / big_pure_s, 1),
               "big_pure_identical": big_pure_identical, "big_pure_and_accelerated_same_bytes": big_same_bytes,
               "big_c_floor_s": rounded(big_c_floor_wall), "big_c_floor_cpu_s": rounded(big_c_floor_cpu)}
        os.remove(big_source)
        os.remove(f"{workdir}/offline-big.csv")
    figures = {
        "ids": len(ids), "keys": args.keys, "concurrency": args.concurrency,
        "floor_s": round(floor_s, 1), "floor_ids_per_s": round(len(ids) / floor_s),
        "online_s": round(online_s, 1), "online_ids_per_s": round(len(ids) / online_s),
        "online_to_floor": round(floor_s / online_s, 3), "sync_s": round(sync_s, 1),
        "offline_s": round(offline_s, 2), "offline_cpu_s": round(offline_cpu, 2),
        "offline_ids_per_s": round(len(ids) / offline_s),
        "offline_from_api": from_api, "offline_to_online": round(online_s / offline_s, 1),
        "identical": online == offline, "offline_floor_s": round(floor_wall, 2),
        "offline_floor_cpu_s": round(floor_cpu, 2), "c_floor_s": rounded(c_floor_wall),
        "c_floor_cpu_s": rounded(c_floor_cpu), "accelerated": accelerated(str(ROOT / "client")),
        "pure_s": round(pure_s, 2), "pure_cpu_s": round(pure_cpu, 2), "pure_ids_per_s": round(len(ids) / pure_s),
        "pure_to_online": round(online_s / pure_s, 1), "pure_identical": pure_identical,
        "pure_and_accelerated_same_bytes": same_bytes, **big, "loadavg": os.getloadavg(), **before,
    }
    return figures


if __name__ == "__main__":
    main()
