"""Measure the explorer: time to first paint, and opening a 10k-entry directory on a
100k-inode filesystem (first rows, fully loaded, longest UI stall while loading).

Runs headless (App.run_test) against a private redis-server.  Prints figures:

    python bench/bench_ui.py [--inodes 100000] [--dir-entries 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from redisfs_tui.core import ROOT_INO, FileSystem, ServerSpec
from redisfs_tui.core.local_server import LocalRedis
from redisfs_tui.ui.app import RedisFsApp


def populate(fs: FileSystem, inodes: int, big: int) -> None:
    """One directory with ``big`` entries plus enough others to reach ``inodes``."""
    per_dir = 5000
    big_dir = fs.mkdir(ROOT_INO, "big").ino
    rest = max(inodes - big - 2, 0)
    dirs = [fs.mkdir(ROOT_INO, f"d{i:03d}").ino for i in range((rest + per_dir - 1) // per_dir)]
    jobs = [(big_dir, f"file{i:06d}.dat") for i in range(big)]
    jobs += [(dirs[i // per_dir], f"f{i:06d}") for i in range(rest - len(dirs))]

    def make(chunk: list[tuple[int, str]]) -> None:
        for parent, name in chunk:
            fs.mknod(parent, name, stat.S_IFREG | 0o644)

    chunks = [jobs[i:i + 2000] for i in range(0, len(jobs), 2000)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(make, chunks))


async def measure(url: str, client: redis.Redis, prefix: str,
                  client_entries: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    app = RedisFsApp(client, ServerSpec(url=url), prefix=prefix)
    async with app.run_test(size=(140, 40)) as pilot:
        lst = app.browser.entry_list
        while not lst.entries:
            await pilot.pause(0.001)
        figures["first paint with root listing (s)"] = time.perf_counter() - t0

        gaps: list[float] = []
        ticking = True

        async def ticker() -> None:  # the longest gap between 5 ms ticks = worst UI stall
            last = time.perf_counter()
            while ticking:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        n = f"{client_entries:,}"
        t1 = time.perf_counter()
        app.browser.navigate("/big")
        while len(lst.entries) == 0 or app.browser.path != "/big":
            await pilot.pause(0.001)
        figures[f"{n} directory: first rows shown (s)"] = time.perf_counter() - t1
        while lst.is_loading:
            await pilot.pause(0.001)
        figures[f"{n} directory: fully loaded and sorted (s)"] = time.perf_counter() - t1
        ticking = False
        await task
        figures["longest UI stall while loading (ms)"] = max(gaps) * 1000
        assert len(lst.entries) == app.browser.total

        t2 = time.perf_counter()
        lst.set_query("0042")
        figures[f"filter {n} names (ms)"] = (time.perf_counter() - t2) * 1000
        lst.set_query("")
        t3 = time.perf_counter()
        lst.set_sort(lst.sort_key.next(), False)
        figures[f"re-sort {n} by size (ms)"] = (time.perf_counter() - t3) * 1000
        await pilot.pause()
        t4 = time.perf_counter()
        lst.action_jump(-1)
        await pilot.pause()
        figures["jump to the last row and repaint (ms)"] = (time.perf_counter() - t4) * 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inodes", type=int, default=100_000)
    parser.add_argument("--dir-entries", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalRedis(Path(tmp)) as server:
        client = redis.Redis.from_url(server.url)
        fs = FileSystem.mkfs(client, "bench")
        t = time.perf_counter()
        populate(fs, args.inodes, args.dir_entries)
        inodes = int(fs.superblock()["inodes"])
        big = fs.count_entries(fs.resolve("/big").ino)
        print(f"filesystem: {inodes:,} inodes, /big has {big:,} entries "
              f"(built in {time.perf_counter() - t:.1f} s)")
        figures = asyncio.run(measure(server.url, client, "bench", args.dir_entries))
        for name, value in figures.items():
            print(f"{name:45s} {value:8.3f}")


if __name__ == "__main__":
    main()
