"""The kernel's page cache of a file: kept through this mount's own changes, dropped
when another client changed the file.

The kernel used to drop a file's pages itself whenever it saw a new mtime (after every
write) and at every open after one.  Dropping races with a write() through the same
mount: the kernel copies the new bytes into a cached page and unlocks it before it
sends the write to the daemon; a READ of that page in between fetches the old bytes
back into the cache, and a read right after the write() returned showed them (fsx
with 3 worker processes and mmap: BAD DATA in 7 runs of 12).
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import mount_fixtures
from mount_fixtures import Mounter, wait_until
from test_mount_stress import check, fsx, stress_mount

from redisfs_tui.core import FileSystem

mounter = mount_fixtures.mounter

VISIBLE_WITHIN = 5.0  # seconds: attr timeout + cache TTL (2 s) and slack


def test_several_writers_with_mmap_read_what_they_wrote(mounter: Mounter, fs: FileSystem):
    """Four seeds of fsx with 3 worker processes, mmap reads and writes, truncates and
    reopens on one file; each worker checks every byte it reads."""
    mount = stress_mount(mounter, fs)
    for seed in (21, 22, 23, 24):
        check(fsx(mount, seed, 1500, workers=3, mmap=True), mount)


def test_another_mounts_write_reaches_a_descriptor_open_here(mounter: Mounter,
                                                            fs: FileSystem):
    """A reads through a descriptor it keeps open (its pages cached); B rewrites the file.
    A's next stat notices the change and A's reads show B's bytes (not the cached ones)."""
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "f").write_bytes(b"a" * 10_000)
    fd = os.open(a.path / "f", os.O_RDONLY)
    try:
        assert os.pread(fd, 10_000, 0) == b"a" * 10_000  # now in A's page cache
        (b.path / "f").write_bytes(b"b" * 10_000)  # same size: only the mtime tells

        def fresh() -> bool:
            os.fstat(fd)
            return os.pread(fd, 10_000, 0) == b"b" * 10_000

        wait_until(fresh, timeout=VISIBLE_WITHIN)
    finally:
        os.close(fd)


def test_another_mounts_write_shows_at_the_next_open(mounter: Mounter, fs: FileSystem):
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "f").write_bytes(b"1" * 50_000)
    assert (a.path / "f").read_bytes() == b"1" * 50_000  # cached in A
    with open(b.path / "f", "r+b") as handle:  # B changes the middle, same size
        handle.seek(20_000)
        handle.write(b"2" * 100)
    wait_until(lambda: (a.path / "f").read_bytes()[20_000:20_100] == b"2" * 100,
               timeout=VISIBLE_WITHIN)
    assert (a.path / "f").read_bytes() == b"1" * 20_000 + b"2" * 100 + b"1" * 29_900


def test_a_write_here_after_another_mounts_write_drops_the_stale_pages(mounter: Mounter,
                                                                      fs: FileSystem):
    """A has the file cached and open; B changes the first half; A writes the second half
    without looking (no stat): A's write script reports that the file was not the version
    A knew, so A's cached first half goes too."""
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "f").write_bytes(b"a" * 8192)
    fd = os.open(a.path / "f", os.O_RDWR)
    try:
        assert os.pread(fd, 8192, 0) == b"a" * 8192
        with open(b.path / "f", "r+b") as handle:
            handle.write(b"b" * 4096)
        os.pwrite(fd, b"c" * 4096, 4096)
        os.fsync(fd)  # stored: the script saw B's version
        wait_until(lambda: os.pread(fd, 8192, 0) == b"b" * 4096 + b"c" * 4096,
                   timeout=VISIBLE_WITHIN)
    finally:
        os.close(fd)


def test_close_to_open_while_another_descriptor_stays_open(mounter: Mounter, fs: FileSystem):
    """NFS's close-to-open: once B closed the file, an open on A shows B's bytes at once,
    also while a process on A keeps the file open (so the open is not A's first, and A's
    read window and cached attributes are warm).  Odd rounds keep the size (only the
    mtime tells), even rounds grow the file (A's kernel must not stop at the old end)."""
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    size = 3 << 20
    (a.path / "f").write_bytes(b"1" * size)
    holder = os.open(a.path / "f", os.O_RDONLY)
    try:
        for round_ in range(1, 7):
            old, new = str(round_).encode(), str(round_ + 1).encode()
            with open(a.path / "f", "rb") as reader:  # sequential: a warm read window
                assert reader.read() == old * size
            os.stat(a.path / "f")  # warm attribute caches, kernel and daemon
            size += 0 if round_ % 2 else 5000
            with open(b.path / "f", "r+b") as writer:
                writer.write(new * size)
            fd = os.open(a.path / "f", os.O_RDONLY)
            try:  # a small read first: inside the window A's last reader left
                small = os.pread(fd, 4096, (2 << 20) + 4096)
                got = os.pread(fd, size + 1, 0)
            finally:
                os.close(fd)
            assert small == new * 4096, f"round {round_}: a small read gave {small[:8]!r}..."
            assert len(got) == size, f"round {round_}: read {len(got)} bytes of {size}"
            assert got == new * size, (
                f"round {round_}: {sum(1 for x in got if x != new[0])} of {size} bytes "
                f"are not {new!r} (first at {next(i for i, x in enumerate(got) if x != new[0])})")
    finally:
        os.close(holder)


def _refill_writer(path: str, rounds: int, out: Any) -> None:
    """Write whole pages, read them back at once; report every read that is not them."""
    fd = os.open(path, os.O_RDWR)
    bad = 0
    first = ""
    try:
        for n in range(1, rounds + 1):
            data = bytes([n % 251 + 1]) * (64 * 1024)
            offset = (n % 8) * 64 * 1024
            os.pwrite(fd, data, offset)
            got = os.pread(fd, len(data), offset)
            if got != data:
                bad += 1
                first = first or (f"write #{n} at {offset:#x}: read back "
                                  f"{sum(a != b for a, b in zip(got, data, strict=True))} "
                                  f"bytes of an older write")
    finally:
        os.close(fd)
    out.put((bad, first))


def _refill_reader(path: str, stop: Any) -> None:
    """Re-read the writer's range whenever its pages are dropped (readahead refills)."""
    while not stop.is_set():
        fd = os.open(path, os.O_RDONLY)
        os.pread(fd, 512 * 1024, 0)
        os.close(fd)


def _refill_other_mount(path: str, stop: Any) -> None:
    """Another mount changes the file (far from the writer's pages) all the time: each
    change makes mount A drop the file's pages."""
    n = 0
    while not stop.is_set():
        n += 1
        with open(path, "r+b") as handle:
            handle.seek(2 << 20)
            handle.write(n.to_bytes(8, "little") * 512)


def test_own_writes_survive_drops_caused_by_another_mount(mounter: Mounter, fs: FileSystem):
    """The kernel copies a write's bytes into cached pages and unlocks them before it
    sends the WRITE.  Mount A drops the file's pages whenever B changed the file; a READ
    (readahead of another process) between that drop and the WRITE's arrival brings the
    old bytes back, and the writer's own read-back showed them.  A's daemon drops the
    written range again when a READ after a drop overlaps it."""
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "f").write_bytes(bytes(3 << 20))
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    helpers = [ctx.Process(target=_refill_reader, args=(str(a.path / "f"), stop)),
               ctx.Process(target=_refill_reader, args=(str(a.path / "f"), stop)),
               ctx.Process(target=_refill_other_mount, args=(str(b.path / "f"), stop))]
    for helper in helpers:
        helper.start()
    writer = ctx.Process(target=_refill_writer, args=(str(a.path / "f"), 3000, out))
    writer.start()
    try:
        bad, first = out.get(timeout=120)
    finally:
        stop.set()
        writer.join(10)
        for helper in helpers:
            helper.join(10)
    assert bad == 0, f"{bad} of 3000 read-backs showed older bytes; the first: {first}"
