"""Decoders for the compact blobs inside RDB values: LZF, listpack, ziplist, intset."""

from __future__ import annotations

import struct

from .model import RdbError


def lzf_decompress(data: bytes, expected: int) -> bytes:
    """LZF as liblzf writes it: literal runs and back references.  The output never
    grows past ``expected`` (the length the RDB declares): a crafted blob whose
    back references would expand it further is refused at that point, not after
    building it (a 3 MB dump once cost 20 s and 279 MB that way)."""
    out = bytearray()
    i, n = 0, len(data)
    try:
        while i < n:
            ctrl = data[i]
            i += 1
            if ctrl < 32:
                run = ctrl + 1
                if i + run > n:
                    raise RdbError("truncated LZF data")
                if len(out) + run > expected:
                    break
                out += data[i:i + run]
                i += run
                continue
            length = ctrl >> 5
            if length == 7:
                length += data[i]
                i += 1
            length += 2
            back = ((ctrl & 0x1F) << 8) + data[i] + 1
            i += 1
            if back > len(out):
                raise RdbError("LZF back reference before the start of the output")
            if len(out) + length > expected:
                break
            start = len(out) - back
            if back >= length:
                out += out[start:start + length]
            else:  # the copy overlaps what it writes: the last `back` bytes repeat
                out += (out[start:] * (length // back + 1))[:length]
        else:
            if len(out) == expected:
                return bytes(out)
            raise RdbError(f"LZF data gave {len(out)} bytes, header said {expected}")
    except IndexError as exc:
        raise RdbError("truncated LZF data") from exc
    raise RdbError(f"LZF data gives more than the {expected} bytes its header declares")


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def listpack(blob: bytes) -> list[bytes]:
    """Elements of a listpack (integers come back as their decimal text, as Redis sees them)."""
    if len(blob) < 7:
        raise RdbError("listpack shorter than its header")
    total = struct.unpack_from("<I", blob, 0)[0]
    if total != len(blob):
        raise RdbError(f"listpack says {total} bytes, blob has {len(blob)}")
    pos, items = 6, []
    try:
        while blob[pos] != 0xFF:
            start = pos
            b = blob[pos]
            if b < 0x80:
                items.append(str(b).encode())
                pos += 1
            elif b < 0xC0:
                size = b & 0x3F
                items.append(blob[pos + 1:pos + 1 + size])
                pos += 1 + size
            elif b < 0xE0:
                items.append(str(_signed(((b & 0x1F) << 8) | blob[pos + 1], 13)).encode())
                pos += 2
            elif b < 0xF0:
                size = ((b & 0x0F) << 8) | blob[pos + 1]
                items.append(blob[pos + 2:pos + 2 + size])
                pos += 2 + size
            elif b == 0xF0:
                size = struct.unpack_from("<I", blob, pos + 1)[0]
                items.append(blob[pos + 5:pos + 5 + size])
                pos += 5 + size
            elif b in (0xF1, 0xF2, 0xF3, 0xF4):
                width = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[b]
                raw = int.from_bytes(blob[pos + 1:pos + 1 + width], "little")
                items.append(str(_signed(raw, width * 8)).encode())
                pos += 1 + width
            else:
                raise RdbError(f"bad listpack entry encoding 0x{b:02x}")
            entry_len = pos - start
            pos += 1 if entry_len < 128 else 2 if entry_len < 16384 else \
                3 if entry_len < 2097152 else 4 if entry_len < 268435456 else 5
    except (IndexError, struct.error) as exc:
        raise RdbError("truncated listpack") from exc
    return items


def ziplist(blob: bytes) -> list[bytes]:
    """Elements of a ziplist (RDB versions before 10)."""
    pos, items = 10, []
    try:
        while blob[pos] != 0xFF:
            pos += 5 if blob[pos] == 0xFE else 1  # prevlen
            b = blob[pos]
            kind = b >> 6
            if kind == 0:
                size, pos = b & 0x3F, pos + 1
            elif kind == 1:
                size, pos = ((b & 0x3F) << 8) | blob[pos + 1], pos + 2
            elif kind == 2:
                size, pos = struct.unpack_from(">I", blob, pos + 1)[0], pos + 5
            else:
                fmt = {0xC0: "<h", 0xD0: "<i", 0xE0: "<q", 0xFE: "<b"}.get(b)
                if fmt:
                    width = struct.calcsize(fmt)
                    items.append(str(struct.unpack_from(fmt, blob, pos + 1)[0]).encode())
                    pos += 1 + width
                elif b == 0xF0:
                    raw = int.from_bytes(blob[pos + 1:pos + 4], "little")
                    items.append(str(_signed(raw, 24)).encode())
                    pos += 4
                elif 0xF1 <= b <= 0xFD:
                    items.append(str((b & 0x0F) - 1).encode())
                    pos += 1
                else:
                    raise RdbError(f"bad ziplist entry encoding 0x{b:02x}")
                continue
            items.append(blob[pos:pos + size])
            pos += size
    except (IndexError, struct.error) as exc:
        raise RdbError("truncated ziplist") from exc
    return items


def intset(blob: bytes) -> list[bytes]:
    try:
        width, count = struct.unpack_from("<II", blob, 0)
        fmt = {2: "h", 4: "i", 8: "q"}[width]
        values = struct.unpack_from(f"<{count}{fmt}", blob, 8)
    except (KeyError, struct.error) as exc:
        raise RdbError("bad intset") from exc
    return [str(v).encode() for v in values]


def pairs(items: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(items) % 2:
        raise RdbError("odd number of elements in a key/value blob")
    return list(zip(items[0::2], items[1::2], strict=True))
