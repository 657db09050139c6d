"""Block compression.  Every stored block starts with one codec byte, so a block
can be read whatever the filesystem's current default codec is."""

from __future__ import annotations

import errno
import threading
import zlib

import zstandard

from .errors import FsError

RAW = b"R"
ZLIB = b"Z"
ZSTD = b"S"
CODECS = {"raw": RAW, "zlib": ZLIB, "zstd": ZSTD}
NAMES = {tag: name for name, tag in CODECS.items()}
DEFAULT_CODEC = "zstd"  # measured: bench/codec.py

_local = threading.local()


def _zstd_compressor() -> zstandard.ZstdCompressor:
    # zstandard contexts are not thread-safe; one per thread reuses its buffers.
    comp = getattr(_local, "zc", None)
    if comp is None:
        comp = _local.zc = zstandard.ZstdCompressor(level=1)
    return comp


def _zstd_decompressor() -> zstandard.ZstdDecompressor:
    dec = getattr(_local, "zd", None)
    if dec is None:
        dec = _local.zd = zstandard.ZstdDecompressor()
    return dec


def encode(data: bytes, codec: str) -> bytes:
    """Compress a block; store it raw when compression does not pay."""
    if codec == "zstd":
        packed = _zstd_compressor().compress(data)
        tag = ZSTD
    elif codec == "zlib":
        packed = zlib.compress(data, 6)
        tag = ZLIB
    else:
        return RAW + data
    if len(packed) >= len(data):
        return RAW + data
    return tag + packed


def decode(stored: bytes | None, max_size: int) -> bytes:
    """Decompress a stored block; an absent block is a hole (empty, read as zeros).
    A block that cannot be decoded is reported as damaged (EUCLEAN), like ext4 does."""
    if not stored:
        return b""
    tag, body = stored[:1], stored[1:]
    if tag == RAW:
        return body
    try:
        if tag == ZSTD:
            raw = _zstd_decompressor().decompress(body, max_output_size=max_size)
        elif tag == ZLIB:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(body, max_size)
            if inflater.unconsumed_tail:
                raise ValueError("larger than the block size")
        else:
            raise ValueError(f"unknown block codec {tag!r}")
    except (zstandard.ZstdError, zlib.error, ValueError) as exc:
        raise FsError(errno.EUCLEAN, f"damaged block: {exc}") from None
    if len(raw) > max_size:
        raise FsError(errno.EUCLEAN, "damaged block: larger than the block size")
    return raw


def raw_length(stored: bytes | None, max_size: int) -> int:
    """Decoded size of a stored block for display; -1 when it is damaged."""
    try:
        return len(decode(stored, max_size))
    except FsError:
        return -1


def codec_name(stored: bytes | None) -> str:
    """The codec of a stored block, for the inode inspector."""
    if not stored:
        return "hole"
    return NAMES.get(stored[:1], "unknown")
