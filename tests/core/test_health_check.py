"""The kept connection's health check (core.postgresql): an operator restarting PostgreSQL costs the web process
no failed request after the restart, and a healthy connection is reused without a statement sent to check it.

A second connection to the test database stands for a web thread's kept connection; its server process is ended
with pg_terminate_backend (what a restart or a fast shutdown does to every backend).
"""
import time

import pytest
from django.db import connection, connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def kept():
    other = connections.create_connection("default")
    other.settings_dict["CONN_HEALTH_CHECKS"] = True
    other.ensure_connection()
    yield other
    other.close()


def _backend_pid(conn) -> int:
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _last_statement(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def test_a_healthy_kept_connection_is_reused_without_asking_the_server(kept):
    pid = _backend_pid(kept)
    assert kept.is_usable()
    kept.health_check_done = False
    kept.close_if_health_check_failed()
    assert kept.connection is not None and _backend_pid(kept) == pid
    assert "pg_backend_pid" in _last_statement(pid), "the check sent a statement (SELECT 1) to the server"


def test_a_connection_the_server_closed_is_replaced_before_the_next_query(kept):
    pid = _backend_pid(kept)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while kept.is_usable() and time.monotonic() < deadline:  # the server's FATAL and close reach the socket
        time.sleep(0.01)
    assert not kept.is_usable()
    kept.health_check_done = False
    kept.close_if_health_check_failed()  # what Django does before a request's first query
    assert _backend_pid(kept) != pid  # a new connection, and the query worked


def test_the_web_settings_use_the_checking_backend():
    from django.conf import settings

    assert settings.DATABASES["default"]["ENGINE"] == "core.postgresql"
    assert type(connections["default"]).__module__ == "core.postgresql.base"


def test_the_web_threads_kept_connections_reach_their_age_at_spread_times():
    """Connections opened in the same second (every thread's first request after a start) must not all be closed
    in the same later second: each one's age limit is drawn between half of CONN_MAX_AGE and all of it."""
    lives = []
    for _ in range(20):
        other = connections.create_connection("default")
        other.settings_dict = {**other.settings_dict, "CONN_MAX_AGE": 60}
        other.ensure_connection()
        try:
            lives.append(other.close_at - time.monotonic())
        finally:
            other.close()
    assert all(29 < life <= 60 for life in lives), lives
    assert max(lives) - min(lives) > 5, lives  # 20 draws over 30 s within 5 s of each other: about 1e-15


def test_a_connection_kept_for_ever_stays_kept_for_ever():
    other = connections.create_connection("default")
    other.settings_dict = {**other.settings_dict, "CONN_MAX_AGE": None}
    other.ensure_connection()
    try:
        assert other.close_at is None
    finally:
        other.close()
