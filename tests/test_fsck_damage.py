"""fsck on hostile damage: bad modes and counters, huge next_ino, directory loops, names
no path can spell, and dead mounts.  Each is reported, repaired, and never crashes."""

from __future__ import annotations

import errno
import time

import pytest
import redis

from redisfs_tui.core import ROOT_INO, FileSystem, FsError, fsck, registry


def _kinds(problems: list[fsck.Problem]) -> list[tuple[str, int]]:
    return sorted((p.kind, p.ino) for p in problems)


def _repaired_clean(fs: FileSystem) -> None:
    problems = fsck.check(fs)
    assert all(p.repairable for p in problems), problems
    fsck.repair(fs, problems)
    assert fsck.check(fs) == []


@pytest.mark.parametrize("mode", ["-5", "not-a-mode", "1.5", str(2**40), "0"])
def test_bad_mode_is_reported_and_repaired(client: redis.Redis, fs: FileSystem,
                                           mode: str) -> None:
    """A negative mode crashed fsck (OverflowError in stat.S_ISDIR); any mode that is
    not a file mode is now EUCLEAN for getattr, skipped by listings, and repaired."""
    d = fs.mkdir(ROOT_INO, "d")
    f = fs.create(d.ino, "f", 0o644)
    fs.write(f.ino, 0, b"data")
    fs.release(f.ino)
    client.hset(fs.keys.inode(f.ino), "mode", mode)
    client.hset(fs.keys.inode(d.ino), "mode", mode)
    with pytest.raises(FsError) as exc:
        fs.getattr(f.ino)
    assert exc.value.errno == errno.EUCLEAN
    assert [n for page in fs.readdir_plus(ROOT_INO) for n, _ in page] == []
    problems = fsck.check(fs)
    assert _kinds(problems) == [("bad-mode", d.ino), ("bad-mode", f.ino)]
    fsck.repair(fs, problems)
    assert fsck.check(fs) == []
    assert fs.resolve("/d").is_dir and fs.read(fs.resolve("/d/f").ino, 0, 4) == b"data"


def test_bad_superblock_counters_are_repaired(client: redis.Redis, fs: FileSystem) -> None:
    """Counters that are not numbers raised ValueError in fsck and in statfs (df)."""
    fs.create(ROOT_INO, "f", 0o644)
    client.hset(fs.keys.superblock, mapping={"inodes": "many", "logical_bytes": "-",
                                             "stored_bytes": "1e9", "next_ino": "x"})
    assert fs.statfs()["f_files"] >= 0
    problems = fsck.check(fs)
    assert sorted(p.detail.split()[1] for p in problems if p.kind == "bad-counter") == [
        "inodes", "logical_bytes", "next_ino", "stored_bytes"]
    fsck.repair(fs, problems)
    assert fsck.check(fs) == []
    assert client.hget(fs.keys.superblock, "inodes") == b"2"
    assert int(client.hget(fs.keys.superblock, "next_ino")) >= 2
    assert fs.create(ROOT_INO, "g", 0o644).ino > 2  # no inode number reused


def test_next_ino_below_an_inode_is_repaired(client: redis.Redis, fs: FileSystem) -> None:
    """A next_ino below an existing inode would make the next create overwrite it."""
    keep = fs.create(ROOT_INO, "keep", 0o644)
    fs.release(keep.ino)
    client.hset(fs.keys.superblock, "next_ino", 1)
    _repaired_clean(fs)
    assert fs.create(ROOT_INO, "new", 0o644).ino != keep.ino
    assert fs.resolve("/keep").ino == keep.ino


def test_huge_next_ino_does_not_hang_fsck(client: redis.Redis, fs: FileSystem) -> None:
    """fsck SCANs the inode keys instead of counting to next_ino."""
    fs.mkdir(ROOT_INO, "d")
    client.hset(fs.keys.superblock, "next_ino", 10**12)
    started = time.monotonic()
    assert fsck.check(fs) == []
    assert time.monotonic() - started < 5


def test_directory_loop_is_cut_not_blessed(client: redis.Redis, fs: FileSystem) -> None:
    """a -> b -> a, reachable from nowhere: one of them leaves the loop for lost+found,
    with what hangs below; a self-loop too."""
    a = fs.mkdir(ROOT_INO, "a").ino
    b = fs.mkdir(a, "b").ino
    below = fs.mkdir(b, "below").ino
    c = fs.mkdir(ROOT_INO, "c").ino
    client.hdel(fs.keys.dirents(ROOT_INO), "a", "c")
    client.hset(fs.keys.dirents(b), "a", a)       # closes the loop a -> b -> a
    client.hset(fs.keys.dirents(c), "self", c)    # c -> c
    problems = fsck.check(fs)
    loops = sorted(p.ino for p in problems if p.kind == "dir-loop")
    assert loops == [a, c]
    fsck.repair(fs, problems)
    assert fsck.check(fs) == []
    assert fs.resolve(f"/lost+found/#{a}/b/below").ino == below
    assert fs.resolve(f"/lost+found/#{c}").ino == c
    assert fs.getattr(ROOT_INO).parent == ROOT_INO
    assert fs.getattr(a).parent == fs.resolve("/lost+found").ino


def test_entry_naming_the_root_is_removed(client: redis.Redis, fs: FileSystem) -> None:
    """An entry pointing at the root used to make repair set the root's parent to that
    directory (a loop made legitimate); the entry goes and the root stays its own
    parent, even when a former repair already changed it."""
    sub = fs.mkdir(ROOT_INO, "sub").ino
    client.hset(fs.keys.dirents(sub), "up", ROOT_INO)
    client.hset(fs.keys.inode(ROOT_INO), "parent", sub)
    problems = fsck.check(fs)
    assert _kinds(problems) == [("bad-parent", ROOT_INO), ("root-entry", sub)]
    fsck.repair(fs, problems)
    assert fsck.check(fs) == []
    assert fs.getattr(ROOT_INO).parent == ROOT_INO
    assert client.hkeys(fs.keys.dirents(sub)) == []


def test_bad_entry_names_are_removed(client: redis.Redis, fs: FileSystem) -> None:
    """'.', '..', '', names with '/' or NUL cannot be spelled by any path: the entries
    go; what they alone named moves to lost+found."""
    f = fs.create(ROOT_INO, "f", 0o644)
    fs.release(f.ino)
    lone = fs.mkdir(ROOT_INO, "lone").ino
    client.hdel(fs.keys.dirents(ROOT_INO), "lone")
    bad = {b".": f.ino, b"..": f.ino, b"": f.ino, b"a/b": lone, b"x\0y": f.ino}
    for name, ino in bad.items():
        client.hset(fs.keys.dirents(ROOT_INO), name, ino)
    client.hset(fs.keys.inode(f.ino), "nlink", 5)  # as if the bad names were links
    problems = fsck.check(fs)
    assert sorted(p.data["name"] for p in problems if p.kind == "bad-name") == sorted(bad)
    fsck.repair(fs, problems)
    assert fsck.check(fs) == []
    assert sorted(client.hkeys(fs.keys.dirents(ROOT_INO))) == [b"f", b"lost+found"]
    assert fs.resolve(f"/lost+found/#{lone}").ino == lone
    assert fs.getattr(f.ino).nlink == 1


def test_repair_deletes_the_dead_mount_records(client: redis.Redis, fs: FileSystem) -> None:
    """fsck releases a dead session's handles and deletes its mount record; a dead
    record that holds nothing goes too."""
    holder = FileSystem(client, fs.prefix)
    held = holder.create(ROOT_INO, "held", 0o644)
    holder.unlink(ROOT_INO, "held")  # an orphan, kept only by the dead holder
    stale = repr(time.time() - 600)
    client.hset(fs.keys.mount(holder.session_id), mapping={"heartbeat": stale, "pid": 1})
    client.hset(fs.keys.mount("idle"), mapping={"heartbeat": stale, "pid": 2})
    problems = fsck.check(fs)
    assert sorted(p.kind for p in problems) == ["dead-mount", "dead-session"]
    fsck.repair(fs, problems)
    assert not client.exists(fs.keys.inode(held.ino))
    assert not client.exists(fs.keys.mount(holder.session_id), fs.keys.mount("idle"))
    assert registry.list_mounts(client, fs.prefix) == []
    assert fsck.check(fs) == []
