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
from redis.exceptions import AskError, ClusterDownError, TryAgainError

from .cluster import is_cluster


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
        """Several commands in one round trip on the thread's kept connection, replies in
        order.  An error reply comes back as its exception in the list (every reply is
        read, so the connection stays in step).  A dropped connection sends them all
        again, so they must be safe to repeat (the write script is)."""
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held(self.pool)
        conn = held.conn
        try:
            return self._many(conn, commands)
        except redis.ConnectionError as error:
            conn.disconnect()
            if self.retry is None or isinstance(
                    error, redis.AuthenticationError | redis.exceptions.AuthorizationError):
                raise
            return self.retry.call_with_retry(lambda: self._many(conn, commands, True),
                                              lambda _error: conn.disconnect())
        except BaseException:
            conn.disconnect()
            raise

    @staticmethod
    def _many(conn: AbstractConnection, commands: list[tuple[Any, ...]],
              reconnect: bool = False) -> list[Any]:
        if reconnect:
            conn.connect()  # Sentinel: ask where the master is now (see _once)
        conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for _command in commands:
            try:
                replies.append(conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
        return replies

    @staticmethod
    def _once(conn: AbstractConnection, command: tuple[Any, ...]) -> Any:
        # connect() first: a Sentinel-managed connection asks the sentinels where the
        # master is there (send_command alone reconnects to the old address)
        conn.connect()
        conn.send_command(*command)
        return conn.read_response()


class ClusterCalls:
    """Script calls on a Redis Cluster: EVALSHA sent to the master owning KEYS[1] (the
    superblock) over a connection each thread keeps per node, as ThreadConnections
    does on one server (the cluster client's own path costs ~30% in create/lookup).

    A redirect (MOVED/ASK), TRYAGAIN, CLUSTERDOWN or a failed connection hands the call
    to the cluster client, which follows redirects, refreshes its slot map and retries
    by the same rule as on one server (never after a timeout)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._pools: dict[str, ConnectionPool] = {}
        self._pool_mutex = threading.Lock()
        self._local = threading.local()

    def script(self, script: Script, keys: list[Any], args: list[Any], read_only: bool = False
               ) -> Any:
        """EVALSHA, then EVAL when the node lacks the script; never EVALSHA_RO, which
        redis-py could route only with an extra COMMAND GETKEYS round trip."""
        try:
            return self.on_node(keys[0], "EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return self.on_node(keys[0], "EVAL", script.script, len(keys), *keys, *args)

    def _pool(self, node: Any) -> ConnectionPool:
        """A pool of our own per node, like the node's (login, TLS, packer), so kept
        connections never use up the client's bounded pools."""
        with self._pool_mutex:
            pool = self._pools.get(node.name)
            if pool is None:
                source = node.redis_connection.connection_pool
                pool = self._pools[node.name] = ConnectionPool(
                    connection_class=source.connection_class, **source.connection_kwargs)
            return pool

    def execute(self, *command: Any) -> Any:
        """One command through the cluster client.  MGET and UNLINK of pool blocks name
        keys of many slots: they are split by node (redis-py's non-atomic forms)."""
        name = str(command[0]).upper()
        if name == "MGET":
            return self.client.mget_nonatomic(list(command[1:]))
        if name == "UNLINK":
            return self.client.unlink(*command[1:])
        return self.client.execute_command(*command)

    def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """The commands in order, replies (errors as exceptions) in order, like
        ThreadConnections.pipeline.  MULTI ... EXEC becomes one single-slot transaction.
        A trailing script runs only once every command before it has been answered: the
        pool blocks it commits are SET on other nodes, and the script checks they exist."""
        if commands and commands[0][0] == "MULTI":
            pipe = self.client.pipeline(transaction=True)
            for command in commands[1:-1]:
                pipe.execute_command(*command)
            try:
                results = pipe.execute(raise_on_error=False)
            except redis.ResponseError as exc:
                results = exc
            return ["OK", *(["QUEUED"] * (len(commands) - 2)), results]
        tail: tuple[Any, ...] | None = None
        if commands and str(commands[-1][0]).upper() in ("EVALSHA", "EVAL"):
            commands, tail = commands[:-1], commands[-1]
        replies: list[Any] = []
        if commands:
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            replies = pipe.execute(raise_on_error=False)
        if tail is not None and any(isinstance(reply, Exception) for reply in replies):
            replies.append(redis.ResponseError("not run: a command before it failed"))
        elif tail is not None:
            try:
                replies.append(self.on_node(tail[3], *tail))  # tail[3]: KEYS[1]
            except redis.ResponseError as exc:
                replies.append(exc)
        return replies

    def on_node(self, key: Any, *command: Any) -> Any:
        """``command`` on the master owning ``key``'s slot, over this thread's kept
        connection to it."""
        client = self.client
        node = client.nodes_manager.get_node_from_slot(client.keyslot(key))
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = {}
        entry = held.get(node.name)
        if entry is None:
            entry = held[node.name] = _Held(self._pool(node))
        conn = entry.conn
        try:
            conn.send_command(*command)
            return conn.read_response()
        except (AskError, TryAgainError, ClusterDownError):  # MOVED is an AskError
            return client.execute_command(*command)
        except redis.ResponseError:
            raise  # the reply was read whole; the connection is fine
        except redis.ConnectionError as error:
            conn.disconnect()
            if isinstance(error, redis.AuthenticationError | redis.exceptions.AuthorizationError):
                raise
            return client.execute_command(*command)
        except BaseException:
            conn.disconnect()  # timeout or interrupt: a reply may still be on its way
            raise


_SHARED: weakref.WeakKeyDictionary[Any, ThreadConnections | ClusterCalls] = \
    weakref.WeakKeyDictionary()
_SHARED_MUTEX = threading.Lock()


def connections_for(client: redis.Redis) -> ThreadConnections | ClusterCalls:
    """One ThreadConnections per client, so a thread keeps one connection per client
    however many FileSystem objects it uses.  A cluster client routes each call by its
    key instead (ClusterCalls): a kept connection would name one node only."""
    with _SHARED_MUTEX:
        shared = _SHARED.get(client)
        if shared is None:
            made = ClusterCalls(client) if is_cluster(client) else ThreadConnections(client)
            shared = _SHARED[client] = made
        return shared
