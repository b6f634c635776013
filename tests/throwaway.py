"""Throwaway PostgreSQL and Redis servers of one's own, on free loopback ports under temporary directories, and a
deployment (the image's web process and a Celery worker, production settings) on them: for the fault tests
(tests/fault/) and the soak (bench/soak.py), which stop and restart them. The machine's shared servers on 5432 and
6379 are never touched.

    with PostgresServer() as pg, RedisServer(tmp) as redis:
        deployment = Deployment(pg, redis, tmp).start()
        deployment.get("/readyz"); pg.stop(); pg.start(); redis.stop(); redis.start(); deployment.stop()
"""
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian keeps them in /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """A cluster of its own (initdb; trust auth for local connections; no fsync: it holds nothing worth keeping).
    As root, the server runs as the `postgres` system user, which PostgreSQL requires."""

    def __init__(self):
        self.bindir = postgres_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL's initdb is not installed")
        self.base = None  # a directory of its own in /tmp (the `postgres` user must reach it; pytest's are 0700)
        self.data = None
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args, timeout=120):
        return subprocess.run([*self._as, *args], check=True, capture_output=True, text=True, timeout=timeout)

    def __enter__(self):
        self.base = Path(tempfile.mkdtemp(prefix="kyodaku-pg-"))
        self.data = self.base / "data"
        if self._as:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop(mode="immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def start(self):
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.base / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast"):
        """`fast` disconnects every client (as a restart does); `immediate` is a crash."""
        subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True, text=True, timeout=60)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str):
        self._run(str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc",
                  f'CREATE DATABASE "{name}"')


class RedisServer:
    """A redis-server of its own, persisting nothing."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.port = free_port()
        self.process = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.base), "--logfile", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self.answers, 20, "redis-server to answer")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


class Deployment:
    """The image's web process (`python -m config.serve`, production settings) and a Celery worker on a
    PostgresServer and a RedisServer, with an HTTP client. The database `kyodaku` is created and migrated by
    start()."""

    def __init__(self, pg: PostgresServer, redis: RedisServer, workdir: Path, *, web_workers: int = 2,
                 worker_args=("--pool=solo",)):
        self.pg, self.redis, self.workdir = pg, redis, workdir
        self.web_workers, self.worker_args = web_workers, list(worker_args)
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_", "KYODAKU_"))},
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": "fault-tests-only-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": pg.url("kyodaku"),
            "REDIS_URL": redis.url(1),
            "CELERY_BROKER_URL": redis.url(0),
            "KYODAKU_BASE_URL": f"http://127.0.0.1:{self.port}",
            "KYODAKU_SIGNING_KEY_DIR": str(workdir / "keys"),
            "KYODAKU_SIGNING_KEY_AUTOCREATE": "true",
            "MEDIA_ROOT": str(workdir / "media"),
            "LOG_LEVEL": "ERROR",
            "DATABASE_CONNECT_TIMEOUT": "2",
        }
        self.web = self.worker = None

    def manage(self, *args) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def manage_json(self, *args) -> dict:
        return json.loads(self.manage(*args, "--json").strip().splitlines()[-1])

    def start(self):
        self.pg.create_database("kyodaku")
        self.manage("migrate", "-v0")
        self.web = subprocess.Popen(
            [str(BIN / "python"), "-m", "config.serve"],
            cwd=ROOT, env={**self.env, "WEB_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(self.web_workers)},
            stdout=open(self.workdir / "web.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "config", "worker", *self.worker_args, "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-n", f"throwaway-{uuid.uuid4().hex[:8]}@%h",
             "--loglevel=WARNING"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.workdir / "worker.log", "wb"),
            start_new_session=True)
        wait_for(lambda: self._alive() and self.get("/readyz").status == 200, 60, "the web process to be ready")
        return self

    def _alive(self) -> bool:
        try:
            return self.get("/healthz").status == 200
        except OSError:
            return False

    def stop(self):
        for process in (self.web, self.worker):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)

    def request(self, method: str, path: str, *, body=None, headers=None, timeout=30) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        started = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                          time.monotonic() - started)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, payload, **kw):
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return self.request("POST", path, body=json.dumps(payload), headers=headers, **kw)

    def processes_alive(self) -> bool:
        return self.web.poll() is None and self.worker.poll() is None

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n" + (self.workdir / name).read_text(errors="replace")[-3000:]
                         for name in ("web.log", "worker.log"))


class ReplicaServer(PostgresServer):
    """A streaming replica of `primary` (pg_basebackup -R over the primary's replication connection, which
    initdb's trust pg_hba allows from 127.0.0.1), on a free port of its own, read-only."""

    def __init__(self, primary: PostgresServer):
        super().__init__()
        self.primary = primary

    def __enter__(self):
        self.base = Path(tempfile.mkdtemp(prefix="kyodaku-pg-replica-"))
        self.data = self.base / "data"
        if self._as:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(str(self.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
                  "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "--no-sync")
        self.start()
        return self
