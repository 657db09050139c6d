"""Read paths made of plain commands, and capacity, mixed into FileSystem.

A read-only filesystem must work for a Redis user that may only run ``+@read
+@connection`` commands: no MULTI/EXEC, no EVAL/EVALSHA(_RO), no INFO.  Asking and
falling back is no way out, since every refused command lands in the server's ACL
log, so a read-only instance never sends them: it walks a path with HGETs instead
of the resolve script (``_resolve_plain``), reads blocks in a plain pipeline that it
checks for consistency (data.py) and reports capacity without INFO when it must.
"""

from __future__ import annotations

import errno
import stat
from typing import TYPE_CHECKING

import redis

from .attrs import NAME_MAX, Attr, counter
from .cluster import node_info
from .errors import FsError, translated

if TYPE_CHECKING:
    from .keys import Keys

STATFS_BSIZE = 4096
FREE_INODES = 1_000_000_000  # inodes are hashes: there is no fixed table to run out of


class PlainOps:
    """Path walking and statfs; FileSystem provides the attributes below."""

    client: redis.Redis
    keys: Keys
    read_only: bool
    memory_info: bool  # statfs may ask INFO (False once refused; see FileSystem)

    def getattr(self, ino: int) -> Attr:  # provided by FileSystem
        raise NotImplementedError

    def _resolve_plain(self, start: int, parts: list[bytes]) -> Attr:
        """What resolve.lua answers (ENOENT, ENOTDIR), one round trip per component
        plus one: each step reads the directory's mode and the entry together."""
        ino = start
        for name in parts:
            with translated():
                pipe = self.client.pipeline(transaction=False)
                pipe.hget(self.keys.inode(ino), "mode")
                pipe.hget(self.keys.dirents(ino), name)
                mode, child = pipe.execute()
            if mode is None:
                raise FsError(errno.ENOENT)
            if not mode.isdigit():
                raise FsError(errno.EUCLEAN, f"inode {ino}: field mode is not a number")
            if not stat.S_ISDIR(int(mode)):
                raise FsError(errno.ENOTDIR)
            if child is None or not child.isdigit():
                raise FsError(errno.ENOENT)  # as the script: a damaged entry names nothing
            ino = int(child)
        return self.getattr(ino)

    def statfs(self) -> dict[str, int]:
        """Capacity from Redis memory (maxmemory, else the machine's memory).  A user
        that may not run INFO gets the stored bytes as the size and nothing free
        ("unknown") instead of an error."""
        info: dict | None = None
        if self.memory_info:
            try:
                with translated():
                    info = node_info(self.client, "memory", self.keys.superblock)
            except FsError as exc:
                if exc.errno != errno.EACCES:
                    raise
                self.memory_info = False
        with translated():
            sb = self.client.hmget(self.keys.superblock, "inodes", "logical_bytes")
        files, logical = counter(sb[0]), counter(sb[1])  # damaged: 0, df must work
        if info is None:
            used = total = logical
        else:
            used = int(info.get("used_memory", 0))
            total = int(info.get("maxmemory", 0)) or int(info.get("total_system_memory", 0))
            total = max(total, used)
        bsize = STATFS_BSIZE
        free = (total - used) // bsize
        return {
            "f_bsize": bsize, "f_frsize": bsize, "f_blocks": -(-total // bsize),
            "f_bfree": free, "f_bavail": free,
            "f_files": files + FREE_INODES, "f_ffree": FREE_INODES,
            "f_favail": FREE_INODES, "f_namemax": NAME_MAX,
            "logical_bytes": logical, "used_memory": used if info else 0, "maxmemory": total,
        }

