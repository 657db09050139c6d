"""Filesystem discovery, deletion, server status and mount records."""

from __future__ import annotations

import errno

import pytest
import redis

from redisfs_tui.core import ROOT_INO, FileSystem, FsError, registry


def test_list_filesystems_by_superblock(client: redis.Redis, prefix: str) -> None:
    a = FileSystem.mkfs(client, prefix + "a", codec="zlib")
    FileSystem.mkfs(client, prefix + "b")
    client.set("{unrelated}:sb", "not a hash of ours")  # hostile lookalike: skipped, no crash
    f = a.create(ROOT_INO, "f", 0o644)
    a.write(f.ino, 0, b"z" * 100_000)
    found = {s.prefix: s for s in registry.list_filesystems(client)}
    assert {prefix + "a", prefix + "b"} <= found.keys()
    summary = found[prefix + "a"]
    assert summary.codec == "zlib" and summary.inodes == 2
    assert summary.logical_bytes == 100_000 and 0 < summary.stored_bytes < 1000
    assert summary.compression_ratio > 100
    client.delete("{unrelated}:sb")


def test_delete_filesystem_removes_every_key(client: redis.Redis, fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "f", 0o644)
    fs.write(f.ino, 0, b"q" * 300_000)
    fs.setxattr(f.ino, "user.x", b"1")
    removed = registry.delete_filesystem(client, fs.prefix)
    assert removed >= 6
    assert list(client.scan_iter(match=fs.keys.all_keys_pattern())) == []
    with pytest.raises(FsError) as info:
        registry.delete_filesystem(client, fs.prefix)
    assert info.value.errno == errno.ENOENT


def test_server_info_reports_persistence(client: redis.Redis) -> None:
    info = registry.server_info(client)
    assert info.version.startswith("7.")
    assert info.role == "master" and not info.is_replica
    assert info.used_memory > 0
    assert not info.persisted  # the test server runs with --save "" and no AOF


def test_mount_record_lifecycle(client: redis.Redis, fs: FileSystem) -> None:
    reg = registry.register_mount(fs, "/mnt/here", "/tmp/log")
    mounts = registry.list_mounts(client, fs.prefix)
    assert [(m.mountpoint, m.alive, m.read_only, m.log_path) for m in mounts] == [
        ("/mnt/here", True, False, "/tmp/log")]
    assert mounts[0].session_id == fs.session_id
    other = FileSystem.mkfs(client, fs.prefix + "-other")
    reg_other = registry.register_mount(other, "/mnt/other")
    client.hset(fs.keys.mount("damaged"), mapping={"pid": "not-a-number"})  # skipped
    everywhere = {(m.prefix, m.mountpoint) for m in registry.list_mounts(client)}
    assert {(fs.prefix, "/mnt/here"), (fs.prefix + "-other", "/mnt/other")} <= everywhere
    assert all(m.session_id != "damaged" for m in registry.list_mounts(client))
    client.delete(fs.keys.mount("damaged"))
    reg_other.stop()
    reg.stop()
    assert registry.list_mounts(client, fs.prefix) == []
    ro = FileSystem(client, fs.prefix, read_only=True)
    assert registry.register_mount(ro, "/mnt/ro") is None
