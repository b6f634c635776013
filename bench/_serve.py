"""gunicorn (or another server: start_command) for the HTTP benchmarks (bench/lookup_http.py, lookup_rate.py,
observability_http.py, check_ids.py, client_check.py, spawning_http.py): production settings on 127.0.0.1,
started in a process group of its own, ready when GET /healthz answers 200, stopped with the whole group; and the
CPU time of a group's processes from /proc.

One module so that every benchmark serves the same way: a setting added here (or a start that fails loudly) holds
for all of them.
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")
# The venv's gunicorn beside the interpreter that runs the benchmark (.venv/bin/python -> .venv/bin/gunicorn).
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def production_env(*, port: int, redis_url: str, log_level: str | None = "WARNING", **extra: str) -> dict[str, str]:
    """The environment of a production-settings gunicorn on HOST:port (no TLS redirect, a bench-only secret).

    CELERY_BROKER_URL is required by the production settings; lookups send no task, so the Redis of the run does.
    log_level None leaves LOG_LEVEL as the deployment has it.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "bench-only-" + "x" * 60,
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", redis_url),
        "KYODAKU_BASE_URL": f"http://{HOST}:{port}",
        **extra,
    }
    if log_level is not None:
        env["LOG_LEVEL"] = log_level
    return env


def _healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False


def start_gunicorn(gunicorn_args: list[str], *, port: int, env: dict[str, str], cwd: Path = ROOT,
                   output=subprocess.DEVNULL, timeout: float = 60) -> subprocess.Popen:
    """`gunicorn <gunicorn_args> config.wsgi` in `cwd`, returned once GET /healthz on HOST:port answers 200.

    gunicorn_args must bind HOST:port (--bind, or GUNICORN_BIND in env with config/gunicorn.conf.py). `output`
    takes gunicorn's stdout and stderr (DEVNULL, or None to keep them on this terminal).
    """
    return start_command([GUNICORN, *gunicorn_args, "config.wsgi"], port=port, env=env, cwd=cwd, output=output,
                         timeout=timeout)


def start_command(command: list[str], *, port: int, env: dict[str, str], cwd: Path = ROOT,
                  output=subprocess.DEVNULL, timeout: float = 60) -> subprocess.Popen:
    """Any web server's `command` (it must bind HOST:port) in a process group of its own, returned once GET /healthz
    on HOST:port answers 200; stopped (and SystemExit) when it exits first or does not answer within `timeout`."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True, stdout=output, stderr=output)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(port):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"{' '.join(command)} from {cwd} did not answer on {HOST}:{port}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (master and workers), SIGKILL if it is not gone in 30 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_of_pids(pids) -> float:
    """utime + stime, in seconds, of the processes still alive among `pids`."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def pids_of_group(pgid: int) -> list[int]:
    """The live processes of a process group (gunicorn's master and workers: start_gunicorn gives it its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[2]) == pgid:  # field 5 of stat: pgrp
                pids.append(int(entry))
    return pids
