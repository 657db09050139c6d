"""FUSE benchmark: a redisfs mount against tmpfs, same steps, same run; prints a table.

Also runs the steps on ``memfs.py`` (an in-memory filesystem served by the same FUSE
layer and options, no Redis): the floor any Python FUSE filesystem starts from here.

Steps: write 64 MiB (random data, fsync'd), read it back (page cache dropped first),
create 1000 small files, ``ls -lR``, lstat of every file, ``cp -a`` of the stdlib
``email`` package, ``rm -rf`` of everything.  Before each step the kernel caches are
dropped (root only) and the mount's own metadata caches are allowed to expire, so
redisfs is measured cold, as a second host would see it.

Usage: python bench/bench_fuse.py [--rounds N] [--keep-caches] [--daemon-arg=--debug ...]
"""

from __future__ import annotations

import argparse
import contextlib
import email
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from redisfs_tui.core import FileSystem
from redisfs_tui.core.local_server import LocalRedis
from redisfs_tui.mount import spawn

MIB = 1024 * 1024
BIG = 64 * MIB
SMALL_FILES = 1000
ORIGINAL_C = {"write 64 MiB": 3.53, "read 64 MiB": 0.16, "create 1000": 2.84, "ls -lR": 1.48,
              "stat all": 3.11, "cp -a email": 0.26, "rm -rf": 2.35}
TARGETS = {"write 64 MiB": 0.35, "read 64 MiB": 0.15, "create 1000": 0.3, "ls -lR": 0.15,
           "stat all": 0.15, "cp -a email": 0.1, "rm -rf": 0.3}


def drop_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
        return True
    except OSError:
        return False


def write_big(root: Path, payload: bytes) -> None:
    with open(root / "big", "wb") as handle:
        for offset in range(0, BIG, MIB):
            handle.write(payload[offset:offset + MIB])
        handle.flush()
        os.fsync(handle.fileno())


def read_big(root: Path) -> None:
    with open(root / "big", "rb", buffering=0) as handle:
        total = 0
        while chunk := handle.read(MIB):
            total += len(chunk)
    assert total == BIG, total


def create_small(root: Path) -> None:
    folder = root / "small"
    folder.mkdir()
    body = b"x" * 700
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for i in range(SMALL_FILES):
        fd = os.open(folder / f"file{i:04d}.txt", flags, 0o644)
        os.write(fd, body)
        os.close(fd)


def ls_lr(root: Path) -> None:
    subprocess.run(["ls", "-lR", str(root)], stdout=subprocess.DEVNULL, check=True)


def stat_all(root: Path) -> None:
    count = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.lstat(os.path.join(folder, name))
            count += 1
    assert count >= SMALL_FILES


def cp_email(root: Path) -> None:
    source = os.path.dirname(email.__file__)
    subprocess.run(["cp", "-a", source, str(root / "email")], check=True)


def rm_rf(root: Path) -> None:
    for child in list(root.iterdir()):
        subprocess.run(["rm", "-rf", str(child)], check=True)


STEPS: list[tuple[str, Callable[..., None]]] = [
    ("write 64 MiB", write_big), ("read 64 MiB", read_big), ("create 1000", create_small),
    ("ls -lR", ls_lr), ("stat all", stat_all), ("cp -a email", cp_email), ("rm -rf", rm_rf),
]


def warm_tools() -> None:
    """After dropping caches: load ls/cp and the email sources again, so that only the
    filesystem under test starts cold."""
    source = os.path.dirname(email.__file__)
    subprocess.run(["ls", "-lR", source], stdout=subprocess.DEVNULL, check=True)
    subprocess.run(["cp", "--version"], stdout=subprocess.DEVNULL, check=True)
    for folder, _dirs, files in os.walk(source):
        for name in files:
            Path(folder, name).read_bytes()


def run_steps(root: Path, payload: bytes, cold: bool, settle: float) -> dict[str, float]:
    times = {}
    for label, step in STEPS:
        if cold:
            drop_caches()
            warm_tools()
            time.sleep(settle)
        args = (root, payload) if step is write_big else (root,)
        started = time.perf_counter()
        step(*args)
        times[label] = time.perf_counter() - started
    return times


@contextlib.contextmanager
def redisfs_mount(workdir: Path, daemon_args: list[str], unix_socket: bool) -> Iterator[Path]:
    socket_path = workdir / "redis.sock"
    server = LocalRedis(workdir / "redis", extra_args=[
        "--unixsocket", str(socket_path), "--unixsocketperm", "700"] if unix_socket else [])
    server.start()
    url = f"unix://{socket_path}" if unix_socket else server.url
    mountpoint = workdir / "mnt"
    mountpoint.mkdir()
    proc = None
    try:
        client = redis.Redis.from_url(url)
        FileSystem.mkfs(client, "bench")
        client.close()
        proc = spawn.spawn(["--url", url, "--prefix", "bench", "--mount", str(mountpoint),
                            *daemon_args], mountpoint, log_path=str(workdir / "daemon.log"))
        yield mountpoint
    finally:
        spawn.stop(proc, mountpoint)
        server.stop()


@contextlib.contextmanager
def memfs_mount(workdir: Path) -> Iterator[Path]:
    """The in-memory floor filesystem (bench/memfs.py), mounted in the foreground."""
    mountpoint = workdir / "memfs"
    mountpoint.mkdir()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("memfs.py")),
                             str(mountpoint)])
    try:
        deadline = time.monotonic() + 10
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("memfs did not mount")
            time.sleep(0.05)
        yield mountpoint
    finally:
        subprocess.run(["fusermount3", "-u", str(mountpoint)], check=False)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report the median")
    parser.add_argument("--keep-caches", action="store_true",
                        help="do not drop caches / wait for cache expiry between steps")
    parser.add_argument("--daemon-arg", action="append", default=[],
                        help="extra redisfs argument (repeatable)")
    parser.add_argument("--unix-socket", action="store_true",
                        help="reach Redis over a unix socket instead of TCP on 127.0.0.1")
    args = parser.parse_args()
    payload = os.urandom(BIG)
    cold = not args.keep_caches
    settle = 2.2  # > entry_timeout + cache_ttl of the default mount
    results: dict[str, list[dict[str, float]]] = {"tmpfs": [], "memfs": [], "redisfs": []}
    with tempfile.TemporaryDirectory(prefix="bench-fuse-") as tmp:
        workdir = Path(tmp)
        shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else workdir
        for _ in range(args.rounds):
            tmpfs_root = Path(tempfile.mkdtemp(prefix="bench-tmpfs-", dir=shm))
            try:
                results["tmpfs"].append(run_steps(tmpfs_root, payload, cold, 0.0))
            finally:
                shutil.rmtree(tmpfs_root, ignore_errors=True)
            run_dir = Path(tempfile.mkdtemp(dir=workdir))
            with memfs_mount(run_dir) as mnt:
                results["memfs"].append(run_steps(mnt, payload, cold, 0.0))
            with redisfs_mount(run_dir, args.daemon_arg, args.unix_socket) as mnt:
                results["redisfs"].append(run_steps(mnt, payload, cold, settle))
    transport = "a unix socket" if args.unix_socket else "TCP 127.0.0.1"
    print(f"redisfs FUSE benchmark ({os.cpu_count()} cores, Redis over {transport}, "
          f"{'cold' if cold else 'warm'} "
          f"caches{'' if drop_caches() or not cold else ' NOT dropped: not root'}, "
          f"median of {args.rounds})")
    print("memfs: the same FUSE layer over Python dicts, no Redis (bench/memfs.py)")
    header = (f"{'step':<14}{'tmpfs':>9}{'memfs':>9}{'redisfs':>10}{'target':>9}"
              f"{'C original':>12}")
    print(header)
    print("-" * len(header))
    for label, _step in STEPS:
        tmpfs = statistics.median(r[label] for r in results["tmpfs"])
        floor = statistics.median(r[label] for r in results["memfs"])
        ours = statistics.median(r[label] for r in results["redisfs"])
        flag = "" if ours <= TARGETS[label] else "  (over target)"
        print(f"{label:<14}{tmpfs:>8.3f}s{floor:>8.3f}s{ours:>9.3f}s{TARGETS[label]:>8.2f}s"
              f"{ORIGINAL_C[label]:>11.2f}s{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
