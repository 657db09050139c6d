"""Reading a tree in the C redisfs schema, from a live server or from an RDB dump.

The C code stores every attribute as its own string key (``P:INODE:<n>:<FIELD>``),
file contents raw and uncompressed in ``P:INODE:<n>:DATA``, and a directory as a set
of child inode numbers (``P:DIRENT:<n>``, the root is -99).  A source reads all of it
but the contents into a :class:`LegacyRead`; contents are fetched one file at a time
while the new filesystem is written, so a large tree never sits in memory twice.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from ...rdb import RdbError, read_rdb
from ..errors import FsError, translated
from ..keys import LegacyKeys

CHUNK = 1 << 20  # bytes of DATA fetched per GETRANGE
BATCH = 500  # commands per pipelined round trip


def shown(raw: bytes, limit: int = 60) -> str:
    """Bytes as readable text: undecodable bytes as \\x escapes, long values cut."""
    text = raw[:limit].decode(errors="backslashreplace")
    return repr(text + ("…" if len(raw) > limit else ""))


@dataclass
class LegacyRead:
    """Everything of one C redisfs tree but the file contents."""

    prefix: bytes
    fields: dict[int, dict[bytes, bytes]] = field(default_factory=dict)  # DATA left out
    data_len: dict[int, int] = field(default_factory=dict)  # -1: DATA is not a string
    dirents: dict[int, list[bytes]] = field(default_factory=dict)  # raw set members
    problems: list[str] = field(default_factory=list)  # keys that could not be read
    unknown: list[bytes] = field(default_factory=list)  # keys under P: of no C kind
    keys: int = 0  # keys of the C schema found


class LegacySource:
    """Where a C redisfs tree is read from; ``describe`` names it in reports."""

    describe = ""

    def read(self) -> LegacyRead:
        raise NotImplementedError

    def data(self, ino: int, length: int) -> Iterator[bytes]:
        """The first ``length`` bytes of inode ``ino``'s DATA, in chunks."""
        raise NotImplementedError


class ServerSource(LegacySource):
    """A tree on a running server, found by SCAN (never KEYS).  Unmount the C redisfs
    first: a tree that changes while it is read is caught only where sizes change."""

    def __init__(self, client: redis.Redis, prefix: str | bytes) -> None:
        self.client = client
        self.keys = LegacyKeys(prefix)
        self.describe = f"C redisfs tree {shown(self.keys.prefix)} on the server"

    def read(self) -> LegacyRead:
        out = LegacyRead(self.keys.prefix)
        batch: list[tuple[bytes, tuple[str, int, bytes]]] = []
        with translated():
            for key in self.client.scan_iter(match=self.keys.scan_pattern(), count=1000):
                kind = self.keys.parse(key)
                if kind is None:
                    out.unknown.append(key)
                    continue
                batch.append((key, kind))
                if len(batch) >= BATCH:  # values as SCAN goes: no list of every key
                    self._fetch(batch, out)
                    batch = []
            self._fetch(batch, out)
        return out

    def _fetch(self, batch: list[tuple[bytes, tuple[str, int, bytes]]], out: LegacyRead
               ) -> None:
        """One pipelined round trip for a batch of keys (errors come back as values)."""
        out.keys += len(batch)
        pipe = self.client.pipeline(transaction=False)
        for key, (kind, _, name) in batch:
            if kind == "dirent":
                pipe.smembers(key)
            elif name == b"DATA":
                pipe.strlen(key)
            else:
                pipe.get(key)
        replies = pipe.execute(raise_on_error=False) if batch else []
        for (key, kind), reply in zip(batch, replies, strict=True):
            _store(out, key, kind, reply)

    def data(self, ino: int, length: int) -> Iterator[bytes]:
        key = self.keys.field(ino, b"DATA")
        done = 0
        while done < length:
            want = min(CHUNK, length - done)
            with translated():
                chunk = self.client.getrange(key, done, done + want - 1)
            if len(chunk) != want:
                raise FsError(errno.EIO, f"the DATA of C inode {ino} changed while it was "
                                         "copied: unmount the C redisfs and try again")
            done += want
            yield chunk


def _store(out: LegacyRead, key: bytes, kind: tuple[str, int, bytes], reply: object) -> None:
    """File one key's value (or its read error) into ``out``."""
    what, ino, name = kind
    if isinstance(reply, Exception):
        if name == b"DATA":
            out.data_len[ino] = -1  # the plan reports it with the file's name
        else:
            out.problems.append(f"key {shown(key)} cannot be read ({str(reply)[:80]}): "
                                "ignored")
        return
    if reply is None:
        return  # deleted since the SCAN saw it: as if it never was
    if what == "dirent":
        out.dirents[ino] = sorted(reply)  # type: ignore[arg-type]
    elif what == "inode" and name == b"DATA":
        out.data_len[ino] = int(reply)  # type: ignore[call-overload]
    elif what == "inode":
        out.fields.setdefault(ino, {})[name] = reply  # type: ignore[assignment]


class DumpSource(LegacySource):
    """A tree in an RDB dump file (database 0, the only one the C redisfs used); no
    server needed to read it."""

    def __init__(self, path: str | os.PathLike[str], prefix: str | bytes) -> None:
        self.path = os.fspath(path)
        self.keys = LegacyKeys(prefix)
        self.describe = f"C redisfs tree {shown(self.keys.prefix)} in {self.path}"
        self._data: dict[int, bytes] = {}

    def read(self) -> LegacyRead:
        try:
            dump = read_rdb(self.path)
        except (OSError, RdbError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise FsError(errno.EINVAL, f"cannot read {self.path!r}: {detail}") from exc
        out = LegacyRead(self.keys.prefix)
        for entry in [*dump.entries, *dump.skipped]:
            if entry.db != 0 or not entry.key.startswith(self.keys.base):
                continue
            kind = self.keys.parse(entry.key)
            if kind is None:
                out.unknown.append(entry.key)
                continue
            out.keys += 1
            wanted = "set" if kind[0] == "dirent" else "string"
            if entry.type != wanted:
                _store(out, entry.key, kind,
                       ValueError(f"a {entry.type}, where the C redisfs writes a {wanted}"))
            elif kind[2] == b"DATA":
                self._data[kind[1]] = entry.value  # type: ignore[assignment]
                _store(out, entry.key, kind, len(entry.value))  # type: ignore[arg-type]
            else:
                _store(out, entry.key, kind, entry.value)
        return out

    def data(self, ino: int, length: int) -> Iterator[bytes]:
        value = self._data.get(ino, b"")
        for start in range(0, length, CHUNK):
            yield value[start:min(length, start + CHUNK)]
