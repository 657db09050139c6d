"""Damage seen through a real mount: a deleted superblock, an inode with a bad mode,
counters that are not numbers, and mounts that died holding files open."""

from __future__ import annotations

import errno
import os
import subprocess
import time

import pytest
import redis
from helpers_invariants import pool_keys
from mount_fixtures import Mounter, mounter, wait_until  # noqa: F401

from redisfs_tui.core import ROOT_INO, FileSystem


def test_deleted_superblock_under_a_live_mount(mounter: Mounter, fs: FileSystem,  # noqa: F811
                                               client: redis.Redis) -> None:
    """Creating used to take inode 1 again and overwrite the root; now it is EUCLEAN,
    the root is untouched, and the log says why."""
    mount = mounter.mount(fs.prefix)
    (mount.path / "before").write_bytes(b"x")
    root = client.hgetall(fs.keys.inode(ROOT_INO))
    entries = client.hgetall(fs.keys.dirents(ROOT_INO))
    client.delete(fs.keys.superblock)
    for attempt in (lambda: (mount.path / "new").touch(),
                    lambda: (mount.path / "newdir").mkdir()):
        with pytest.raises(OSError) as exc:
            attempt()
        assert exc.value.errno == errno.EUCLEAN == 117
    assert client.hgetall(fs.keys.dirents(ROOT_INO)) == entries
    assert client.hgetall(fs.keys.inode(ROOT_INO)).keys() == root.keys()
    assert client.hget(fs.keys.inode(ROOT_INO), "mode") == root[b"mode"]
    assert not client.exists(fs.keys.superblock)
    time.sleep(2.5)  # the mount's caches and the kernel's expire: these really ask Redis
    assert "before" in os.listdir(mount.path) and os.stat(mount.path / "before").st_size == 1
    with pytest.raises(OSError) as exc:  # opening registers a handle: a change too
        (mount.path / "before").read_bytes()
    assert exc.value.errno == errno.EUCLEAN
    mount.stop()
    log = mount.log_text()
    assert "superblock missing" in log and "fsck" in log


def test_one_bad_mode_does_not_break_the_directory(mounter: Mounter, fs: FileSystem,  # noqa: F811
                                                   client: redis.Redis) -> None:
    """The bad inode answers EUCLEAN; its directory lists, its neighbours read, and df
    works even with superblock counters that are not numbers."""
    sub = fs.mkdir(ROOT_INO, "sub")
    good = fs.create(sub.ino, "good", 0o644)
    fs.write(good.ino, 0, b"fine")
    fs.release(good.ino)
    bad = fs.create(sub.ino, "bad", 0o644)
    fs.release(bad.ino)
    client.hset(fs.keys.inode(bad.ino), "mode", "-33188")
    client.hset(fs.keys.superblock, mapping={"inodes": "lots", "logical_bytes": "?"})
    mount = mounter.mount(fs.prefix)
    assert "good" in os.listdir(mount.path / "sub")
    assert (mount.path / "sub" / "good").read_bytes() == b"fine"
    with pytest.raises(OSError) as exc:
        os.stat(mount.path / "sub" / "bad")
    assert exc.value.errno == errno.EUCLEAN
    assert os.statvfs(mount.path).f_bsize > 0
    assert subprocess.run(["df", str(mount.path)], capture_output=True).returncode == 0


def test_daemon_reaps_dead_mounts_at_start(mounter: Mounter, fs: FileSystem,  # noqa: F811
                                           client: redis.Redis) -> None:
    """A mount that died holding an unlinked file open left an orphan; the next daemon
    to start releases its handles, frees the orphan and drops its record."""
    holder = FileSystem(client, fs.prefix)
    held = holder.create(ROOT_INO, "held", 0o644)
    holder.write(held.ino, 0, b"lost space" * 1000)
    holder.unlink(ROOT_INO, "held")
    dead = fs.keys.mount(holder.session_id)
    client.hset(dead, mapping={"host": "gone", "pid": 1, "mountpoint": "/mnt/gone",
                               "heartbeat": repr(time.time() - 600)})
    assert client.exists(fs.keys.inode(held.ino))
    mount = mounter.mount(fs.prefix)
    wait_until(lambda: not client.exists(fs.keys.inode(held.ino)))
    assert not client.exists(dead, fs.keys.session(holder.session_id))
    assert not client.exists(fs.keys.block_map(held.ino)) and not pool_keys(client, fs.pool)
    mount.stop()
    assert "dead mount" in mount.log_text()
