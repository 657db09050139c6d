"""Read an RDB file (versions 1 to 11) into an RdbFile, checking its CRC-64.

Supports the value types a Redis 7.x dump holds for strings, lists, sets,
sorted sets and hashes in all their encodings.  Values of other types that can be
stepped over (streams, module values saved with their EOF marks, old zipmaps)
are skipped and listed in ``RdbFile.skipped``; only pre-4.0 module values, whose
length only the module knows, are refused with an RdbError naming the key.
"""

from __future__ import annotations

import os
import struct

from . import packed
from .crc64 import crc64
from .model import RdbEntry, RdbError, RdbFile

MAX_VERSION = 11
OP_FUNCTION2, OP_FUNCTION, OP_MODULE_AUX, OP_IDLE, OP_FREQ = 0xF5, 0xF6, 0xF7, 0xF8, 0xF9
OP_AUX, OP_RESIZEDB, OP_EXPIRE_MS, OP_EXPIRE, OP_SELECTDB, OP_EOF = (
    0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF)
TYPE_NAMES = {15: "stream", 19: "stream", 21: "stream", 6: "module", 7: "module", 9: "zipmap"}
TYPE_STREAM, TYPE_STREAM_2, TYPE_STREAM_3, TYPE_MODULE_2, TYPE_ZIPMAP = 15, 19, 21, 7, 9
# liblzf's longest back reference (264 bytes) costs it 3 bytes of input; a declared
# length beyond that ratio cannot be honest, and is refused before decompressing
MAX_LZF_RATIO = 89
STREAM_ID = 16  # bytes of a raw stream ID (two big-endian 64-bit numbers)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RdbError(f"unexpected end of file at byte {self.pos} (wanted {n} more)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        """A length, or (encoding, True) for the special string encodings."""
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if first == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise RdbError(f"bad length encoding 0x{first:02x} at byte {self.pos - 1}")

    def number(self) -> int:
        value, special = self.length()
        if special:
            raise RdbError(f"expected a length at byte {self.pos - 1}")
        return value

    def string(self) -> bytes:
        value, special = self.length()
        if not special:
            return self.take(value)
        if value == 0:
            return str(struct.unpack("<b", self.take(1))[0]).encode()
        if value == 1:
            return str(struct.unpack("<h", self.take(2))[0]).encode()
        if value == 2:
            return str(struct.unpack("<i", self.take(4))[0]).encode()
        if value == 3:
            clen, ulen = self.number(), self.number()
            if ulen > MAX_LZF_RATIO * clen + 64:  # LZF cannot expand data this much
                raise RdbError(f"LZF string of {clen} bytes claims {ulen} bytes")
            return packed.lzf_decompress(self.take(clen), ulen)
        raise RdbError(f"unknown string encoding {value} at byte {self.pos - 1}")

    def double_text(self) -> float:
        size = self.byte()
        if size == 253:
            return float("nan")
        if size == 254:
            return float("inf")
        if size == 255:
            return float("-inf")
        return _score(self.take(size))


def _score(raw: bytes) -> float:
    """A sorted-set score written as text; RdbError (not ValueError) when it is not one."""
    try:
        return float(raw)
    except ValueError:
        raise RdbError(f"sorted-set score {raw[:40]!r} is not a number") from None


def _skip_stream(cur: _Cursor, kind: int) -> None:
    """Step over a stream value (rdb.c, rdbLoadObject): its listpacks, metadata,
    consumer groups with their pending entries, and consumers."""
    for _ in range(cur.number()):  # radix tree nodes: master ID, listpack
        cur.string()
        cur.string()
    cur.number()  # length
    cur.number()  # last ID ms, seq
    cur.number()
    if kind >= TYPE_STREAM_2:
        for _ in range(5):  # first ID, max deleted ID, entries added
            cur.number()
    for _ in range(cur.number()):  # consumer groups
        cur.string()  # name
        cur.number()  # last delivered ID
        cur.number()
        if kind >= TYPE_STREAM_2:
            cur.number()  # entries read
        for _ in range(cur.number()):  # the group's pending entries
            cur.take(STREAM_ID + 8)  # ID, delivery time
            cur.number()  # delivery count
        for _ in range(cur.number()):  # consumers
            cur.string()  # name
            cur.take(8)  # seen time
            if kind >= TYPE_STREAM_3:
                cur.take(8)  # active time
            for _ in range(cur.number()):
                cur.take(STREAM_ID)


def _skip_module2(cur: _Cursor) -> None:
    """Step over a module value saved with typed opcodes, up to its EOF opcode."""
    cur.number()  # module id
    while True:
        opcode = cur.number()
        if opcode == 0:
            return
        if opcode in (1, 2):  # signed / unsigned integer
            cur.number()
        elif opcode == 3:  # float
            cur.take(4)
        elif opcode == 4:  # double
            cur.take(8)
        elif opcode == 5:
            cur.string()
        else:
            raise RdbError(f"bad module value opcode {opcode}")


def _value(cur: _Cursor, kind: int, key: bytes) -> tuple[str, object]:
    if kind == 0:
        return "string", cur.string()
    if kind == 1:
        return "list", [cur.string() for _ in range(cur.number())]
    if kind == 2:
        return "set", {cur.string() for _ in range(cur.number())}
    if kind in (3, 5):
        items = []
        for _ in range(cur.number()):
            member = cur.string()
            score = cur.double_text() if kind == 3 else struct.unpack("<d", cur.take(8))[0]
            items.append((member, score))
        return "zset", items
    if kind == 4:
        count = cur.number()
        return "hash", {cur.string(): cur.string() for _ in range(count)}
    if kind == 10:
        return "list", packed.ziplist(cur.string())
    if kind == 11:
        return "set", set(packed.intset(cur.string()))
    if kind in (12, 17):
        items = packed.ziplist(cur.string()) if kind == 12 else packed.listpack(cur.string())
        return "zset", [(m, _score(s)) for m, s in packed.pairs(items)]
    if kind in (13, 16):
        items = packed.ziplist(cur.string()) if kind == 13 else packed.listpack(cur.string())
        return "hash", dict(packed.pairs(items))
    if kind == 14:
        return "list", [e for _ in range(cur.number()) for e in packed.ziplist(cur.string())]
    if kind == 18:
        elements: list[bytes] = []
        for _ in range(cur.number()):
            container = cur.number()
            blob = cur.string()
            elements += [blob] if container == 1 else packed.listpack(blob)
        return "list", elements
    if kind == 20:
        return "set", set(packed.listpack(cur.string()))
    if kind in (TYPE_STREAM, TYPE_STREAM_2, TYPE_STREAM_3):
        _skip_stream(cur, kind)
        return "stream", None
    if kind == TYPE_MODULE_2:
        _skip_module2(cur)
        return "module", None
    if kind == TYPE_ZIPMAP:  # a hash encoding of Redis < 2.6, one string blob
        cur.string()
        return "zipmap", None
    name = TYPE_NAMES.get(kind, f"unknown type {kind}")
    raise RdbError(f"{name} values are not supported (they cannot be skipped)")


def read_rdb(source: str | os.PathLike[str] | bytes, verify_checksum: bool = True) -> RdbFile:
    """Parse a whole RDB file; raises RdbError with the reason if it is not valid."""
    data = source if isinstance(source, bytes) else open(source, "rb").read()  # noqa: SIM115
    if len(data) < 9 or data[:5] != b"REDIS" or not data[5:9].isdigit():
        raise RdbError("not an RDB file (no REDISnnnn header)")
    version = int(data[5:9])
    if version < 1 or version > MAX_VERSION:
        raise RdbError(f"RDB format version {version} is not supported (1..{MAX_VERSION})")
    cur = _Cursor(data)
    cur.pos = 9
    result = RdbFile(version=version)
    db, expire = 0, None
    while True:
        op = cur.byte()
        if op == OP_EOF:
            break
        if op == OP_AUX:
            name = cur.string()  # read in order: the key comes first
            result.aux[name] = cur.string()
        elif op == OP_SELECTDB:
            db = cur.number()
        elif op == OP_RESIZEDB:
            cur.number()
            cur.number()
        elif op == OP_EXPIRE_MS:
            expire = struct.unpack("<q", cur.take(8))[0]
        elif op == OP_EXPIRE:
            expire = struct.unpack("<i", cur.take(4))[0] * 1000
        elif op == OP_IDLE:
            cur.number()
        elif op == OP_FREQ:
            cur.byte()
        elif op == OP_FUNCTION2:
            result.functions.append(cur.string())
        elif op in (OP_FUNCTION, OP_MODULE_AUX):
            raise RdbError(f"opcode 0x{op:02x} (old functions / module aux) is not supported")
        else:
            key = cur.string()
            try:
                kind, value = _value(cur, op, key)
            except RdbError as exc:
                raise RdbError(f"key {key[:60]!r}: {exc}") from None
            if value is None:
                result.skipped.append(RdbEntry(db, key, kind, None, expire))
            else:
                result.entries.append(RdbEntry(db, key, kind, value, expire))
            expire = None
    if version >= 5:
        stored = struct.unpack("<Q", cur.take(8))[0]
        if stored:
            result.checksum = stored
            if verify_checksum and crc64(data[:cur.pos - 8]) != stored:
                raise RdbError("checksum mismatch: the file is damaged")
    return result
