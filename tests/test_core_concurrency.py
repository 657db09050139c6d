"""Many threads on two clients change one filesystem at once; every invariant must hold."""

from __future__ import annotations

import errno
import random
import threading
from collections import Counter

import redis
from helpers_invariants import assert_consistent, problems

from redisfs_tui.core import (
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    ROOT_INO,
    FileSystem,
    FsError,
    ServerSpec,
    connect,
)
from redisfs_tui.core.calls import connections_for
from redisfs_tui.core.local_server import LocalRedis

BS = 4096
DIRS = ("d0", "d1", "d2")
NAMES = ("n0", "n1", "n2", "n3", "n4")
EXPECTED = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR,
            errno.EINVAL, errno.EPERM}
THREADS_PER_CLIENT = 3
OPS_PER_THREAD = 500
SLICE = 64  # each writer owns one 64-byte slice of every block of the shared file


def _random_path(rng: random.Random) -> str:
    depth = 1 if rng.random() < 0.7 else 2
    parts = [rng.choice(DIRS)] + [rng.choice(NAMES) for _ in range(depth)]
    return "/" + "/".join(parts)


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent or "/", name


class Worker:
    def __init__(self, fs: FileSystem, index: int, shared: int) -> None:
        self.fs, self.index, self.shared = fs, index, shared
        self.rng = random.Random(index)
        self.errors: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.handles: list[int] = []
        self.last_stamp = 0

    def op(self) -> str:
        fs, rng = self.fs, self.rng
        kind = rng.choice(["create", "create", "mkdir", "write", "write", "truncate", "rename",
                           "rename", "unlink", "rmdir", "link", "symlink", "hold", "release",
                           "shared"])
        path = _random_path(rng)
        parent, name = _split(path)
        if kind == "shared":
            self.last_stamp += 1
            stamp = bytes([self.last_stamp % 251 + 1]) * SLICE
            for block in range(4):
                fs.write(self.shared, block * BS + self.index * SLICE, stamp)
        elif kind == "create":
            attr = fs.create(fs.resolve(parent).ino, name, 0o644)
            self.handles.append(attr.ino)
        elif kind == "mkdir":
            fs.mkdir(fs.resolve(parent).ino, name)
        elif kind == "symlink":
            fs.symlink(fs.resolve(parent).ino, name, path)
        elif kind == "write":
            fs.write(fs.resolve(path).ino, rng.randint(0, 3 * BS), rng.randbytes(
                rng.randint(1, 2 * BS)))
        elif kind == "truncate":
            fs.truncate(fs.resolve(path).ino, rng.randint(0, 3 * BS))
        elif kind == "rename":
            dst_parent, dst_name = _split(_random_path(rng))
            flags = rng.choice([0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE])
            fs.rename(fs.resolve(parent).ino, name, fs.resolve(dst_parent).ino, dst_name, flags)
        elif kind == "unlink":
            fs.unlink(fs.resolve(parent).ino, name)
        elif kind == "rmdir":
            fs.rmdir(fs.resolve(parent).ino, name)
        elif kind == "link":
            dst_parent, dst_name = _split(_random_path(rng))
            fs.link(fs.resolve(path).ino, fs.resolve(dst_parent).ino, dst_name)
        elif kind == "hold":
            self.handles.append(fs.open(fs.resolve(path).ino).ino)
        elif kind == "release" and self.handles:
            fs.release(self.handles.pop(rng.randrange(len(self.handles))))
        return kind

    def run(self, start: threading.Barrier) -> None:
        start.wait()
        for _ in range(OPS_PER_THREAD):
            try:
                self.done[self.op()] += 1
            except FsError as exc:
                self.errors[errno.errorcode.get(exc.errno, str(exc.errno))] += 1
                if exc.errno not in EXPECTED:
                    self.unexpected.append(repr(exc))
            except Exception as exc:  # anything else is a bug worth seeing whole
                self.unexpected.append(repr(exc))
        while self.handles:
            self.fs.release(self.handles.pop())


def test_threads_on_two_clients_keep_every_invariant(redis_server: LocalRedis,
                                                     prefix: str) -> None:
    client_a = redis.Redis.from_url(redis_server.url, max_connections=16)
    client_b = connect(ServerSpec.from_parts(url=redis_server.url))
    fs_a = FileSystem.mkfs(client_a, prefix, block_size=BS, codec="zlib")
    fs_b = FileSystem(client_b, prefix)
    assert fs_a.session_id != fs_b.session_id
    for name in DIRS:
        fs_a.mkdir(ROOT_INO, name)
    shared = fs_a.create(ROOT_INO, "shared", 0o644, open_handle=False).ino
    fs_a.truncate(shared, 4 * BS)

    workers = [Worker(fs, i, shared) for i, fs in
               enumerate([fs_a] * THREADS_PER_CLIENT + [fs_b] * THREADS_PER_CLIENT)]
    start = threading.Barrier(len(workers))
    threads = [threading.Thread(target=w.run, args=(start,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)

    unexpected = [e for w in workers for e in w.unexpected]
    assert unexpected == [], unexpected[:10]
    assert_consistent(fs_a)

    # no lost update: every writer's last stamp is in its slice of every block
    content = fs_a.read(shared, 0, 4 * BS)
    for w in workers:
        want = bytes([w.last_stamp % 251 + 1]) * SLICE if w.last_stamp else bytes(SLICE)
        for block in range(4):
            lo = block * BS + w.index * SLICE
            assert content[lo:lo + SLICE] == want, (w.index, block)
    assert fs_a.getattr(shared).size == 4 * BS

    # the run did real work: every kind of operation succeeded, and names collided
    done = sum((w.done for w in workers), Counter())
    errors = sum((w.errors for w in workers), Counter())
    print("succeeded:", dict(done), "failed:", dict(errors))
    assert all(done[k] > 0 for k in ("create", "mkdir", "write", "truncate", "rename",
                                     "unlink", "rmdir", "link", "symlink", "hold", "release",
                                     "shared")), done
    assert errors["EEXIST"] > 0 and errors["ENOENT"] > 0
    total_errors = sum(sum(w.errors.values()) for w in workers)
    assert total_errors < 0.9 * len(workers) * OPS_PER_THREAD
    assert sum(w.last_stamp for w in workers) > 50
    assert int(fs_a.superblock()["inodes"]) > 1 + len(DIRS) + 1
    assert problems(client_b, prefix) == []
    client_a.close()
    client_b.close()


def test_crossing_directory_moves_never_detach_a_cycle(fs: FileSystem) -> None:
    """Two clients move x into y and y into x at once; one of each pair must lose."""
    other = FileSystem(redis.Redis(connection_pool=fs.client.connection_pool), fs.prefix)
    for name in ("x", "y", "z"):
        fs.mkdir(ROOT_INO, name)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def mover(me: FileSystem, pairs: list[tuple[str, str]], barrier: threading.Barrier) -> None:
        barrier.wait()
        for i in range(300):
            src, dst = pairs[i % len(pairs)]
            try:
                me.rename(me.resolve(src.rpartition("/")[0] or "/").ino, src.rpartition("/")[2],
                          me.resolve(dst.rpartition("/")[0] or "/").ino, dst.rpartition("/")[2])
                result = "ok"
            except FsError as exc:
                result = errno.errorcode[exc.errno]
            with lock:
                outcomes[result] += 1

    barrier = threading.Barrier(3)
    plans = [
        (fs, [("/x", "/y/x"), ("/y/x", "/x"), ("/x", "/z/x"), ("/z/x", "/x")]),
        (other, [("/y", "/x/y"), ("/x/y", "/y"), ("/y", "/z/y"), ("/z/y", "/y")]),
        (other, [("/z", "/x/z"), ("/x/z", "/z"), ("/z", "/y/z"), ("/y/z", "/z")]),
    ]
    threads = [threading.Thread(target=mover, args=(f, p, barrier)) for f, p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes["ok"] > 50 and set(outcomes) <= {"ok", "ENOENT", "EINVAL", "ENOTDIR"}
    assert_consistent(fs)
    found, todo = [], [ROOT_INO]  # all three are still reachable from the root
    while todo:
        for page in fs.readdir_plus(todo.pop()):
            for name, attr in page:
                found.append(name)
                todo.append(attr.ino)
    assert sorted(found) == [b"x", b"y", b"z"]
    top = fs.count_entries(ROOT_INO)
    assert 1 <= top <= 3 and fs.getattr(ROOT_INO).nlink == 2 + top


def test_kept_connections_never_starve_the_clients_pool(redis_server: LocalRedis, fs: FileSystem):
    """Script calls keep one connection per thread (core/calls.py) from a pool of their own:
    eight threads that each keep one still get plain commands and pipelines through a
    client whose pool allows three, and every kept connection goes back when its thread
    ends."""
    small = connect(ServerSpec(url=redis_server.url))
    small.connection_pool.max_connections = 3
    shared = FileSystem(small, fs.prefix)
    folder = shared.mkdir(ROOT_INO, "threads", 0o755)
    all_keep_one = threading.Barrier(8)
    one_at_a_time = threading.Lock()  # the client's pool bounds concurrent plain commands
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            made = shared.create(folder.ino, f"f{index}", 0o644)  # a script call: kept
            all_keep_one.wait(timeout=30)
            with one_at_a_time:
                shared.write(made.ino, 0, b"x" * 100)
                assert shared.getattrs([made.ino])[0].size == 100  # a pipeline
                assert FileSystem(small, fs.prefix).block_size == shared.block_size
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(n for n, _ in next(fs.readdir(folder.ino))) == sorted(
        f"f{i}".encode() for i in range(8))
    kept = connections_for(small).pool
    # the eight went back as their threads ended; the test's own thread made the folder
    assert len(kept._in_use_connections) == 1
    small.close()
