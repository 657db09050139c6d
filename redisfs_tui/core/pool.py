"""The block pool (format 2): which blocks are still referenced, and garbage collection.

A pool is shared by a filesystem and its snapshots (their superblocks name the same
``pool``).  Scripts free the blocks only their own filesystem references (exclusive:
written at its current epoch); blocks that were shared when dropped stay until GC
marks every map entry of every member and sweeps the rest.  GC never deletes a block
younger than ``GC_MIN_AGE`` (its writer may be about to commit it: the write script
refuses ids older than 5 minutes) and gives up when a snapshot or restore ran during
the mark (it copied references from one member to another meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from .errors import translated
from .keys import (
    BLOCK_MAP,
    SUPERBLOCK_SCAN_PATTERN,
    Keys,
    block_key,
    parse_block_key,
    pool_pattern,
    prefix_of_superblock,
)

GC_MIN_AGE = 600  # seconds; twice the write script's limit on id age
CANCELLED = "cancelled"  # GcResult.aborted when the caller stopped it
BATCH = 1000


@dataclass(frozen=True)
class GcResult:
    pool: str
    members: tuple[str, ...]
    referenced: int  # distinct blocks the members' maps name
    scanned: int  # block keys of the pool
    deleted: int
    aborted: str = ""  # why nothing was swept, or ''
    young: int = 0  # unreferenced but younger than min_age: kept for now
    freed_bytes: int = 0  # stored bytes of the blocks deleted (counted on a dry run)


def members(client: redis.Redis, pool: str) -> dict[str, tuple[bytes | None, ...]]:
    """prefix -> (epoch, snap_to) of every filesystem whose superblock names ``pool``."""
    found = {}
    with translated():
        for key in client.scan_iter(match=SUPERBLOCK_SCAN_PATTERN, count=BATCH):
            prefix = prefix_of_superblock(key)
            if prefix is None:
                continue
            try:
                got, epoch, snap_to = client.hmget(key, "pool", "epoch", "snap_to")
            except redis.ResponseError:
                continue  # not a hash: not a superblock
            if got is not None and got.decode(errors="replace") == pool:
                found[prefix] = (epoch, snap_to)
    return found


def _entries(client: redis.Redis, prefix: str) -> list[bytes]:
    """Every block-map entry of one filesystem."""
    names = list(client.scan_iter(match=Keys(prefix).pattern(BLOCK_MAP), count=BATCH))
    values: list[bytes] = []
    for start in range(0, len(names), BATCH):
        pipe = client.pipeline(transaction=False)
        for name in names[start:start + BATCH]:
            pipe.hvals(name)
        for reply in pipe.execute(raise_on_error=False):
            if isinstance(reply, list):
                values.extend(reply)
    return values


def exclusive_blocks(client: redis.Redis, prefix: str) -> list[str]:
    """Pool keys only ``prefix`` references (entries of its current epoch): what deleting
    it frees at once."""
    keys = Keys(prefix)
    with translated():
        pool, epoch = client.hmget(keys.superblock, "pool", "epoch")
        if pool is None or epoch is None:
            return []
        out = []
        for entry in _entries(client, prefix):
            parts = entry.split(b".")
            if len(parts) == 3 and parts[0] == epoch and len(parts[1]) == 16:
                out.append(block_key(pool.decode(), parts[1].decode(errors="replace")))
    return out


def unlink_keys(client: redis.Redis, names: list[str] | list[bytes]) -> int:
    removed = 0
    with translated():
        for start in range(0, len(names), BATCH):
            removed += client.unlink(*names[start:start + BATCH])
    return removed


def gc(client: redis.Redis, pool: str, min_age: float = GC_MIN_AGE,
       dry_run: bool = False, cancelled: Callable[[], bool] | None = None) -> GcResult:
    """Delete the pool's blocks no member references and older than ``min_age`` s;
    with no member left, the whole pool.  ``dry_run`` only counts them.  ``cancelled()``
    true stops it between batches, before anything is deleted."""
    stop = cancelled or (lambda: False)
    before = members(client, pool)
    running = [p for p, (_, snap_to) in before.items() if snap_to]
    if running:
        return GcResult(pool, tuple(before), 0, 0, 0, f"a snapshot of {running[0]} is running")
    marked: set[bytes] = set()
    with translated():
        for prefix in before:
            if stop():
                return GcResult(pool, tuple(before), len(marked), 0, 0, CANCELLED)
            for entry in _entries(client, prefix):
                parts = entry.split(b".")
                if len(parts) == 3:
                    marked.add(parts[1])
    if members(client, pool) != before:
        return GcResult(pool, tuple(before), len(marked), 0, 0,
                        "a snapshot, restore or delete changed the pool during the mark")
    with translated():
        now = client.time()[0]
        doomed, scanned, young = [], 0, 0
        for key in client.scan_iter(match=pool_pattern(pool), count=BATCH):
            parsed = parse_block_key(key)
            if parsed is None or parsed[0] != pool:
                continue
            scanned += 1
            if scanned % BATCH == 0 and stop():
                return GcResult(pool, tuple(before), len(marked), scanned, 0, CANCELLED)
            block_id = parsed[1]
            if block_id.encode() in marked:
                continue
            if before and now - int(block_id[:8], 16) < min_age:
                young += 1
                continue  # a writer may be about to commit it
            doomed.append(key)
    freed_bytes = _stored_bytes(client, doomed)
    deleted = len(doomed) if dry_run else unlink_keys(client, doomed)
    return GcResult(pool, tuple(sorted(before)), len(marked), scanned, deleted, young=young,
                    freed_bytes=freed_bytes)


def _stored_bytes(client: redis.Redis, names: list[bytes]) -> int:
    """Sum of STRLEN over ``names`` (pipelined; on Cluster split by node)."""
    total = 0
    with translated():
        for start in range(0, len(names), BATCH):
            pipe = client.pipeline(transaction=False)
            for name in names[start:start + BATCH]:
                pipe.strlen(name)
            total += sum(n for n in pipe.execute(raise_on_error=False) if isinstance(n, int))
    return total


def gc_filesystem(client: redis.Redis, prefix: str,
                  cancelled: Callable[[], bool] | None = None) -> GcResult | None:
    """GC of the pool ``prefix`` belongs to (None: no such filesystem or no pool)."""
    with translated():
        pool = client.hget(Keys(prefix).superblock, "pool")
    return gc(client, pool.decode(), cancelled=cancelled) if pool else None
