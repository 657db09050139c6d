"""A 3-master Redis Cluster on loopback for the tests, started and torn down by a fixture.

Three ``redis-server --cluster-enabled yes`` (started through core/local_server.py),
slots split with CLUSTER ADDSLOTSRANGE, joined with CLUSTER MEET, and waited on until
every node says ``cluster_state:ok``.  Import with
``from cluster_fixtures import redis_cluster  # noqa: F401``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis.cluster import key_slot

from redisfs_tui.core.local_server import LocalRedis, free_port

SLOTS = 16384


@dataclass
class Cluster:
    """Three masters; ``nodes[i]`` owns the i-th third of the slots."""

    nodes: list[LocalRedis]
    password: str | None = None

    def url(self, index: int = 0) -> str:
        """A plain redis:// URL naming one node (what a user would paste)."""
        return self.nodes[index].url

    def owner(self, key: str) -> int:
        """Index of the node that owns ``key``'s slot."""
        return min(key_slot(key.encode()) * len(self.nodes) // SLOTS, len(self.nodes) - 1)

    def not_owner(self, key: str) -> int:
        return (self.owner(key) + 1) % len(self.nodes)

    def client(self, index: int) -> redis.Redis:
        return redis.Redis(port=self.nodes[index].port, password=self.password)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def bus_safe_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _ranges(count: int) -> list[tuple[int, int]]:
    edges = [i * SLOTS // count for i in range(count + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(count)]


def start_cluster(base: Path, masters: int = 3, timeout: float = 20.0,
                  password: str | None = None) -> Cluster:
    """Start and join ``masters`` nodes; stopped again if the cluster never forms."""
    nodes = []
    cluster = Cluster(nodes, password)
    login = ["--requirepass", password, "--masterauth", password] if password else []
    try:
        for i in range(masters):
            node = LocalRedis(base / f"node{i}", port=bus_safe_port(), extra_args=[
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", *login])
            nodes.append(node.start())
        clients = [cluster.client(i) for i in range(masters)]
        for client, (low, high) in zip(clients, _ranges(masters), strict=True):
            client.execute_command("CLUSTER ADDSLOTSRANGE", low, high)
        for client in clients[1:]:
            client.execute_command("CLUSTER MEET", "127.0.0.1", nodes[0].port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [c.cluster("info") for c in clients]
            if all(s.get("cluster_state") == "ok"
                   and int(s.get("cluster_known_nodes", 0)) == masters for s in states):
                for client in clients:
                    client.close()
                return cluster
            time.sleep(0.1)
        raise TimeoutError("the test cluster never reached cluster_state:ok")
    except BaseException:
        cluster.stop()
        raise


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()
