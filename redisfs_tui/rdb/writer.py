"""Write an RDB file that Redis 7.x loads: plain encodings, CRC-64, temp file + rename."""

from __future__ import annotations

import math
import os
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .crc64 import crc64
from .model import RdbEntry, RdbError

VERSION = 10  # what Redis 7.0 writes and reads; 7.2 reads it too
_TYPE_BYTES = {"string": 0, "list": 1, "set": 2, "hash": 4, "zset": 5}


def _length(n: int) -> bytes:
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n < 1 << 32:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


def _string(value: bytes) -> bytes:
    return _length(len(value)) + value


def _value(entry: RdbEntry) -> bytes:
    value = entry.value
    if entry.type == "string":
        return _string(value)  # type: ignore[arg-type]
    if entry.type in ("list", "set"):
        items = sorted(value) if entry.type == "set" else list(value)  # type: ignore[call-overload]
        return _length(len(items)) + b"".join(_string(i) for i in items)
    if entry.type == "hash":
        pairs = sorted(value.items())  # type: ignore[union-attr]
        return _length(len(pairs)) + b"".join(_string(k) + _string(v) for k, v in pairs)
    if entry.type == "zset":
        items = list(value)  # type: ignore[call-overload]
        if any(math.isnan(score) for _, score in items):
            raise RdbError("a sorted set score may not be NaN")
        return _length(len(items)) + b"".join(
            _string(m) + struct.pack("<d", s) for m, s in items)
    raise RdbError(f"cannot write a value of type {entry.type!r}")


def encode_rdb(entries: Iterable[RdbEntry], aux: dict[bytes, bytes] | None = None) -> bytes:
    """The bytes of a complete RDB file (header, aux, dbs, EOF, CRC-64)."""
    out = bytearray(b"REDIS%04d" % VERSION)
    for key, value in (aux or {b"redis-ver": b"7.0.0", b"redis-bits": b"64"}).items():
        out += b"\xfa" + _string(key) + _string(value)
    by_db: dict[int, list[RdbEntry]] = {}
    for entry in entries:
        by_db.setdefault(entry.db, []).append(entry)
    for db in sorted(by_db):
        group = by_db[db]
        out += b"\xfe" + _length(db)
        out += b"\xfb" + _length(len(group)) + _length(sum(e.expire_ms is not None for e in group))
        for entry in group:
            if entry.expire_ms is not None:
                out += b"\xfc" + struct.pack("<q", entry.expire_ms)
            out += bytes([_TYPE_BYTES[entry.type]]) if entry.type in _TYPE_BYTES else b"?"
            out += _string(entry.key) + _value(entry)
    out += b"\xff"
    out += struct.pack("<Q", crc64(bytes(out)))
    return bytes(out)


def write_rdb(path: str | os.PathLike[str], entries: Iterable[RdbEntry],
              aux: dict[bytes, bytes] | None = None) -> int:
    """Write atomically: a temp file in the same directory, fsync, then rename.

    A crash leaves either the old file or the new one, never half of one.
    Returns the number of bytes written.
    """
    data = encode_rdb(entries, aux)
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".rdb", dir=target.parent)
    except OSError as exc:  # name the file the caller asked for, not our temp name
        raise OSError(exc.errno, exc.strerror, os.fspath(target)) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(data)
