"""Django's PostgreSQL backend with a health check that asks the socket before it asks the server.

With CONN_HEALTH_CHECKS (config/settings/base.py) Django checks a kept connection before each request reuses it, by
sending `SELECT 1`: a round trip and a statement on the server for every request (about 6 % of a lookup GET's CPU
in the web process, docs/performance.md). A connection PostgreSQL has closed (a restart, a fast shutdown,
`pg_terminate_backend`, an idle timeout) is not silent: the server sends its FATAL message and closes the socket,
so the kept connection's socket turns readable. An idle connection's socket with nothing to read is one the server
has not closed, and is used as it is; a readable one gets Django's own check (`SELECT 1`), which fails on a closed
connection, so Django opens a new one before the request's first query. tests/core/test_health_check.py terminates
a kept connection's server process and checks both.

What this does not see, neither did `SELECT 1` cheaply: a server that vanished without closing (a host lost, a
network cut) leaves the socket silent; then the request's query fails (503, api.middleware) after the TCP timeout,
as `SELECT 1` would have.

Each connection's life is also spread: Django closes a kept connection CONN_MAX_AGE seconds after it opened, and
every thread of every web process opens its connection in the same second (the first requests after a start), so
they all reached their age together, once a minute at the default: one request per thread paid a new connection
and its first five custom plans at the same moment (at 1,000 lookups/s on 2 cores: p99 10.8 -> 35.8 ms, p99.9 26 ->
106 ms over a 60 s run, docs/performance.md "the target met on a quiet machine"). Here each connection's age limit
is drawn between half of CONN_MAX_AGE and all of it, so the reopenings spread out and stay spread.
"""
import random
import select

from django.db.backends.postgresql.base import Database
from django.db.backends.postgresql.base import DatabaseWrapper as _PostgreSQLWrapper


class DatabaseWrapper(_PostgreSQLWrapper):
    def connect(self):
        super().connect()
        if self.close_at is not None:  # CONN_MAX_AGE set (None: kept for ever, nothing to spread)
            self.close_at -= random.uniform(0, self.settings_dict["CONN_MAX_AGE"] / 2)  # noqa: S311 (no secret)

    def is_usable(self):
        if self.connection is None:
            return False
        try:
            poll = select.poll()  # not select(): no limit on the descriptor's number
            poll.register(self.connection.fileno(), select.POLLIN)
            pending = poll.poll(0)
        except (OSError, ValueError, Database.Error):  # a closed or lost connection: no descriptor
            return False
        if not pending:
            return not self.connection.closed
        return super().is_usable()
