"""Races between threads of one mount while the daemon saves buffered writes.

Each test drives real syscalls from several threads against a live mount for a few
seconds.  The mount uses a small write buffer, so saves (background batches, fsync,
the writeback timer) happen all the time and overlap reads, stats and writes
through other names.  A hung mount fails the test (race_tools.run_for aborts it).
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time

import mount_fixtures
import pytest
import redis
from mount_fixtures import Mounter, wait_until
from race_tools import run_for

from redisfs_tui.core import FileSystem

mounter = mount_fixtures.mounter
private_redis = mount_fixtures.private_redis

SMALL_BUFFER = "--write-buffer=65536"
PATTERN = random.Random(8).randbytes(4 * 1024 * 1024)


def test_writing_one_hard_link_name_while_reading_another_never_hangs(
        mounter: Mounter, fs: FileSystem):
    """The flush path used to ask the kernel to drop the other name's pages while holding
    the inode's write lock; a read of that name holds a page lock and waits for the same
    lock: the whole mount froze (fuse_reverse_inval_inode -> __folio_lock)."""
    mount = mounter.mount(fs.prefix, SMALL_BUFFER)
    first, second = mount.path / "first", mount.path / "second"
    size = 300_000
    model = bytearray(PATTERN[:size])
    first.write_bytes(model)
    os.link(first, second)
    model_mutex = threading.Lock()

    def writer(stop: threading.Event) -> None:
        rng = random.Random(1)
        while not stop.is_set():
            offset, length = rng.randrange(size - 8192), rng.randrange(1, 8192)
            data = rng.randbytes(length)
            fd = os.open(first, os.O_WRONLY)
            try:
                with model_mutex:
                    os.pwrite(fd, data, offset)
                    model[offset:offset + length] = data
            finally:
                os.close(fd)

    def reader(stop: threading.Event) -> None:
        while not stop.is_set():
            fd = os.open(second, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                assert len(os.pread(fd, size, 0)) == size
            finally:
                os.close(fd)

    run_for(6, [writer, reader, reader], mount.path)
    assert first.read_bytes() == model
    # the other name's cached pages were invalidated (asynchronously, so allow a moment)
    wait_until(lambda: second.read_bytes() == model, timeout=3)


def first_difference(got: bytes, expected: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(got, expected, strict=False)) if x != y),
                min(len(got), len(expected)))


def _appender(path: os.PathLike[str], done: list[int], fsync_every: int):
    """A worker appending PATTERN in odd-sized pieces; ``done[0]`` is how much of it
    write() has acknowledged (published only after the syscall returned)."""

    def work(stop: threading.Event) -> None:
        rng = random.Random(2)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            count = 0
            while not stop.is_set() and done[0] < len(PATTERN) - 70_000:
                length = rng.randrange(1000, 70_000)
                start = done[0]
                assert os.pwrite(fd, PATTERN[start:start + length], start) == length
                done[0] = start + length
                count += 1
                if count % fsync_every == 0:
                    os.fsync(fd)
        finally:
            os.close(fd)
    return work


def test_a_read_during_a_save_sees_the_buffer_or_the_stored_data(
        mounter: Mounter, fs: FileSystem):
    """A save used to empty the buffer before Redis had the data: a read in between
    got neither (zeros, short reads, 0 bytes)."""
    mount = mounter.mount(fs.prefix, SMALL_BUFFER)
    path = mount.path / "growing"
    done = [0]
    path.touch()

    def reader(stop: threading.Event) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            while not stop.is_set():
                length = done[0]
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # ask the daemon
                start = max(0, length - 200_000)
                data = os.pread(fd, length - start, start)
                expected = PATTERN[start:length]
                assert data == expected, (
                    f"read [{start}, {length}) got {len(data)} bytes, first difference at "
                    f"{first_difference(data, expected)}")
        finally:
            os.close(fd)

    run_for(6, [_appender(path, done, fsync_every=3), reader, reader], mount.path)
    assert path.read_bytes() == PATTERN[:done[0]]


def test_stat_during_a_save_never_shows_an_older_size(mounter: Mounter, fs: FileSystem):
    """A getattr that read Redis just before a save finished used to report (and cache)
    the size from before the save; the kernel then shrank the file."""
    mount = mounter.mount(fs.prefix, SMALL_BUFFER)
    path = mount.path / "growing"
    done = [0]
    path.touch()

    def statter(stop: threading.Event) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            while not stop.is_set():
                acknowledged = done[0]
                size = os.fstat(fd).st_size
                assert size >= acknowledged, f"stat said {size}, {acknowledged} written"
        finally:
            os.close(fd)

    def path_statter(stop: threading.Event) -> None:
        while not stop.is_set():
            acknowledged = done[0]
            size = os.stat(path).st_size
            assert size >= acknowledged, f"stat said {size}, {acknowledged} written"

    run_for(6, [_appender(path, done, fsync_every=2), statter, path_statter], mount.path)
    assert os.stat(path).st_size == done[0]


def test_a_name_over_255_bytes_is_enametoolong_even_when_the_listing_is_cached(
        mounter: Mounter, fs: FileSystem):
    mount = mounter.mount(fs.prefix)
    (mount.path / "present").touch()
    os.listdir(mount.path)  # the daemon now knows every name of the directory
    for call in (os.stat, os.chmod):
        with pytest.raises(OSError) as caught:
            call(mount.path / ("x" * 256), *([0o600] if call is os.chmod else []))
        assert caught.value.errno == errno.ENAMETOOLONG, call


def test_unmount_with_redis_gone_ends_the_daemon(private_redis, tmp_path):
    """Releasing open handles at unmount used to retry for ever while Redis was away: the
    daemon never exited (it had to be killed)."""
    server = private_redis("going")
    FileSystem.mkfs(redis.Redis.from_url(server.url), "gone", uid=0, gid=0)
    mounts = Mounter(server.url, tmp_path)
    try:
        mount = mounts.mount("gone", "--timeout=1")
        (mount.path / "held").write_bytes(b"data")
        fd = os.open(mount.path / "held", os.O_RDONLY)  # a handle registered in Redis
        server.stop()
        os.close(fd)  # its release now cannot reach Redis
        started = time.monotonic()
        code = mount.stop()
        took = time.monotonic() - started
    finally:
        mounts.cleanup()
    assert code == 0, mount.log_text()[-2000:]
    assert took < 12, f"unmount took {took:.1f} s"
    assert "not released" in mount.log_text()
