"""The raw Redis keys behind one inode, as the UI's inspector shows them.

Key names come from ``fs.keys`` only; this module reads them with plain
commands (HGETALL, HSCAN, STRLEN, MGET, MEMORY USAGE) so a person sees exactly
what is stored.  How a field is explained to a person is the caller's business
(``describe``), so this stays free of any UI code.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from . import codec
from .blockmap import BlockInfo, entry_id
from .cluster import mget_blocks
from .errors import translated
from .fs import FileSystem

MAX_ENTRIES = 200
MAX_BLOCKS = 64  # blocks fetched to show codec and raw size (each up to one block size)
MAX_SCAN_BLOCKS = 1 << 20  # map entries examined (128 GiB at 128 KiB)
SCAN_BATCH = 10_000
Describe = Callable[[str, bytes], str]


@dataclass
class KeyReport:
    """One Redis key: its name, type, memory and (some of) its fields."""

    key: str
    rtype: str
    memory: int | None
    length: int
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (field, raw, meaning)


@dataclass
class InodeReport:
    ino: int
    inode: KeyReport
    dirents: KeyReport | None
    xattrs: KeyReport | None
    blocks: list[BlockInfo]
    block_total: int
    block_size: int
    codec: str
    orphan: bool
    stored_total: int = 0  # bytes in all block keys
    present: int = 0  # block keys that exist (the rest are holes)


def show_bytes(value: bytes) -> str:
    """Text when it is text, else a Python bytes literal (so nothing is hidden)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return repr(value)
    return text if text.isprintable() else repr(value)


def no_description(_name: str, _raw: bytes) -> str:
    return ""


def _memory(client: redis.Redis, key: str) -> int | None:
    try:
        value = client.memory_usage(key)
    except redis.ResponseError:  # MEMORY may be disabled by ACL or renamed
        return None
    return int(value) if value is not None else None


def _hash(client: redis.Redis, key: str, limit: int,
          describe: Describe | None = None) -> KeyReport | None:
    """A hash key's fields; with ``describe`` (the inode hash) all of them, explained."""
    rtype = client.type(key).decode()
    if rtype == "none":
        return None
    if rtype != "hash":  # damaged: show what is there instead of failing (fsck removes it)
        shown = show_bytes(client.getrange(key, 0, 63)) if rtype == "string" else ""
        return KeyReport(key, rtype, _memory(client, key), 0,
                         [("(not a hash)", shown, f"a {rtype} where a hash belongs")])
    length = int(client.hlen(key))
    fields: list[tuple[str, str, str]] = []
    if describe is not None:
        raw = client.hgetall(key)
        for name, value in sorted(raw.items()):
            text = name.decode(errors="replace")
            fields.append((text, show_bytes(value), describe(text, value)))
    else:
        for name, value in client.hscan_iter(key, count=limit):
            fields.append((show_bytes(name), show_bytes(value), ""))
            if len(fields) >= limit:
                break
        fields.sort()
    return KeyReport(key, rtype, _memory(client, key), length, fields)


def inode_report(fs: FileSystem, ino: int, max_entries: int = MAX_ENTRIES,
                 max_blocks: int = MAX_BLOCKS,
                 describe: Describe = no_description) -> InodeReport:
    """Everything stored for ``ino``: inode hash, entries, xattrs and data blocks."""
    client, keys = fs.client, fs.keys
    with translated():
        inode = _hash(client, keys.inode(ino), 0, describe)
        if inode is None:
            inode = KeyReport(keys.inode(ino), "none", None, 0)
        dirents = _hash(client, keys.dirents(ino), max_entries)
        xattrs = _hash(client, keys.xattrs(ino), max_entries)
        orphan = bool(client.sismember(keys.orphans, ino))
    mode = next((int(raw) for name, raw, _ in inode.fields if name == "mode"), 0)
    size = next((int(raw) for name, raw, _ in inode.fields if name == "size"), 0)
    blocks: list[BlockInfo] = []
    total = stored = present = 0
    if stat.S_ISREG(mode):
        total = (size + fs.block_size - 1) // fs.block_size
        blocks, stored, present = _blocks(fs, ino, total, max_blocks)
    return InodeReport(ino, inode, dirents, xattrs, blocks, total, fs.block_size, fs.codec,
                       orphan, stored, present)


def _blocks(fs: FileSystem, ino: int, total: int, limit: int) -> tuple[list[BlockInfo], int, int]:
    """The block map (its entries carry ids and stored sizes: no data moves), then codec
    and raw size of the first ``limit`` stored blocks.  Holes between them are reported
    as holes, so a sparse 1 GiB image shows the one block that holds data."""
    client = fs.client
    entries: dict[int, str] = {}
    with translated():
        for field_name, value in client.hscan_iter(fs.keys.block_map(ino), count=SCAN_BATCH):
            if field_name.isdigit() and int(field_name) < min(total, MAX_SCAN_BLOCKS):
                entries[int(field_name)] = value.decode(errors="replace")
        present = sorted(entries)
        shown = present[:limit]
        ids = {i: entry_id(entries[i]) for i in shown}
        keys = [fs.block_key(b) for b in ids.values() if b]
        values = iter(mget_blocks(client, keys))
    infos: list[BlockInfo] = []
    previous = -1
    for index in shown:
        for hole in range(previous + 1, index):
            infos.append(BlockInfo(hole, "", "hole", 0, 0))
        block_id, entry = ids[index], entries[index]
        if block_id is None:
            infos.append(BlockInfo(index, "", "damaged entry", 0, -1, entry))
        else:
            value = next(values)
            kind = codec.codec_name(value) if value is not None else "missing"
            raw = codec.raw_length(value, fs.block_size) if value is not None else -1
            infos.append(BlockInfo(index, fs.block_key(block_id), kind, len(value or b""), raw,
                                   entry))
        previous = index
    last = min(total, MAX_SCAN_BLOCKS) if len(shown) == len(present) else previous + 1
    for hole in range(previous + 1, last):
        infos.append(BlockInfo(hole, "", "hole", 0, 0))
    stored = sum(int(e.rsplit(".", 1)[-1]) for e in entries.values()
                 if e.rsplit(".", 1)[-1].isdigit())
    return infos, stored, len(present)
