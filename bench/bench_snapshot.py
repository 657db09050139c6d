"""Snapshot cost on loopback: wall time, the longest single Redis command, memory added.

Builds a tree of N files (default 10,000) holding M MiB (default 100) of random bytes (they do
not compress), takes one snapshot and prints the figures.  The longest command comes from
SLOWLOG with a 0 µs threshold: what blocked the server longest while the snapshot ran.  Uses
only APIs that format 1 had too, so the same file measures an older checkout.
Usage: python bench/bench_snapshot.py [--files N] [--mib M]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import redis

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.core import snapshot as snap
from redisfs_tui.core.local_server import LocalRedis


def used(client: redis.Redis) -> int:
    client.execute_command("MEMORY", "PURGE")
    return int(client.info("memory")["used_memory"])


def build(client: redis.Redis, files: int, mib: int) -> int:
    fs = FileSystem.mkfs(client, "src")
    dirs = [fs.mkdir(ROOT_INO, f"d{i}").ino for i in range(max(1, files // 1000))]
    size = mib * 1024 * 1024 // files

    def make(i: int) -> None:
        f = fs.create(dirs[i % len(dirs)], f"file-{i:06d}", 0o644, open_handle=False)
        fs.write(f.ino, 0, os.urandom(size))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(make, range(files), chunksize=200))
    return size * files


def measure(client: redis.Redis, files: int, mib: int) -> None:
    started = time.perf_counter()
    data = build(client, files, mib)
    print(f"tree: {files:,} files, {data / 2**20:.1f} MiB of random data "
          f"(built in {time.perf_counter() - started:.1f} s)")
    before = used(client)
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 1_000_000)
    client.slowlog_reset()
    started = time.perf_counter()
    result = snap.snapshot(client, "src", "src.snap")
    wall = time.perf_counter() - started
    log = client.slowlog_get(1_000_000)
    client.config_set("slowlog-log-slower-than", 10_000)
    client.slowlog_reset()  # the log itself holds memory
    added = used(client) - before
    longest = max((e["duration"] for e in log), default=0)
    scripts = [e for e in log if b"EVAL" in (e["command"] or b"").upper()[:8]]
    print(f"snapshot: {result.inodes:,} inodes in {wall * 1000:.0f} ms wall, "
          f"{len(scripts)} script call(s)")
    print(f"longest single Redis command: {longest / 1000:.1f} ms")
    print(f"memory added: {added / 2**20:.2f} MiB = {100 * added / data:.1f} % of the data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalRedis(tmp) as server:
        client = redis.Redis.from_url(server.url)
        print(f"redis-server {client.info('server')['redis_version']} on loopback")
        measure(client, args.files, args.mib)


if __name__ == "__main__":
    main()
