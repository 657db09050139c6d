"""Filesystems to and from RDB dump files, with no running server needed to read one.

``export_filesystem`` writes every key of one prefix into a standalone RDB file
(take a snapshot first for a point-in-time copy of a busy filesystem);
``import_filesystem`` loads a prefix from any dump — one saved by redis-server
or by us — into a server; ``filesystems_in_rdb`` lists what a dump holds.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import redis

from ..rdb import RdbEntry, RdbError, read_rdb, write_rdb
from .blockmap import entry_id
from .cluster import is_cluster, mget_blocks
from .errors import FsError, translated
from .keys import Keys, block_key, parse_block_key, prefix_of_superblock
from .upgrade import upgrade


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
        entries += _referenced_blocks(client, keys, entries)
    write_rdb(path, entries)
    return len(entries)


def _block_ids(keys: Keys, entries: list[RdbEntry]) -> set[str]:
    """Ids of the pool blocks the block maps among ``entries`` name (format 2)."""
    stem = keys.block_map(0)[:-1].encode()
    ids = set()
    for entry in entries:
        if entry.key.startswith(stem) and entry.type == "hash":
            for value in entry.value.values():  # type: ignore[union-attr]
                block_id = entry_id(value)
                if block_id is not None:
                    ids.add(block_id)
    return ids


def _referenced_blocks(client: redis.Redis, keys: Keys, entries: list[RdbEntry]
                       ) -> list[RdbEntry]:
    """The pool blocks a filesystem's maps name: an export holds its data."""
    pool = client.hget(keys.superblock, "pool")
    if pool is None:
        return []  # format 1: the blocks are among the prefix's own keys
    names = [block_key(pool.decode(), i) for i in sorted(_block_ids(keys, entries))]
    out = []
    for start in range(0, len(names), 500):
        batch = names[start:start + 500]
        for name, value in zip(batch, mget_blocks(client, batch), strict=True):
            if value is not None:
                out.append(RdbEntry(0, name.encode(), "string", value))
    return out


@dataclass(frozen=True)
class ImportResult:
    prefix: str  # the filesystem's name on the server
    keys: int  # keys written
    skipped: tuple[str, ...] = ()  # other keys of types the reader steps over ("stream")

    @property
    def note(self) -> str:
        """One line about the skipped keys, or '' when there were none."""
        if not self.skipped:
            return ""
        kinds = ", ".join(sorted(set(self.skipped)))
        return (f"skipped {len(self.skipped)} other key(s) of a type that is not read "
                f"({kinds}); the filesystem does not use them")


FS_TYPES = ("string", "hash", "set", "list")  # all a filesystem's keys ever are


def import_filesystem(client: redis.Redis, path: str | os.PathLike[str], prefix: str,
                      db: int = 0, target: str | None = None) -> ImportResult:
    """Load filesystem ``prefix`` from a dump into the server, as ``target`` (default: the
    same prefix; keys are renamed and the copy gets a new uuid).

    All or nothing: EEXIST if the target or any key of its prefix exists, checked under
    WATCH and written in one MULTI/EXEC, so a failure leaves no key behind (a reply
    error inside EXEC, which Redis does not roll back, is undone by deleting them).
    Keys of other names whose type the reader skips (streams, module values) are
    only counted in the result's note.
    """
    try:
        dump = read_rdb(path)
    except (OSError, RdbError) as exc:
        raise FsError(22, f"cannot read {os.fspath(path)!r}: {exc}") from exc
    source, dest = Keys(prefix), Keys(target or prefix)
    base = source.base.encode()
    chosen = [e for e in dump.entries if e.db == db and e.key.startswith(base)]
    if not any(e.key == source.superblock.encode() for e in chosen):
        raise FsError(2, f"the dump has no filesystem {prefix!r}")
    foreign = [e for e in [*chosen, *dump.skipped]
               if e.db == db and e.key.startswith(base) and e.type not in FS_TYPES]
    if foreign:
        raise FsError(22, f"the dump's key {foreign[0].key[:80]!r} of filesystem {prefix!r} "
                          f"is a {foreign[0].type}, which no filesystem key is: nothing "
                          "was imported")
    new_base = dest.base.encode()
    writes = [(new_base + e.key[len(base):], e) for e in chosen]
    pool = os.urandom(8).hex()  # a pool of its own: nothing on the server shares it
    ids = _block_ids(source, chosen)
    blocks = []
    for entry in dump.entries:
        parsed = parse_block_key(entry.key) if entry.db == db else None
        if parsed is not None and parsed[1] in ids and entry.type == "string":
            blocks.append((block_key(pool, parsed[1]).encode(), entry))
    version = next((e.value.get(b"format_version") for e in chosen  # type: ignore[union-attr]
                    if e.key == source.superblock.encode()), None)
    block_names = [name for name, _ in blocks]
    # the pool blocks first, outside the transaction (on Cluster they live in other
    # slots): a new pool nobody references, deleted again if the metadata fails
    try:
        with translated():
            for start in range(0, len(blocks), 500):
                pipe = client.pipeline(transaction=False)
                for name, entry in blocks[start:start + 500]:
                    _queue_write(pipe, name, entry)
                pipe.execute()
            _import_metadata(client, source, dest, writes, version, pool)
    except BaseException:
        with translated():
            _delete(client, block_names)
        raise
    skipped = tuple(e.type for e in dump.skipped if e.db == db)
    if version == b"1":  # a dump of the old format: converted on the server
        upgrade(client, dest.prefix)
    return ImportResult(dest.prefix, len(chosen), skipped)


def _import_metadata(client: redis.Redis, source: Keys, dest: Keys,
                     writes: list[tuple[bytes, RdbEntry]], version: bytes | None,
                     pool: str) -> None:
    """The filesystem's own keys in one MULTI/EXEC under WATCH (one slot)."""
    names = [name for name, _ in writes]
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(dest.superblock, *names)  # anything written meanwhile: no EXEC
            if pipe.exists(dest.superblock):
                raise FsError(17, f"filesystem {dest.prefix!r} already exists on the "
                                  "server")
            # a cluster pipeline cannot SCAN (and one SCAN sees one master): there the
            # client scans every master; the WATCH above still guards the names written
            scanner = client if is_cluster(client) else pipe
            stray = next(scanner.scan_iter(match=dest.all_keys_pattern(), count=1000), None)
            if stray is not None:
                raise FsError(17, f"keys of prefix {dest.prefix!r} exist without a "
                                  f"filesystem (first: {stray[:80]!r}); delete them first")
            pipe.multi()
            for name, entry in writes:
                _queue_write(pipe, name, entry)
            if dest.prefix != source.prefix:
                pipe.hset(dest.superblock, "uuid", uuid.uuid4().hex)
            if version != b"1":
                pipe.hset(dest.superblock, "pool", pool)
            pipe.execute()
        except redis.WatchError:
            raise FsError(11, f"keys of prefix {dest.prefix!r} changed during the import; "
                              "nothing was imported") from None
        except redis.ResponseError:
            _delete(client, names)  # EXEC ran some commands: undo them all
            raise


def _queue_write(pipe, name: bytes, entry: RdbEntry) -> None:
    if entry.type == "string":
        pipe.set(name, entry.value)
    elif entry.type == "hash" and entry.value:
        pipe.hset(name, mapping=entry.value)
    elif entry.type == "set" and entry.value:
        pipe.sadd(name, *entry.value)
    elif entry.type == "list" and entry.value:
        pipe.rpush(name, *entry.value)


def _delete(client: redis.Redis, names: list[bytes]) -> None:
    for start in range(0, len(names), 500):
        client.delete(*names[start:start + 500])
