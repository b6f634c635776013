"""Redis commands sent on every request, on a connection each thread keeps (docs/performance.md, "Issue 15 item 4:
where the server's CPU goes over HTTP").

redis-py takes a connection from its pool and gives it back for every command or pipeline: the pool's lock twice,
its fork check twice, a `poll` of the socket to see that nothing is left to read, the retry wrapper. For the one or
two commands a lookup sends (the rate limiter's counter, config.cache; the lookup counters, consent.usage) that cost
more than the commands themselves (60.9 -> 29.4 us of CPU per count, measured in one process). Here each thread has
its own connection per pool, made with the pool's settings (address, database, password, timeouts), kept for the
thread's life and closed with it; it is never shared by two threads, so a reply is always read by the thread that
asked.
"""
import os
import threading
import weakref

from redis.exceptions import ConnectionError as RedisConnectionError


class KeptConnections:
    """Each thread's own connection to the server of each redis-py ConnectionPool it is asked about (held only as
    long as the pool lives)."""

    def __init__(self):
        self._local = threading.local()

    def connection(self, pool):
        """This thread's connection to `pool`'s server (made on first use, and anew after a fork)."""
        kept = self._local.__dict__.get("by_pool")
        if kept is None:
            kept = self._local.by_pool = weakref.WeakKeyDictionary()
        connection = kept.get(pool)
        if connection is None or connection.pid != os.getpid():
            connection = kept[pool] = pool.connection_class(**pool.connection_kwargs)
        return connection

    def execute(self, pool, *commands: tuple) -> list:
        """Send `commands` (each a tuple of arguments, e.g. ("INCR", key)) in one write on this thread's connection
        and read their replies, in order. A kept connection that Redis closed (a restart, a client timeout) fails
        on its next use: it is closed and the commands sent once more (the connection connects anew), as redis-py's
        pool would reconnect. Any other failure, an error reply included, closes it too (a reply may be left
        unread) and is raised."""
        for attempt in (1, 2):
            connection = self.connection(pool)
            try:
                connection.send_packed_command(connection.pack_commands(commands))
                return [connection.read_response() for _ in commands]
            except RedisConnectionError:
                connection.disconnect()
                if attempt == 2:
                    raise
            except BaseException:
                connection.disconnect()
                raise
        raise AssertionError("unreachable")  # pragma: no cover (the loop returns or raises)


kept = KeptConnections()  # one for the process: config.cache (the rate limiter) and consent.usage (lookup counters)
