"""A Sentinel setup on loopback: one master, one replica, three sentinels.

Short ``down-after-milliseconds`` and ``failover-timeout`` so a killed master is
replaced within seconds.  Everything is stopped in the finalizer, killed or not.
Import with ``from sentinel_fixtures import sentinel_setup  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from redisfs_tui.core.local_server import LocalRedis, free_port

SERVICE = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000


@dataclass
class SentinelSetup:
    master: LocalRedis
    replica: LocalRedis
    sentinel_ports: list[int]
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def master_port(self) -> int | None:
        """The port the sentinels name as master right now."""
        client = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
        try:
            host_port = client.sentinel_get_master_addr_by_name(SERVICE)
        except redis.RedisError:
            return None
        finally:
            client.close()
        return int(host_port[1]) if host_port else None

    def stop(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.sentinels.clear()
        for server in (self.replica, self.master):
            with contextlib.suppress(Exception):
                server.stop()


def _wait_ping(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        try:
            if client.ping():
                return
        except redis.RedisError:
            time.sleep(0.05)
        finally:
            client.close()
    raise TimeoutError(f"nothing answers on port {port}")


def start_sentinels(base: Path) -> SentinelSetup:
    """Master, replica (in sync) and three sentinels that all know both."""
    master = LocalRedis(base / "master").start()
    replica = LocalRedis(base / "replica", extra_args=[
        "--replicaof", "127.0.0.1", str(master.port)])
    setup = SentinelSetup(master, replica, [])
    try:
        replica.start()
        client = redis.Redis(port=replica.port)
        deadline = time.monotonic() + 10
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise TimeoutError("the replica never finished its first sync")
            time.sleep(0.05)
        client.close()
        executable = shutil.which("redis-server") or "redis-server"
        for i in range(3):
            port = free_port()
            conf = base / f"sentinel{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {base}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n")
            log = open(base / f"sentinel{i}.log", "wb")  # noqa: SIM115 (child's stdout)
            setup.sentinels.append(subprocess.Popen(
                [executable, str(conf), "--sentinel"], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT))
            log.close()
            setup.sentinel_ports.append(port)
        for port in setup.sentinel_ports:
            _wait_ping(port)
        # every sentinel must know the replica (from the master's INFO) and the others
        deadline = time.monotonic() + 20
        while True:
            ready = True
            for port in setup.sentinel_ports:
                s = redis.Redis(port=port)
                try:
                    replicas = s.sentinel_slaves(SERVICE)
                    peers = s.sentinel_sentinels(SERVICE)
                finally:
                    s.close()
                ready = ready and len(replicas) >= 1 and len(peers) >= 2
            if ready:
                return setup
            if time.monotonic() > deadline:
                raise TimeoutError("the sentinels never found the replica and each other")
            time.sleep(0.2)
    except BaseException:
        setup.stop()
        raise


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = start_sentinels(tmp_path / "sentinel")
    try:
        yield setup
    finally:
        setup.stop()
