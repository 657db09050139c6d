"""The mount's shortcuts keep POSIX answers: attribute changes stored with buffered data,
batched background releases, directory listings and negative answers from memory."""

from __future__ import annotations

import concurrent.futures
import errno
import os
import stat
import subprocess
import time
from pathlib import Path

import mount_fixtures
import pytest
from mount_fixtures import Mount, Mounter, wait_until

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.mount.runner import THREADS

mounter = mount_fixtures.mounter
mounted = mount_fixtures.mounted

VISIBLE_WITHIN = 2.0 + 2.0  # entry/attr timeout + cache TTL, plus slack


def test_attribute_changes_on_a_file_with_buffered_data(mounted: Mount, fs: FileSystem):
    path = mounted.path / "copy"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"data" * 100)
        ino = os.fstat(fd).st_ino
        os.utime(fd, ns=(1_000_000_000_123, 2_000_000_000_456))
        os.fchmod(fd, 0o640)
        os.chown(path, 1234, 5678)
        st = os.stat(path)  # this mount shows all of it at once
        assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_000_123, 2_000_000_000_456)
        assert stat.S_IMODE(st.st_mode) == 0o640 and stat.S_ISREG(st.st_mode)
        assert (st.st_uid, st.st_gid, st.st_size) == (1234, 5678, 400)
        assert os.fstat(fd).st_mtime_ns == 2_000_000_000_456
        os.fsync(fd)  # fsync stores data and attributes
        stored = fs.getattr(ino)
        assert (stored.mtime_ns, stored.uid, stored.size) == (2_000_000_000_456, 1234, 400)
        assert stat.S_IMODE(stored.mode) == 0o640
        os.write(fd, b"more")
        os.utime(fd, ns=(5, 6))
        os.write(fd, b"!")  # a write after utimens sets mtime to now again (when stored)
    finally:
        os.close(fd)
    stored = fs.getattr(ino)
    assert stored.mtime_ns > 6 and stored.atime_ns == 5 and stored.size == 405
    assert fs.read(ino, 0, 1000) == b"data" * 100 + b"more!"


def test_cp_a_keeps_times_and_modes(mounted: Mount, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for index, mode in enumerate((0o600, 0o644, 0o755, 0o4755)):
        item = source / f"f{index}"
        item.write_bytes(os.urandom(1000 * index))
        os.chmod(item, mode)
        os.utime(item, ns=(10**18 + index, 10**18 + 1000 + index))
    subprocess.run(["cp", "-a", str(source), str(mounted.path / "dst")], check=True)
    for item in source.iterdir():
        a, b = item.stat(), (mounted.path / "dst" / item.name).stat()
        assert (a.st_mode, a.st_mtime_ns, a.st_size) == (b.st_mode, b.st_mtime_ns, b.st_size)
        assert (mounted.path / "dst" / item.name).read_bytes() == item.read_bytes()


def test_many_files_unlinked_while_open_are_freed_after_close(mounted: Mount, fs: FileSystem):
    handles, inos = [], []
    for index in range(40):
        handle = open(mounted.path / f"tmp{index}", "w+b")  # noqa: SIM115
        handle.write(b"x" * 5000)
        handle.flush()
        handles.append(handle)
        inos.append(os.fstat(handle.fileno()).st_ino)
        os.unlink(mounted.path / f"tmp{index}")
    assert os.listdir(mounted.path) == []
    for handle in handles:
        handle.seek(0)
        assert handle.read() == b"x" * 5000  # still readable: orphans held open
        handle.close()
    wait_until(lambda: not any(fs.client.exists(fs.keys.inode(i)) for i in inos))
    wait_until(lambda: not fs.client.keys(fs.keys.base + "s:*"))  # no handle left open
    assert not fs.client.smembers(fs.keys.orphans)


def test_a_close_refused_by_a_full_redis_is_sent_before_a_removal(mounted: Mount,
                                                                  fs: FileSystem):
    """A full Redis refuses the script that records a close; the mount retries it 1 s
    later.  An unlink meanwhile must send it first, or the file stays an orphan (and its
    space taken) until then: the next write failed with ENOSPC after deleting files."""
    path = mounted.path / "f"
    handle = open(path, "wb")  # noqa: SIM115 -- closed while Redis is full
    handle.write(os.urandom(100_000))
    handle.flush()
    os.fsync(handle.fileno())
    ino = os.fstat(handle.fileno()).st_ino
    limit = fs.client.config_get("maxmemory")["maxmemory"]
    used = int(fs.client.info("memory")["used_memory"])
    fs.client.config_set("maxmemory", max(used // 2, 1 << 20))  # full: scripts refused
    try:
        handle.close()
        wait_until(lambda: "could not release" in mounted.log_text(), timeout=5)
    finally:
        fs.client.config_set("maxmemory", limit)
    os.unlink(path)
    assert not fs.client.exists(fs.keys.inode(ino)), "an orphan after unlink"
    assert not fs.client.smembers(fs.keys.orphans)


def test_rm_rf_of_a_tree_leaves_only_the_root(mounted: Mount, fs: FileSystem):
    for top in range(3):
        for sub in range(3):
            folder = mounted.path / f"d{top}" / f"s{sub}"
            folder.mkdir(parents=True)
            for index in range(20):
                (folder / f"f{index}").write_bytes(os.urandom(300 + index))
            os.symlink("f0", folder / "link")
    subprocess.run(["rm", "-rf", *[str(p) for p in mounted.path.iterdir()]], check=True)
    assert os.listdir(mounted.path) == []

    def leftovers() -> list[bytes]:
        keys = fs.client.keys(fs.keys.base + "*")
        return sorted(k for k in keys if k not in (fs.keys.superblock.encode(),
                                                   fs.keys.inode(ROOT_INO).encode())
                      and b":m:" not in k)  # the mount's own registry record

    wait_until(lambda: leftovers() == [])  # releases run in the background
    assert int(fs.client.hget(fs.keys.superblock, "inodes")) == 1


def test_listings_and_negative_answers_from_memory(mounter: Mounter, fs: FileSystem):
    a, b = mounter.mount(fs.prefix), mounter.mount(fs.prefix)
    (a.path / "dir").mkdir()
    (a.path / "dir" / "old").write_text("x")
    assert os.listdir(a.path / "dir") == ["old"]  # a knows the whole directory now
    assert not (a.path / "dir" / "new").exists()  # answered from the listing
    (a.path / "dir" / "new").write_text("made by a")  # this mount's create updates it
    assert (a.path / "dir" / "new").read_text() == "made by a"
    os.chmod(a.path / "dir" / "old", 0o600)
    assert sorted(os.listdir(a.path / "dir")) == ["new", "old"]  # listed again from memory
    assert stat.S_IMODE((a.path / "dir" / "old").stat().st_mode) == 0o600
    # another mount's changes show within the timeouts, listing and negative cache included
    assert not (b.path / "dir" / "from-b").exists()
    (b.path / "dir" / "from-b").write_text("b")
    os.unlink(b.path / "dir" / "old")
    started = time.monotonic()
    wait_until(lambda: sorted(os.listdir(a.path / "dir")) == ["from-b", "new"],
               timeout=VISIBLE_WITHIN)
    wait_until(lambda: (a.path / "dir" / "from-b").exists(), timeout=VISIBLE_WITHIN)
    wait_until(lambda: not (a.path / "dir" / "old").exists(), timeout=VISIBLE_WITHIN)
    assert time.monotonic() - started < VISIBLE_WITHIN


def test_creating_many_files_lists_the_directory_instead_of_asking_per_name(
        mounter: Mounter, fs: FileSystem):
    """The kernel looks every new name up before creating it.  In a directory this
    mount has no listing of (made by another client), the second name looked up in
    vain makes the mount fetch the names once; later misses come from memory."""
    folder = fs.mkdir(ROOT_INO, "made-elsewhere", 0o755)
    for index in range(5):
        fs.create(folder.ino, f"old{index}", 0o644)
    mount = mounter.mount(fs.prefix, "--cache-ttl=30")

    def lookups() -> int:
        stats = fs.client.info("commandstats").get("cmdstat_evalsha_ro", {})
        return int(stats.get("calls", 0))

    before = lookups()
    for index in range(40):
        (mount.path / "made-elsewhere" / f"new{index}").write_bytes(b"x")
    assert lookups() - before <= 3  # the directory itself, then two misses
    assert not (mount.path / "made-elsewhere" / "absent").exists()
    assert lookups() - before <= 3
    assert sorted(os.listdir(mount.path / "made-elsewhere")) == sorted(
        [f"old{i}" for i in range(5)] + [f"new{i}" for i in range(40)])
    with pytest.raises(FileExistsError):  # the listing never hides an existing name
        os.open(mount.path / "made-elsewhere" / "old3", os.O_CREAT | os.O_EXCL | os.O_WRONLY)


def test_buffered_data_reaches_redis_without_close(mounted: Mount, fs: FileSystem):
    """A file held open (a log, a slow writer) is stored by the writeback timer:
    another host sees data and a deferred chmod within two ticks, no fsync needed."""
    path = mounted.path / "app.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, b"line one\n")
        os.fchmod(fd, 0o600)
        ino = os.fstat(fd).st_ino
        assert fs.getattr(ino).size == 0  # buffered: not in Redis yet (ticks are 1 s)
        wait_until(lambda: fs.getattr(ino).size == 9, timeout=5.0)
        assert fs.read(ino, 0, 100) == b"line one\n"
        assert stat.S_IMODE(fs.getattr(ino).mode) == 0o600
    finally:
        os.close(fd)


def _daemon_status(pid: int) -> tuple[int, int]:
    """(threads, resident kB) of a process."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])


def test_many_requests_keep_thread_states_and_errnos(mounted: Mount):
    """Every request runs through one requests.Requests handler, which pins the libfuse worker's
    Python thread state: thousands of requests from several processes at once must
    not add threads or memory, errnos must come through, and unmount exits 0."""
    probe = mounted.path / "probe"
    probe.write_bytes(b"abc")
    os.setxattr(probe, "user.k", b"v")

    def hammer(count: int) -> None:
        for _ in range(count):
            assert os.getxattr(probe, "user.k") == b"v"
            with pytest.raises(OSError) as missing:
                os.getxattr(probe, "user.none")
            assert missing.value.errno == errno.ENODATA
            with pytest.raises(FileNotFoundError):
                os.stat(mounted.path / "absent")

    hammer(300)  # warm up: every worker thread has served requests
    threads, rss = _daemon_status(mounted.proc.pid)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(hammer, 500) for _ in range(4)]:
            future.result()
    threads_after, rss_after = _daemon_status(mounted.proc.pid)
    # libfuse starts at most THREADS workers and, allowed as many idle ones, never ends
    # one: no churn, no orphaned thread states (plus ~8 threads of the daemon's own)
    assert threads_after <= threads + THREADS and threads_after <= THREADS + 10, \
        (threads, threads_after)
    assert rss_after - rss < 8 * 1024, (rss, rss_after)  # no per-request leak
    assert probe.read_bytes() == b"abc"
    assert mounted.stop() == 0
