"""Copy-on-write snapshots (format 2): shared pool blocks, freeing, GC, a consistent cut
under concurrent writers, and the upgrade from format 1."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import redis
from helpers_invariants import assert_consistent, pool_keys

from redisfs_tui.cli import ui as ui_cli
from redisfs_tui.core import ROOT_INO, FileSystem, FsError, access, fsck, pool, rdb_io, registry
from redisfs_tui.core import snapshot as snap
from redisfs_tui.core.keys import Keys, block_key
from redisfs_tui.core.upgrade import upgrade


def _files(fs: FileSystem, count: int, size: int) -> dict[str, bytes]:
    made = {}
    for i in range(count):
        data = os.urandom(size)
        f = fs.create(ROOT_INO, f"f{i}", 0o644, open_handle=False)
        fs.write(f.ino, 0, data)
        made[f"f{i}"] = data
    return made


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def test_snapshot_shares_blocks(client: redis.Redis, fs: FileSystem) -> None:
    """A snapshot adds metadata only: no pool block, memory far below the data size."""
    made = _files(fs, 20, 3 * fs.block_size)
    blocks = pool_keys(client, fs.pool)
    assert len(blocks) == 60
    before = _used(client)
    result = snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    added = _used(client) - before
    copy = FileSystem(client, fs.prefix + ".s")
    assert result.inodes == 21 and copy.pool == fs.pool
    assert pool_keys(client, fs.pool) == blocks
    assert added < 0.05 * sum(len(d) for d in made.values()), added
    assert copy.superblock()["stored_bytes"] == fs.superblock()["stored_bytes"]
    for name, data in made.items():
        assert copy.read(copy.lookup(ROOT_INO, name).ino, 0, len(data) + 1) == data
    assert_consistent(fs)
    assert_consistent(copy)


def test_overwrite_after_snapshot_leaves_it_intact(client: redis.Redis, fs: FileSystem) -> None:
    made = _files(fs, 3, 2 * fs.block_size + 5)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    f0, f1 = fs.lookup(ROOT_INO, "f0").ino, fs.lookup(ROOT_INO, "f1").ino
    fs.write(f0, 10, b"NEW" * 1000)
    fs.truncate(f1, 3)
    fs.unlink(ROOT_INO, "f2")
    copy = FileSystem(client, fs.prefix + ".s")
    for name, data in made.items():
        assert copy.read(copy.lookup(ROOT_INO, name).ino, 0, len(data) + 1) == data
    assert fs.read(f0, 10, 3) == b"NEW" and fs.read(f1, 0, 10) == made["f1"][:3]
    # the snapshot's copies are the originals: overwriting the copy leaves fs alone too
    copy.write(copy.lookup(ROOT_INO, "f2").ino, 0, b"only in the copy")
    assert fs.read(f0, 0, 10) == made["f0"][:10]
    assert_consistent(fs)
    assert_consistent(copy)
    assert fsck.check(fs) == [] and fsck.check(copy) == []


def test_delete_snapshot_then_gc_reclaims(client: redis.Redis, fs: FileSystem) -> None:
    made = _files(fs, 4, fs.block_size)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    for name in made:  # the blocks are shared now: unlink leaves them to the snapshot
        fs.unlink(ROOT_INO, name)
    assert len(pool_keys(client, fs.pool)) == 4
    registry.delete_filesystem(client, fs.prefix + ".s")
    # a young block is kept (a writer may be about to commit it) ...
    assert pool.gc(client, fs.pool).deleted == 0
    assert len(pool_keys(client, fs.pool)) == 4
    # ... one older than the GC's age limit is garbage
    found = fsck.check(fs)
    assert [p.kind for p in found] == []
    stored = sum(client.strlen(key) for key in pool_keys(client, fs.pool))
    stopped = pool.gc(client, fs.pool, min_age=0, cancelled=lambda: True)
    assert stopped.aborted == pool.CANCELLED and stopped.deleted == 0
    assert len(pool_keys(client, fs.pool)) == 4  # a cancelled GC deletes nothing
    done = pool.gc(client, fs.pool, min_age=0)
    assert (done.deleted, done.members, done.freed_bytes) == (4, (fs.prefix,), stored)
    assert not pool_keys(client, fs.pool)


def test_fsck_reports_and_collects_garbage(client: redis.Redis, fs: FileSystem) -> None:
    """A block nothing references and older than 10 minutes (a writer that died between
    storing it and committing) is found by fsck and deleted by its repair."""
    fs.write(fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino, 0, b"data")
    stale_id = f"{int(time.time()) - 3600:08x}{os.urandom(4).hex()}"
    client.set(fs.block_key(stale_id), b"Rlost")
    fresh_id = f"{int(time.time()):08x}{os.urandom(4).hex()}"
    client.set(fs.block_key(fresh_id), b"Rpending")
    problems = fsck.check(fs)
    assert [p.kind for p in problems] == ["unreferenced-blocks"]
    fsck.repair(fs, problems)
    assert not client.exists(fs.block_key(stale_id)) and client.exists(fs.block_key(fresh_id))
    assert fs.read(fs.lookup(ROOT_INO, "f").ino, 0, 10) == b"data"


def test_rewriting_frees_exclusive_blocks_at_once(client: redis.Redis, fs: FileSystem) -> None:
    """No garbage grows when a file is rewritten: blocks written since the last snapshot
    are freed by the write that drops them; shared ones only once unshared."""
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    for i in range(100):
        fs.write(f, 0, os.urandom(2 * fs.block_size))
        fs.write(f, 5, bytes([i]))  # a partial overwrite too
    assert len(pool_keys(client, fs.pool)) == 2
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    for _ in range(10):
        fs.write(f, 0, os.urandom(2 * fs.block_size))
    assert len(pool_keys(client, fs.pool)) == 4  # the snapshot's two + the live two
    fs.truncate(f, 0)
    registry.delete_filesystem(client, fs.prefix + ".s")
    assert pool.gc(client, fs.pool, min_age=0).deleted == 2
    assert not pool_keys(client, fs.pool)
    assert fs.superblock()["stored_bytes"] == "0"


def test_deleting_the_last_filesystem_deletes_its_pool(client: redis.Redis,
                                                      fs: FileSystem) -> None:
    _files(fs, 3, fs.block_size)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    registry.delete_filesystem(client, fs.prefix)
    assert len(pool_keys(client, fs.pool)) == 3
    registry.delete_filesystem(client, fs.prefix + ".s")
    assert not pool_keys(client, fs.pool)


def test_snapshot_under_concurrent_writers_is_a_consistent_cut(
        client: redis.Redis, fs: FileSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each writer bumps a counter in a/<w> and then in b/<w>, and creates a/n<i> before
    b/n<i>: in any point-in-time view b's counter is a's or one less, and b's names are
    a's.  Small batches make the copy take many steps while the writers run."""
    monkeypatch.setattr(snap, "STEP_INODES", 10)
    monkeypatch.setattr(snap, "STEP_SCANS", 2)
    a, b = fs.mkdir(ROOT_INO, "a").ino, fs.mkdir(ROOT_INO, "b").ino
    for i in range(300):  # filler, so the copy takes many batches
        fs.create(ROOT_INO, f"filler{i}", 0o644, open_handle=False)
    writers = 4
    pairs = []
    for w in range(writers):
        x = fs.create(a, f"w{w}", 0o644, open_handle=False).ino
        y = fs.create(b, f"w{w}", 0o644, open_handle=False).ino
        fs.write(x, 0, b"%08d" % 0)
        fs.write(y, 0, b"%08d" % 0)
        pairs.append((x, y))
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(w: int) -> None:
        mine = FileSystem(client, fs.prefix)
        x, y = pairs[w]
        n = 0
        try:
            while not stop.is_set():
                n += 1
                mine.write(x, 0, b"%08d" % n)
                mine.write(y, 0, b"%08d" % n)
                mine.create(a, f"n{w}-{n}", 0o644, open_handle=False)
                mine.create(b, f"n{w}-{n}", 0o644, open_handle=False)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    result = snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert result.steps > 5
    copy = FileSystem(client, fs.prefix + ".s")
    ca, cb = copy.lookup(ROOT_INO, "a").ino, copy.lookup(ROOT_INO, "b").ino
    for w in range(writers):
        va = int(copy.read(copy.lookup(ca, f"w{w}").ino, 0, 8))
        vb = int(copy.read(copy.lookup(cb, f"w{w}").ino, 0, 8))
        assert vb in (va, va - 1), (w, va, vb)
    names_a = {n for page in copy.readdir(ca) for n, _ in page}
    names_b = {n for page in copy.readdir(cb) for n, _ in page}
    assert names_b <= names_a and len(names_a) > writers
    assert not client.exists(fs.keys.snap_copied)
    assert "snap_to" not in fs.superblock()
    assert_consistent(copy)
    assert_consistent(fs)


def test_incomplete_snapshot_is_not_mountable_and_a_stale_one_is_cleaned_up(
        client: redis.Redis, fs: FileSystem) -> None:
    _files(fs, 3, 100)
    src, dst = Keys(fs.prefix), Keys(fs.prefix + ".s")
    begun = client.evalsha(fs._s.snap_begin.sha, 2, src.superblock, dst.superblock, src.base,
                           dst.base, time.time_ns(), "u", "snapshot", fs.prefix)
    assert begun == b"ok"
    with pytest.raises(FsError) as info:
        FileSystem(client, fs.prefix + ".s")
    assert info.value.errno == errno.EBUSY and "still being copied" in info.value.strerror
    with pytest.raises(FsError) as info:  # a second one waits for the first
        snap.snapshot(client, fs.prefix, fs.prefix + ".t")
    assert info.value.errno == errno.EBUSY
    client.hset(src.superblock, "snap_beat", int(time.time()) - 120)  # its maker died
    assert [p.kind for p in fsck.check(fs)] == ["stale-snapshot"]
    snap.snapshot(client, fs.prefix, fs.prefix + ".t")  # cleans up, then copies
    assert not client.exists(dst.superblock)
    assert FileSystem(client, fs.prefix + ".t").superblock()["inodes"] == "4"
    assert fsck.check(fs) == []


# -- format 1 -------------------------------------------------------------------------------
def _v1_tree(client: redis.Redis, prefix: str) -> dict[str, bytes]:
    """A filesystem as format 1 stored it: blocks in {P}:b:<ino>:<index>, a `blocks`
    count in the inode, no pool."""
    keys, bs, now = Keys(prefix), 4096, time.time_ns()
    files = {"a": os.urandom(3 * bs + 7), "sparse": bytes(2 * bs) + b"tail"}
    client.hset(keys.superblock, mapping={
        "format_version": 1, "block_size": bs, "codec": "raw", "created": now, "uuid": "u",
        "next_ino": 3, "inodes": 3, "logical_bytes": sum(map(len, files.values())),
        "stored_bytes": 0})
    client.hset(keys.inode(1), mapping={"mode": 0o40755, "uid": 0, "gid": 0, "size": 0,
                                        "nlink": 2, "atime": now, "mtime": now, "ctime": now,
                                        "parent": 1})
    stored = 0
    for ino, (name, data) in enumerate(files.items(), start=2):
        count = 0
        for index in range(0, (len(data) + bs - 1) // bs):
            piece = data[index * bs:(index + 1) * bs].rstrip(b"\0")
            if piece:
                client.set(keys.block(ino, index), b"R" + piece)
                stored += 1 + len(piece)
                count += 1
        client.hset(keys.inode(ino), mapping={
            "mode": 0o100644, "uid": 0, "gid": 0, "size": len(data), "nlink": 1,
            "atime": now, "mtime": now, "ctime": now, "parent": 1, "blocks": count})
        client.hset(keys.dirents(1), name, ino)
    client.hset(keys.superblock, "stored_bytes", stored)
    return files


def test_v1_filesystem_is_refused_then_upgraded(client: redis.Redis, prefix: str) -> None:
    files = _v1_tree(client, prefix)
    with pytest.raises(FsError) as info:
        FileSystem(client, prefix)
    assert info.value.errno == errno.EPROTONOSUPPORT
    assert f"redisfs-snapshot --upgrade={prefix}" in info.value.strerror
    done = upgrade(client, prefix)
    assert done.blocks == 5 and not done.already
    assert upgrade(client, prefix).already  # running it again changes nothing
    fs = FileSystem(client, prefix)
    for name, data in files.items():
        assert fs.read(fs.lookup(ROOT_INO, name).ino, 0, len(data) + 10) == data
    assert not list(client.scan_iter(match=fs.keys.pattern("b")))
    assert fsck.check(fs) == []
    assert_consistent(fs)
    fs.write(fs.lookup(ROOT_INO, "a").ino, 0, b"after")  # and it works as format 2
    assert len(pool_keys(client, fs.pool)) == 5


def test_upgrade_resumes_after_a_crash(client: redis.Redis, prefix: str) -> None:
    """Half converted (some b: keys already in the pool, format still 1): a second run
    finishes it."""
    files = _v1_tree(client, prefix)
    keys = Keys(prefix)
    client.hset(keys.superblock, mapping={"pool": "0123456789abcdef", "epoch": 1})
    first = sorted(client.scan_iter(match=keys.pattern("b")))[0]
    ino, index = keys.parse_block(first)
    block_id = f"{int(time.time()):08x}00c0ffee"
    value = client.get(first)
    client.set(block_key("0123456789abcdef", block_id), value)
    client.hset(keys.block_map(ino), index, f"1.{block_id}.{len(value)}")
    client.delete(first)
    assert upgrade(client, prefix).blocks == 4
    fs = FileSystem(client, prefix)
    for name, data in files.items():
        assert fs.read(fs.lookup(ROOT_INO, name).ino, 0, len(data) + 10) == data
    assert fsck.check(fs) == []


def test_v1_dump_is_upgraded_on_import_and_offline(client: redis.Redis, prefix: str,
                                                    tmp_path) -> None:
    """An RDB dump of a format 1 filesystem: --import upgrades the copy on the server,
    and `redisfs-ui --rdb` upgrades its throw-away copy (the file stays as it was)."""
    files = _v1_tree(client, prefix)
    dump = tmp_path / "v1.rdb"
    rdb_io.export_filesystem(client, prefix, dump)
    rdb_io.import_filesystem(client, dump, prefix, target=prefix + ".n")
    checks = [FileSystem(client, prefix + ".n")]
    offline = ui_cli._open_rdb_offline(str(dump))
    try:
        checks.append(FileSystem(redis.Redis.from_url(offline.url), prefix))
        for fs in checks:
            for name, data in files.items():
                assert fs.read(fs.lookup(ROOT_INO, name).ino, 0, len(data) + 1) == data
            assert fsck.check(fs) == []
    finally:
        offline.stop()
        shutil.rmtree(offline.data_dir, ignore_errors=True)
    assert rdb_io.filesystems_in_rdb(dump)[0].superblock["format_version"] == "1"


def test_export_import_carries_the_pool_blocks(client: redis.Redis, fs: FileSystem,
                                               tmp_path) -> None:
    made = _files(fs, 3, fs.block_size + 3)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    dump = tmp_path / "fs.rdb"
    rdb_io.export_filesystem(client, fs.prefix + ".s", dump)
    registry.delete_filesystem(client, fs.prefix + ".s")
    registry.delete_filesystem(client, fs.prefix)
    assert not pool_keys(client, fs.pool)
    rdb_io.import_filesystem(client, dump, fs.prefix + ".s", target=fs.prefix + ".back")
    back = FileSystem(client, fs.prefix + ".back")
    assert back.pool != fs.pool and len(pool_keys(client, back.pool)) == 6
    for name, data in made.items():
        assert back.read(back.lookup(ROOT_INO, name).ino, 0, len(data) + 1) == data
    assert fsck.check(back) == []
    assert_consistent(back)


def test_a_user_without_the_pool_keys_is_told_what_to_grant(client: redis.Redis,
                                                            fs: FileSystem) -> None:
    client.execute_command("ACL", "SETUSER", "nopool", "on", ">pw", f"~{fs.keys.base}*",
                           "resetchannels", "-@all", "+@read", "+@connection")
    where = client.connection_pool.connection_kwargs
    user = redis.Redis(host=where["host"], port=where["port"], username="nopool",
                       password="pw")
    try:
        with pytest.raises(access.AccessDenied) as info:
            access.check_access(user, fs.keys, read_only=True, user="nopool")
        assert f"grant ~{{pool:{fs.pool}.*}}:*" in str(info.value)
        client.execute_command("ACL", "SETUSER", "nopool", f"~{{pool:{fs.pool}.*}}:*")
        access.check_access(user, fs.keys, read_only=True, user="nopool")
    finally:
        client.execute_command("ACL", "DELUSER", "nopool")


def test_restore_shares_blocks_and_refuses_a_mounted_target(client: redis.Redis,
                                                            fs: FileSystem) -> None:
    made = _files(fs, 3, fs.block_size + 1)
    snap.snapshot(client, fs.prefix, fs.prefix + ".s")
    fs.write(fs.lookup(ROOT_INO, "f0").ino, 0, b"changed after the snapshot")
    blocks = pool_keys(client, fs.pool)
    session = fs.keys.mount("live")
    client.hset(session, mapping={"host": "h", "pid": 1, "mountpoint": "/mnt/x",
                                  "heartbeat": repr(time.time())})
    with pytest.raises(FsError) as info:
        snap.restore(client, fs.prefix + ".s", fs.prefix)
    assert info.value.errno == errno.EBUSY
    client.delete(session)
    snap.restore(client, fs.prefix + ".s", fs.prefix)
    back, copy = FileSystem(client, fs.prefix), FileSystem(client, fs.prefix + ".s")
    assert back.pool == copy.pool == fs.pool
    assert pool_keys(client, fs.pool) < blocks  # the changed block went, nothing was copied
    for name, data in made.items():
        assert back.read(back.lookup(ROOT_INO, name).ino, 0, len(data) + 1) == data
    back.write(back.lookup(ROOT_INO, "f1").ino, 0, b"restored, then changed")
    assert copy.read(copy.lookup(ROOT_INO, "f1").ino, 0, 8) == made["f1"][:8]
    assert_consistent(back)
    assert_consistent(copy)


def test_gc_stands_back_while_a_snapshot_runs(client: redis.Redis, fs: FileSystem) -> None:
    _files(fs, 2, 100)
    stale_id = f"{int(time.time()) - 3600:08x}{os.urandom(4).hex()}"
    client.set(fs.block_key(stale_id), b"Rlost")
    src, dst = Keys(fs.prefix), Keys(fs.prefix + ".s")
    client.evalsha(fs._s.snap_begin.sha, 2, src.superblock, dst.superblock, src.base,
                   dst.base, time.time_ns(), "u", "snapshot", fs.prefix)
    result = pool.gc(client, fs.pool)
    assert "snapshot" in result.aborted and result.deleted == 0
    assert client.exists(fs.block_key(stale_id))
    fsck.repair(fs, [p for p in fsck.check(fs) if p.kind != "unreferenced-blocks"])
    client.hset(src.superblock, "snap_beat", int(time.time()) - 120)
    problems = fsck.check(fs)
    assert [p.kind for p in problems] == ["stale-snapshot"]  # the GC still stands back
    fsck.repair(fs, problems)
    assert not client.exists(dst.superblock) and "snap_to" not in fs.superblock()
    problems = fsck.check(fs)
    assert [p.kind for p in problems] == ["unreferenced-blocks"]
    fsck.repair(fs, problems)
    assert not client.exists(fs.block_key(stale_id)) and fsck.check(fs) == []


def test_a_stalled_writer_cannot_commit_an_old_block_id(client: redis.Redis,
                                                        fs: FileSystem) -> None:
    """GC deletes unreferenced blocks older than 10 minutes; the write script refuses ids
    older than 5, so a block the GC may have judged is never committed."""
    f = fs.create(ROOT_INO, "f", 0o644, open_handle=False).ino
    fs.write(f, 0, b"before")
    fs._clock_skew = -400.0  # ids made as if the writer had stalled for 400 s
    with pytest.raises(FsError) as info:
        fs.write(f, 0, b"after")
    assert info.value.errno == errno.ETIMEDOUT
    fs._clock_skew = 0.0
    assert fs.read(f, 0, 10) == b"before"
    assert len(pool_keys(client, fs.pool)) == 1  # the refused block was deleted again


def test_snapshot_cli_upgrade_and_gc(redis_server, client: redis.Redis, prefix: str) -> None:
    _v1_tree(client, prefix)
    cmd = [sys.executable, "-m", "redisfs_tui.cli.snapshot", "--url", redis_server.url]
    done = subprocess.run([*cmd, f"--upgrade={prefix}"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "upgraded" in done.stdout and "5 blocks" in done.stdout
    done = subprocess.run([*cmd, f"--gc={prefix}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "5 referenced, 0 deleted" in done.stdout, done.stdout
    done = subprocess.run([*cmd, "--gc=nope"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no format 2 filesystem" in done.stderr
    assert "Traceback" not in done.stderr


def test_fsck_repair_waits_for_a_running_snapshot(client: redis.Redis, fs: FileSystem) -> None:
    """Repairs are not copy-before-write: during a snapshot they would change what the
    snapshot is still copying, so they are refused until it ends (or is found stopped)."""
    _files(fs, 2, 100)
    client.hset(fs.keys.dirents(ROOT_INO), "ghost", 999_999)  # damage: a dangling entry
    src, dst = Keys(fs.prefix), Keys(fs.prefix + ".s")
    client.evalsha(fs._s.snap_begin.sha, 2, src.superblock, dst.superblock, src.base,
                   dst.base, time.time_ns(), "u", "snapshot", fs.prefix)
    problems = fsck.check(fs)
    assert "dangling-entry" in {p.kind for p in problems}
    with pytest.raises(FsError) as refused:
        fsck.repair(fs, problems)
    assert refused.value.errno == errno.EBUSY and "snapshot" in str(refused.value)
    assert client.hexists(fs.keys.dirents(ROOT_INO), "ghost")  # nothing was touched
    client.hset(src.superblock, "snap_beat", int(time.time()) - 120)  # its maker died
    fsck.repair(fs, fsck.check(fs))
    assert not client.hexists(fs.keys.dirents(ROOT_INO), "ghost")
    assert not client.exists(dst.superblock)
