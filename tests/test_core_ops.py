"""Every core operation and its error cases, against a real redis-server."""

from __future__ import annotations

import errno
import os
import stat
import time

import pytest
import redis
from helpers_invariants import assert_consistent, fails, map_indices, pool_keys

from redisfs_tui.core import (
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    ROOT_INO,
    XATTR_CREATE,
    XATTR_REPLACE,
    FileSystem,
    FsError,
    Keys,
)

BS = 4096


def keys_of(fs: FileSystem) -> set[str]:
    return {k.decode() for k in fs.client.scan_iter(match=fs.keys.all_keys_pattern())}


def keys_mentioning(fs: FileSystem, ino: int) -> set[str]:
    """Keys that belong to one inode (inode, entries, xattrs, blocks)."""
    k = fs.keys
    own = {k.inode(ino), k.dirents(ino), k.xattrs(ino), k.block_map(ino)}
    return {name for name in keys_of(fs) if name in own}


@pytest.fixture
def small(client: redis.Redis, prefix: str) -> FileSystem:
    """A filesystem with 4 KiB blocks, so block boundaries are cheap to cross."""
    return FileSystem.mkfs(client, prefix, block_size=BS, codec="zlib", uid=0, gid=0)


# -- lookup, resolve, getattr ---------------------------------------------------------------
def test_lookup_and_getattr(fs: FileSystem) -> None:
    root = fs.getattr(ROOT_INO)
    assert root.is_dir and root.nlink == 2 and root.ino == ROOT_INO
    d = fs.mkdir(ROOT_INO, "d", 0o750, uid=5, gid=6)
    f = fs.create(d.ino, "f", 0o640, uid=7, gid=8, open_handle=False)
    assert fs.lookup(ROOT_INO, "d").ino == d.ino
    got = fs.lookup(d.ino, b"f")
    assert got.ino == f.ino and got.is_reg and got.size == 0 and got.nlink == 1
    assert (got.uid, got.gid, stat.S_IMODE(got.mode)) == (7, 8, 0o640)
    assert fs.getattr(d.ino) == fs.lookup(ROOT_INO, "d")
    assert fs.getattr(d.ino).parent == ROOT_INO and got.parent == d.ino
    fails(errno.ENOENT, fs.lookup, ROOT_INO, "missing")
    fails(errno.ENOTDIR, fs.lookup, f.ino, "x")
    fails(errno.ENOENT, fs.lookup, 999_999, "x")
    fails(errno.ENOENT, fs.getattr, 999_999)
    assert fs.getattrs([f.ino, 999_999, ROOT_INO])[1] is None
    assert [a.ino for a in fs.getattrs([f.ino, ROOT_INO])] == [f.ino, ROOT_INO]


def test_resolve_whole_path(fs: FileSystem) -> None:
    a = fs.mkdir(ROOT_INO, "a")
    b = fs.mkdir(a.ino, "b")
    f = fs.create(b.ino, "file", 0o644, open_handle=False)
    assert fs.resolve("/").ino == ROOT_INO
    assert fs.resolve("").ino == ROOT_INO
    assert fs.resolve("/a/b/file").ino == f.ino
    assert fs.resolve(b"//a/./b//file/").ino == f.ino
    assert fs.resolve("/a/b").ino == b.ino
    fails(errno.ENOENT, fs.resolve, "/a/nope/file")
    fails(errno.ENOENT, fs.resolve, "/a/b/nope")
    fails(errno.ENOENT, fs.resolve, "/nope")
    fails(errno.ENOTDIR, fs.resolve, "/a/b/file/x")
    fails(errno.ENOTDIR, fs.resolve, "/a/b/file/x/y")
    fails(errno.EINVAL, fs.resolve, "/a/../a")
    fails(errno.ENAMETOOLONG, fs.resolve, "/" + "x" * 256)


# -- attributes ------------------------------------------------------------------------------
def test_chmod_keeps_file_type(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT_INO, "d", 0o755)
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False)
    s = fs.symlink(ROOT_INO, "s", "f")
    p = fs.mknod(ROOT_INO, "p", stat.S_IFIFO | 0o600)
    for node, kind in ((d, stat.S_IFDIR), (f, stat.S_IFREG), (s, stat.S_IFLNK),
                       (p, stat.S_IFIFO)):
        before = fs.getattr(node.ino)
        time.sleep(0.001)
        after = fs.chmod(node.ino, 0o4711 | stat.S_IFREG)  # a type in the mode is ignored
        assert stat.S_IFMT(after.mode) == kind
        assert stat.S_IMODE(after.mode) == 0o4711
        assert fs.getattr(node.ino).mode == after.mode
        assert after.ctime_ns > before.ctime_ns
        assert after.mtime_ns == before.mtime_ns
    assert fs.getattr(d.ino).is_dir
    fails(errno.ENOENT, fs.chmod, 999_999, 0o644)


def test_chown_minus_one_keeps_id(fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "f", 0o644, uid=1, gid=2, open_handle=False)
    assert (fs.chown(f.ino, 10, -1).uid, fs.getattr(f.ino).gid) == (10, 2)
    assert (fs.chown(f.ino, -1, 20).gid, fs.getattr(f.ino).uid) == (20, 10)
    same = fs.chown(f.ino)
    assert (same.uid, same.gid) == (10, 20)
    assert (fs.chown(f.ino, 0, 0).uid, fs.getattr(f.ino).gid) == (0, 0)
    fails(errno.ENOENT, fs.chown, 999_999, 1, 1)


def test_utimens_none_omits(fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False)
    a1, m1 = 1_000_000_000_123, 2_000_000_000_456
    got = fs.utimens(f.ino, a1, m1)
    assert (got.atime_ns, got.mtime_ns) == (a1, m1)
    got = fs.utimens(f.ino, None, 5)
    assert (got.atime_ns, got.mtime_ns) == (a1, 5)
    got = fs.utimens(f.ino, 7, None)
    assert (got.atime_ns, got.mtime_ns) == (7, 5)
    got = fs.utimens(f.ino, None, None)
    assert (got.atime_ns, got.mtime_ns) == (7, 5)
    assert got.ctime_ns > m1
    fails(errno.ENOENT, fs.utimens, 999_999, 1, 1)


# -- truncate -----------------------------------------------------------------------------
def test_truncate_grow_shrink_partial_block(small: FileSystem) -> None:
    fs = small
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    data = os.urandom(3 * BS + 100)
    fs.write(f, 0, data)
    assert fs.getattr(f).size == len(data)
    fs.truncate(f, BS + 10)  # shrink into the middle of block 1
    assert fs.getattr(f).size == BS + 10
    assert fs.read(f, 0, 10 * BS) == data[:BS + 10]
    assert {i.index for i in fs.block_infos(f)} == {0, 1}
    assert map_indices(fs, f) == {0, 1}
    fs.truncate(f, 3 * BS)  # grow again: the old tail must not come back
    back = fs.read(f, 0, 3 * BS)
    assert back == data[:BS + 10] + bytes(2 * BS - 10)
    fs.truncate(f, BS + 10)  # shrink to the same size twice: no change
    fs.truncate(f, BS + 10)
    assert fs.read(f, 0, 2 * BS) == data[:BS + 10]
    fs.truncate(f, BS)  # block-aligned shrink drops block 1 entirely
    assert fs.read(f, 0, 2 * BS) == data[:BS]
    assert map_indices(fs, f) == {0}
    fs.truncate(f, 5)
    fs.truncate(f, 20)
    assert fs.read(f, 0, 100) == data[:5] + bytes(15)
    fs.truncate(f, 0)
    assert fs.getattr(f).size == 0 and fs.read(f, 0, 100) == b""
    assert not fs.client.exists(fs.keys.block_map(f)) and not pool_keys(fs.client, fs.pool)
    sb = fs.superblock()
    assert (sb["logical_bytes"], sb["stored_bytes"]) == ("0", "0")
    fs.truncate(f, 10 * BS + 1)  # growing an empty file stores nothing
    assert fs.read(f, 10 * BS - 2, 10) == bytes(3)
    assert fs.superblock()["stored_bytes"] == "0"
    assert_consistent(fs)


def test_truncate_errors(small: FileSystem) -> None:
    fs = small
    d = fs.mkdir(ROOT_INO, "d")
    s = fs.symlink(ROOT_INO, "s", "target")
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False)
    fails(errno.EISDIR, fs.truncate, d.ino, 0)
    fails(errno.EINVAL, fs.truncate, s.ino, 0)
    fails(errno.EINVAL, fs.truncate, f.ino, -1)
    fails(errno.ENOENT, fs.truncate, 999_999, 0)
    fails(errno.EFBIG, fs.truncate, f.ino, (1 << 40) + 1)
    fs.write(f.ino, 0, b"abc")
    attr = fs.open(f.ino, truncate=True)
    assert attr.ino == f.ino and fs.getattr(f.ino).size == 0
    fs.release(f.ino)


# -- creating names -----------------------------------------------------------------------
def test_mknod_every_kind(fs: FileSystem) -> None:
    reg = fs.mknod(ROOT_INO, "reg", 0o600)  # no type bits -> regular file
    fifo = fs.mknod(ROOT_INO, "fifo", stat.S_IFIFO | 0o644)
    chr_dev = fs.mknod(ROOT_INO, "null", stat.S_IFCHR | 0o666, rdev=os.makedev(1, 3))
    blk_dev = fs.mknod(ROOT_INO, "sda", stat.S_IFBLK | 0o660, rdev=os.makedev(8, 0))
    sock = fs.mknod(ROOT_INO, "sock", stat.S_IFSOCK | 0o755)
    expect = {reg.ino: (stat.S_IFREG, 0o600, 0), fifo.ino: (stat.S_IFIFO, 0o644, 0),
              chr_dev.ino: (stat.S_IFCHR, 0o666, os.makedev(1, 3)),
              blk_dev.ino: (stat.S_IFBLK, 0o660, os.makedev(8, 0)),
              sock.ino: (stat.S_IFSOCK, 0o755, 0)}
    for ino, (kind, perm, rdev) in expect.items():
        a = fs.getattr(ino)
        assert (stat.S_IFMT(a.mode), stat.S_IMODE(a.mode), a.rdev) == (kind, perm, rdev)
        assert a.nlink == 1 and a.size == 0 and a.parent == ROOT_INO
    assert os.major(fs.getattr(chr_dev.ino).rdev) == 1
    assert reg.open_count == 0 and fs.getattr(reg.ino).open_count == 0
    assert len(set(expect)) == 5
    assert fs.getattr(ROOT_INO).nlink == 2  # no directories were made
    assert int(fs.superblock()["inodes"]) == 6
    fails(errno.EEXIST, fs.mknod, ROOT_INO, "fifo", stat.S_IFIFO | 0o644)
    fails(errno.ENOTDIR, fs.mknod, fifo.ino, "x", 0o644)
    fails(errno.ENOENT, fs.mknod, 999_999, "x", 0o644)
    assert_consistent(fs)


def test_create_registers_open_handle(fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "f", 0o644)
    assert f.open_count == 1 and fs.getattr(f.ino).open_count == 1
    assert fs.client.hget(fs.keys.session(fs.session_id), str(f.ino)) == b"1"
    fs.release(f.ino)
    assert fs.getattr(f.ino).open_count == 0
    assert fs.client.exists(fs.keys.session(fs.session_id)) == 0
    fails(errno.EEXIST, fs.create, ROOT_INO, "f", 0o644)
    assert fs.getattr(f.ino).open_count == 0  # the failed create registered nothing
    assert_consistent(fs)


def test_mkdir_counts_parent_links(fs: FileSystem) -> None:
    assert fs.getattr(ROOT_INO).nlink == 2
    before = fs.getattr(ROOT_INO).mtime_ns
    a = fs.mkdir(ROOT_INO, "a", 0o700)
    assert fs.getattr(ROOT_INO).nlink == 3 and fs.getattr(ROOT_INO).mtime_ns >= before
    assert a.nlink == 2 and fs.getattr(a.ino).nlink == 2 and a.is_dir
    assert stat.S_IMODE(fs.getattr(a.ino).mode) == 0o700
    fs.mkdir(ROOT_INO, "b")
    fs.mkdir(a.ino, "c")
    assert fs.getattr(ROOT_INO).nlink == 4 and fs.getattr(a.ino).nlink == 3
    fs.create(a.ino, "file", 0o644, open_handle=False)
    assert fs.getattr(a.ino).nlink == 3  # files do not count
    fails(errno.EEXIST, fs.mkdir, ROOT_INO, "a")
    fails(errno.EEXIST, fs.mkdir, a.ino, "file")
    fails(errno.ENOTDIR, fs.mkdir, fs.lookup(a.ino, "file").ino, "x")
    fails(errno.ENOENT, fs.mkdir, 999_999, "x")
    assert fs.count_entries(ROOT_INO) == 2 and fs.count_entries(a.ino) == 2
    assert_consistent(fs)


def test_symlink_and_readlink(fs: FileSystem) -> None:
    s = fs.symlink(ROOT_INO, "s", "some/where/../else")
    assert s.is_symlink and s.size == len("some/where/../else")
    assert fs.readlink(s.ino) == b"some/where/../else"
    raw = b"\xff\xfe not utf-8 \n"
    assert fs.readlink(fs.symlink(ROOT_INO, "raw", raw).ino) == raw
    long_target = b"t" * 4095
    assert fs.readlink(fs.symlink(ROOT_INO, "long", long_target).ino) == long_target
    assert stat.S_IMODE(fs.getattr(s.ino).mode) == 0o777
    fails(errno.ENAMETOOLONG, fs.symlink, ROOT_INO, "toolong", b"t" * 4096)
    fails(errno.ENOENT, fs.symlink, ROOT_INO, "empty", b"")
    fails(errno.EEXIST, fs.symlink, ROOT_INO, "s", "x")
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False)
    fails(errno.EINVAL, fs.readlink, f.ino)
    fails(errno.EINVAL, fs.readlink, ROOT_INO)
    fails(errno.ENOENT, fs.readlink, 999_999)
    assert_consistent(fs)


def test_link(fs: FileSystem) -> None:
    a = fs.mkdir(ROOT_INO, "a")
    b = fs.mkdir(ROOT_INO, "b")
    f = fs.create(a.ino, "f", 0o644, open_handle=False)
    fs.write(f.ino, 0, b"shared")
    got = fs.link(f.ino, b.ino, "g")
    assert got.nlink == 2 and fs.getattr(f.ino).nlink == 2
    assert fs.lookup(b.ino, "g").ino == f.ino
    fs.link(f.ino, a.ino, "f2")
    assert fs.getattr(f.ino).nlink == 3
    fails(errno.EPERM, fs.link, a.ino, b.ino, "dirlink")
    fails(errno.EEXIST, fs.link, f.ino, b.ino, "g")
    fails(errno.EEXIST, fs.link, f.ino, ROOT_INO, "a")
    fails(errno.ENOENT, fs.link, 999_999, b.ino, "x")
    fails(errno.ENOTDIR, fs.link, f.ino, f.ino, "x")
    fails(errno.ENOENT, fs.link, f.ino, 999_999, "x")
    assert fs.getattr(f.ino).nlink == 3
    assert fs.getattr(b.ino).nlink == 2  # hard links are not subdirectories
    fs.unlink(a.ino, "f")
    assert fs.getattr(f.ino).nlink == 2
    assert fs.read(fs.lookup(b.ino, "g").ino, 0, 100) == b"shared"
    fs.unlink(b.ino, "g")
    fs.unlink(a.ino, "f2")
    fails(errno.ENOENT, fs.getattr, f.ino)
    assert keys_mentioning(fs, f.ino) == set()
    assert_consistent(fs)


# -- removing names ----------------------------------------------------------------------
def test_unlink(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT_INO, "d")
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False)
    fs.write(f.ino, 0, os.urandom(300_000))
    fs.setxattr(f.ino, "user.k", b"v")
    assert len(keys_mentioning(fs, f.ino)) >= 3 and pool_keys(fs.client, fs.pool)
    fails(errno.EISDIR, fs.unlink, ROOT_INO, "d")
    fails(errno.ENOENT, fs.unlink, ROOT_INO, "nope")
    fails(errno.ENOTDIR, fs.unlink, f.ino, "x")
    fails(errno.ENOENT, fs.unlink, 999_999, "x")
    assert fs.unlink(ROOT_INO, "f") == f.ino
    fails(errno.ENOENT, fs.lookup, ROOT_INO, "f")
    fails(errno.ENOENT, fs.getattr, f.ino)
    assert keys_mentioning(fs, f.ino) == set()
    sb = fs.superblock()
    assert (sb["inodes"], sb["logical_bytes"], sb["stored_bytes"]) == ("2", "0", "0")
    assert fs.getattr(d.ino).is_dir
    assert_consistent(fs)


def test_rmdir(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT_INO, "d")
    sub = fs.mkdir(d.ino, "sub")
    fs.create(ROOT_INO, "f", 0o644, open_handle=False)
    fails(errno.ENOTEMPTY, fs.rmdir, ROOT_INO, "d")
    fails(errno.ENOTDIR, fs.rmdir, ROOT_INO, "f")
    fails(errno.ENOENT, fs.rmdir, ROOT_INO, "nope")
    fs.create(sub.ino, "inner", 0o644, open_handle=False)
    fails(errno.ENOTEMPTY, fs.rmdir, d.ino, "sub")
    fs.unlink(sub.ino, "inner")
    assert fs.getattr(d.ino).nlink == 3
    assert fs.rmdir(d.ino, "sub") == sub.ino
    assert fs.getattr(d.ino).nlink == 2
    fails(errno.ENOENT, fs.getattr, sub.ino)
    assert fs.getattr(ROOT_INO).nlink == 3
    fs.rmdir(ROOT_INO, "d")
    assert fs.getattr(ROOT_INO).nlink == 2
    assert keys_mentioning(fs, d.ino) == set()
    assert_consistent(fs)


# -- rename --------------------------------------------------------------------------------
def test_rename_replaces_file_atomically(fs: FileSystem) -> None:
    a = fs.create(ROOT_INO, "a", 0o644, open_handle=False)
    b = fs.create(ROOT_INO, "b", 0o600, open_handle=False)
    fs.write(a.ino, 0, b"new contents")
    fs.write(b.ino, 0, b"old")
    fs.rename(ROOT_INO, "a", ROOT_INO, "b")
    got = fs.lookup(ROOT_INO, "b")
    assert got.ino == a.ino and fs.read(got.ino, 0, 100) == b"new contents"
    fails(errno.ENOENT, fs.lookup, ROOT_INO, "a")
    fails(errno.ENOENT, fs.getattr, b.ino)
    assert keys_mentioning(fs, b.ino) == set()
    assert fs.superblock()["logical_bytes"] == str(len(b"new contents"))
    assert_consistent(fs)


def test_rename_replacing_an_open_file_keeps_it_until_release(fs: FileSystem) -> None:
    old = fs.create(ROOT_INO, "old", 0o644)  # held open
    fs.write(old.ino, 0, b"still readable")
    fs.create(ROOT_INO, "new", 0o644, open_handle=False)
    fs.rename(ROOT_INO, "new", ROOT_INO, "old")
    assert fs.getattr(old.ino).nlink == 0
    assert fs.read(old.ino, 0, 100) == b"still readable"
    assert_consistent(fs)
    fs.release(old.ino)
    fails(errno.ENOENT, fs.getattr, old.ino)
    assert_consistent(fs)


def test_rename_directories_and_errors(fs: FileSystem) -> None:
    a = fs.mkdir(ROOT_INO, "a")
    b = fs.mkdir(ROOT_INO, "b")
    sub = fs.mkdir(a.ino, "sub")
    fs.create(sub.ino, "inside", 0o644, open_handle=False)
    full = fs.mkdir(b.ino, "full")
    fs.create(full.ino, "x", 0o644, open_handle=False)
    empty = fs.mkdir(b.ino, "empty")
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False)

    fails(errno.ENOTEMPTY, fs.rename, a.ino, "sub", b.ino, "full")
    fails(errno.ENOTDIR, fs.rename, a.ino, "sub", ROOT_INO, "f")
    fails(errno.EISDIR, fs.rename, ROOT_INO, "f", b.ino, "empty")
    fails(errno.EINVAL, fs.rename, ROOT_INO, "a", sub.ino, "loop")
    fails(errno.EINVAL, fs.rename, ROOT_INO, "a", a.ino, "loop")
    fails(errno.ENOENT, fs.rename, ROOT_INO, "nope", ROOT_INO, "x")
    fails(errno.ENOTDIR, fs.rename, f.ino, "x", ROOT_INO, "y")
    fails(errno.ENOTDIR, fs.rename, ROOT_INO, "f", f.ino, "y")
    fails(errno.ENOENT, fs.rename, ROOT_INO, "f", 999_999, "y")
    fails(errno.EINVAL, fs.rename, ROOT_INO, "f", ROOT_INO, "g", 3)
    fails(errno.EINVAL, fs.rename, ROOT_INO, "f", ROOT_INO, "g", 4)
    assert_consistent(fs)

    # a directory onto an empty directory elsewhere: replaced, link counts follow
    assert (fs.getattr(a.ino).nlink, fs.getattr(b.ino).nlink) == (3, 4)
    fs.rename(a.ino, "sub", b.ino, "empty")
    assert fs.resolve("/b/empty/inside").parent == sub.ino
    assert fs.getattr(sub.ino).parent == b.ino
    assert (fs.getattr(a.ino).nlink, fs.getattr(b.ino).nlink) == (2, 4)
    fails(errno.ENOENT, fs.getattr, empty.ino)
    # a directory moved to a new name in another directory
    fs.rename(b.ino, "empty", a.ino, "back")
    assert (fs.getattr(a.ino).nlink, fs.getattr(b.ino).nlink) == (3, 3)
    assert fs.getattr(sub.ino).parent == a.ino
    # renaming onto itself is a no-op
    fs.rename(a.ino, "back", a.ino, "back")
    assert fs.lookup(a.ino, "back").ino == sub.ino
    assert int(fs.superblock()["inodes"]) == 8  # root a b sub inside full x f
    assert_consistent(fs)


def test_rename_noreplace(fs: FileSystem) -> None:
    a = fs.create(ROOT_INO, "a", 0o644, open_handle=False)
    b = fs.create(ROOT_INO, "b", 0o644, open_handle=False)
    fails(errno.EEXIST, fs.rename, ROOT_INO, "a", ROOT_INO, "b", RENAME_NOREPLACE)
    assert fs.lookup(ROOT_INO, "a").ino == a.ino and fs.lookup(ROOT_INO, "b").ino == b.ino
    fs.rename(ROOT_INO, "a", ROOT_INO, "c", RENAME_NOREPLACE)
    assert fs.lookup(ROOT_INO, "c").ino == a.ino
    fails(errno.ENOENT, fs.lookup, ROOT_INO, "a")
    assert_consistent(fs)


def test_rename_exchange_file_and_dir_across_dirs(fs: FileSystem) -> None:
    p = fs.mkdir(ROOT_INO, "p")
    q = fs.mkdir(ROOT_INO, "q")
    f = fs.create(p.ino, "f", 0o644, open_handle=False)
    fs.write(f.ino, 0, b"file data")
    d = fs.mkdir(q.ino, "d")
    child = fs.create(d.ino, "child", 0o644, open_handle=False)
    assert (fs.getattr(p.ino).nlink, fs.getattr(q.ino).nlink) == (2, 3)
    fs.rename(p.ino, "f", q.ino, "d", RENAME_EXCHANGE)
    assert fs.lookup(p.ino, "f").ino == d.ino
    assert fs.lookup(q.ino, "d").ino == f.ino
    assert (fs.getattr(p.ino).nlink, fs.getattr(q.ino).nlink) == (3, 2)
    assert fs.getattr(d.ino).parent == p.ino and fs.getattr(f.ino).parent == q.ino
    assert fs.resolve("/p/f/child").ino == child.ino
    assert fs.read(fs.resolve("/q/d").ino, 0, 100) == b"file data"
    assert_consistent(fs)
    # and back again
    fs.rename(q.ino, "d", p.ino, "f", RENAME_EXCHANGE)
    assert fs.resolve("/q/d/child").ino == child.ino
    assert (fs.getattr(p.ino).nlink, fs.getattr(q.ino).nlink) == (2, 3)
    # exchange needs both names; a directory cannot swap with its own ancestor
    fails(errno.ENOENT, fs.rename, p.ino, "f", q.ino, "missing", RENAME_EXCHANGE)
    fails(errno.EINVAL, fs.rename, ROOT_INO, "q", d.ino, "child", RENAME_EXCHANGE)
    fails(errno.EINVAL, fs.rename, d.ino, "child", ROOT_INO, "q", RENAME_EXCHANGE)
    # two directories in the same parent
    fs.mkdir(p.ino, "e1")
    fs.mkdir(p.ino, "e2")
    e1 = fs.lookup(p.ino, "e1").ino
    fs.rename(p.ino, "e1", p.ino, "e2", RENAME_EXCHANGE)
    assert fs.lookup(p.ino, "e2").ino == e1 and fs.getattr(p.ino).nlink == 4
    assert_consistent(fs)


def test_rename_between_hard_links_is_noop(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT_INO, "d")
    f = fs.create(ROOT_INO, "a", 0o644, open_handle=False)
    fs.link(f.ino, d.ino, "b")
    fs.rename(ROOT_INO, "a", d.ino, "b")
    assert fs.lookup(ROOT_INO, "a").ino == f.ino
    assert fs.lookup(d.ino, "b").ino == f.ino
    assert fs.getattr(f.ino).nlink == 2
    fs.rename(ROOT_INO, "a", d.ino, "b", RENAME_EXCHANGE)
    assert fs.getattr(f.ino).nlink == 2
    assert_consistent(fs)


def test_rename_symlink_and_special_files_keep_identity(fs: FileSystem) -> None:
    s = fs.symlink(ROOT_INO, "s", "target")
    d = fs.mkdir(ROOT_INO, "d")
    fs.rename(ROOT_INO, "s", d.ino, "s2")
    moved = fs.lookup(d.ino, "s2")
    assert moved.ino == s.ino and fs.readlink(moved.ino) == b"target"
    assert moved.parent == d.ino and moved.ctime_ns >= s.ctime_ns
    assert_consistent(fs)


# -- readdir ------------------------------------------------------------------------------
def test_readdir_small(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT_INO, "d")
    made = {}
    for i in range(50):
        made[f"n{i}".encode()] = fs.create(d.ino, f"n{i}", 0o644, open_handle=False).ino
    sub = fs.mkdir(d.ino, "sub")
    made[b"sub"] = sub.ino
    listed = [entry for page in fs.readdir(d.ino) for entry in page]
    assert dict(listed) == made and len(listed) == len(made)
    plus = {name: attr for page in fs.readdir_plus(d.ino) for name, attr in page}
    assert set(plus) == set(made) and plus[b"sub"].is_dir and plus[b"n3"].is_reg
    assert plus[b"n3"].ino == made[b"n3"]
    assert fs.count_entries(d.ino) == 51
    assert list(fs.readdir(sub.ino)) == []
    f = made[b"n0"]
    with pytest.raises(FsError) as info:
        list(fs.readdir(f))
    assert info.value.errno == errno.ENOTDIR
    with pytest.raises(FsError) as info:
        list(fs.readdir(999_999))
    assert info.value.errno == errno.ENOENT


# -- read and write --------------------------------------------------------------------------
def test_read_write_any_offset(small: FileSystem) -> None:
    fs = small
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    model = bytearray()

    def put(off: int, data: bytes) -> None:
        assert fs.write(f, off, data) == len(data)
        if off > len(model):
            model.extend(bytes(off - len(model)))
        model[off:off + len(data)] = data

    put(0, b"hello")
    put(BS - 3, os.urandom(10))                 # straddles block 0/1
    put(2 * BS, os.urandom(BS))                 # exactly one whole block
    put(5 * BS + 7, b"after a hole")            # beyond EOF: blocks 3, 4 stay holes
    put(1, b"E")                                # inside the first block
    put(BS // 2, os.urandom(3 * BS))            # spans several blocks, both ends partial
    put(len(model), b"append")
    put(3, bytes(10))                            # zeros in the middle of data
    assert fs.getattr(f).size == len(model)
    for off, size in [(0, len(model)), (0, 1), (BS - 1, 2), (BS, BS), (4 * BS + 5, 3 * BS),
                      (len(model) - 3, 100), (len(model), 10), (len(model) + 500, 10),
                      (7, 0), (0, 10 * BS)]:
        assert fs.read(f, off, size) == bytes(model[off:off + size]), (off, size)
    fails(errno.EINVAL, fs.read, f, -1, 10)
    fails(errno.EINVAL, fs.read, f, 0, -1)
    fails(errno.EINVAL, fs.write, f, -1, b"x")
    assert fs.write(f, 10 * BS, b"") == 0 and fs.getattr(f).size == len(model)
    assert_consistent(fs)


def test_write_beyond_eof_leaves_hole(small: FileSystem) -> None:
    fs = small
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    fs.write(f, 3 * BS + 100, b"tail")
    assert fs.getattr(f).size == 3 * BS + 104
    assert fs.read(f, 0, 3 * BS + 104) == bytes(3 * BS + 100) + b"tail"
    infos = fs.block_infos(f)
    assert [i.codec for i in infos[:3]] == ["hole"] * 3
    assert infos[3].raw_bytes == 104 and len(infos) == 4
    assert map_indices(fs, f) == {3}
    # writing zeros over data turns the block back into a hole
    fs.write(f, 3 * BS, bytes(BS))
    assert map_indices(fs, f) == set() and not pool_keys(fs.client, fs.pool)
    assert fs.read(f, 0, 10 * BS) == bytes(4 * BS)
    assert fs.superblock()["stored_bytes"] == "0"
    assert_consistent(fs)


def test_write_at_one_gibibyte(fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "big", 0o644, open_handle=False).ino
    gib = 1 << 30
    payload = b"far away " * 1000
    fs.write(f, gib, payload)
    attr = fs.getattr(f)
    assert attr.size == gib + len(payload)
    assert fs.read(f, gib - 10, 20) == bytes(10) + payload[:10]
    assert fs.read(f, gib, len(payload) + 100) == payload
    assert fs.read(f, gib // 2, 4096) == bytes(4096)
    assert fs.read(f, attr.size - 3, 10) == payload[-3:]
    sb = fs.superblock()
    assert int(sb["logical_bytes"]) == attr.size
    assert 0 < int(sb["stored_bytes"]) < len(payload)  # one compressed block, no holes stored
    assert len(pool_keys(fs.client, fs.pool)) == 1
    fs.unlink(ROOT_INO, "big")
    assert fs.superblock()["stored_bytes"] == "0"
    assert_consistent(fs)


def test_huge_read_requests_are_cheap(small: FileSystem) -> None:
    fs = small
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    data = os.urandom(3 * BS + 5)
    fs.write(f, 0, data)
    started = time.monotonic()
    assert fs.read(f, 0, 1 << 40) == data
    assert fs.read(f, BS + 1, 1 << 40) == data[BS + 1:]
    assert fs.read(f, 1 << 39, 1 << 40) == b""
    assert fs.read(f, 3 * BS, 2000 * BS) == data[3 * BS:]
    assert time.monotonic() - started < 2
    fs.truncate(f, 1 << 35)  # a big sparse file still reads correctly across the bound
    assert fs.read(f, 0, 2000 * BS) == data + bytes(2000 * BS - len(data))
    tail = fs.read(f, (1 << 35) - 2000 * BS, 1 << 40)
    assert len(tail) == 2000 * BS and tail == bytes(2000 * BS)


def test_write_errors_and_compression(client: redis.Redis, prefix: str) -> None:
    raw = FileSystem.mkfs(client, prefix, block_size=BS, codec="raw")
    d = raw.mkdir(ROOT_INO, "d")
    fails(errno.ENOENT, raw.write, 999_999, 0, b"x")
    fails(errno.ENOENT, raw.read, 999_999, 0, 1)
    fails(errno.EISDIR, raw.write, d.ino, 0, b"x")
    f = raw.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    fails(errno.EFBIG, raw.write, f, 1 << 40, b"x")
    raw.write(f, 0, b"a" * (2 * BS))
    assert raw.superblock()["stored_bytes"] == str(2 * (BS + 1))  # codec byte per block
    assert {i.codec for i in raw.block_infos(f)} == {"raw"}
    z = FileSystem.mkfs(client, prefix + "z", block_size=BS, codec="zstd")
    g = z.create(ROOT_INO, "g", 0o644, open_handle=False).ino
    z.write(g, 0, b"a" * (2 * BS))
    assert int(z.superblock()["stored_bytes"]) < BS // 8
    assert {i.codec for i in z.block_infos(g)} == {"zstd"}
    assert z.read(g, 0, 3 * BS) == b"a" * (2 * BS)
    assert_consistent(raw)
    assert_consistent(z)


def test_large_write_spans_chunks(small: FileSystem) -> None:
    fs = small
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    data = os.urandom(9 * 1024 * 1024 + 123)  # more than two write script calls
    fs.write(f, 77, data)
    assert fs.read(f, 0, len(data) + 200) == bytes(77) + data
    assert int(fs.superblock()["logical_bytes"]) == len(data) + 77
    assert_consistent(fs)


# -- extended attributes ------------------------------------------------------------------
def test_xattrs(fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    assert fs.listxattr(f) == []
    fails(errno.ENODATA, fs.getxattr, f, "user.a")
    fs.setxattr(f, "user.a", b"1")
    fs.setxattr(f, b"user.bin", b"\x00\xff\n")
    fs.setxattr(f, "user.empty", b"")
    assert fs.getxattr(f, "user.a") == b"1"
    assert fs.getxattr(f, "user.bin") == b"\x00\xff\n"
    assert fs.getxattr(f, "user.empty") == b""
    assert sorted(fs.listxattr(f)) == [b"user.a", b"user.bin", b"user.empty"]
    fails(errno.EEXIST, fs.setxattr, f, "user.a", b"2", XATTR_CREATE)
    assert fs.getxattr(f, "user.a") == b"1"
    fails(errno.ENODATA, fs.setxattr, f, "user.none", b"2", XATTR_REPLACE)
    fs.setxattr(f, "user.a", b"2", XATTR_REPLACE)
    fs.setxattr(f, "user.c", b"3", XATTR_CREATE)
    assert fs.getxattr(f, "user.a") == b"2" and fs.getxattr(f, "user.c") == b"3"
    fs.removexattr(f, "user.a")
    fails(errno.ENODATA, fs.getxattr, f, "user.a")
    fails(errno.ENODATA, fs.removexattr, f, "user.a")
    fs.setxattr(f, "user.big", b"v" * 65536)
    fails(errno.E2BIG, fs.setxattr, f, "user.big", b"v" * 65537)
    fails(errno.ERANGE, fs.setxattr, f, "user." + "n" * 251, b"")
    fails(errno.EINVAL, fs.setxattr, f, "", b"")
    for op, args in [(fs.getxattr, ("user.a",)), (fs.setxattr, ("user.a", b"")),
                     (fs.removexattr, ("user.a",)), (fs.listxattr, ())]:
        fails(errno.ENOENT, op, 999_999, *args)
    d = fs.mkdir(ROOT_INO, "d").ino
    fs.setxattr(d, "user.ondir", b"yes")
    assert fs.listxattr(d) == [b"user.ondir"]
    fs.unlink(ROOT_INO, "f")
    assert fs.client.exists(fs.keys.xattrs(f)) == 0
    assert_consistent(fs)


# -- whole filesystem -----------------------------------------------------------------------
def test_statfs_and_superblock(fs: FileSystem) -> None:
    st = fs.statfs()
    assert st["f_namemax"] == 255
    assert st["f_blocks"] > 0 and st["f_bsize"] > 0 and st["f_frsize"] > 0
    assert 0 <= st["f_bfree"] <= st["f_blocks"] and st["f_bavail"] <= st["f_blocks"]
    assert st["f_files"] >= st["f_ffree"] > 0
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    fs.write(f, 0, b"x" * 1000)
    assert fs.statfs()["logical_bytes"] == 1000
    assert fs.statfs()["f_files"] - fs.statfs()["f_ffree"] == 2
    sb = fs.superblock()
    assert sb["format_version"] == "2" and sb["block_size"] == str(128 * 1024)
    assert sb["inodes"] == "2" and sb["logical_bytes"] == "1000"


# -- unlinked but open ---------------------------------------------------------------------
def test_unlinked_but_open_survives_until_release(fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "f", 0o644).ino
    fs.write(f, 0, b"ghost data" * 1000)
    fs.setxattr(f, "user.k", b"v")
    assert fs.unlink(ROOT_INO, "f") == f
    fails(errno.ENOENT, fs.lookup, ROOT_INO, "f")
    attr = fs.getattr(f)
    assert attr.nlink == 0 and attr.open_count == 1
    assert fs.read(f, 0, 10) == b"ghost data"
    fs.write(f, 0, b"GHOST")  # still writable through the handle
    assert fs.read(f, 0, 10) == b"GHOST data"
    assert fs.client.sismember(fs.keys.orphans, f)
    assert [name for page in fs.readdir(ROOT_INO) for name, _ in page] == []
    fails(errno.ENOENT, fs.link, f, ROOT_INO, "revive")
    assert_consistent(fs)
    fs.release(f)
    fails(errno.ENOENT, fs.getattr, f)
    fails(errno.ENOENT, fs.read, f, 0, 1)
    assert keys_mentioning(fs, f) == set()
    assert fs.client.exists(fs.keys.orphans, fs.keys.session(fs.session_id)) == 0
    assert keys_of(fs) == {fs.keys.superblock, fs.keys.inode(ROOT_INO)}
    assert_consistent(fs)


def test_two_handles_last_release_frees(fs: FileSystem) -> None:
    f = fs.create(ROOT_INO, "f", 0o644).ino
    assert fs.open(f).open_count == 2
    fs.unlink(ROOT_INO, "f")
    fs.release(f)
    assert fs.getattr(f).open_count == 1
    fs.release(f)
    fails(errno.ENOENT, fs.getattr, f)
    fails(errno.ENOENT, fs.open, f)
    assert_consistent(fs)


def test_reap_session_frees_orphans_of_dead_session(client: redis.Redis, fs: FileSystem) -> None:
    dead = FileSystem(client, fs.prefix, session_id="deadbeef")
    g = dead.create(ROOT_INO, "g", 0o644).ino  # held by the dead session, unlinked later
    dead.write(g, 0, b"x" * 5000)
    kept = dead.create(ROOT_INO, "kept", 0o644).ino  # held, still linked
    dead.open(kept)
    mine = fs.create(ROOT_INO, "mine", 0o644).ino  # held by a live session
    fs.unlink(ROOT_INO, "g")
    fs.unlink(ROOT_INO, "mine")
    assert fs.getattr(g).nlink == 0
    assert fs.reap_session("deadbeef") == 1
    fails(errno.ENOENT, fs.getattr, g)
    assert keys_mentioning(fs, g) == set()
    assert fs.getattr(kept).open_count == 0 and fs.getattr(kept).nlink == 1
    assert fs.getattr(mine).open_count == 1  # another session's handle is untouched
    assert fs.client.exists(Keys(fs.prefix).session("deadbeef")) == 0
    assert fs.reap_session("deadbeef") == 0
    assert_consistent(fs)
    fs.release(mine)
    assert_consistent(fs)
    assert int(fs.superblock()["inodes"]) == 2
