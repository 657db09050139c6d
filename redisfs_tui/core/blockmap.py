"""Block-map entries and what the inode inspector shows of a file's blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import codec
from .cluster import mget_blocks
from .errors import translated

if TYPE_CHECKING:
    from .data import DataOps


def entry_id(entry: bytes | str) -> str | None:
    """The block id of a map entry ``<epoch>.<id>.<stored_len>``, None if malformed."""
    text = entry.decode(errors="replace") if isinstance(entry, bytes) else entry
    parts = text.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit() \
            or len(parts[1]) != 16:
        return None
    return parts[1]


class Vanished(Exception):
    """A block key named by the map was gone when read (overwritten meanwhile?)."""

    def __init__(self, index: int, key: str) -> None:
        super().__init__(index, key)
        self.index, self.key = index, key


@dataclass(frozen=True)
class BlockInfo:
    """What one data block holds, for the inode inspector."""

    index: int
    key: str
    codec: str
    stored_bytes: int
    raw_bytes: int
    entry: str = ""  # the map entry: <epoch>.<id>.<stored_len>



def block_infos(fs: DataOps, ino: int, limit: int = 10_000) -> list[BlockInfo]:
    """Every block of a file with its map entry, codec and sizes (the inspector)."""
    with translated():
        size = int(fs.client.hget(fs.keys.inode(ino), "size") or 0)
        count = min((size + fs.block_size - 1) // fs.block_size, limit)
        entries = fs.client.hmget(fs.keys.block_map(ino), list(range(count))) \
            if count else []
        ids = [entry_id(e) if e else None for e in entries]
        keys = [fs.block_key(i) for i in ids if i]
        values = iter(mget_blocks(fs.client, keys))
    infos = []
    for index, (entry, block_id) in enumerate(zip(entries, ids, strict=True)):
        text = (entry or b"").decode(errors="replace")
        if entry is None:
            infos.append(BlockInfo(index, "", "hole", 0, 0))
        elif block_id is None:
            infos.append(BlockInfo(index, "", "damaged entry", 0, -1, text))
        else:
            stored = next(values)
            key = fs.block_key(block_id)
            if stored is None:
                infos.append(BlockInfo(index, key, "missing", 0, -1, text))
                continue
            raw_len = codec.raw_length(stored, fs.block_size)  # -1: damaged
            infos.append(BlockInfo(index, key, codec.codec_name(stored), len(stored),
                                   raw_len, text))
    return infos
