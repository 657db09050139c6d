"""Filesystems to and from RDB dump files, with no running server needed to read one.

``export_filesystem`` writes every key of one prefix into a standalone RDB file
(take a snapshot first for a point-in-time copy of a busy filesystem);
``import_filesystem`` loads a prefix from any dump — one saved by redis-server
or by us — into a server; ``filesystems_in_rdb`` lists what a dump holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import redis

from ..rdb import RdbEntry, RdbError, read_rdb, write_rdb
from .errors import FsError, translated
from .keys import Keys, prefix_of_superblock


@dataclass(frozen=True)
class RdbFilesystem:
    prefix: str
    keys: int
    superblock: dict[str, str]


def filesystems_in_rdb(path: str | os.PathLike[str], db: int = 0) -> list[RdbFilesystem]:
    """The filesystems (superblocks) a dump file holds in one database."""
    dump = read_rdb(path)
    entries = dump.keys(db)
    found = []
    for key, entry in entries.items():
        prefix = prefix_of_superblock(key)
        if prefix is None or entry.type != "hash":
            continue
        base = Keys(prefix).base.encode()
        count = sum(1 for k in entries if k.startswith(base))
        sb = {k.decode(errors="replace"): v.decode(errors="replace")
              for k, v in entry.value.items()}  # type: ignore[union-attr]
        found.append(RdbFilesystem(prefix, count, sb))
    return sorted(found, key=lambda f: f.prefix)


def export_filesystem(client: redis.Redis, prefix: str, path: str | os.PathLike[str]) -> int:
    """Write one filesystem's keys to an RDB file (atomically replaced); returns key count."""
    keys = Keys(prefix)
    entries: list[RdbEntry] = []
    with translated():
        if not client.exists(keys.superblock):
            raise FsError(2, f"no filesystem {prefix!r}")
        names = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
        for start in range(0, len(names), 500):
            batch = names[start:start + 500]
            pipe = client.pipeline(transaction=False)
            for name in batch:
                pipe.type(name)
            kinds = [k.decode() if isinstance(k, bytes) else k for k in pipe.execute()]
            pipe = client.pipeline(transaction=False)
            for name, kind in zip(batch, kinds, strict=True):
                if kind == "hash":
                    pipe.hgetall(name)
                elif kind == "set":
                    pipe.smembers(name)
                elif kind == "list":
                    pipe.lrange(name, 0, -1)
                else:
                    pipe.get(name)
            for name, kind, value in zip(batch, kinds, pipe.execute(), strict=True):
                if kind in ("string", "hash", "set", "list") and value is not None:
                    entries.append(RdbEntry(0, name, kind, value))
    write_rdb(path, entries)
    return len(entries)


def import_filesystem(client: redis.Redis, path: str | os.PathLike[str], prefix: str,
                      db: int = 0) -> int:
    """Load one prefix's keys from a dump into the server (EEXIST if it is there already)."""
    try:
        dump = read_rdb(path)
    except (OSError, RdbError) as exc:
        raise FsError(22, f"cannot read {os.fspath(path)!r}: {exc}") from exc
    keys = Keys(prefix)
    base = keys.base.encode()
    chosen = [e for e in dump.entries if e.db == db and e.key.startswith(base)]
    if not any(e.key == keys.superblock.encode() for e in chosen):
        raise FsError(2, f"the dump has no filesystem {prefix!r}")
    with translated():
        if client.exists(keys.superblock):
            raise FsError(17, f"filesystem {prefix!r} already exists on the server")
        pipe = client.pipeline(transaction=True)
        for entry in chosen:
            if entry.type == "string":
                pipe.set(entry.key, entry.value)
            elif entry.type == "hash" and entry.value:
                pipe.hset(entry.key, mapping=entry.value)
            elif entry.type == "set" and entry.value:
                pipe.sadd(entry.key, *entry.value)
            elif entry.type == "list" and entry.value:
                pipe.rpush(entry.key, *entry.value)
        pipe.execute()
    return len(chosen)
