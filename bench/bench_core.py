"""Core benchmarks on loopback: Redis memory per empty file, and operations per second.

Prints figures; it is not a timed test.  Usage: python bench/bench_core.py [--files N]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import redis

from redisfs_tui.core import ROOT_INO, FileSystem
from redisfs_tui.core.calls import ThreadConnections
from redisfs_tui.core.local_server import LocalRedis


def rate(label: str, count: int, seconds: float) -> None:
    print(f"  {label:<28} {count / seconds:>10,.0f} ops/s   ({seconds * 1e6 / count:,.0f} µs/op)")


def memory_per_file(client: redis.Redis, files: int) -> None:
    fs = FileSystem.mkfs(client, "mem")
    dirs = [fs.mkdir(ROOT_INO, f"d{i}").ino for i in range(files // 10_000 or 1)]
    client.execute_command("MEMORY", "PURGE")
    before = int(client.info("memory")["used_memory"])

    def make(i: int) -> None:
        fs.create(dirs[i % len(dirs)], f"file-{i:06d}.txt", 0o644, open_handle=False)

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(make, range(files), chunksize=500))
    seconds = time.perf_counter() - started
    client.execute_command("MEMORY", "PURGE")
    after = int(client.info("memory")["used_memory"])
    print(f"Redis memory per empty file over {files:,} files: "
          f"{(after - before) / files:.0f} bytes (JuiceFS publishes ~300)")
    rate(f"create ({files:,}, 4 threads)", files, seconds)


def ops(client: redis.Redis, rounds: int) -> None:
    fs = FileSystem.mkfs(client, "ops")
    started = time.perf_counter()
    inos = [fs.create(ROOT_INO, f"f{i}", 0o644, open_handle=False).ino for i in range(rounds)]
    rate("create", rounds, time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(rounds):
        fs.lookup(ROOT_INO, f"f{i}")
    rate("lookup", rounds, time.perf_counter() - started)
    started = time.perf_counter()
    for ino in inos:
        fs.getattr(ino)
    rate("getattr", rounds, time.perf_counter() - started)
    for label, payload in (("text", (b"lorem ipsum dolor sit amet " * 5000)[:131072]),
                           ("random", os.urandom(131072))):
        n = max(rounds // 4, 50)
        started = time.perf_counter()
        for i in range(n):
            fs.write(inos[i], 0, payload)
        seconds = time.perf_counter() - started
        rate(f"write 128 KiB ({label})", n, seconds)
        print(f"  {'':<28} {n * 128 / 1024 / seconds:>10,.1f} MiB/s")
        started = time.perf_counter()
        for i in range(n):
            fs.read(inos[i], 0, 131072)
        seconds = time.perf_counter() - started
        rate(f"read 128 KiB ({label})", n, seconds)
        print(f"  {'':<28} {n * 128 / 1024 / seconds:>10,.1f} MiB/s")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def script_calls(client: redis.Redis, rounds: int) -> None:
    """One trivial EVALSHA three ways: through redis-py's client, on a connection the
    thread keeps (core/calls.py, what FileSystem uses), and a bare PING on a socket."""
    script = client.register_script("return ARGV[1]")
    script(args=["warm"])
    kept = ThreadConnections(client)

    def measure(label: str, call: Callable[[], object]) -> None:
        started, cpu = time.perf_counter(), cpu_seconds()
        for _ in range(rounds):
            call()
        wall, used = time.perf_counter() - started, cpu_seconds() - cpu
        print(f"  {label:<28} {wall * 1e6 / rounds:>7.0f} µs wall "
              f"{used * 1e6 / rounds:>7.0f} µs CPU")

    measure("EVALSHA via the client", lambda: client.evalsha(script.sha, 0, "x"))
    measure("EVALSHA on a kept conn", lambda: kept.script(script, [], ["x"]))
    host, port = client.connection_pool.connection_kwargs["host"], \
        client.connection_pool.connection_kwargs["port"]
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray(64)

        def ping() -> None:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            sock.recv_into(buffer)

        measure("PING on a bare socket", ping)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalRedis(tmp) as server:
        client = redis.Redis.from_url(server.url)
        print(f"redis-server {client.info('server')['redis_version']} on loopback, "
              f"{os.cpu_count()} cores")
        memory_per_file(client, args.files)
        print("Single-thread core operations:")
        ops(client, args.rounds)
        print("Round trips (per call):")
        script_calls(client, args.rounds * 5)


if __name__ == "__main__":
    main()
