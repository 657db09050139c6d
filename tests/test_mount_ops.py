"""File operations through a real FUSE mount, checked with real tools and syscalls."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import random
import shutil
import stat
import subprocess
from pathlib import Path

import mount_fixtures
import pytest
from helpers_invariants import pool_keys
from mount_fixtures import Mount, wait_until

from redisfs_tui.core import FileSystem

# fixtures of mount_fixtures used here (imported names would trip F811)
mounted = mount_fixtures.mounted
mounter = mount_fixtures.mounter


def run(*cmd: str | Path) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True,
                          text=True).stdout


def test_cp_a_of_a_real_tree_then_diff(mounted: Mount, tmp_path: Path):
    source = tmp_path / "src"
    shutil.copytree(os.path.dirname(json.__file__), source / "json")
    (source / "deep" / "er" / "est").mkdir(parents=True)
    (source / "deep" / "er" / "est" / "empty").write_bytes(b"")
    (source / "deep" / "big.bin").write_bytes(random.Random(1).randbytes(700_000))
    (source / "deep" / "link").symlink_to("er/est/empty")
    os.link(source / "deep" / "big.bin", source / "deep" / "hard.bin")
    os.chmod(source / "deep" / "er", 0o750)
    run("cp", "-a", source, mounted.path / "copy")
    assert run("diff", "-r", "--no-dereference", source, mounted.path / "copy") == ""
    copied = mounted.path / "copy" / "deep"
    assert os.readlink(copied / "link") == "er/est/empty"
    assert stat.S_IMODE(os.stat(copied / "er").st_mode) == 0o750
    assert os.stat(copied / "big.bin").st_ino == os.stat(copied / "hard.bin").st_ino
    assert os.stat(copied / "big.bin").st_nlink == 2
    before = os.stat(source / "deep" / "big.bin")
    after = os.stat(copied / "big.bin")
    assert after.st_mtime_ns == before.st_mtime_ns  # cp -a kept the time, to the nanosecond
    assert after.st_blocks == (after.st_size + 511) // 512


def test_dd_at_random_offsets_matches_a_local_file(mounted: Mount, tmp_path: Path):
    local, remote = tmp_path / "local.bin", mounted.path / "remote.bin"
    rng = random.Random(7)
    chunk = tmp_path / "chunk"
    for i in range(25):
        size = rng.choice([1, 511, 4096, 70_000, 300_000])
        chunk.write_bytes(rng.randbytes(size))
        seek = rng.randrange(0, 3_000_000)
        for target in (local, remote):
            run("dd", f"if={chunk}", f"of={target}", f"bs={size}", "count=1", f"seek={seek}",
                "conv=notrunc", "oflag=seek_bytes", "status=none")
        if i % 8 == 7:  # and some truncates in between, shrinking and growing
            size = rng.randrange(0, 3_500_000)
            for target in (local, remote):
                run("truncate", "-s", str(size), target)
    assert local.read_bytes() == remote.read_bytes()
    assert os.stat(local).st_size == os.stat(remote).st_size


def test_sparse_file_and_huge_truncate(mounted: Mount):
    path = mounted.path / "sparse"
    with open(path, "wb") as handle:
        handle.seek(10 * 1024 * 1024 * 1024)  # 10 GiB hole
        handle.write(b"end")
    assert path.stat().st_size == 10 * 1024 ** 3 + 3
    with open(path, "rb") as handle:
        handle.seek(5 * 1024 ** 3)
        assert handle.read(4096) == bytes(4096)
        handle.seek(10 * 1024 ** 3)
        assert handle.read() == b"end"
    os.truncate(path, 2 ** 39)  # 512 GiB: metadata only
    assert path.stat().st_size == 2 ** 39
    with pytest.raises(OSError) as exc:
        os.truncate(path, 2 ** 41)  # past core's 1 TiB limit
    assert exc.value.errno == errno.EFBIG
    os.truncate(path, 1)
    assert path.read_bytes() == b"\0"


def test_links_symlinks_mv_fifo_and_nlink_on_every_name(mounted: Mount):
    root = mounted.path
    (root / "a").write_text("alpha")
    run("ln", root / "a", root / "b")
    assert os.stat(root / "a").st_nlink == 2 and os.stat(root / "b").st_nlink == 2
    run("ln", root / "b", root / "c")  # the kernel had a and b cached: both must see 3
    assert [os.stat(root / n).st_nlink for n in "abc"] == [3, 3, 3]
    assert len({os.stat(root / n).st_ino for n in "abc"}) == 1
    with open(root / "c", "a") as handle:
        handle.write("+more")
    assert (root / "a").read_text() == "alpha+more"
    assert os.stat(root / "a").st_size == len("alpha+more")
    os.unlink(root / "b")
    assert os.stat(root / "a").st_nlink == 2 and os.stat(root / "c").st_nlink == 2
    run("ln", "-s", "a", root / "sym")
    assert os.readlink(root / "sym") == "a" and (root / "sym").read_text() == "alpha+more"
    assert stat.S_ISLNK(os.lstat(root / "sym").st_mode)
    (root / "other").write_text("other")
    run("mv", root / "other", root / "c")  # over an existing name of a linked inode
    assert (root / "c").read_text() == "other"
    assert os.stat(root / "a").st_nlink == 1
    os.mkfifo(root / "fifo", 0o640)
    st = os.stat(root / "fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    st = os.stat(root / "null")  # (not openable: FUSE mounts are nodev unless -o dev)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    os.mkdir(root / "d")
    os.mkdir(root / "d" / "sub")
    assert os.stat(root / "d").st_nlink == 3
    os.rename(root / "d" / "sub", root / "sub2")
    assert os.stat(root / "d").st_nlink == 2
    assert sorted(os.listdir(root)) == ["a", "c", "d", "fifo", "null", "sub2", "sym"]


def renameat2(old: Path, new: Path, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd = -100
    if libc.renameat2(at_fdcwd, bytes(old), at_fdcwd, bytes(new), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def test_rename_noreplace_and_exchange(mounted: Mount):
    root = mounted.path
    (root / "x").write_text("x")
    (root / "y").write_text("y")
    with pytest.raises(OSError) as exc:
        renameat2(root / "x", root / "y", 1)  # RENAME_NOREPLACE
    assert exc.value.errno == errno.EEXIST
    assert sorted(os.listdir(root)) == ["x", "y"]  # the mount now knows the whole listing
    renameat2(root / "x", root / "y", 2)  # RENAME_EXCHANGE
    assert (root / "x").read_text() == "y" and (root / "y").read_text() == "x"
    assert sorted(os.listdir(root)) == ["x", "y"]  # an exchange keeps both names


def test_names_too_long_and_bad_operations(mounted: Mount):
    root = mounted.path
    for call in (lambda: (root / ("n" * 256)).write_text("x"),
                 lambda: os.mkdir(root / ("d" * 256)),
                 lambda: os.symlink("t", root / ("s" * 256))):
        with pytest.raises(OSError) as exc:
            call()
        assert exc.value.errno == errno.ENAMETOOLONG
    (root / ("n" * 255)).write_text("fits")
    os.mkdir(root / "full")
    (root / "full" / "f").write_text("x")
    with pytest.raises(OSError) as exc:
        os.rmdir(root / "full")
    assert exc.value.errno == errno.ENOTEMPTY
    with pytest.raises(OSError) as exc:
        os.rename(root / "full", root / "full" / "inside")
    assert exc.value.errno == errno.EINVAL


def test_xattrs_chmod_chown_and_times(mounted: Mount):
    path = mounted.path / "f"
    path.write_text("data")
    os.setxattr(path, "user.color", b"blue")
    os.setxattr(path, "user.empty", b"")
    assert os.getxattr(path, "user.color") == b"blue"
    assert sorted(os.listxattr(path)) == ["user.color", "user.empty"]
    with pytest.raises(OSError) as exc:
        os.setxattr(path, "user.color", b"red", os.XATTR_CREATE)
    assert exc.value.errno == errno.EEXIST
    with pytest.raises(OSError) as exc:
        os.setxattr(path, "user.none", b"x", os.XATTR_REPLACE)
    assert exc.value.errno == errno.ENODATA
    os.removexattr(path, "user.color")
    with pytest.raises(OSError) as exc:
        os.getxattr(path, "user.color")
    assert exc.value.errno == errno.ENODATA
    os.chmod(path, 0o4751)
    assert stat.S_IMODE(path.stat().st_mode) == 0o4751
    os.chown(path, 1234, -1)
    assert (path.stat().st_uid, path.stat().st_gid) == (1234, 0)
    os.chown(path, -1, 4321)
    assert (path.stat().st_uid, path.stat().st_gid) == (1234, 4321)
    os.utime(path, ns=(1_000_000_123, 2_000_000_456))
    st = path.stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    run("touch", "-a", "-d", "@5", path)  # atime only: mtime is UTIME_OMIT
    st = path.stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (5_000_000_000, 2_000_000_456)
    run("touch", "-m", path)  # mtime = UTIME_NOW, atime omitted
    st = path.stat()
    assert st.st_atime_ns == 5_000_000_000 and st.st_mtime_ns > 2_000_000_456


def test_statfs_and_df_report_redis_memory(mounted: Mount):
    vfs = os.statvfs(mounted.path)
    assert vfs.f_namemax == 255 and vfs.f_bsize > 0 and vfs.f_blocks > 0
    assert vfs.f_bfree < vfs.f_blocks  # Redis uses some memory already
    line = run("df", "-B1", mounted.path).splitlines()[-1].split()
    assert int(line[1]) > 0 and int(line[2]) > 0  # size and used, in bytes


def test_file_unlinked_while_open_lives_until_last_close(mounted: Mount, fs: FileSystem):
    folder = mounted.path / "tmpdir"
    folder.mkdir()
    path = folder / "scratch"
    with open(path, "w+b") as handle:
        handle.write(b"keep me" * 1000)
        handle.flush()
        ino = os.fstat(handle.fileno()).st_ino
        os.unlink(path)
        assert os.listdir(folder) == []  # no .fuse_hidden file left behind
        st = os.fstat(handle.fileno())
        assert st.st_nlink == 0 and st.st_size == 7000
        handle.write(b"!")
        handle.flush()
        assert os.fstat(handle.fileno()).st_size == 7001
        copy = subprocess.run(["cat"], stdin=handle.fileno(), capture_output=True, check=True)
        assert copy.stdout == b""  # cat read from the current offset: the end
        handle.seek(0)
        assert handle.read() == b"keep me" * 1000 + b"!"
        os.rmdir(folder)  # the directory can go while the file is open
        handle.seek(7000)
        assert handle.read() == b"!"
        assert fs.getattr(ino).size == 7001  # still in Redis, as an orphan
    # the last close freed it (the kernel sends RELEASE after close() returned)
    wait_until(lambda: not fs.client.exists(fs.keys.inode(ino)))
    assert not fs.client.exists(fs.keys.block_map(ino)) and not pool_keys(fs.client, fs.pool)


def test_fsync_means_stored_in_redis(mounted: Mount, fs: FileSystem):
    with open(mounted.path / "durable", "wb") as handle:
        handle.write(b"x" * 300_000)
        ino = os.fstat(handle.fileno()).st_ino
        os.fsync(handle.fileno())
        assert fs.read(ino, 0, 300_001) == b"x" * 300_000  # before close
        handle.write(b"tail")
    assert fs.read(ino, 299_999, 10) == b"xtail"  # close flushed the rest


def test_random_operations_agree_with_a_local_directory(mounted: Mount, tmp_path: Path):
    """Replay one random sequence of syscalls on tmp_path and on the mount; after every
    step both trees must hold the same names, sizes, link counts and bytes."""
    local = tmp_path / "local"
    local.mkdir()
    rng = random.Random(2024)
    names = ["a", "b", "c", "d/e", "d/f"]
    (local / "d").mkdir()
    (mounted.path / "d").mkdir()
    open_files: dict[str, list] = {}

    def apply(root: Path, op: tuple) -> object:
        kind, *args = op
        try:
            if kind == "write":
                name, offset, data = args
                fd = os.open(root / name, os.O_WRONLY | os.O_CREAT, 0o644)
                os.pwrite(fd, data, offset)
                os.close(fd)
            elif kind == "truncate":
                os.truncate(root / args[0], args[1])
            elif kind == "rename":
                os.rename(root / args[0], root / args[1])
            elif kind == "link":
                os.link(root / args[0], root / args[1])
            elif kind == "unlink":
                os.unlink(root / args[0])
            elif kind == "read":
                return (root / args[0]).read_bytes()
            elif kind == "keep-open":
                handle = open(root / args[0], "rb")  # noqa: SIM115 (closed at the end)
                open_files.setdefault(str(root), []).append(handle)
            return "ok"
        except OSError as exc:
            return exc.errno

    for step in range(250):
        kind = rng.choice(["write", "write", "truncate", "rename", "link", "unlink", "read",
                           "keep-open"])
        a, b = rng.choice(names), rng.choice(names)
        if kind == "write":
            op = (kind, a, rng.randrange(0, 400_000), rng.randbytes(rng.randrange(1, 200_000)))
        elif kind == "truncate":
            op = (kind, a, rng.randrange(0, 500_000))
        elif kind in ("rename", "link"):
            op = (kind, a, b)
        else:
            op = (kind, a)
        assert apply(local, op) == apply(mounted.path, op), (step, op[:2])
        for name in names:
            want, got = local / name, mounted.path / name
            assert want.exists() == got.exists(), (step, name)
            if want.exists():
                assert os.stat(want).st_size == os.stat(got).st_size, (step, name)
                assert os.stat(want).st_nlink == os.stat(got).st_nlink, (step, name)
                assert want.read_bytes() == got.read_bytes(), (step, name)
    for handles in open_files.values():
        contents = [h.read() for h in handles]  # still readable after unlink/rename
        for h in handles:
            h.close()
        assert len(contents) == len(handles)


def test_parallel_writers_and_readers(mounted: Mount):
    import concurrent.futures

    def worker(i: int) -> bool:
        rng = random.Random(i)
        path = mounted.path / f"w{i}"
        expected = bytearray()
        with open(path, "wb") as handle:
            for _ in range(40):
                data = rng.randbytes(rng.randrange(1, 150_000))
                handle.write(data)
                expected += data
        return path.read_bytes() == expected and os.stat(path).st_size == len(expected)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert all(pool.map(worker, range(12)))


def test_setgid_directories_fallocate_and_ioctl(mounted: Mount):
    import fcntl

    shared = mounted.path / "shared"
    shared.mkdir()
    os.chown(shared, -1, 4321)
    os.chmod(shared, 0o2775)
    (shared / "file").write_text("x")
    (shared / "sub").mkdir()
    assert (shared / "file").stat().st_gid == 4321  # inherited from the directory
    assert (shared / "sub").stat().st_gid == 4321
    assert (shared / "sub").stat().st_mode & stat.S_ISGID
    run("fallocate", "-l", "3000000", shared / "file")  # mode 0: grows, stays sparse
    assert (shared / "file").stat().st_size == 3_000_000
    assert (shared / "file").read_bytes()[:2] == b"x\0"
    with open(shared / "file", "rb") as handle, pytest.raises(OSError) as exc:
        fcntl.ioctl(handle.fileno(), 0x80086601, b"\0" * 8)  # FS_IOC_GETFLAGS
    assert exc.value.errno == errno.ENOTTY


def test_overlapping_writes_through_one_descriptor(mounted: Mount, tmp_path: Path):
    """Many pwrite()s through one open file merge in the daemon's buffer (and spill over
    its 64-extent limit) before close; the result must equal a local file's."""
    rng = random.Random(11)
    fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
           for p in (tmp_path / "local", mounted.path / "remote")]
    try:
        for step in range(300):
            offset = rng.randrange(0, 2_000_000)
            data = rng.randbytes(rng.choice([1, 100, 5000, 131072, 140000]))
            for fd in fds:
                os.pwrite(fd, data, offset)
            if step % 50 == 49:  # reads see buffered writes
                assert os.pread(fds[0], 300_000, offset) == os.pread(fds[1], 300_000, offset)
    finally:
        for fd in fds:
            os.close(fd)
    assert (tmp_path / "local").read_bytes() == (mounted.path / "remote").read_bytes()


def test_rename_over_an_open_name_of_the_same_inode(mounted: Mount):
    """libfuse hides an open file both for unlink(2) and for a rename(2) over it; the
    daemon must tell them apart: rename(a, b) of two names of one inode changes
    nothing, but unlink(b) then rename(a, b) moves a."""
    a, b = mounted.path / "a", mounted.path / "b"
    a.write_bytes(b"same inode")
    os.link(a, b)
    with open(b, "rb"):
        os.rename(a, b)  # POSIX: a no-op, both names stay
        assert a.exists() and b.exists() and os.stat(b).st_nlink == 2
    with open(b, "rb") as held:
        os.unlink(b)  # hidden by libfuse: b is gone, a remains
        os.rename(a, b)  # at once, from the same process: an ordinary move
        assert not a.exists() and os.stat(b).st_nlink == 1
        assert held.read() == b"same inode"
    assert b.read_bytes() == b"same inode"
