"""A data change sent twice -- what a dropped connection does: the kept connection
re-sends the whole pipeline (the new blocks' SETs and the commit script) -- must be
taken as done the second time.  Before, the repeat looked like a block changed by
someone else, and the client freed the new blocks that the first run had committed:
the file then named blocks that no longer existed."""

from __future__ import annotations

import time

from redisfs_tui.core import FileSystem


def _file(fs: FileSystem, data: bytes) -> int:
    ino = fs.create(1, "f", 0o644).ino
    fs.write(ino, 0, data)
    return ino


def test_a_write_commit_sent_twice_keeps_its_blocks(fs: FileSystem) -> None:
    ino = _file(fs, b"a" * 1000)
    entry = fs.client.hget(fs.keys.block_map(ino), 0)
    blocks: list[tuple[str, bytes]] = []
    new = fs._store(fs._encode(b"b" * 1000), blocks)
    args = (ino, 1000, time.time_ns(), 0, 0, entry, new)
    assert fs._commit("write", blocks, *args)
    assert fs._commit("write", blocks, *args)  # the same pipeline again
    assert bytes(fs.read(ino, 0, 1000)) == b"b" * 1000
    assert fs.client.exists(fs.block_key(new.split(".")[0]))


def test_a_truncate_commit_sent_twice_keeps_its_tail_block(fs: FileSystem) -> None:
    ino = _file(fs, b"c" * 1000)
    entry = fs.client.hget(fs.keys.block_map(ino), 0)
    blocks: list[tuple[str, bytes]] = []
    new = fs._store(fs._encode(b"c" * 10), blocks)
    args = (ino, 10, time.time_ns(), entry, new, 1)
    assert fs._commit("truncate", blocks, *args)
    assert fs._commit("truncate", blocks, *args)  # the same pipeline again
    assert bytes(fs.read(ino, 0, 100)) == b"c" * 10
    assert fs.client.exists(fs.block_key(new.split(".")[0]))
