"""File contents: fixed-size compressed blocks, read and written at any offset.

Format 2: a block is an immutable key in the pool shared with snapshots, holding a
codec byte and the (maybe compressed) bytes with trailing zeros cut; a file's block
map (``{P}:k:<ino>``) names its blocks.  A missing map entry or the missing tail of a
short block reads as zeros, which makes sparse files and zero runs free.  A write
stores new blocks under fresh ids and, in the same pipeline, lets the write script
compare-and-set the map entries it read; blocks it dropped that nobody else can
reference come back to be deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from typing import TYPE_CHECKING, Any

import redis

from . import codec
from .blockmap import BlockInfo, Vanished, block_infos, entry_id
from .errors import FsError, errno_from_reply, translated
from .keys import block_key

if TYPE_CHECKING:
    from .calls import ThreadConnections
    from .keys import Keys
    from .scripts import Scripts

MAX_FILE_SIZE = 1 << 40  # 1 TiB
WRITE_CHUNK = 4 * 1024 * 1024  # bytes per write script call
MAX_RETRIES = 20
HUGE_READ_BLOCKS = 1024  # a read spanning more blocks first asks the file size
STAMP = ("mode", "size", "mtime", "ctime")  # what any change of a file's data moves
# an errno reply of write.lua / truncate.lua (fail(...)): all come before their first write
REFUSAL = re.compile(r"^E(?!RR\b|XECABORT\b)[A-Z]+\b")


# (mtime in ns, size): what a file's data looked like at one moment.  Write and truncate
# scripts return the version before and after their change, so a FUSE mount knows whether
# the kernel's cached pages still match (only its own changes happened in between).
Version = tuple[int, int]


def _versions(reply: Any) -> tuple[Version, Version]:
    old_mtime, old_size, new_mtime, new_size = (int(v) for v in reply)
    return (old_mtime, old_size), (new_mtime, new_size)


class DataOps:
    """Read/write/truncate, mixed into FileSystem."""

    client: redis.Redis
    keys: Keys
    block_size: int
    codec: str
    read_only: bool
    pool: str
    _s: Scripts
    _calls: ThreadConnections
    _clock_skew: float | None = None

    def block_key(self, block_id: str) -> str:
        return block_key(self.pool, block_id)

    def _free(self, freed: list[bytes]) -> None:
        """UNLINK pool blocks a script dropped that nobody else references.  A failure
        only leaves garbage for the GC, so it is not the caller's error."""
        if freed:
            with contextlib.suppress(redis.RedisError):
                self._calls.execute("UNLINK", *freed)

    def _new_id(self) -> str:
        """8 hex of unix seconds (Redis's clock: the write script and GC judge it) + 8
        random hex."""
        if self._clock_skew is None:
            with translated():
                seconds, micros = self.client.time()
            self._clock_skew = seconds + micros / 1e6 - time.time()
        return f"{int(time.time() + self._clock_skew):08x}{os.urandom(4).hex()}"

    def _load(self, ino: int, indices: list[int], entries: list[bytes | None]
              ) -> list[bytes | None]:
        """The stored blocks the map entries name (None for a hole); raises Vanished
        for a block key that is gone."""
        keys: list[tuple[int, str]] = []
        for index, entry in zip(indices, entries, strict=True):
            if entry is None:
                continue
            block_id = entry_id(entry)
            if block_id is None:
                raise FsError(errno.EUCLEAN, f"inode {ino}: block {index} has a damaged map "
                              f"entry {entry[:40]!r}")
            keys.append((index, self.block_key(block_id)))
        if not keys:
            return [None] * len(indices)
        with translated():
            values = self._calls.execute("MGET", *(key for _, key in keys))
        found: dict[int, bytes] = {}
        for (index, key), value in zip(keys, values, strict=True):
            if value is None:
                raise Vanished(index, key)
            found[index] = value
        return [found.get(i) for i in indices]

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

        The stamp and the map entries come from one MULTI/EXEC (read-only, a user that
        may not run MULTI: a plain pipeline that reads the stamp before and after; every
        change script moves ctime, so equal stamps mean no change landed in between),
        then the blocks.  Blocks never change, but an overwrite may free one: a block
        gone by then means the file changed, so it is read again; one still gone while
        the same entry names it is lost (evicted or deleted outside redisfs)."""
        ikey, kkey = self.keys.inode(ino), self.keys.block_map(ino)
        indices = list(range(first, last + 1))
        vanished: tuple[int, str, bytes | None] | None = None
        multi = not self.read_only
        for _attempt in range(MAX_RETRIES):
            if multi:
                commands = [("MULTI",), ("HMGET", ikey, *STAMP), ("HMGET", kkey, *indices),
                            ("EXEC",)]
            else:
                commands = [("HMGET", ikey, *STAMP), ("HMGET", kkey, *indices),
                            ("HMGET", ikey, *STAMP)]
            try:
                with translated():
                    replies = self._calls.pipeline(commands)
                failed = next((r for r in replies if isinstance(r, Exception)), None)
                if failed is not None:
                    raise errno_from_reply(str(failed))
                result = replies[-1] if multi else replies
            except FsError as exc:
                if not multi or exc.errno != errno.ENOSPC:
                    raise
                multi = False  # a full Redis refuses every MULTI: read with stamps
                continue
            if not multi and result[0] != result[-1]:
                continue
            try:
                return [result[0], *self._load(ino, indices, result[1])]
            except Vanished as gone:
                entry = result[1][gone.index - first]
                if vanished is not None and vanished[:2] == (gone.index, gone.key) \
                        and vanished[2] == entry:
                    break
                vanished = (gone.index, gone.key, entry)
        if vanished is not None:
            raise FsError(errno.EUCLEAN, f"inode {ino}: block {vanished[0]} ({vanished[1]}) is "
                          "missing: evicted or deleted outside redisfs (fsck reports it)")
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
            expected: dict[int, bytes] = {}
            to_read = partial
            if size_hint is not None:  # blocks past EOF do not exist (truncate drops them)
                old = {i: None for i in partial if i * bs >= size_hint}
                expected = {i: b"" for i in old}
                to_read = [i for i in partial if i not in old]
                size_hint = None  # a retry reads everything
            if to_read:
                with translated():
                    entries = self.client.hmget(self.keys.block_map(ino), to_read)
                expected.update((i, e or b"") for i, e in zip(to_read, entries, strict=True))
                try:
                    old.update(zip(to_read, self._load(ino, to_read, entries), strict=True))
                except Vanished:
                    continue  # overwritten meanwhile: read again
            args: list[object] = []
            blocks: list[tuple[str, bytes]] = []
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
                    args += [index, expected[index], self._store(self._encode(raw), blocks)]
                else:
                    args += [index, "-", self._store(self._encode(piece), blocks)]
            changes = [v for pair in then_set or () for v in pair]
            done = self._commit("write", blocks, ino, end, time.time_ns(), len(changes) // 2,
                                *changes, *args)
            if done:
                return _versions(done)
        raise FsError(errno.EAGAIN, "block kept changing under concurrent writers")

    def _store(self, stored: bytes, blocks: list[tuple[str, bytes]]) -> str:
        """Queue a new block under a fresh id; its map value ``<id>.<len>`` ('' = hole)."""
        if not stored:
            return ""
        block_id = self._new_id()
        blocks.append((self.block_key(block_id), stored))
        return f"{block_id}.{len(stored)}"

    def _commit(self, script_name: str, blocks: list[tuple[str, bytes]], *args: object
                ) -> object:
        """SET the new blocks and run the script in one round trip; the blocks the script
        dropped are freed, and on a refused compare-and-set (reply 0) or a failed SET the
        new blocks are deleted again."""
        script = getattr(self._s, script_name)
        call = [script.sha, 1, self.keys.superblock, self.keys.base, *args]
        commands = [("SET", key, value) for key, value in blocks]
        with translated():
            replies = self._calls.pipeline([*commands, ("EVALSHA", *call)])
            reply = replies[-1]
            if isinstance(reply, redis.exceptions.NoScriptError):
                try:
                    reply = self._calls.script(script, call[2:3], call[3:])
                except redis.ResponseError as exc:
                    reply = exc
        failed = next((r for r in replies[:-1] if isinstance(r, Exception)), None)
        if isinstance(reply, Exception) or failed is not None or not reply[0]:
            if failed is not None or not isinstance(reply, Exception) \
                    or REFUSAL.match(str(reply)):
                # refused before writing anything; after any other error the script may
                # have stored entries naming them (Redis does not roll back): GC's job
                self._free([key.encode() for key, _ in blocks])
            if failed is not None:  # the cause (OOM, NOPERM), not the script's EIO
                raise errno_from_reply(str(failed))
            if isinstance(reply, redis.ResponseError):
                raise errno_from_reply(str(reply))
            if isinstance(reply, Exception):
                raise reply
            return None
        result, freed = reply
        self._free(freed)
        return result

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
            expected, new_block, has_tail = b"", "", 0
            blocks: list[tuple[str, bytes]] = []
            if tail:
                index = size // bs
                with translated():
                    entry = self.client.hget(self.keys.block_map(ino), index)
                try:
                    stored = self._load(ino, [index], [entry])[0]
                except Vanished:
                    continue
                expected = entry or b""
                new_block = self._store(self._encode(codec.decode(stored, bs)[:tail]), blocks)
                has_tail = 1
            done = self._commit("truncate", blocks, ino, size, time.time_ns(), expected,
                                new_block, has_tail)
            if done:
                return _versions(done)
        raise FsError(errno.EAGAIN, "block kept changing under concurrent writers")

    def stored_blocks(self, ino: int, first: int, count: int) -> list[bytes | None]:
        """Blocks ``first`` .. ``first + count - 1`` as stored (codec tag + body, None for
        a hole): lets a diff skip decompressing blocks stored byte for byte alike."""
        return self._fetch_blocks(ino, first, first + count - 1)[1:]

    def block_infos(self, ino: int, limit: int = 10_000) -> list[BlockInfo]:
        """Every block of a file with its map entry, codec and sizes (the inspector)."""
        return block_infos(self, ino, limit)
