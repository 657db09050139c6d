"""File contents: fixed-size compressed blocks, read and written at any offset.

A block is stored as one key holding a codec byte and the (maybe compressed)
bytes with trailing zeros cut; a missing block or the missing tail of a short
block reads as zeros, which makes sparse files and zero runs free.  Partial
block writes read the old block and let the write script check it did not
change meanwhile (compare-and-set on its SHA-1), retrying if it did.
"""

from __future__ import annotations

import errno
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import codec
from .errors import FsError, translated

if TYPE_CHECKING:
    import redis

    from .keys import Keys

MAX_FILE_SIZE = 1 << 40  # 1 TiB; truncate and purge loop over blocks in one script
WRITE_CHUNK = 4 * 1024 * 1024  # bytes per write script call
MAX_RETRIES = 20
HUGE_READ_BLOCKS = 1024  # a read spanning more blocks first asks the file size
STAMP = ("mode", "size", "mtime", "ctime")  # what any change of a file's data moves


# (mtime in ns, size): what a file's data looked like at one moment.  Write and truncate
# scripts return the version before and after their change, so a FUSE mount knows whether
# the kernel's cached pages still match (only its own changes happened in between).
Version = tuple[int, int]


def _versions(reply: Any) -> tuple[Version, Version]:
    old_mtime, old_size, new_mtime, new_size = (int(v) for v in reply)
    return (old_mtime, old_size), (new_mtime, new_size)


def _stored_hash(stored: bytes | None) -> str:
    return hashlib.sha1(stored).hexdigest() if stored else ""


@dataclass(frozen=True)
class BlockInfo:
    """What one data block key holds, for the inode inspector."""

    index: int
    key: str
    codec: str
    stored_bytes: int
    raw_bytes: int


class DataOps:
    """Read/write/truncate, mixed into FileSystem."""

    client: redis.Redis
    keys: Keys
    block_size: int
    codec: str
    read_only: bool

    def _writable(self) -> None:  # provided by FileSystem
        raise NotImplementedError

    def _run(self, script_name: str, *args: object) -> object:  # provided by FileSystem
        raise NotImplementedError

    def _encode(self, raw: bytes | bytearray) -> bytes:
        trimmed = bytes(raw).rstrip(b"\0")
        return codec.encode(trimmed, self.codec) if trimmed else b""

    def read(self, ino: int, offset: int, size: int) -> bytearray:
        """Up to ``size`` bytes from ``offset``; short only at end of file.  A bytearray
        the caller owns: the FUSE layer hands out views of it instead of copies."""
        if offset < 0 or size < 0:
            raise FsError(errno.EINVAL)
        bs = self.block_size
        first = offset // bs
        last = (offset + max(size, 1) - 1) // bs
        ikey = self.keys.inode(ino)
        if last - first >= HUGE_READ_BLOCKS:
            # read(ino, 0, 1 TiB) of a small file must not queue millions of GETs
            with translated():
                known = self.client.hget(ikey, "size")
            if known is not None:
                last = max(first, min(last, (int(known) - 1) // bs))
        result = self._fetch_blocks(ino, first, last)
        mode, file_size = result[0][:2]
        if mode is None:
            raise FsError(errno.ENOENT)
        if file_size is not None and not file_size.isdigit():
            raise FsError(errno.EUCLEAN, f"inode {ino}: field size is not a number")
        file_size = int(file_size or 0)
        end = min(offset + size, file_size, (last + 1) * bs)  # short if it grew meanwhile
        if end <= offset:
            return bytearray()
        out = bytearray(end - offset)
        for index, stored in zip(range(first, last + 1), result[1:], strict=True):
            if not stored:
                continue
            block_start = index * bs
            raw = codec.decode(stored, bs)
            lo = max(offset, block_start)
            hi = min(end, block_start + len(raw))
            if hi > lo:
                out[lo - offset:hi - offset] = memoryview(raw)[lo - block_start:hi - block_start]
        return out

    def _fetch_blocks(self, ino: int, first: int, last: int) -> list:
        """[inode stamp, block first .. block last] as one consistent picture.

        Read-write: a MULTI/EXEC transaction.  Read-only (a user that may not run
        MULTI): a plain pipeline that reads the inode's stamp before and after the
        blocks; every change script moves ctime (and size/mtime), so equal stamps mean
        no change landed in between.  A changed file is read again."""
        ikey = self.keys.inode(ino)
        for _attempt in range(MAX_RETRIES):
            with translated():
                pipe = self.client.pipeline(transaction=not self.read_only)
                pipe.hmget(ikey, *STAMP)
                for index in range(first, last + 1):
                    pipe.get(self.keys.block(ino, index))
                if self.read_only:
                    pipe.hmget(ikey, *STAMP)
                result = pipe.execute()
            if not self.read_only:
                return result
            if result[0] == result[-1]:
                return result[:-1]
        raise FsError(errno.EAGAIN, "the file kept changing while it was read")

    def write(self, ino: int, offset: int, data: bytes | bytearray | memoryview,
              size_hint: int | None = None, then_set: list[tuple[str, int]] | None = None,
              versions: list[tuple[Version | None, Version]] | None = None) -> int:
        """Write at any offset (beyond EOF leaves a hole); returns bytes written.

        ``size_hint`` is the caller's idea of the file size (the FUSE mount knows it):
        a partial block that starts at or past it is assumed absent instead of read
        first.  The write script still checks, so a wrong hint only costs a retry.
        ``then_set``: attribute changes (as ``set_attributes``) applied after the data
        by the same script, so a mount can send a close's data and a deferred
        chmod/utimens in one round trip.
        ``versions`` collects (mtime, size) before and after each write script, so a
        mount can tell its own changes from other clients' (see ``Version``).
        """
        self._writable()
        if offset < 0:
            raise FsError(errno.EINVAL)
        if offset + len(data) > MAX_FILE_SIZE:
            raise FsError(errno.EFBIG)
        view = memoryview(bytes(data) if not isinstance(data, bytes) else data)
        done = 0
        while done < len(view):
            # keep chunks block-aligned after the first so only the ends are partial
            start = offset + done
            chunk_end = min(offset + len(view), (start // self.block_size) * self.block_size
                            + WRITE_CHUNK)
            last_chunk = chunk_end == offset + len(view)
            change = self._write_chunk(ino, start, view[done:done + (chunk_end - start)],
                                       size_hint, then_set if last_chunk else None)
            if versions is not None:
                versions.append(change)
            done += chunk_end - start
        return len(view)

    def _write_chunk(self, ino: int, offset: int, data: memoryview,
                     size_hint: int | None = None,
                     then_set: list[tuple[str, int]] | None = None
                     ) -> tuple[Version, Version]:
        bs = self.block_size
        end = offset + len(data)
        first, last = offset // bs, (end - 1) // bs
        partial = [i for i in {first, last}
                   if not (offset <= i * bs and (i + 1) * bs <= end)]
        for _attempt in range(MAX_RETRIES):
            old: dict[int, bytes | None] = {}
            to_read = partial
            if size_hint is not None:  # blocks past EOF do not exist (truncate drops them)
                old = {i: None for i in partial if i * bs >= size_hint}
                to_read = [i for i in partial if i not in old]
                size_hint = None  # a retry reads everything
            if to_read:
                with translated():
                    values = self.client.mget([self.keys.block(ino, i) for i in to_read])
                old.update(zip(to_read, values, strict=True))
            args: list[object] = []
            for index in range(first, last + 1):
                block_start = index * bs
                lo = max(offset, block_start)
                hi = min(end, block_start + bs)
                piece = data[lo - offset:hi - offset]
                if index in old:
                    raw = bytearray(codec.decode(old[index], bs))
                    rel_lo, rel_hi = lo - block_start, hi - block_start
                    if len(raw) < rel_hi:
                        raw.extend(bytes(rel_hi - len(raw)))
                    raw[rel_lo:rel_hi] = piece
                    args += [index, _stored_hash(old[index]), self._encode(raw)]
                else:
                    args += [index, "-", self._encode(piece)]
            changes = [v for pair in then_set or () for v in pair]
            done = self._run("write", ino, end, time.time_ns(), len(changes) // 2, *changes,
                             *args)
            if done:
                return _versions(done)
        raise FsError(errno.EAGAIN, "block kept changing under concurrent writers")

    def truncate(self, ino: int, size: int) -> tuple[Version, Version]:
        """Grow (a hole) or shrink (dropping blocks, zeroing the partial tail).  Returns
        (mtime, size) before and after."""
        self._writable()
        if size < 0:
            raise FsError(errno.EINVAL)
        if size > MAX_FILE_SIZE:
            raise FsError(errno.EFBIG)
        bs = self.block_size
        tail = size % bs
        for _attempt in range(MAX_RETRIES):
            expected, new_block, has_tail = "", b"", 0
            if tail:
                with translated():
                    stored = self.client.get(self.keys.block(ino, size // bs))
                expected = _stored_hash(stored)
                new_block = self._encode(codec.decode(stored, bs)[:tail])
                has_tail = 1
            done = self._run("truncate", ino, size, time.time_ns(), expected, new_block,
                             has_tail)
            if done:
                return _versions(done)
        raise FsError(errno.EAGAIN, "block kept changing under concurrent writers")

    def stored_blocks(self, ino: int, first: int, count: int) -> list[bytes | None]:
        """Blocks ``first`` .. ``first + count - 1`` as stored (codec tag + body, None for
        a hole): lets a diff skip decompressing blocks stored byte for byte alike."""
        with translated():
            return self.client.mget([self.keys.block(ino, i) for i in range(first, first + count)])

    def block_infos(self, ino: int, limit: int = 10_000) -> list[BlockInfo]:
        """Every stored block of a file with codec and sizes (the inspector view)."""
        with translated():
            size = int(self.client.hget(self.keys.inode(ino), "size") or 0)
            count = min((size + self.block_size - 1) // self.block_size, limit)
            keys = [self.keys.block(ino, i) for i in range(count)]
            values = self.client.mget(keys) if keys else []
        infos = []
        for index, (key, stored) in enumerate(zip(keys, values, strict=True)):
            if stored is None:
                infos.append(BlockInfo(index, key, "hole", 0, 0))
                continue
            raw_len = codec.raw_length(stored, self.block_size)  # -1: damaged
            infos.append(BlockInfo(index, key, codec.codec_name(stored), len(stored), raw_len))
        return infos
