"""The benchmarks' shared modules (bench/_serve.py: gunicorn for the HTTP benchmarks; bench/_match_data.py: the
near-match benchmarks' data; bench/decide.py's data options and loader): every benchmark still starts, and the rules
they hold for all of them (a gunicorn that cannot serve fails the run and leaves no process behind; only a scratch
database is destroyed).
"""
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# Every benchmark with a command line (bench/locustfile.py is locust's, run by bench/soak.py): the shared modules
# (_serve, _match_data, decide's data_arguments and load) are imported by many of them.
SCRIPTS = sorted(path.name for path in BENCH.glob("*.py")
                 if not path.name.startswith("_") and "argparse" in path.read_text())


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shared_modules_users_are_among_the_scripts_started():
    # The HTTP benchmarks, both near-match benchmarks and the users of decide's data options; a pattern that found
    # none of them would make the next test prove nothing.
    assert {"lookup_http.py", "lookup_rate.py", "observability_http.py", "check_ids.py", "client_check.py",
            "spawning_http.py", "match.py", "match_dihedral.py", "licences.py", "lookup_counting.py",
            "verified_web_claims.py", "decide.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_still_starts(script):
    """An operator's first step with any benchmark (`--help`): its imports of the shared modules resolve and its
    options parse."""
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def test_a_gunicorn_that_cannot_serve_fails_the_benchmark_and_leaves_no_process():
    serve = _module("_serve")
    port = serve.free_port()
    started = time.monotonic()
    with pytest.raises(SystemExit, match="did not answer"):
        # An option gunicorn refuses: it exits at once, and the start must not wait out its 60 s.
        serve.start_gunicorn(["--no-such-option", "--bind", f"{serve.HOST}:{port}"], port=port,
                             env=serve.production_env(port=port, redis_url="redis://127.0.0.1:6379/15"),
                             output=subprocess.DEVNULL)
    assert time.monotonic() - started < 30


def test_the_benchmark_environment_serves_production_settings_on_the_loopback_address():
    serve = _module("_serve")
    env = serve.production_env(port=8123, redis_url="redis://127.0.0.1:6379/15", WEB_CONCURRENCY="2")
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert env["ALLOWED_HOSTS"] == "127.0.0.1" and env["KYODAKU_BASE_URL"] == "http://127.0.0.1:8123"
    assert env["WEB_CONCURRENCY"] == "2" and env["LOG_LEVEL"] == "WARNING"
    # log_level=None: as the deployment has it (bench/lookup_rate.py serves as deployed).
    assert serve.production_env(port=1, redis_url="redis://x", log_level=None).get("LOG_LEVEL") == \
        os.environ.get("LOG_LEVEL")


@pytest.mark.parametrize("name", ["kyodaku", "kyodaku_test", "production"])
def test_the_match_benchmarks_refuse_to_destroy_a_database_not_named_for_benchmarks(name):
    match_data = _module("_match_data")
    with pytest.raises(SystemExit, match="must contain 'bench'"), \
            match_data.scratch_database(f"postgres://postgres@127.0.0.1:5432/{name}"):
        pass


def test_the_scale_run_copies_a_template_only_when_nobody_is_connected_and_says_who_is():
    """The lead's scale run (bench/scale_run.py) imports into a fresh copy of each template registry: a template
    with a session open cannot be copied, and the run stops naming that session before it creates or drops
    anything; once the session is gone the copy is made (and an earlier run's leftover copy replaced)."""
    import psycopg

    scale_run = _module("scale_run")
    pg = os.environ["DATABASE_URL"].rpartition("/")[0]
    template, copy = f"kyodaku_bench_template_{os.getpid()}", f"kyodaku_bench_template_{os.getpid()}_run"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{template}"')
        try:
            with psycopg.connect(f"{pg}/{template}", application_name="someone-else"):
                with pytest.raises(SystemExit, match="in use.*someone-else"):
                    scale_run.clone(pg, template, copy, "FILE_COPY")
            assert not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (copy,)).fetchone()
            for _ in range(2):  # the second replaces the first
                assert scale_run.clone(pg, template, copy, "FILE_COPY") >= 0
            assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (copy,)).fetchone()
        finally:
            scale_run.drop(pg, copy)
            admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
