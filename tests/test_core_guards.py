"""The start-up check against servers that may evict file data (core/guards.py)."""

from __future__ import annotations

import pytest
import redis
from mount_fixtures import private_redis  # noqa: F401 -- a fixture

from redisfs_tui.core.guards import EvictingServer, check_eviction, read_eviction_policy

LRU = ["--maxmemory-policy", "allkeys-lru"]
MESSAGE = ("maxmemory-policy is allkeys-lru: Redis may evict file data; set it to noeviction "
           "(CONFIG SET maxmemory-policy noeviction) or pass --allow-eviction")


def _user(admin: redis.Redis, name: str, *rules: str) -> redis.Redis:
    admin.execute_command("ACL", "SETUSER", name, "on", ">pw", "~*", "resetchannels",
                          "-@all", "+@connection", *rules)
    return redis.Redis(port=admin.connection_pool.connection_kwargs["port"], username=name,
                       password="pw")


def test_an_evicting_server_is_refused_unless_allowed(private_redis):  # noqa: F811
    admin = redis.Redis.from_url(private_redis("lru", extra_args=LRU).url)
    with pytest.raises(EvictingServer) as refused:
        check_eviction(admin)
    assert str(refused.value) == MESSAGE
    allowed = check_eviction(admin, allow=True)
    assert allowed and "allkeys-lru" in allowed and "--allow-eviction" in allowed
    reading = check_eviction(admin, read_only=True)  # what only reads is warned, not refused
    assert reading and "allkeys-lru" in reading
    admin.config_set("maxmemory-policy", "noeviction")
    assert check_eviction(admin) is None


def test_the_policy_is_read_with_whatever_the_acl_allows(private_redis):  # noqa: F811
    admin = redis.Redis.from_url(private_redis("acl", extra_args=LRU).url)
    by_info = _user(admin, "by-info", "+info")
    by_config = _user(admin, "by-config", "+config|get")
    neither = _user(admin, "neither", "+@read")
    assert read_eviction_policy(by_info) == "allkeys-lru"
    assert read_eviction_policy(by_config) == "allkeys-lru"
    with pytest.raises(EvictingServer):
        check_eviction(by_config)
    assert read_eviction_policy(neither) is None
    unknown = check_eviction(neither)  # cannot tell: warn and go on
    assert unknown and "cannot read maxmemory-policy" in unknown


def test_statfs_without_info_reports_stored_bytes_and_nothing_free(private_redis):  # noqa: F811
    """A user that may not run INFO still gets an answer from statfs (df), not EACCES:
    the stored bytes as the size, nothing free; a read-only instance never asks."""
    from redisfs_tui.core import ROOT_INO, FileSystem

    admin = redis.Redis.from_url(private_redis("noinfo").url)
    fs = FileSystem.mkfs(admin, "ni", uid=0, gid=0)
    ino = fs.create(ROOT_INO, "f", 0o644).ino
    fs.write(ino, 0, b"x" * 10_000)
    fs.release(ino)
    assert fs.statfs()["f_bfree"] > 0  # INFO allowed: Redis memory
    user = _user(admin, "noinfo", "+@read", "+@write", "+@scripting")
    admin.execute_command("ACL", "LOG", "RESET")
    for read_only in (False, True):
        stats = FileSystem(user, "ni", read_only=read_only).statfs()
        assert stats["f_bfree"] == 0 and stats["logical_bytes"] == 10_000
        assert stats["f_blocks"] * stats["f_bsize"] >= 10_000
    log = admin.execute_command("ACL", "LOG")
    assert [e[b"object"] for e in log] == [b"info"]  # asked once, by the read-write one
