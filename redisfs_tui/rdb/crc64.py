"""CRC-64/Jones as Redis computes it over an RDB file (reflected, init 0, no final xor)."""

from __future__ import annotations

_POLY = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 bit-reflected


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc64(data: bytes, crc: int = 0) -> int:
    """Continue a CRC over ``data`` (check value of b"123456789" is 0xe9c6d914c4b8d9ca)."""
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc
