"""What the inode-based FUSE API guarantees and the path-based one could not: every
hard-link name is one kernel inode (a change through one name is visible through
the others at once), and a name another mount replaced never poisons this mount's
view of it (no EIO, no hang).  Each test failed with the path-based daemon."""

from __future__ import annotations

import errno
import os
import random
import threading
import time

import mount_fixtures
from mount_fixtures import Mounter, wait_until

from redisfs_tui.core import FileSystem

mounter = mount_fixtures.mounter


def test_writes_through_one_name_show_at_once_through_the_other(mounter: Mounter,
                                                                 fs: FileSystem):
    """Write through ``first``, then stat and read through ``second`` right away: the
    size and bytes are the ones just written, every time (the path API pushed them to
    the other name by a queued invalidation: stale for a moment)."""
    mount = mounter.mount(fs.prefix)
    first, second = mount.path / "first", mount.path / "second"
    first.write_bytes(b"")
    os.link(first, second)
    rng = random.Random(3)
    model = bytearray()
    fd = os.open(first, os.O_WRONLY)
    reader = os.open(second, os.O_RDONLY)
    stale = []
    try:
        for step in range(300):
            if rng.random() < 0.2 and model:
                size = rng.randrange(len(model))
                os.ftruncate(fd, size)
                del model[size:]
            else:
                offset = rng.randrange(len(model) + 4096)
                data = rng.randbytes(rng.randrange(1, 20_000))
                os.pwrite(fd, data, offset)
                model.extend(bytes(max(0, offset + len(data) - len(model))))
                model[offset:offset + len(data)] = data
            size = os.stat(second).st_size
            got = os.pread(reader, len(model) + 10, 0)
            if size != len(model) or got != model:
                stale.append((step, size, len(model), len(got)))
    finally:
        os.close(fd)
        os.close(reader)
    assert not stale, f"{len(stale)} of 300 steps stale through the other name: {stale[:5]}"
    assert os.stat(first).st_nlink == 2 and second.read_bytes() == model


def test_link_and_unlink_show_in_the_other_names_nlink_at_once(mounter: Mounter,
                                                                fs: FileSystem):
    mount = mounter.mount(fs.prefix)
    names = [mount.path / f"n{i}" for i in range(5)]
    names[0].write_text("x")
    for count, name in enumerate(names[1:], start=2):
        os.link(names[0], name)
        assert [os.stat(n).st_nlink for n in names[:count]] == [count] * count
    for count, name in zip(range(4, 0, -1), names[:4], strict=True):
        name.unlink()
        assert os.stat(names[4]).st_nlink == count


def test_a_name_replaced_by_another_mount_is_never_eio(mounter: Mounter, fs: FileSystem):
    """Mount B replaces a file that A has open by a directory of the same name.  A's
    descriptor keeps reading the old file; A's stat of the name gives the old file or
    the new directory, never EIO (the path API asked by name, got a directory for a
    kernel inode that was a file, and the kernel marked it bad)."""
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "x").write_bytes(b"old contents")
    fd = os.open(a.path / "x", os.O_RDONLY)
    try:
        assert os.stat(a.path / "x").st_size == 12  # A's kernel knows the name now
        (b.path / "x").unlink()
        (b.path / "x").mkdir()
        errors = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                st = os.stat(a.path / "x")
            except OSError as exc:
                errors.append(errno.errorcode.get(exc.errno))
                continue
            if st.st_mode & 0o170000 == 0o040000:
                break
            time.sleep(0.05)
        assert not errors, errors
        assert os.path.isdir(a.path / "x")  # after the kernel's 1 s entry timeout
        assert os.pread(fd, 100, 0) == b"old contents"
        assert os.fstat(fd).st_size == 12
    finally:
        os.close(fd)
    assert os.listdir(a.path) == ["x"] and os.listdir(b.path) == ["x"]


def test_two_mounts_racing_renames_in_one_directory_never_hang(mounter: Mounter,
                                                                fs: FileSystem):
    """rename(x, x) arrives when the other mount changed x between the kernel's two
    lookups; libfuse's path locks waited for themselves there (the directory froze)."""
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "d").mkdir()
    stop = threading.Event()
    done = [0, 0]

    def churn(root, index: int) -> None:
        rng = random.Random(index)
        while not stop.is_set():
            src, dst = (root / "d" / f"f{rng.randrange(4)}" for _ in range(2))
            try:
                if rng.random() < 0.3:
                    src.write_bytes(b"x")
                else:
                    os.rename(src, dst)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ESTALE):
                    raise
            done[index % 2] += 1

    threads = [threading.Thread(target=churn, args=(m.path, i), daemon=True)
               for i, m in enumerate([a, b, a, b])]
    for thread in threads:
        thread.start()
    time.sleep(8)
    stop.set()
    for thread in threads:
        thread.join(20)
    assert not any(t.is_alive() for t in threads), "a rename never returned"
    assert min(done) > 100, done
    wait_until(lambda: sorted(os.listdir(a.path / "d")) == sorted(os.listdir(b.path / "d")))


def test_rmdir_of_a_name_another_mount_reused_removes_only_what_it_names(
        mounter: Mounter, fs: FileSystem):
    """A knows ``d`` as directory X (with a file in it); B renames X to ``e`` and makes a
    new empty ``d``.  A's rmdir of ``d`` removed B's new directory, and A's kernel then
    took X for removed: ``e`` listed empty through A for good (rm -rf failed with
    ENOTEMPTY after two-mount storms).  Now the daemon answers ESTALE, the kernel looks
    ``d`` up again and removes what it really names."""
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "d").mkdir()
    (a.path / "d" / "file").write_text("x")
    held = os.open(a.path / "d" / "file", os.O_RDONLY)  # keeps X in A's kernel
    try:
        os.rename(b.path / "d", b.path / "e")
        (b.path / "d").mkdir()
        os.rmdir(a.path / "d")  # within A's entry timeout: it still believes d is X
        # (e shows through A within the cache timeouts; then with X's file, not empty)
        wait_until(lambda: os.path.isdir(a.path / "e")
                   and os.listdir(a.path / "e") == ["file"])
    finally:
        os.close(held)
    assert sorted(os.listdir(b.path)) == ["e"]
    wait_until(lambda: sorted(os.listdir(a.path)) == ["e"])


def test_rename_over_a_name_another_mount_reused_replaces_only_what_it_names(
        mounter: Mounter, fs: FileSystem):
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "t").mkdir()
    (a.path / "t" / "file").write_text("x")
    (a.path / "src").mkdir()
    held = os.open(a.path / "t" / "file", os.O_RDONLY)  # keeps X in A's kernel
    try:
        os.rename(b.path / "t", b.path / "u")
        (b.path / "t").mkdir()
        os.rename(a.path / "src", a.path / "t")  # replaces the empty directory named t
        wait_until(lambda: os.path.isdir(a.path / "u")
                   and os.listdir(a.path / "u") == ["file"])
    finally:
        os.close(held)
    wait_until(lambda: sorted(os.listdir(b.path)) == ["t", "u"])
