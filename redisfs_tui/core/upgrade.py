"""Convert a format 1 filesystem (blocks in ``{P}:b:<ino>:<index>`` keys) to format 2.

Batched, and safe to run again after a crash: each block is first stored in the pool
under a fresh id, then one MULTI/EXEC points the file's block map at it and deletes
the old key.  A crash in between leaves only an unreferenced pool block (GC's job).
``format_version`` becomes 2 last, so until then no format 2 client mounts it; the
upgrade refuses to start while a live mount record exists.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from .cluster import mget_blocks
from .errors import FsError, NoSuchFilesystem, translated
from .keys import BLOCK, INODE, Keys, block_key
from .registry import list_mounts

BATCH = 500


@dataclass(frozen=True)
class UpgradeResult:
    prefix: str
    blocks: int  # block keys converted
    seconds: float
    already: bool = False  # it was format 2 before


def upgrade(client: redis.Redis, prefix: str,
            progress: Callable[[int, int], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> UpgradeResult:
    """Upgrade ``prefix`` from format 1 to 2 (nothing to do when it is 2 already).
    ``progress(done, total)`` after each batch of blocks; ``cancelled()`` true stops between
    batches with ECANCELED (still format 1; a later run goes on where this one stopped)."""
    keys = Keys(prefix)
    started = time.monotonic()
    with translated():
        version = client.hget(keys.superblock, "format_version")
    if version is None:
        raise NoSuchFilesystem(prefix)
    if version == b"2":
        return UpgradeResult(prefix, 0, 0.0, already=True)
    if version != b"1":
        raise FsError(errno.EPROTONOSUPPORT, f"filesystem {prefix!r} has format "
                      f"{version[:20].decode(errors='replace')}: only format 1 is upgraded")
    live = [m for m in list_mounts(client, prefix) if m.alive]
    if live:
        raise FsError(errno.EBUSY, f"filesystem {prefix!r} is mounted on {live[0].host}:"
                      f"{live[0].mountpoint} (pid {live[0].pid}): unmount it first")
    converted = 0
    with translated():
        client.hsetnx(keys.superblock, "pool", os.urandom(8).hex())
        client.hsetnx(keys.superblock, "epoch", 1)
        pool, epoch = (v.decode() for v in client.hmget(keys.superblock, "pool", "epoch"))
        names = list(client.scan_iter(match=keys.pattern(BLOCK), count=1000))
        for start in range(0, len(names), BATCH):
            if cancelled is not None and cancelled():
                raise FsError(errno.ECANCELED, f"upgrade of {prefix!r} stopped: it is still "
                              "format 1; run it again to finish")
            converted += _convert(client, keys, pool, epoch, names[start:start + BATCH])
            if progress is not None:
                progress(min(start + BATCH, len(names)), len(names))
        inodes = list(client.scan_iter(match=keys.pattern(INODE), count=1000))
        for start in range(0, len(inodes), BATCH):
            pipe = client.pipeline(transaction=False)
            for name in inodes[start:start + BATCH]:
                pipe.hdel(name, "blocks")  # format 1's count: the map's HLEN now
            pipe.execute(raise_on_error=False)
        client.hset(keys.superblock, "format_version", 2)
    return UpgradeResult(prefix, converted, time.monotonic() - started)


def _convert(client: redis.Redis, keys: Keys, pool: str, epoch: str, names: list[bytes]) -> int:
    values = mget_blocks(client, names)
    seconds = client.time()[0]
    moves = []
    store = client.pipeline(transaction=False)
    for name, value in zip(names, values, strict=True):
        parsed = keys.parse_block(name)
        if parsed is None or value is None:
            continue
        block_id = f"{seconds:08x}{os.urandom(4).hex()}"
        store.set(block_key(pool, block_id), value)
        moves.append((name, parsed, f"{epoch}.{block_id}.{len(value)}"))
    store.execute()
    commit = client.pipeline(transaction=True)
    for name, (ino, index), entry in moves:
        commit.hset(keys.block_map(ino), index, entry)
        commit.delete(name)
    commit.execute()
    return len(moves)
