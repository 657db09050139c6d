"""Snapshots, restore and diff between two filesystems on one server.

A snapshot is an ordinary filesystem under another prefix (its superblock says
``snapshot_of``), so it mounts with ``--prefix`` like any other.  It shares the data
blocks (format 2: an immutable pool) and copies only metadata -- inodes, entries,
xattrs and block maps -- in bounded batches, so the server is never blocked for
long.  The cut is still one point in time: while the copy runs, every change script
first copies the inode it is about to change (copy-before-write, common.lua).  Until
the last batch the target is marked ``incomplete`` and cannot be mounted.  Both
prefixes are touched by one script, so the copy needs a standalone (or replicated)
server, not Redis Cluster.
"""

from __future__ import annotations

import errno
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from . import codec
from .attrs import ROOT_INO, Attr
from .cluster import refuse_cross_slot
from .errors import FsError, NoSuchFilesystem, translated
from .fs import FileSystem
from .keys import Keys, prefix_of_base
from .registry import delete_filesystem, list_mounts
from .scripts import scripts_for

STEP_INODES = 250  # inodes copied per script call at most (about 5 ms)
STEP_SCANS = 40  # SCAN calls (of COUNT 100) per script call at most
STALE_AFTER = 60  # seconds without a batch: the copy's maker is gone (snap_begin.lua)


@dataclass(frozen=True)
class SnapshotResult:
    source: str
    target: str
    inodes: int
    seconds: float
    steps: int = 1  # script calls that copied
    longest_step: float = 0.0  # seconds the longest of them blocked the server


def abandon(client: redis.Redis, source: str, target: str) -> None:
    """Clean up a copy that stopped (its maker crashed): delete the incomplete target
    and the source's snapshot fields."""
    src, dst = Keys(source), Keys(target)
    with translated():
        if client.hget(dst.superblock, "incomplete"):
            delete_filesystem(client, target, force=True)
        if (client.hget(src.superblock, "snap_to") or b"").decode() == dst.base:
            client.hdel(src.superblock, "snap_to", "snap_upto", "snap_cursor", "snap_beat")
            client.delete(src.snap_copied)


def _copy(client: redis.Redis, source: str, target: str, mode: str) -> SnapshotResult:
    src, dst = Keys(source), Keys(target)
    refuse_cross_slot(client, f"{mode} {source} -> {target}", src.superblock, dst.superblock)
    started = time.monotonic()
    scripts = scripts_for(client)
    steps, longest = 0, 0.0
    with translated():
        if not client.exists(src.superblock):
            raise NoSuchFilesystem(source)
        if mode == "restore" and client.exists(dst.superblock):
            live = [m for m in list_mounts(client, target) if m.alive]
            if live:
                raise FsError(errno.EBUSY, f"filesystem {target!r} is mounted on "
                              f"{live[0].host}:{live[0].mountpoint}: unmount it first")
            delete_filesystem(client, target)
        for _attempt in range(2):
            begin = scripts.snap_begin(
                keys=[src.superblock, dst.superblock],
                args=[src.base, dst.base, time.time_ns(), uuid.uuid4().hex, mode, source])
            if not isinstance(begin, list):
                break
            abandon(client, source, prefix_of_base(begin[1]))  # a copy whose maker died
        done = 0
        while not done:
            tick = time.monotonic()
            _copied, done = scripts.snap_step(keys=[src.superblock],
                                              args=[src.base, STEP_INODES, STEP_SCANS])
            steps += 1
            longest = max(longest, time.monotonic() - tick)
        inodes = int(client.hget(dst.superblock, "inodes") or 0)
    return SnapshotResult(source, target, inodes, time.monotonic() - started, steps, longest)


def snapshot(client: redis.Redis, source: str, target: str) -> SnapshotResult:
    """Copy ``source`` to a new filesystem ``target`` (EEXIST if it exists)."""
    return _copy(client, source, target, "snapshot")


def restore(client: redis.Redis, snapshot_prefix: str, target: str) -> SnapshotResult:
    """Replace ``target``'s whole contents with the snapshot's (refused while ``target``
    is mounted: it is deleted, then copied again in batches)."""
    return _copy(client, snapshot_prefix, target, "restore")


def default_snapshot_name(source: str) -> str:
    """``<source>.snap-YYYYmmdd-HHMMSS`` (UTC), a valid prefix."""
    return f"{source}.snap-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


@dataclass(frozen=True)
class DiffEntry:
    """One difference: ``change`` is added, removed, modified, type or metadata."""

    path: str
    change: str
    detail: str = ""


def _content_equal(a: FileSystem, ia: Attr, b: FileSystem, ib: Attr) -> bool:
    """Same bytes?  Blocks stored identically (a snapshot copies them byte for byte) are
    equal without being decompressed; others are decoded and compared up to the size."""
    if ia.size != ib.size:
        return False
    if a.block_size != b.block_size:  # different layouts: compare what reads return
        step = 64 * a.block_size
        return all(a.read(ia.ino, offset, step) == b.read(ib.ino, offset, step)
                   for offset in range(0, ia.size, step))
    bs = a.block_size
    blocks = (ia.size + bs - 1) // bs
    for first in range(0, blocks, 64):
        count = min(64, blocks - first)
        pairs = zip(a.stored_blocks(ia.ino, first, count), b.stored_blocks(ib.ino, first, count),
                    strict=True)
        for index, (left, right) in enumerate(pairs, start=first):
            if left == right:
                continue
            limit = min(bs, ia.size - index * bs)  # bytes of this block inside the file
            if codec.decode(left, bs)[:limit].ljust(limit, b"\0") != \
                    codec.decode(right, bs)[:limit].ljust(limit, b"\0"):
                return False
    return True


def diff(a: FileSystem, b: FileSystem) -> Iterator[DiffEntry]:
    """Walk both trees from the root and yield what changed from ``a`` to ``b``."""
    stack: list[tuple[str, int, int]] = [("", ROOT_INO, ROOT_INO)]
    while stack:
        path, ino_a, ino_b = stack.pop()
        left = {n: x for page in a.readdir_plus(ino_a) for n, x in page}
        right = {n: x for page in b.readdir_plus(ino_b) for n, x in page}
        for name in sorted(left.keys() | right.keys()):
            child = f"{path}/{name.decode(errors='surrogateescape')}"
            la, rb = left.get(name), right.get(name)
            if rb is None:
                yield DiffEntry(child, "removed")
            elif la is None:
                yield DiffEntry(child, "added")
            elif stat.S_IFMT(la.mode) != stat.S_IFMT(rb.mode):
                yield DiffEntry(child, "type",
                                f"{stat.filemode(la.mode)} -> {stat.filemode(rb.mode)}")
            elif not la.is_dir and (
                la.target != rb.target or (la.is_reg and not _content_equal(a, la, b, rb))
            ):
                yield DiffEntry(child, "modified", f"{la.size} -> {rb.size} bytes")
            elif (la.mode, la.uid, la.gid) != (rb.mode, rb.uid, rb.gid):
                yield DiffEntry(child, "metadata",
                                f"{stat.filemode(la.mode)} {la.uid}:{la.gid} -> "
                                f"{stat.filemode(rb.mode)} {rb.uid}:{rb.gid}")
            if la is not None and rb is not None and la.is_dir and rb.is_dir:
                stack.append((child, la.ino, rb.ino))
