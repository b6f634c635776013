"""Single lookups at a FIXED rate (open loop): latency that coordinated omission cannot hide (issue 15 item 4).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_<name> \\
        .venv/bin/python bench/lookup_rate.py --works 200000 --sites 10000 --rates 250,500,1000 --seconds 30

On the data bench/lookup_http.py loaded (`--load-only`; --works/--holders/--sites must match what it was given).
The server runs as deployed (--servers deployed: the tree's own Dockerfile CMD; others to compare: gunicorn-gthread,
gunicorn-sync, granian), production settings, the JSON access log on, the rate limiter and the API-key cache in Redis
(--redis-url). For each rate in --rates, after --warmup seconds at that rate:

- the generator (this process, one thread, raw sockets on an epoll loop, --connections keep-alive connections)
  schedules request i at t0 + i / rate, whatever happened to the earlier ones. A request whose turn comes while
  every connection is busy waits for one, and its latency is counted from its scheduled time, not from when it
  was sent: a stalled server shows in the percentiles instead of slowing the generator down (closed-loop tools
  such as wrk or ab measure only the requests they managed to send);
- every answer must be `200` with the JSON of one result (anything else, a refused or dropped connection, or an
  answer missing when the run ends, is an error, reported by kind);
- reports the achieved rate, latency p50 / p90 / p99 / p99.9 / max from the scheduled time, and the CPU each part
  used over the measured window (utime + stime from /proc): the server (its whole process group), the PostgreSQL
  backends serving this database (pg_stat_activity), redis-server (shared by everyone on the machine: an upper
  bound) and the generator itself; per request and as cores busy. The load average before and after;
- then the floor of the same run (--floor-seconds): `GET /healthz`, a view that does nothing, through the same
  server, middleware and connections at the same rate: latency and server CPU per request with no lookup.

--tree runs another checkout's code with the same data and the same venv (e.g. main before a change, made with
`git worktree add --detach /tmp/base <commit>`); --trees A,B alternates several per rate, for before/after in one
run, and --servers A,B alternates servers within each tree. --ids exact keeps the ISBN and ref: ids only (one
prepared statement each); the default is the engine benchmark's whole mix without its invalid ids.

The generator, the server, PostgreSQL and Redis share this machine's cores: what one uses, the others lack.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import random
import selectors
import socket
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import _serve  # noqa: E402  (bench/_serve.py: gunicorn for the HTTP benchmarks)
import decide  # noqa: E402  (the engine benchmark: its identifier mix)
from _serve import cpu_of_pids, loadavg, pids_of_group  # noqa: E402

HOST = _serve.HOST
PURPOSE, JURISDICTION = "train-genai", "JP"
INVALID = "isbn:978-0-00-000000-0"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pids_named(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL backends connected to `database` (the server's, kept open by CONN_MAX_AGE)."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            [database]).fetchall()
    return [pid for (pid,) in rows]


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def server_command(server: str, tree: Path, port: int, access_log: bool) -> list[str]:
    """The command line of `server` serving `tree`'s config.wsgi on 127.0.0.1:`port`.

    deployed: the tree's own Dockerfile CMD (whatever that tree ships), bound to the port by the environment;
    gunicorn-gthread: config/gunicorn.conf.py (gthread, one worker per CPU, 4 threads, keep-alive);
    gunicorn-sync: gunicorn's sync workers, 2 x CPUs + 1 of them, a new connection per request;
    granian: granian's WSGI interface (HTTP parsed in Rust), one worker per CPU, 4 blocking threads each.
    """
    bin_dir = Path(sys.executable).parent
    if server == "deployed":
        cmd = None
        for line in (tree / "Dockerfile").read_text().splitlines():
            if line.startswith("CMD "):
                cmd = json.loads(line[4:])
        if not cmd:
            raise SystemExit(f"no CMD in {tree / 'Dockerfile'}")
        cmd = [str(bin_dir / cmd[0]) if (bin_dir / cmd[0]).exists() else cmd[0], *cmd[1:]]
        if cmd[0].endswith("gunicorn") and not access_log:
            cmd += ["--access-logfile", "/dev/null"]
        return cmd
    if server in ("gunicorn-gthread", "gunicorn-sync"):
        cmd = [str(bin_dir / "gunicorn"), "--config", str(tree / "config/gunicorn.conf.py"), "config.wsgi"]
        if server == "gunicorn-sync":
            # --threads 1: with more threads gunicorn silently runs gthread workers instead
            cmd += ["--worker-class", "sync", "--workers", str(2 * _cpus() + 1), "--threads", "1"]
        if not access_log:
            cmd += ["--access-logfile", "/dev/null"]
        return cmd
    if server == "granian":
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", HOST, "--port", str(port),
                "--workers", str(_cpus()), "--blocking-threads", "4", "--http", "1", "--no-ws", "--log-level",
                "warning", "config.wsgi:application"]
    raise SystemExit(f"unknown server {server!r}")


def server_variant(server: str) -> tuple[str, dict[str, str]]:
    """(server, environment overrides) of a --servers entry: `deployed+WEB_THREADS=2+WEB_RUNTIME_MODE=st` is the
    deployed command with those variables set (config/serve.py reads its settings from the environment)."""
    name, *overrides = server.split("+")
    extra = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"bad server variant {item!r} in {server!r}: expected NAME=VALUE")
        extra[key] = value
    return name, extra


def start_server(server: str, tree: Path, port: int, redis_url: str, access_log: bool) -> subprocess.Popen:
    """`server` serving `tree`'s code (on PYTHONPATH) with production settings, LOG_LEVEL as production has it;
    `server` may carry environment overrides (server_variant)."""
    server, extra = server_variant(server)
    env = _serve.production_env(
        port=port, redis_url=redis_url, log_level=None, GUNICORN_BIND=f"{HOST}:{port}", WEB_BIND=f"{HOST}:{port}",
        PYTHONPATH=os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]),
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", **extra)
    if not access_log:
        env["KYODAKU_ACCESS_LOG"] = "off"
    return _serve.start_command(server_command(server, tree, port, access_log), port=port, env=env, cwd=tree)




class Conn:
    __slots__ = ("sock", "buf", "scheduled", "sent")

    def __init__(self, port: int):
        self.sock = socket.create_connection((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = b""
        self.scheduled = None  # the scheduled time of the request in flight, None when idle
        self.sent = None


def _response_end(buf: bytes) -> tuple[int, int, bytes, bool] | None:
    """(status, end offset, body, whether the server closes the connection after it) of the first whole response
    in `buf`, or None while it is incomplete."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1")
    status = int(head[9:12])
    length = 0
    closing = False
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            closing = value.strip().lower() == "close"
    end = head_end + 4 + length
    if len(buf) < end:
        return None
    return status, end, buf[head_end + 4:end], closing


def run_rate(port: int, requests: list[bytes], rate: float, seconds: float, connections: int,
             expect: bytes = b'{"id":'):
    """Send len-independent requests at `rate`/s for `seconds` (open loop). Returns (latencies in s from the
    scheduled time, service times in s from the send, error counts, elapsed s, generator CPU s, most waiting)."""
    sel = selectors.DefaultSelector()
    conns = [Conn(port) for _ in range(connections)]
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    idle = list(conns)
    waiting: list[float] = []  # scheduled times of requests whose turn came while every connection was busy
    latencies: list[float] = []
    services: list[float] = []
    errors: Counter = Counter()
    total = int(rate * seconds)
    interval = 1.0 / rate
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.05
    issued = 0
    most_waiting = 0
    reconnects = 0
    k = 0

    def send(conn: Conn, scheduled: float) -> None:
        nonlocal k
        conn.scheduled, conn.sent = scheduled, time.perf_counter()
        try:
            conn.sock.sendall(requests[k % len(requests)])
        except OSError as exc:
            errors[f"send: {errno.errorcode.get(exc.errno, exc)}"] += 1
            conn.scheduled = None
        k += 1

    deadline = t0 + seconds + 10.0  # answers still missing 10 s after the last turn are errors
    while True:
        now = time.perf_counter()
        while issued < total and t0 + issued * interval <= now:
            scheduled = t0 + issued * interval
            issued += 1
            if idle:
                send(idle.pop(), scheduled)
            else:
                waiting.append(scheduled)
        most_waiting = max(most_waiting, len(waiting))
        in_flight = sum(1 for c in conns if c.scheduled is not None)
        if issued >= total and not waiting and not in_flight:
            break
        if now > deadline:
            errors["no answer"] += in_flight + len(waiting)
            break
        timeout = max(0.0, t0 + issued * interval - now) if issued < total else 0.1
        for key, _ in sel.select(timeout):
            conn = key.data
            try:
                chunk = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(conn.sock)
                conn.sock.close()
                conns.remove(conn)
                if conn.scheduled is not None or conn.buf:  # closed with a request in flight: that one is lost
                    errors["connection closed"] += 1
                    continue
                # An idle keep-alive connection closed by the server (its idle timeout, WEB_KEEPALIVE: 60 s, which
                # the connections at the bottom of the idle stack reach in a long run): opened again, as a proxy
                # or a client's pool would; no request was lost.
                idle.remove(conn)
                conn = Conn(port)
                conns.append(conn)
                sel.register(conn.sock, selectors.EVENT_READ, conn)
                idle.append(conn)
                reconnects += 1
                continue
            conn.buf += chunk
            parsed = _response_end(conn.buf)
            if parsed is None:
                continue
            status, end, body, closing = parsed
            done = time.perf_counter()
            conn.buf = conn.buf[end:]
            if status != 200 or not body.startswith(expect):
                errors[f"status {status}"] += 1
            latencies.append(done - conn.scheduled)
            services.append(done - conn.sent)
            conn.scheduled = None
            if closing:  # a server without keep-alive (gunicorn's sync workers): a new connection, as a proxy would
                sel.unregister(conn.sock)
                conn.sock.close()
                conns.remove(conn)
                conn = Conn(port)
                conns.append(conn)
                sel.register(conn.sock, selectors.EVENT_READ, conn)
                reconnects += 1
            if waiting:
                send(conn, waiting.pop(0))
            else:
                idle.append(conn)
        if not conns:
            errors["no connection left"] += total - len(latencies)
            break
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    for conn in conns:
        conn.sock.close()
    sel.close()
    return latencies, services, errors, elapsed, cpu, most_waiting, reconnects


def percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _floor_text(floor: dict | None) -> str:
    if not floor:
        return "-"
    errors = f", {floor['errors']} errors" if floor["errors"] else ""
    return f"{floor['p50']:.1f} / {floor['p99']:.1f}, {floor['server_ms']:.2f}{errors}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=200_000)
    parser.add_argument("--holders", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--rates", default="250,500,1000", help="requests per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the same rate before measuring")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections of the generator")
    parser.add_argument("--ids", choices=("mix", "exact"), default="mix")
    parser.add_argument("--trees", default=str(ROOT), help="checkouts to serve from, comma-separated, alternated")
    parser.add_argument("--servers", default="deployed",
                        help="servers to run each tree under, comma-separated, alternated: deployed (the tree's "
                             "Dockerfile CMD), gunicorn-gthread, gunicorn-sync, granian; each with +NAME=VALUE "
                             "environment overrides, e.g. deployed+WEB_THREADS=2+WEB_RUNTIME_MODE=st")
    parser.add_argument("--rounds", type=int, default=1, help="times to alternate the trees per rate")
    parser.add_argument("--access-log", choices=("on", "off"), default="on",
                        help="the JSON access log line per request, as deployed (written to /dev/null)")
    parser.add_argument("--floor-seconds", type=float, default=10.0,
                        help="seconds of GET /healthz at the same rate after each run, the floor (0: none)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--port", type=int, default=8114)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL=postgres://.../kyodaku_bench_<name> (loaded by bench/lookup_http.py)")
    database = urllib.parse.urlparse(url).path.lstrip("/")

    import django

    django.setup()
    from keys.services import api_key_create

    rng = random.Random(args.seed)
    ids = [i for i in decide.lookup_ids(50_000, works=args.works, holders=args.holders, sites=args.sites, rng=rng)
           if i != INVALID]
    if args.ids == "exact":
        ids = [i for i in ids if i.startswith(("isbn:", "ref:"))]
    _, key = api_key_create(name="bench lookup_rate", rate="1000000/s")  # limited, so the counter is on the path
    requests = [
        (f"GET /api/v1/lookup?{urllib.parse.urlencode({'id': i, 'purpose': PURPOSE, 'jurisdiction': JURISDICTION})}"
         f" HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Api-Key {key}\r\nAccept: application/json\r\n"
         f"User-Agent: kyodaku-bench\r\n\r\n").encode()
        for i in ids
    ]
    healthz = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: kyodaku-bench\r\n\r\n".encode()
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    servers = args.servers.split(",")
    rates = [float(r) for r in args.rates.split(",")]
    log(f"{len(requests)} distinct requests ({args.ids}); {os.cpu_count()} cores; load {loadavg()}")
    rows = []
    redis_pids = pids_named("redis-server")
    for rate in rates:
        for round_ in range(args.rounds):
            for tree, server in ((t, v) for t in trees for v in servers):
                proc = start_server(server, tree, args.port, args.redis_url, args.access_log == "on")
                try:
                    run_rate(args.port, requests, rate, args.warmup, args.connections)  # warm: connections, plans
                    server_pids = pids_of_group(proc.pid)
                    pg_pids = postgres_backends(database)
                    load_before = loadavg()
                    cpu_before = (cpu_of_pids(server_pids), cpu_of_pids(pg_pids), cpu_of_pids(redis_pids))
                    latencies, services, errors, elapsed, gen_cpu, most_waiting, reopened = run_rate(
                        args.port, requests, rate, args.seconds, args.connections)
                    cpu_after = (cpu_of_pids(server_pids), cpu_of_pids(pg_pids), cpu_of_pids(redis_pids))
                    load_after = loadavg()
                    floor = None
                    if args.floor_seconds:
                        # The floor of the same run: GET /healthz (a view that does nothing) through the same
                        # server, middleware and connections at the same rate.
                        f_before = cpu_of_pids(server_pids)
                        f_lat, _, f_err, f_elapsed, f_gen, _, _ = run_rate(
                            args.port, [healthz], rate, args.floor_seconds, args.connections, b'{"status":')
                        f_lat.sort()
                        floor = {"achieved": len(f_lat) / f_elapsed, "p50": percentile(f_lat, 50) * 1e3,
                                 "p99": percentile(f_lat, 99) * 1e3, "errors": sum(f_err.values()),
                                 "server_ms": (cpu_of_pids(server_pids) - f_before) / max(len(f_lat), 1) * 1e3}
                finally:
                    _serve.stop(proc)
                done = len(latencies)
                latencies.sort()
                services.sort()
                gun, pg, red = (after - before for before, after in zip(cpu_before, cpu_after, strict=True))
                row = {
                    "tree": str(tree), "server": server, "rate": rate, "round": round_ + 1, "answered": done,
                    "achieved": done / elapsed, "errors": dict(errors), "most_waiting": most_waiting,
                    "reopened": reopened,
                    "p50": percentile(latencies, 50) * 1e3, "p90": percentile(latencies, 90) * 1e3,
                    "p99": percentile(latencies, 99) * 1e3, "p999": percentile(latencies, 99.9) * 1e3,
                    "max": (latencies[-1] if latencies else float("nan")) * 1e3,
                    "service_p99": percentile(services, 99) * 1e3,
                    "server_ms": gun / max(done, 1) * 1e3, "postgres_ms": pg / max(done, 1) * 1e3,
                    "redis_ms": red / max(done, 1) * 1e3, "generator_ms": gen_cpu / max(done, 1) * 1e3,
                    "cores": (gun / elapsed, pg / elapsed, red / elapsed, gen_cpu / elapsed),
                    "load": f"{load_before} -> {load_after}", "floor": floor,
                }
                rows.append(row)
                log(f"{tree.name} {server} @ {rate:,.0f}/s: {row['achieved']:,.0f}/s answered ({done}), p50 "
                    f"{row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, p99.9 {row['p999']:.1f} ms, max "
                    f"{row['max']:.0f} ms; errors "
                    f"{row['errors'] or 0} (idle connections closed by the server, reopened: {reopened}); "
                    f"CPU/req server {row['server_ms']:.2f} ms, PostgreSQL "
                    f"{row['postgres_ms']:.2f} ms, Redis {row['redis_ms']:.2f} ms, generator "
                    f"{row['generator_ms']:.2f} ms; load {row['load']}")
                if floor:
                    log(f"  floor GET /healthz @ {rate:,.0f}/s: {floor['achieved']:,.0f}/s, p50 {floor['p50']:.1f} ms, "
                        f"p99 {floor['p99']:.1f} ms, errors {floor['errors']}; server {floor['server_ms']:.2f} "
                        f"ms CPU/req")
    print()
    print(f"{os.cpu_count()} cores; servers {args.servers} (WEB_CONCURRENCY="
          f"{os.environ.get('WEB_CONCURRENCY', 'CPUs')}), access log {args.access_log}; {args.connections} "
          f"connections; ids {args.ids}; {args.seconds:.0f} s per rate after {args.warmup:.0f} s of warm-up")
    print("| tree | server | target/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | "
          "CPU ms/req: server / PostgreSQL / Redis / generator | cores busy: same | load before -> after | "
          "floor: /healthz p50 / p99 ms, server CPU ms/req |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cores = " / ".join(f"{c:.2f}" for c in r["cores"])
        print(f"| {Path(r['tree']).name} | {r['server']} | {r['rate']:,.0f} | {r['achieved']:,.0f} | {r['p50']:.1f} | "
              f"{r['p90']:.1f} | "
              f"{r['p99']:.1f} | {r['p999']:.1f} | {r['max']:.0f} | {sum(r['errors'].values())} | "
              f"{r['server_ms']:.2f} / {r['postgres_ms']:.2f} / {r['redis_ms']:.2f} / {r['generator_ms']:.2f} | "
              f"{cores} | {r['load']} | {_floor_text(r['floor'])} |")
    met = [r for r in rows if r["rate"] >= 1000 and r["p99"] < 20 and not r["errors"]
           and r["achieved"] >= 0.98 * r["rate"]]
    verdict = "MET by " + ", ".join(f"{Path(r['tree']).name} {r['server']}" for r in met) if met else "not met"
    print(f"target (1,000 req/s sustained, p99 < 20 ms, no errors): {verdict}")


if __name__ == "__main__":
    main()
