"""Shared fixtures: a private redis-server per test session, a fresh prefix per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import redis

from redisfs_tui.core import FileSystem
from redisfs_tui.core.local_server import LocalRedis

_counter = itertools.count()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_server.url)
    yield conn
    conn.close()


@pytest.fixture
def prefix() -> str:
    return f"t{next(_counter)}"


@pytest.fixture
def fs(client: redis.Redis, prefix: str) -> FileSystem:
    return FileSystem.mkfs(client, prefix, uid=0, gid=0)
