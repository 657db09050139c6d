"""Build trees the way the original C redisfs writes them: the same INCR, SADD, MSET,
SET, APPEND and INCRBY commands its FUSE callbacks issue, key names spelt out as in
its format strings (not through our LegacyKeys, so a mistake there shows)."""

from __future__ import annotations

import redis

ROOT = -99  # find_inode("/") in the C code


class CTree:
    """One C redisfs filesystem (one prefix); every method is one C callback."""

    def __init__(self, client: redis.Redis, prefix: str = "skx", uid: int = 1000,
                 gid: int = 1000, now: int = 1_600_000_000) -> None:
        self.r = client
        self.p = prefix
        self.uid, self.gid = uid, gid
        self.now = now  # time(NULL), fixed so tests can compare

    def key(self, ino: int, field: str) -> str:
        return f"{self.p}:INODE:{ino}:{field}"

    def _new(self, parent: int) -> int:  # get_next_inode() + the SADD to the parent
        ino = int(self.r.incr(f"{self.p}:GLOBAL:INODE"))
        self.r.sadd(f"{self.p}:DIRENT:{parent}", ino)
        return ino

    def _populate(self, ino: int, name: bytes | str, kind: str, mode: int) -> None:
        t = self.now
        self.r.mset({self.key(ino, "NAME"): name, self.key(ino, "TYPE"): kind,
                     self.key(ino, "MODE"): mode, self.key(ino, "UID"): self.uid,
                     self.key(ino, "GID"): self.gid, self.key(ino, "SIZE"): 0,
                     self.key(ino, "CTIME"): t, self.key(ino, "MTIME"): t,
                     self.key(ino, "ATIME"): t, self.key(ino, "LINK"): 1})

    def mkdir(self, parent: int, name: bytes | str, mode: int = 0o755) -> int:  # fs_mkdir
        ino = self._new(parent)
        self._populate(ino, name, "DIR", mode)
        return ino

    def create(self, parent: int, name: bytes | str, mode: int = 0o100644) -> int:  # fs_create
        ino = self._new(parent)
        self._populate(ino, name, "FILE", mode)
        return ino

    def write(self, ino: int, data: bytes, offset: int = 0) -> None:  # fs_write
        if offset == 0:
            self.r.mset({self.key(ino, "SIZE"): len(data), self.key(ino, "MTIME"): self.now,
                         self.key(ino, "DATA"): data})
        else:  # the C code appends whatever the offset
            self.r.incrby(self.key(ino, "SIZE"), len(data))
            self.r.append(self.key(ino, "DATA"), data)
            self.r.set(self.key(ino, "MTIME"), self.now)

    def symlink(self, parent: int, name: bytes | str, target: bytes | str) -> int:
        ino = self._new(parent)  # fs_symlink: one SET per field
        for field, value in (("NAME", name), ("TYPE", "LINK"), ("TARGET", target),
                             ("MODE", 0o444), ("UID", self.uid), ("GID", self.gid),
                             ("SIZE", 0), ("CTIME", self.now), ("MTIME", self.now),
                             ("ATIME", self.now), ("LINK", 1)):
            self.r.set(self.key(ino, field), value)
        return ino

    def chmod(self, ino: int, mode: int) -> None:  # fs_chmod
        self.r.mset({self.key(ino, "MODE"): mode, self.key(ino, "MTIME"): self.now})

    def chown(self, ino: int, uid: int, gid: int) -> None:  # fs_chown
        self.r.mset({self.key(ino, "UID"): uid, self.key(ino, "GID"): gid,
                     self.key(ino, "MTIME"): self.now})

    def utimens(self, ino: int, atime: int, mtime: int) -> None:  # fs_utimens
        self.r.mset({self.key(ino, "ATIME"): atime, self.key(ino, "MTIME"): mtime})

    def link(self, ino: int, parent: int) -> None:
        """A hard link.  The C redisfs has no link callback ("hard-links are not
        supported"); the only way its schema can say it is one inode in two DIRENT
        sets (under its one NAME), which is what this writes."""
        self.r.sadd(f"{self.p}:DIRENT:{parent}", ino)
