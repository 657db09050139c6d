"""Randomized stress through real mounts: fsx-style file checks and a two-mount namespace storm.

The checkers (tests/fsx.py, tests/nsstress.py) run in subprocesses with forked workers and
a watchdog: bad data, a wrong size, SIGBUS or an unexpected errno fail the test with the
seed, the operation and the last operations; a syscall that takes longer than HANG s fails
it as HANG (kernel stacks, FUSE ``waiting``) after aborting the FUSE connection, so the
fixture can still unmount.  Mounts use a 64 KiB write buffer so that background saves
happen all the time (the default 8 MiB would rarely fill).  Reproduce a failure with the
printed seed: ``python tests/fsx.py MOUNTDIR --seed N --ops N [--workers N --mmap --link]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import mount_fixtures
import pytest
from fsx import Result, run_fsx
from mount_fixtures import Mount, Mounter
from nsstress import post_checks, run_nsstress

from redisfs_tui.core import FileSystem
from redisfs_tui.mount import spawn

mounter = mount_fixtures.mounter

HANG = 15.0  # seconds one syscall may take before the run is a HANG
SMALL_BUFFER = ("--write-buffer", "65536")


def stress_mount(mounter: Mounter, fs: FileSystem) -> Mount:
    return mounter.mount(fs.prefix, *SMALL_BUFFER)


def daemon_state(mount: Mount) -> str:
    code = mount.proc.poll()
    if code is None:
        return ""
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
    return f"the daemon {how}\n"


def check(result: Result, mount: Mount) -> None:
    log = mount.log_text()
    tracebacks = log.count("Traceback")
    assert result.code == 0 and tracebacks == 0 and mount.proc.poll() is None, (
        f"exit {result.code} after {result.seconds:.1f} s\n{result.output}\n"
        f"{daemon_state(mount)}daemon log ({tracebacks} tracebacks), last 3000 chars:\n"
        f"{log[-3000:]}")


def fsx(mount: Mount, seed: int, ops: int, **kwargs: object) -> Result:
    return run_fsx(mount.path, seed, ops=ops, hang=HANG, abort=True, timeout=90,
                   daemon_pids=[mount.proc.pid], **kwargs)


def test_checkers_pass_on_a_local_directory(tmp_path: Path):
    """The checkers themselves: every mode passes on the local filesystem (no FUSE)."""
    modes: list[dict[str, object]] = [
        {}, {"mmap": True}, {"workers": 4, "mmap": True}, {"link": True, "readers": 2},
        {"workers": 3, "link": True, "readers": 1, "mmap": True, "holes": False},
        {"workers": 4, "threads": True, "mmap": True, "link": True, "readers": 1}]
    for seed, mode in enumerate(modes, 1):
        result = run_fsx(tmp_path, seed, ops=1500, hang=HANG, timeout=60, **mode)
        assert result.code == 0, result.output
    (tmp_path / "storm").mkdir()
    result = run_nsstress([tmp_path / "storm"] * 2, seed=1, procs=2, seconds=2, hang=HANG)
    assert result.code == 0, result.output
    assert post_checks([tmp_path / "storm"]) == []


def test_read_of_a_hole_below_buffered_writes(mounter: Mounter, fs: FileSystem):
    """fsx seed 2's first failure, reduced: a new file with two buffered writes, the higher
    one far away; reading across the hole between them must give zeros, not an early EOF
    (the kernel asks for the hole alone and takes an empty answer for the end of file)."""
    mount = stress_mount(mounter, fs)
    fd = os.open(mount.path / "f", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.pwrite(fd, b"B" * 0x9BDE, 0xD7995)
        os.pwrite(fd, b"C" * 0x1979, 0x26C9)
        got = os.pread(fd, 0x46277, 0x6FD)
        expected = bytearray(0x46277)
        expected[0x26C9 - 0x6FD : 0x26C9 - 0x6FD + 0x1979] = b"C" * 0x1979
        size = len(got)
        assert size == len(expected), f"short read: {size:#x} of {len(expected):#x} bytes"
        assert got == expected
    finally:
        os.close(fd)


@pytest.mark.parametrize("seed", [1, 2])
def test_fsx_one_process(mounter: Mounter, fs: FileSystem, seed: int):
    mount = stress_mount(mounter, fs)
    check(fsx(mount, seed, 5000), mount)


@pytest.mark.parametrize("seed", [2, 12])
def test_fsx_one_process_without_holes(mounter: Mounter, fs: FileSystem, seed: int):
    """No sparse ranges: what is left are races of reads with the background saves."""
    mount = stress_mount(mounter, fs)
    check(fsx(mount, seed, 5000, holes=False), mount)


@pytest.mark.parametrize("seed", [3, 4])
def test_fsx_one_process_with_mmap(mounter: Mounter, fs: FileSystem, seed: int):
    mount = stress_mount(mounter, fs)
    check(fsx(mount, seed, 4000, mmap=True), mount)


@pytest.mark.parametrize(("seed", "holes"), [(5, True), (6, False)])
def test_fsx_workers_share_one_file(mounter: Mounter, fs: FileSystem, seed: int, holes: bool):
    """Reads of one worker race with the saves that other workers' writes start."""
    mount = stress_mount(mounter, fs)
    check(fsx(mount, seed, 1500, workers=4, holes=holes), mount)


# Several worker processes writing one file while mmap reads/writes run: READ BAD DATA in
# 7 runs of 12 until the kernel's pages were kept through this mount's own writes
# (pagecache.py, test_mount_pagecache.py).
def test_fsx_workers_with_mmap(mounter: Mounter, fs: FileSystem):
    mount = stress_mount(mounter, fs)
    check(fsx(mount, 7, 1500, workers=3, mmap=True), mount)


def test_fsx_hard_links_with_readers(mounter: Mounter, fs: FileSystem):
    """Writes through one name while other processes open/read/close the second name
    (the deadlock of issue 8); the second name shows the data after the run."""
    mount = stress_mount(mounter, fs)
    check(fsx(mount, 8, 3000, link=True, readers=2, cross=False), mount)


def test_fsx_hard_links_across_names(mounter: Mounter, fs: FileSystem):
    """Every operation picks one of two hard-link names (bench/stress.py's link-cross
    mode): every read and stat must see what was written through the other name.  The
    path-based daemon failed this: each name had its own kernel cache."""
    mount = stress_mount(mounter, fs)
    check(fsx(mount, 10, 3000, link=True, readers=2), mount)


def test_fsx_hard_links_workers_and_readers(mounter: Mounter, fs: FileSystem):
    mount = stress_mount(mounter, fs)
    check(fsx(mount, 9, 1000, workers=3, link=True, readers=1, mmap=True, cross=False), mount)


@pytest.mark.parametrize(("seed", "mode"), [
    (21, {"workers": 4, "mmap": True}),
    (22, {"workers": 3, "link": True, "readers": 2, "mmap": True}),
    (23, {"workers": 4, "holes": False})])
def test_fsx_workers_on_two_mounts(mounter: Mounter, fs: FileSystem, seed: int,
                                   mode: dict[str, object]):
    """Workers split over two mounts of one filesystem: the regions share blocks, so both
    mounts change one block at once and neither may lose the other's bytes; at the end
    each worker reads its region again through the other mount (close-to-open)."""
    mounts = [stress_mount(mounter, fs), stress_mount(mounter, fs)]
    result = run_fsx(mounts[0].path, seed, ops=1200, hang=HANG, abort=True, timeout=120,
                     daemon_pids=[m.proc.pid for m in mounts], second=str(mounts[1].path),
                     **mode)
    for mount in mounts:
        check(result, mount)


@pytest.mark.parametrize("second", [False, True])
def test_fsx_threads_of_one_process(mounter: Mounter, fs: FileSystem, second: bool):
    """The workers as threads of one process (one descriptor table, one address space
    for their mmaps), on one mount or split over two."""
    mounts = [stress_mount(mounter, fs) for _ in range(1 + second)]
    result = run_fsx(mounts[0].path, 31 + second, ops=1200, hang=HANG, abort=True,
                     timeout=120, daemon_pids=[m.proc.pid for m in mounts],
                     second=str(mounts[1].path) if second else None, workers=4,
                     threads=True, mmap=True, link=True, readers=1)
    for mount in mounts:
        check(result, mount)


def storm(mounter: Mounter, fs: FileSystem, seed: int, links: bool) -> None:
    """Two mounts, 4 processes each, one shared directory; then the checks of the brief:
    no call took longer than HANG, both daemons answer, ``rm -rf`` empties the directory
    on both, no traceback nor "lost buffered data" in the logs, one daemon exits cleanly
    on unmount and the other on SIGTERM."""
    mounts = [stress_mount(mounter, fs), stress_mount(mounter, fs)]
    (mounts[0].path / "storm").mkdir()
    dirs = [m.path / "storm" for m in mounts]
    result = run_nsstress(dirs, seed=seed, procs=4, seconds=15, hang=HANG, abort=True,
                          daemon_pids=[m.proc.pid for m in mounts], timeout=90, links=links)
    problems = [] if result.code == 0 else [f"storm exit {result.code} (see above)"]
    if result.code != 3:  # (after a hang the watchdog aborted the connections)
        problems += [f"mount {n}: during the storm {state}" for n, m in enumerate(mounts, 1)
                     if (state := daemon_state(m))]
    if result.code != 3:  # after a hang the connections are aborted: nothing to check
        problems += post_checks(dirs)
    for number, mount in enumerate(mounts, 1):
        log = mount.log_text()
        if "Traceback" in log:
            problems.append(f"mount {number}: {log.count('Traceback')} tracebacks in the log")
        if (lost := log.count("lost buffered data")) > 0:
            problems.append(f"mount {number}: {lost} x 'lost buffered data' in the log")
        started, how = time.monotonic(), "unmount" if number == 1 else "SIGTERM"
        if number == 1:
            spawn.unmount(mount.path)  # fusermount3 -u: the daemon flushes and exits
        else:
            mount.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = mount.proc.wait(timeout=5 if result.code == 3 else 10)
        except subprocess.TimeoutExpired:
            code = None
            mount.proc.kill()  # (reported below; the fixture need not wait for it again)
            mount.proc.wait()
        took = time.monotonic() - started
        if code != 0 or took > 10 or spawn.is_mounted(mount.path):
            after = " (after the FUSE connection was aborted)" if result.code == 3 else ""
            problems.append(f"mount {number}: {how} gave exit {code} after {took:.1f} s, "
                            f"mounted: {spawn.is_mounted(mount.path)}{after}")
        if any(p.startswith(f"mount {number}") for p in problems):
            problems.append(f"mount {number} log (last 3000 chars):\n{log[-3000:]}")
    assert not problems, f"{result.output}\n" + "\n".join(problems)


def test_two_mounts_namespace_storm(mounter: Mounter, fs: FileSystem):
    """create/write/rename/link/unlink/mkdir/rmdir/readdir from both mounts at once."""
    storm(mounter, fs, 11, links=True)


def test_two_mounts_namespace_storm_without_links(mounter: Mounter, fs: FileSystem):
    """The same without link(2): no hard links, so no kernel invalidations of other names."""
    storm(mounter, fs, 13, links=False)
