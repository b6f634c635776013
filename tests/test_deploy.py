"""Deployment guarantees: production settings refuse to start without secrets and services, pass Django's deploy
checks; the Celery app never falls back to local settings; compose publishes the web port on loopback only."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "kyodaku.example.org",
    "DATABASE_URL": "sqlite:////tmp/kyodaku-deploy-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:1/1",  # never connected to by `check`
    "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    "KYODAKU_BASE_URL": "https://kyodaku.example.org",
}
# What the process inherits from the developer's shell must not make a missing setting look present.
SCRUBBED = {*PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE", "TEST_CELERY_BROKER_URL"}


def clean_env(**env):
    return {**{k: v for k, v in os.environ.items() if k not in SCRUBBED}, **env}


def manage(*args, env):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=clean_env(**env),
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage("check", "--settings=config.settings.production", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("missing", ["REDIS_URL", "CELERY_BROKER_URL", "KYODAKU_BASE_URL", "DATABASE_URL"])
def test_operator_deploying_without_a_required_service_setting_is_stopped_at_start(missing):
    """Rule: production never falls back to SQLite, a per-process cache, eager tasks or a 127.0.0.1 issuer."""
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", "--settings=config.settings.production", env=env)
    assert result.returncode != 0
    assert "Production needs these settings" in result.stderr and missing in result.stderr


def test_a_blank_required_setting_counts_as_missing():
    result = manage("check", "--settings=config.settings.production", env={**PRODUCTION_ENV, "REDIS_URL": "  "})
    assert result.returncode != 0 and "REDIS_URL" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", "--settings=config.settings.production",
                    env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr


def test_celery_app_without_a_settings_module_uses_production_settings_not_local_ones():
    """Rule: a worker started without DJANGO_SETTINGS_MODULE refuses to run on local settings' public secret."""
    code = "import os, config.celery; print(os.environ['DJANGO_SETTINGS_MODULE'])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config.settings.production"
    # And with nothing configured, loading the app's settings stops it (as gunicorn would be stopped).
    code = "import config.celery; from django.conf import settings; settings.INSTALLED_APPS"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr


compose = pytest.mark.skipif(not Path("/usr/bin/docker-compose").exists(),
                             reason="Debian's docker-compose is not installed")


def docker_compose_config(**env):
    return subprocess.run(["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("KYODAKU_")}, **env},
                          timeout=60)


@compose
def test_docker_compose_file_is_valid():
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "SECRET_KEY"}, timeout=60)
    assert result.returncode == 0, result.stderr


@compose
def test_compose_publishes_the_web_port_on_loopback_unless_told_otherwise():
    """Rule: outsiders reach the web process only through the proxy in front of it."""
    import yaml

    published = yaml.safe_load(docker_compose_config().stdout)["services"]["web"]["ports"]
    assert [str(p).rsplit("/", 1)[0] for p in published] == ["127.0.0.1:8000:8000"]
    published = yaml.safe_load(docker_compose_config(KYODAKU_WEB_BIND="0.0.0.0").stdout)["services"]["web"]["ports"]
    assert [str(p).rsplit("/", 1)[0] for p in published] == ["0.0.0.0:8000:8000"]
    # Nothing else publishes a port: the database and Redis stay on compose's private network.
    services = yaml.safe_load(docker_compose_config().stdout)["services"]
    assert [name for name, service in services.items() if service.get("ports")] == ["web"]


@compose
def test_the_replica_profile_adds_a_streaming_replica_and_nothing_else_changes():
    """docs/scaling.md: `docker-compose --profile replica` runs `db-replica`, a standby of `db` that publishes no
    port; without the profile nothing starts it; both read deploy/postgres/postgresql.conf."""
    import yaml

    result = subprocess.run(["docker-compose", "--profile", "replica", "config"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    replica, primary = services["db-replica"], services["db"]
    assert replica["profiles"] == ["replica"] and "ports" not in replica
    assert replica["image"] == primary["image"]
    conf = "config_file=/etc/postgresql/postgresql.conf"
    assert conf in primary["command"] and conf in replica["command"]
    assert "profiles" not in primary
    for name in ("web", "worker", "beat"):
        assert "DATABASE_REPLICA_URLS" in services[name]["environment"]


def test_the_postgresql_settings_file_is_valid_for_the_installed_postgresql():
    """deploy/postgres/postgresql.conf names only parameters PostgreSQL knows, with valid values (`postgres -C`
    loads the whole file and refuses anything it does not understand)."""
    import shutil
    import tempfile

    from tests.throwaway import postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's programs are not installed")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="kyodaku-pgconf-"))  # not pytest's 0700 tree: `postgres` must reach it
    try:
        conf = base / "postgresql.conf"
        shutil.copy(ROOT / "deploy/postgres/postgresql.conf", conf)
        if as_postgres:
            shutil.chown(base, "postgres")
            shutil.chown(conf, "postgres")
        subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres",
                        "--auth=trust", "--no-sync"], check=True, capture_output=True, timeout=120)
        shown = subprocess.run([*as_postgres, str(bindir / "postgres"), "-D", str(base / "data"),
                                "-c", f"config_file={conf}", "-C", "max_wal_size"],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == "4096"  # MB: the file's 4GB, in the unit `-C` prints
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_compose_replica_scripts_make_a_streaming_replica():
    """The replica profile's two scripts, run as the postgres image runs them but outside Docker (there is no Docker
    daemon in CI): deploy/postgres/primary-init.sh on a primary that reads deploy/postgres/postgresql.conf, with
    password authentication as the image sets it up; then deploy/postgres/replica-entrypoint.sh (pointed at that
    primary instead of the `db` host) takes a base backup as `replicator`, streams, and on a second start resumes
    without a new base backup."""
    import shutil
    import tempfile

    from tests.throwaway import free_port, postgres_bindir, wait_for

    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's programs are not installed")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="kyodaku-compose-pg-"))
    primary_port, replica_port = free_port(), free_port()
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "KYODAKU_REPLICATION_PASSWORD": "s3cret",
           "PGPASSWORD": "kyodaku"}

    def run(*args, **extra):
        return subprocess.run([*as_postgres, "env", *(f"{k}={v}" for k, v in extra.items()), *args], check=True,
                              capture_output=True, text=True, timeout=120, env=env)

    def sql(port, query):
        return subprocess.run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "kyodaku", "-d",
                               "postgres", "-Atc", query], capture_output=True, text=True, timeout=30, env=env)

    def start_replica(log):
        return subprocess.Popen([*as_postgres, "env", f"PATH={env['PATH']}", f"PGDATA={base / 'replica'}",
                                 "KYODAKU_REPLICATION_PASSWORD=s3cret", "bash", str(base / "replica.sh"),
                                 "-c", f"config_file={base / 'postgresql.conf'}", "-c", f"port={replica_port}",
                                 "-c", "listen_addresses=127.0.0.1", "-k", str(base), "-c", "shared_buffers=128MB"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    pg_ctl = str(bindir / "pg_ctl")
    try:
        for name in ("postgresql.conf", "primary-init.sh"):
            shutil.copy(ROOT / "deploy/postgres" / name, base / name)
        entrypoint = (ROOT / "deploy/postgres/replica-entrypoint.sh").read_text()
        assert "-h db -p 5432" in entrypoint
        (base / "replica.sh").write_text(entrypoint.replace("-h db -p 5432", f"-h 127.0.0.1 -p {primary_port}"))
        (base / "pw").write_text("kyodaku\n")
        (base / "replica").mkdir()
        if as_postgres:
            for path in [base, *base.iterdir()]:
                shutil.chown(path, "postgres")
        run(str(bindir / "initdb"), "-D", str(base / "primary"), "-U", "kyodaku", f"--pwfile={base / 'pw'}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        options = (f"-c config_file={base / 'postgresql.conf'} -c port={primary_port} -c listen_addresses=127.0.0.1 "
                   f"-k {base} -c shared_buffers=128MB -c fsync=off")
        run(pg_ctl, "-D", str(base / "primary"), "-o", options, "-l", str(base / "primary.log"), "-w", "start")
        run("bash", str(base / "primary-init.sh"), POSTGRES_USER="kyodaku", POSTGRES_DB="postgres",
            PGDATA=str(base / "primary"), PGHOST=str(base), PGPORT=str(primary_port))
        run(pg_ctl, "-D", str(base / "primary"), "reload")
        with open(base / "replica.log", "w") as log:
            start_replica(log)
            wait_for(lambda: sql(replica_port, "SELECT pg_is_in_recovery()").stdout.strip() == "t", 60,
                     "the replica to accept read-only connections")
            assert sql(primary_port, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)").returncode == 0
            wait_for(lambda: sql(replica_port, "SELECT count(*) FROM t").stdout.strip() == "1", 30,
                     "the row to stream to the replica")
            assert sql(replica_port, "SHOW hot_standby_feedback").stdout.strip() == "on"
            assert sql(primary_port, "SELECT usename FROM pg_stat_replication").stdout.strip() == "replicator"
            run(pg_ctl, "-D", str(base / "replica"), "-m", "fast", "-w", "stop")
            assert sql(primary_port, "INSERT INTO t VALUES (2)").returncode == 0
            # a second start: no base backup (it would refuse the non-empty data directory), streaming resumes
            start_replica(log)
            wait_for(lambda: sql(replica_port, "SELECT count(*) FROM t").stdout.strip() == "2", 60,
                     "the restarted replica to catch up")
    finally:
        for data in ("replica", "primary"):
            subprocess.run([*as_postgres, pg_ctl, "-D", str(base / data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_the_image_serves_the_web_process_with_granian_as_the_config_module_sets_it_up():
    """Rule (docs/scaling.md, "Web workers"): the image's CMD is `python -m config.serve`, and granian, which it
    starts, is a pinned requirement (a server not in requirements.txt would be missing from the image)."""
    import json

    cmd = [json.loads(line[4:]) for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    assert cmd == [["python", "-m", "config.serve"]]
    pins = {line.split("==")[0].lower(): line.split("==")[1].strip()
            for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    import granian

    assert pins["granian"] == granian.__version__


def test_the_web_server_hands_django_the_requests_own_environ_not_the_process_environment():
    """granian merges the whole process environment (SECRET_KEY, DATABASE_URL with its password) into every WSGI
    environ; config.serve strips it again, so request.META (error reports, debug pages) never holds a secret. The
    request's own keys, its headers included, pass unchanged."""
    from config.serve import request_environ_only

    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return [b""]

    process = {"SECRET_KEY": "s3cret", "DATABASE_URL": "postgres://u:pw@db/k", "PATH": "/usr/bin", "HOME": "/root",
               "SERVER_SOFTWARE": "Granian"}
    request = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "QUERY_STRING": "", "HTTP_HOST": "k.example",
               "HTTP_X_REQUEST_ID": "r-1", "SERVER_NAME": "k.example", "SERVER_PORT": "443", "wsgi.url_scheme": "https",
               "HOME": "/client-cannot-set-this"}
    request_environ_only(app, process_env=process)(process | request, None)
    assert not {"SECRET_KEY", "DATABASE_URL", "PATH", "HOME"} & set(seen)
    assert {k: v for k, v in seen.items() if k != "SERVER_SOFTWARE"} == {k: v for k, v in request.items()
                                                                          if k != "HOME"}
    assert seen["SERVER_SOFTWARE"] == "Granian"


def test_the_web_server_gets_an_answer_in_memory_whole_and_the_request_still_finishes_once():
    """Rule (config/serve.py `whole_body`): granian sends a list in one piece and streams anything else chunk by
    chunk through its runtime, so an answer Django holds in memory is handed over as [its bytes], its close() (the
    request_finished signal: connections closed or kept, the request id cleared) called exactly once first; a
    streamed answer (a snapshot or an export download) is handed over as it is, for granian to stream and close."""
    from django.core.signals import request_finished
    from django.db import close_old_connections
    from django.http import HttpResponse, StreamingHttpResponse

    from config.serve import request_environ_only

    finished = []

    def receiver(sender, **kwargs):
        finished.append(sender)

    request_finished.disconnect(close_old_connections)  # no database in this test
    request_finished.connect(receiver)
    try:
        def plain(environ, start_response):
            return HttpResponse(b'{"id":"isbn:9784990166137"}', content_type="application/json")

        body = request_environ_only(plain, process_env={})({"PATH_INFO": "/api/v1/lookup"}, None)
        assert body == [b'{"id":"isbn:9784990166137"}']
        assert len(finished) == 1

        streamed = StreamingHttpResponse(iter([b"a,b\n", b"1,2\n"]))

        def download(environ, start_response):
            return streamed

        assert request_environ_only(download, process_env={})({"PATH_INFO": "/export"}, None) is streamed
        assert len(finished) == 1  # granian closes it once the client has it all
    finally:
        request_finished.disconnect(receiver)
        request_finished.connect(close_old_connections)


def test_an_answer_made_is_still_sent_when_a_request_finished_receiver_fails(caplog):
    """Rule (config/serve.py `whole_body`): a receiver of request_finished that raises is logged; the answer
    Django made still goes out (granian, which closed the response after sending it, did the same)."""
    from django.core.signals import request_finished
    from django.db import close_old_connections
    from django.http import HttpResponse

    from config.serve import request_environ_only

    def broken(sender, **kwargs):
        raise RuntimeError("receiver broke")

    request_finished.disconnect(close_old_connections)  # no database in this test
    request_finished.connect(broken)
    try:
        def plain(environ, start_response):
            return HttpResponse(b"ok")

        assert request_environ_only(plain, process_env={})({}, None) == [b"ok"]
    finally:
        request_finished.disconnect(broken)
        request_finished.connect(close_old_connections)
    assert any(r.name == "config.serve" and r.exc_info and "receiver broke" in str(r.exc_info[1])
               for r in caplog.records)


def test_the_web_servers_threads_and_runtime_come_from_the_environment_with_the_measured_defaults():
    """Rule (config/serve.py, docs/scaling.md "Web workers"): an operator sets the worker processes, Python threads,
    granian's runtime and its queue per worker from the environment; unset (or empty, as compose passes an unset
    variable), the defaults measured in docs/performance.md ("Issue 15 item 4: the server's own cost per GET")."""
    from granian.constants import RuntimeModes

    from config.serve import _cpus, runtime_options

    assert runtime_options({}) == {"workers": _cpus(), "blocking_threads": 4, "runtime_mode": RuntimeModes.mt,
                                   "runtime_threads": 1}
    assert runtime_options({"WEB_CONCURRENCY": "", "WEB_THREADS": ""})["blocking_threads"] == 4
    assert runtime_options({"WEB_CONCURRENCY": "3", "WEB_THREADS": "2", "WEB_RUNTIME_MODE": "st",
                            "WEB_RUNTIME_THREADS": "2", "WEB_BACKPRESSURE": "16"}) == {
        "workers": 3, "blocking_threads": 2, "runtime_mode": RuntimeModes.st, "runtime_threads": 2,
        "backpressure": 16}
    with pytest.raises(ValueError):
        runtime_options({"WEB_RUNTIME_MODE": "fast"})
