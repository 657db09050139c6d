"""How the defaults were chosen: codec speed/ratio, and block size through the core.

Prints figures; it is not a timed test.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import redis

from redisfs_tui.core import ROOT_INO, FileSystem, codec
from redisfs_tui.core.local_server import LocalRedis

MIB = 1024 * 1024


def corpus_text() -> bytes:
    """Real text: the Python standard library's own sources."""
    root = Path(os.__file__).parent
    chunks, size = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        size += len(data)
        if size > 16 * MIB:
            break
    return b"".join(chunks)[: 16 * MIB]


def codecs(samples: dict[str, bytes]) -> None:
    print("Codec speed on 128 KiB blocks (compress / decompress, ratio = raw/stored):")
    block = 131072
    for name, data in samples.items():
        blocks = [data[i:i + block] for i in range(0, len(data), block)]
        for codec_name in ("zlib", "zstd"):
            started = time.perf_counter()
            stored = [codec.encode(b, codec_name) for b in blocks]
            enc = time.perf_counter() - started
            started = time.perf_counter()
            for s in stored:
                codec.decode(s, block)
            dec = time.perf_counter() - started
            ratio = len(data) / sum(len(s) for s in stored)
            print(f"  {name:<8} {codec_name:<5} {len(data) / MIB / enc:8.0f} MiB/s  "
                  f"{len(data) / MIB / dec:8.0f} MiB/s   ratio {ratio:5.2f}")


def block_sizes(client: redis.Redis, data: bytes) -> None:
    print("Block size through the core (write then read 16 MiB of text in 1 MiB calls):")
    for size in (65536, 131072, 262144):
        fs = FileSystem.mkfs(client, f"bs{size}", block_size=size)
        ino = fs.create(ROOT_INO, "f", 0o644).ino
        started = time.perf_counter()
        for off in range(0, len(data), MIB):
            fs.write(ino, off, data[off:off + MIB])
        wsec = time.perf_counter() - started
        started = time.perf_counter()
        for off in range(0, len(data), MIB):
            fs.read(ino, off, MIB)
        rsec = time.perf_counter() - started
        started = time.perf_counter()
        for off in range(0, 4 * MIB, 4096):
            fs.read(ino, off, 4096)
        small = time.perf_counter() - started
        print(f"  {size // 1024:>4} KiB  write {len(data) / MIB / wsec:6.0f} MiB/s  "
              f"read {len(data) / MIB / rsec:6.0f} MiB/s  4 KiB reads {1024 / small:7.0f}/s")


def main() -> None:
    text = corpus_text()
    samples = {"text": text, "random": os.urandom(len(text))}
    codecs(samples)
    with tempfile.TemporaryDirectory() as tmp, LocalRedis(tmp) as server:
        block_sizes(redis.Redis.from_url(server.url), text)


if __name__ == "__main__":
    main()
