"""Read replicas: an AI developer's lookups read a real streaming replica (pg_basebackup of a throwaway primary),
so during replica lag they answer as the replica stands; the holder who revoked reads their own write from the
primary at once, in the ORM and in their export; once the replica has replayed, lookups see it. The shared cluster
is never touched."""
import json
import os
import subprocess
import sys

import pytest

from tests.throwaway import ROOT, PostgresServer, ReplicaServer, free_port, postgres_bindir

pytestmark = pytest.mark.postgres


def scenario(env: dict, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "tests/core/replica_scenario.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def primary_and_replica():
    if postgres_bindir() is None:
        pytest.fail("PostgreSQL's programs (initdb, pg_basebackup) are needed for the replica test")
    with PostgresServer() as primary:
        primary.create_database("kyodaku")
        with ReplicaServer(primary) as replica:
            yield primary, replica


def test_lookups_and_exports_read_the_replica_and_holders_read_their_own_writes(primary_and_replica, tmp_path):
    primary, replica = primary_and_replica
    env = {**os.environ, "DATABASE_URL": primary.url("kyodaku"), "DATABASE_REPLICA_URLS": replica.url("kyodaku"),
           "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": str(ROOT),
           "KYODAKU_SNAPSHOT_ROOT": str(tmp_path), "KYODAKU_REPLICA_MAX_LAG": "300"}  # a loaded machine is slow
    seen = scenario(env)
    print(seen)  # shown when an assertion fails
    assert seen["aliases"] == ["default", "replica1"]
    assert seen["before"] == "reserved"
    # Replay paused: the revocation is on the primary only.
    assert seen["primary_revoked"] is True and seen["replica_revoked"] is False and seen["replay_paused"]
    assert seen["during_lag"] == "reserved", "the lookup must have read the (lagging) replica"
    assert seen["holder_reads_revoked"] is True, "outside replica_reads the ORM reads the primary"
    assert seen["orm_in_replica_reads_revoked"] is False
    # Lag: a snapshot build within KYODAKU_REPLICA_MAX_LAG reads the replica, in one moment (its answers and its
    # cursor are the replica's); above the bound lookups and builds read the primary.
    assert seen["lag_paused"] > 0 and seen["primary_head"] > seen["replica_head"]
    within, above = seen["snapshot_within_bound"], seen["snapshot_above_bound"]
    assert (within["basis"], within["cursor"], within["read_from"]) == ("reserved", seen["replica_head"], "replica1")
    assert within["primary_head"] > within["cursor"]
    assert seen["during_lag_above_bound"] == seen["primary_after"] != "reserved"
    assert (above["basis"], above["cursor"], above["read_from"]) == (seen["primary_after"], above["primary_head"],
                                                                     "default")
    assert seen["lag_caught_up"] == 0.0
    # Exports (claims.export, docs/scaling.md "Exports"): the holder who revoked while the replica lagged reads
    # their own write from the primary, through the API as directly; a holder whose changes are all on the replica
    # reads the replica (only above the lag bound the primary); caught up, the first holder reads the replica too.
    assert seen["export_before"] == {"read_from": "replica1", "reserved": True, "rows": 3}
    assert seen["export_own_write"] == {"read_from": "default", "reserved": False, "rows": 2}
    assert seen["api_export_own_write"] == {"reserved": False}
    assert seen["export_other_holder"] == {"read_from": "replica1", "reserved": True, "rows": 3}
    assert seen["export_other_holder_above_bound"] == {"read_from": "default", "reserved": True, "rows": 3}
    assert seen["export_caught_up"] == {"read_from": "replica1", "reserved": False, "rows": 2}
    # Replay resumed: the replica catches up and lookups see the revocation.
    assert seen["replica_revoked_after"] is True
    assert seen["after"] == seen["replica_after_direct"] == seen["primary_after"] != "reserved"

    # A replica that does not answer (here: a port nobody listens on) is skipped: lookups and snapshot builds read
    # the primary, and each process asks it again only after core.db.DOWN_RECHECK_SECONDS.
    down = scenario({**env, "DATABASE_REPLICA_URLS": f"postgres://postgres@127.0.0.1:{free_port()}/kyodaku"}, "down")
    print(down)
    assert down["lookups"] == [down["primary"]] * 3
    assert down["snapshot"]["read_from"] == "default" and down["snapshot"]["basis"] == down["primary"]
    assert down["export"] == {"read_from": "default", "reserved": False, "rows": 2}
