"""fsck finds damage that entries and inodes disagree on, and repair fixes it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import redis
from helpers_invariants import pool_keys

from redisfs_tui.core import ROOT_INO, FileSystem, fsck, registry
from redisfs_tui.ui.fsck_view import EXPLAIN


def _kinds(problems: list[fsck.Problem]) -> set[str]:
    return {p.kind for p in problems}


def _populated(fs: FileSystem) -> tuple[int, int]:
    d = fs.mkdir(ROOT_INO, "d")
    f = fs.create(d.ino, "f", 0o644)
    fs.write(f.ino, 0, b"x" * 200_000)
    fs.release(f.ino)
    return d.ino, f.ino


def test_clean_filesystem_has_no_problems(fs: FileSystem) -> None:
    _populated(fs)
    fs.symlink(ROOT_INO, "s", "d/f")
    assert fsck.check(fs) == []


def test_finds_and_repairs_damage(client: redis.Redis, fs: FileSystem) -> None:
    _, f = _populated(fs)
    client.hset(fs.keys.dirents(ROOT_INO), "ghost", 999)          # dangling entry
    client.hset(fs.keys.inode(f), "nlink", 5)                      # wrong nlink
    client.hset(fs.keys.superblock, "inodes", 77)                  # wrong counter
    client.hset(fs.keys.block_map(f), 40, client.hget(fs.keys.block_map(f), 0))  # past the end
    lonely = fs.create(ROOT_INO, "lonely", 0o644)
    fs.release(lonely.ino)
    client.hdel(fs.keys.dirents(ROOT_INO), "lonely")               # unreachable inode
    problems = fsck.check(fs)
    assert _kinds(problems) == {"dangling-entry", "bad-nlink", "bad-counter", "unreachable",
                                "stray-block"}
    assert fsck.repair(fs, problems) == len(problems)
    assert fsck.check(fs) == []
    adopted = fs.resolve(f"/lost+found/#{lonely.ino}")
    assert adopted.nlink == 1
    assert fs.read(f, 0, 3) == b"xxx" and fs.getattr(f).nlink == 1
    assert not client.hexists(fs.keys.block_map(f), 40)


def test_orphan_without_holder_is_purged(client: redis.Redis, fs: FileSystem) -> None:
    _, f = _populated(fs)
    client.hset(fs.keys.inode(f), "nlink", 0)
    client.hdel(fs.keys.dirents(fs.resolve("/d").ino), "f")
    problems = fsck.check(fs)
    assert [p.kind for p in problems if p.ino == f] == ["orphan"]
    fsck.repair(fs, problems)
    assert not client.exists(fs.keys.inode(f), fs.keys.block_map(f))
    assert fsck.check(fs) == []


def test_dead_mount_handles_are_released(client: redis.Redis, fs: FileSystem) -> None:
    d, _ = _populated(fs)
    holder = FileSystem(client, fs.prefix)  # another host that dies while holding a file
    held = holder.create(d, "held", 0o644)
    holder.write(held.ino, 0, b"data")
    registration = registry.register_mount(holder, "/mnt/gone")
    registration._stop.set()  # the process died: no more heartbeats, record left behind
    client.hset(fs.keys.mount(holder.session_id), "heartbeat", repr(time.time() - 60))
    fs.unlink(d, "held")
    assert fs.getattr(held.ino).nlink == 0  # kept: the dead host still "holds" it
    dead = [m for m in registry.list_mounts(client, fs.prefix) if not m.alive]
    assert [m.mountpoint for m in dead] == ["/mnt/gone"]
    problems = fsck.check(fs)
    assert "dead-session" in _kinds(problems)
    fsck.repair(fs, problems)
    assert not client.exists(fs.keys.inode(held.ino))
    assert registry.reap_dead_mounts(fs) == 0
    assert registry.list_mounts(client, fs.prefix) == []


def test_corrupt_inode_is_reported_not_destroyed(client: redis.Redis, fs: FileSystem) -> None:
    d, _ = _populated(fs)
    client.hset(fs.keys.inode(d), "uid", "not-a-number")
    problems = fsck.check(fs)
    corrupt = [p for p in problems if p.kind == "corrupt-inode"]
    assert corrupt and corrupt[0].ino == d and not corrupt[0].repairable
    fsck.repair(fs, problems)
    assert client.hget(fs.keys.dirents(ROOT_INO), "d") == str(d).encode()


def test_hostile_directory_entries(client: redis.Redis, fs: FileSystem) -> None:
    """Entry values that are not inode numbers: listings skip them instead of failing,
    unlink removes them, and fsck reports and repairs them instead of crashing."""
    fs.create(ROOT_INO, "fine", 0o644)
    sub = fs.mkdir(ROOT_INO, "sub", 0o755)
    for parent, name, value in ((ROOT_INO, "text", "notanumber"), (ROOT_INO, "neg", "-5"),
                                (ROOT_INO, "spaced", " 2"), (sub.ino, "float", "1.5")):
        client.hset(fs.keys.dirents(parent), name, value)
    names = {name for page in fs.readdir_plus(ROOT_INO) for name, _ in page}
    assert names == {b"fine", b"sub"}
    assert fs.unlink(ROOT_INO, "neg") == 0  # the name goes; it held no inode
    problems = fsck.check(fs)
    assert sorted((p.kind, p.detail) for p in problems) == [
        ("dangling-entry", "b'float' -> no inode number"),
        ("dangling-entry", "b'spaced' -> no inode number"),
        ("dangling-entry", "b'text' -> no inode number"),
    ]
    assert fsck.repair(fs, problems) == 3
    assert fsck.check(fs) == []
    assert sorted(client.hkeys(fs.keys.dirents(ROOT_INO))) == [b"fine", b"sub"]


def test_corrupt_file_keeps_its_data_and_wrong_key_types_are_found(
        client: redis.Redis, fs: FileSystem) -> None:
    """A file whose inode cannot be parsed keeps its blocks through a repair (they are its
    data, not strays); keys of the wrong type are reported, and their removal repairs."""
    f = fs.create(ROOT_INO, "precious", 0o644)
    fs.write(f.ino, 0, b"keep me" * 40_000)  # three blocks
    client.hset(fs.keys.inode(f.ino), "size", "big")
    other = fs.create(ROOT_INO, "tagged", 0o644)
    client.set(fs.keys.xattrs(other.ino), "a string where a hash belongs")
    folder = fs.mkdir(ROOT_INO, "folder", 0o755)
    client.set(fs.keys.dirents(folder.ino), "also a string")
    client.set(fs.keys.block_map(other.ino), "a string where a block map belongs")
    problems = fsck.check(fs)
    kinds = sorted((p.kind, p.ino) for p in problems if p.kind != "bad-counter")
    assert kinds == [("corrupt-inode", f.ino), ("wrong-type", other.ino),
                     ("wrong-type", other.ino), ("wrong-type", folder.ino)]
    blocks = client.hgetall(fs.keys.block_map(f.ino))
    assert len(blocks) == 3 and len(pool_keys(client, fs.pool)) == 3
    fsck.repair(fs, problems)
    assert client.hgetall(fs.keys.block_map(f.ino)) == blocks
    assert len(pool_keys(client, fs.pool)) == 3
    assert fs.listxattr(other.ino) == [] and list(fs.readdir(folder.ino)) == []
    assert not client.exists(fs.keys.block_map(other.ino))
    assert [p.kind for p in fsck.check(fs)] == ["corrupt-inode"]  # stays for a human


def test_every_problem_fsck_reports_is_explained_in_the_ui() -> None:
    """The fsck view shows a sentence per problem kind: a kind without one showed blank."""
    core = Path(fsck.__file__).parent
    kinds = {kind for path in core.glob("fsck*.py")
             for kind in re.findall(r'Problem\(\s*"([a-z-]+)"', path.read_text())}
    assert kinds and kinds <= set(EXPLAIN), sorted(kinds - set(EXPLAIN))
