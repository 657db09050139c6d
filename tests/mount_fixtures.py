"""FUSE fixtures: real ``redisfs`` daemons (subprocesses) mounted under temp dirs.

Every mount is unmounted and its daemon ended in the fixture finalizer, even when
the test failed: ``fusermount3 -u``, then ``-u -z``, then SIGTERM/SIGKILL.
Import the fixtures into a test module with
``from mount_fixtures import Mounter, mounter, mounted  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from redisfs_tui.core import FileSystem
from redisfs_tui.core.local_server import LocalRedis
from redisfs_tui.mount import spawn


@dataclass
class Mount:
    """One live mount: where it is, its daemon, its log."""

    path: Path
    proc: subprocess.Popen[bytes]
    log: Path
    prefix: str

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int | None:
        return spawn.stop(self.proc, self.path)


@dataclass
class Mounter:
    """Starts daemons against one Redis; remembers them for cleanup."""

    url: str
    workdir: Path
    mounts: list[Mount] = field(default_factory=list)
    counter: int = 0

    def mount(self, prefix: str, *args: str, password: str | None = None,
              path: Path | None = None) -> Mount:
        self.counter += 1
        path = path or self.workdir / f"mnt{self.counter}"
        path.mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"daemon{self.counter}.log"
        cmd = ["--url", self.url, "--prefix", prefix, "--mount", str(path), "--log-file",
               str(log), *args]
        proc = spawn.spawn(cmd, path, password=password, log_path=str(log))
        mount = Mount(path, proc, log, prefix)
        self.mounts.append(mount)
        return mount

    def cleanup(self) -> None:
        for mount in self.mounts:
            with contextlib.suppress(Exception):
                mount.stop()
            if mount.proc.poll() is None:
                mount.proc.kill()
                mount.proc.wait()
            if spawn.is_mounted(mount.path):
                spawn.unmount(mount.path, lazy=True)


@pytest.fixture
def mounter(redis_server: LocalRedis, tmp_path: Path) -> Iterator[Mounter]:
    """Mount filesystems of the session's Redis; all are unmounted at the end."""
    m = Mounter(redis_server.url, tmp_path)
    try:
        yield m
    finally:
        m.cleanup()


@pytest.fixture
def mounted(mounter: Mounter, fs: FileSystem) -> Mount:
    """The test's fresh filesystem (``fs``), mounted read-write."""
    return mounter.mount(fs.prefix)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., LocalRedis]]:
    """Extra redis-servers for one test (replicas, restarts, ACLs); all stopped after."""
    servers: list[LocalRedis] = []

    def start(name: str, **kwargs: object) -> LocalRedis:
        server = LocalRedis(tmp_path / name, **kwargs)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def wait_until(check: Callable[[], bool], timeout: float = 5.0, step: float = 0.05) -> float:
    """Poll until ``check()`` is true; returns the seconds it took (fails on timeout)."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


def superuser() -> bool:
    return os.geteuid() == 0


def client_for(server: LocalRedis) -> redis.Redis:
    return redis.Redis.from_url(server.url)
