"""Redis Cluster: the client, detection, listings over every master, server info.

Every key of a filesystem carries its prefix as a hash tag, so its metadata is one
slot: scripts (KEYS[1] is the superblock) and MULTI/EXEC of those keys run on the
master owning it.  Listings (SCAN) must visit every master; INFO answers per node.
Script calls go through ``calls.ClusterCalls``.  On a single server these helpers
cost an isinstance check and no round trip.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterDownError, SlotNotCoveredError

from .errors import FsError


class ClusterClient(RedisCluster):
    """redis-py's cluster client, retrying only what cannot have run twice.

    RedisCluster also retries timeouts; after a timeout a script (mknode, release) may
    have run already, so as on a single server only failed connections, a cluster
    that is down for a moment (failover) and unassigned slots are retried."""

    ERRORS_ALLOW_RETRY = (redis.ConnectionError, ClusterDownError, SlotNotCoveredError)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


def cluster_enabled(client: redis.Redis) -> bool:
    """True when the server is a cluster node.  ``HELLO 2`` says so (``mode``) and is in
    ``@connection``, so a minimal read-only ACL user may run it without an ACL log entry;
    servers before 6.0 lack it and are asked ``INFO cluster``.  A server that answers
    neither counts as not a cluster.

    HELLO goes over a connection of its own, closed after: on a pooled connection it
    changed how redis-py 8.1 parses later replies (HGETALL came back as a list)."""
    pool = client.connection_pool  # a connection like the pool's, not counted by it
    conn = pool.connection_class(**pool.connection_kwargs)
    try:
        conn.send_command("HELLO", 2)
        reply = conn.read_response()
        fields = dict(zip(reply[::2], reply[1::2], strict=False))
        return fields.get(b"mode", fields.get("mode")) in (b"cluster", "cluster")
    except redis.ResponseError:
        pass
    finally:
        conn.disconnect()
    try:
        return bool(int(client.info("cluster").get("cluster_enabled", 0)))
    except redis.ResponseError:
        return False


def cluster_client(nodes: list[tuple[str, int]], **kwargs: Any) -> ClusterClient:
    """A cluster client that discovers every node from any of ``nodes``."""
    return ClusterClient(startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                         **kwargs)


def scan_pages(client: Any, match: str, count: int) -> Iterator[list[bytes]]:
    """SCAN pages of keys matching ``match``: one cursor on a server, one per master
    on a cluster (each page comes from one master)."""
    if is_cluster(client):
        for node in client.get_primaries():
            cursor = 0
            while True:
                cursors, keys = client.scan(cursor, match=match, count=count, target_nodes=node)
                cursor = cursors[node.name]
                yield keys
                if cursor == 0:
                    break
        return
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match=match, count=count)
        yield keys
        if cursor == 0:
            return


def mget_blocks(client: Any, names: list[Any]) -> list[bytes | None]:
    """MGET of pool blocks, which live in many slots on a cluster (split by node there;
    one MGET on a single server)."""
    if not names:
        return []
    return client.mget_nonatomic(names) if is_cluster(client) else client.mget(names)


def node_info(client: Any, section: str | None = None, key: str | None = None) -> dict:
    """INFO of the server, or on a cluster of the master owning ``key`` (else the
    client's default node): one node's figures, never a dict of nodes."""
    args = (section,) if section else ()
    if not is_cluster(client):
        return client.info(*args)
    node = client.get_node_from_key(key) if key else client.get_default_node()
    return client.info(*args, target_nodes=node)


def primaries_info(client: Any, section: str | None = None) -> dict[str, dict]:
    """INFO of every master by node name (``host:port``); one entry on a server."""
    args = (section,) if section else ()
    if not is_cluster(client):
        return {"server": client.info(*args)}
    return {node.name: client.info(*args, target_nodes=node) for node in client.get_primaries()}


def config_get(client: Any, name: str) -> dict:
    """CONFIG GET on the server, or on every master of a cluster (first answer wins
    unless the masters disagree, then the value is listed per node)."""
    if not is_cluster(client):
        return client.config_get(name)
    values = {node.name: client.config_get(name, target_nodes=node).get(name)
              for node in client.get_primaries()}
    distinct = set(values.values())
    if len(distinct) == 1:
        return {name: distinct.pop()}
    return {name: ", ".join(f"{node}={value}" for node, value in sorted(values.items()))}


def refuse_cross_slot(client: Any, what: str, *keys: str) -> None:
    """ EXDEV with a clear message when ``keys`` live in different slots of a cluster:
    one script cannot touch them (snapshot and restore copy between two prefixes)."""
    if not is_cluster(client):
        return
    slots = {client.keyslot(key) for key in keys}
    if len(slots) > 1:
        raise FsError(errno.EXDEV, f"{what} is not possible on Redis Cluster: the two "
                      "filesystems live in different hash slots and one script copies "
                      "between them (use --export/--import, or a replica, instead)")
