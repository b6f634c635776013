"""A deployment of its own for fault tests (tests/throwaway.py): a throwaway PostgreSQL cluster and redis-server,
the image's web process (config.serve) and a Celery worker with production settings on them. The tests stop and
restart those servers under traffic; nothing else on the machine is touched."""
import os
import tempfile
from pathlib import Path

import pytest

from tests.throwaway import Deployment, PostgresServer, RedisServer, postgres_bindir

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="module")
def deployment():
    if postgres_bindir() is None or not any((Path(p) / "redis-server").exists()
                                            for p in os.environ.get("PATH", "").split(":")):
        message = "needs PostgreSQL's initdb and redis-server installed"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="kyodaku-fault-") as tmp:
        workdir = Path(tmp)
        with PostgresServer() as pg, RedisServer(workdir) as redis:
            deployment = Deployment(pg, redis, workdir)
            try:
                deployment.start()
                yield deployment
            finally:
                deployment.stop()
