"""Script calls on a connection that each thread keeps: the hot path of the daemon.

For every command, redis-py's client takes a connection from its pool and gives it
back, checks the process id both times, and runs the call through its retry and
event-hook layers.  Measured here (bench/bench_core.py, "Round trips"): an EVALSHA
costs 75-95 us of CPU through the client and 45-55 us on a kept connection while the
machine idles (30 and 16 us while it is busy); a bare socket spends most of the rest
in its two system calls.  Nearly every change a FUSE worker makes is one script call,
so each thread keeps one connection for its whole life and skips the client layer.
Connecting, login, TLS, timeouts and reply parsing stay redis-py's, and so does the
retry policy (the client's ``Retry``: only refused or dropped connections are retried).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any

import redis
from redis.commands.core import Script
from redis.connection import AbstractConnection, ConnectionPool


class _Held:
    """One thread's connection; it goes back to the pool when the thread ends (its
    ``threading.local`` is dropped) or when its ThreadConnections is dropped."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.conn: AbstractConnection = pool.get_connection()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the pool may be gone
            self.pool.release(self.conn)


class ThreadConnections:
    """EVALSHA/EVAL(_RO) calls over a connection each thread keeps.

    The kept connections come from a pool of their own, made like ``client``'s (same
    address, login, TLS, timeouts, packer), so they never use up the client's pool: a
    thread that keeps one can still run pipelines and other commands through the client.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client_pool = client.connection_pool
        self.retry = client.get_retry()
        self._pool: ConnectionPool | None = None
        self._pool_mutex = threading.Lock()
        self._local = threading.local()

    @property
    def pool(self) -> ConnectionPool:
        """Made at first use, so that tuning of the client's connections made after this
        object (the daemon's packer) is copied too."""
        with self._pool_mutex:
            if self._pool is None:
                source = self.client_pool
                self._pool = ConnectionPool(connection_class=source.connection_class,
                                            **source.connection_kwargs)
            return self._pool

    def script(self, script: Script, keys: list[Any], args: list[Any], read_only: bool = False
               ) -> Any:
        """Run a registered script: by hash, and by its text when the server lost it
        (restart, SCRIPT FLUSH) -- which also caches it again."""
        by_hash, by_text = ("EVALSHA_RO", "EVAL_RO") if read_only else ("EVALSHA", "EVAL")
        try:
            return self.execute(by_hash, script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return self.execute(by_text, script.script, len(keys), *keys, *args)

    def execute(self, *command: Any) -> Any:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held(self.pool)
        conn = held.conn
        try:
            conn.send_command(*command)
            return conn.read_response()
        except redis.ResponseError:
            raise  # the reply was read whole; the connection is fine
        except redis.ConnectionError as error:
            conn.disconnect()
            if self.retry is None or isinstance(
                    error, redis.AuthenticationError | redis.exceptions.AuthorizationError):
                raise
            return self.retry.call_with_retry(lambda: self._once(conn, command),
                                              lambda _error: conn.disconnect())
        except BaseException:
            conn.disconnect()  # timeout or interrupt: a reply may still be on its way
            raise

    def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Several commands in one round trip on the thread's kept connection.  An error
        reply comes back as its exception in the list (every reply is read, so the
        connection stays in step).  A dropped connection sends them all again, so they
        must be safe to repeat (the write script is)."""
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held(self.pool)
        conn = held.conn

        def once() -> list[Any]:
            conn.send_packed_command(conn.pack_commands(commands))
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as error:
                    replies.append(error)
            return replies

        try:
            return once()
        except redis.ConnectionError as error:
            conn.disconnect()
            if self.retry is None or isinstance(
                    error, redis.AuthenticationError | redis.exceptions.AuthorizationError):
                raise
            return self.retry.call_with_retry(once, lambda _error: conn.disconnect())
        except BaseException:
            conn.disconnect()
            raise

    @staticmethod
    def _once(conn: AbstractConnection, command: tuple[Any, ...]) -> Any:
        conn.send_command(*command)
        return conn.read_response()


_SHARED: weakref.WeakKeyDictionary[redis.Redis, ThreadConnections] = weakref.WeakKeyDictionary()
_SHARED_MUTEX = threading.Lock()


def connections_for(client: redis.Redis) -> ThreadConnections:
    """One ThreadConnections per client, so a thread keeps one connection per client
    however many FileSystem objects it uses."""
    with _SHARED_MUTEX:
        shared = _SHARED.get(client)
        if shared is None:
            shared = _SHARED[client] = ThreadConnections(client)
        return shared
