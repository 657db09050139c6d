"""The floor of the FUSE layer: an in-memory filesystem served exactly like redisfs.

Same FUSE class (``RedisFUSE``: libfuse 3 through mfusepy, our per-request wrapper),
same options (default_permissions, use_ino, 1 s kernel timeouts, auto_cache,
READDIRPLUS, 16 idle threads), but no Redis and no caches: every request is
answered from Python dicts under one lock.  ``bench_fuse.py`` runs its steps on it
too, so the table shows what any Python filesystem costs on this machine before a
single Redis round trip.  Not a filesystem to use: no permissions beyond the
kernel's, no persistence.

Usage: python bench/memfs.py MOUNTPOINT   (foreground; unmount with fusermount3 -u)
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import sys
import threading
import time
from typing import Any

from redisfs_tui.mount._fuse import FUSE3, Operations, RedisFUSE
from redisfs_tui.mount.xattrs import UNSUPPORTED_XATTRS


class Node:
    __slots__ = ("attrs", "children", "data", "target", "xattrs")

    def __init__(self, ino: int, mode: int, uid: int = 0, gid: int = 0) -> None:
        now = time.time_ns()
        self.attrs = {"st_ino": ino, "st_mode": mode, "st_nlink": 2 if stat.S_ISDIR(mode) else 1,
                      "st_uid": uid, "st_gid": gid, "st_size": 0, "st_rdev": 0, "st_blocks": 0,
                      "st_blksize": 4096, "st_atime": now, "st_mtime": now, "st_ctime": now}
        self.data = bytearray()
        self.children: dict[str, Node] | None = {} if stat.S_ISDIR(mode) else None
        self.xattrs: dict[str, bytes] = {}
        self.target = ""


def fail(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class MemFs(Operations):
    use_ns = True

    def __init__(self) -> None:
        self._inos = itertools.count(2)
        self._fhs = itertools.count(1)
        self.root = Node(1, stat.S_IFDIR | 0o755)
        self.open_files: dict[int, Node] = {}
        self.mutex = threading.Lock()

    # -- helpers -----------------------------------------------------------------
    def _node(self, path: str) -> Node:
        node = self.root
        for part in filter(None, path.split("/")):
            if node.children is None or part not in node.children:
                raise fail(errno.ENOENT)
            node = node.children[part]
        return node

    def _parent(self, path: str) -> tuple[Node, str]:
        head, _, name = path.rpartition("/")
        parent = self._node(head or "/")
        if parent.children is None:
            raise fail(errno.ENOTDIR)
        return parent, name

    def _target(self, path: str | None, fh: int | None) -> Node:
        return self.open_files[fh] if fh else self._node(path or "/")

    def _add(self, path: str, mode: int) -> Node:
        parent, name = self._parent(path)
        with self.mutex:
            if name in parent.children:  # type: ignore[operator]
                raise fail(errno.EEXIST)
            node = Node(next(self._inos), mode)
            parent.children[name] = node  # type: ignore[index]
            if stat.S_ISDIR(mode):
                parent.attrs["st_nlink"] += 1
            parent.attrs["st_mtime"] = parent.attrs["st_ctime"] = time.time_ns()
        return node

    def _opened(self, node: Node) -> int:
        fh = next(self._fhs)
        self.open_files[fh] = node
        return fh

    # -- attributes ----------------------------------------------------------------
    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, int]:
        return self._target(path, fh).attrs

    def chmod(self, path: str | None, mode: int, fh: int | None = None) -> int:
        attrs = self._target(path, fh).attrs
        attrs["st_mode"] = (attrs["st_mode"] & ~0o7777) | (mode & 0o7777)
        return 0

    def chown(self, path: str | None, uid: int, gid: int, fh: int | None = None) -> int:
        attrs = self._target(path, fh).attrs
        if uid != -1:
            attrs["st_uid"] = uid
        if gid != -1:
            attrs["st_gid"] = gid
        return 0

    def utimens(self, path: str | None, times: tuple[Any, Any], fh: int | None = None) -> int:
        attrs = self._target(path, fh).attrs
        if times[0] is not None:
            attrs["st_atime"] = times[0]
        if times[1] is not None:
            attrs["st_mtime"] = times[1]
        return 0

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        node = self._target(path, fh)
        del node.data[length:]
        node.data.extend(bytes(length - len(node.data)))
        node.attrs["st_size"] = length
        return 0

    # -- names ---------------------------------------------------------------------
    def mkdir(self, path: str, mode: int) -> int:
        self._add(path, stat.S_IFDIR | mode)
        return 0

    def mknod(self, path: str, mode: int, dev: int) -> int:
        self._add(path, mode)
        return 0

    def symlink(self, path: str, target: str) -> int:
        self._add(path, stat.S_IFLNK | 0o777).target = target
        return 0

    def readlink(self, path: str) -> str:
        return self._node(path).target

    def unlink(self, path: str) -> int:
        parent, name = self._parent(path)
        with self.mutex:
            parent.children.pop(name)  # type: ignore[union-attr]
        return 0

    def rmdir(self, path: str) -> int:
        parent, name = self._parent(path)
        with self.mutex:
            if parent.children[name].children:  # type: ignore[index]
                raise fail(errno.ENOTEMPTY)
            del parent.children[name]  # type: ignore[union-attr]
            parent.attrs["st_nlink"] -= 1
        return 0

    def rename(self, old: str, new: str, flags: int = 0) -> int:
        src, src_name = self._parent(old)
        dst, dst_name = self._parent(new)
        with self.mutex:
            dst.children[dst_name] = src.children.pop(src_name)  # type: ignore[index,union-attr]
        return 0

    # -- files -----------------------------------------------------------------------
    def create(self, path: str, mode: int, flags: int = 0) -> int:
        return self._opened(self._add(path, stat.S_IFREG | mode))

    def open(self, path: str, flags: int) -> int:
        node = self._node(path)
        if flags & os.O_TRUNC:
            self.truncate(path, 0)
        return self._opened(node)

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        return bytes(self.open_files[fh].data[offset:offset + size])

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        node = self.open_files[fh]
        if offset > len(node.data):
            node.data.extend(bytes(offset - len(node.data)))
        node.data[offset:offset + len(data)] = data
        node.attrs["st_size"] = len(node.data)
        node.attrs["st_blocks"] = (len(node.data) + 511) // 512
        node.attrs["st_mtime"] = node.attrs["st_ctime"] = time.time_ns()
        return len(data)

    def flush(self, path: str | None, fh: int) -> int:
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        return 0

    def release(self, path: str | None, fh: int) -> int:
        self.open_files.pop(fh, None)
        return 0

    # -- directories -------------------------------------------------------------
    def opendir(self, path: str) -> int:
        return self._opened(self._node(path))

    def releasedir(self, path: str | None, fh: int) -> int:
        self.open_files.pop(fh, None)
        return 0

    def readdir_page(self, path: str | None, fh: int, offset: int,
                     limit: int = 512) -> list[tuple[str, dict[str, int], int]]:
        node = self.open_files[fh]
        entries = list(node.children.items())[offset:offset + limit]  # type: ignore[union-attr]
        return [(name, child.attrs, offset + i + 1) for i, (name, child) in enumerate(entries)]

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
        """Registers the callback; RedisFUSE serves it through readdir_page."""
        return self.readdir_page(path, fh, 0, 1 << 30)

    # -- extended attributes, statfs ----------------------------------------------------
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if name in UNSUPPORTED_XATTRS:  # as redisfs: ls and cp stop asking
            raise fail(errno.EOPNOTSUPP)
        try:
            return self._node(path).xattrs[name]
        except KeyError:
            raise fail(errno.ENODATA) from None

    def listxattr(self, path: str) -> list[str]:
        return list(self._node(path).xattrs)

    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0
                 ) -> int:
        if name in UNSUPPORTED_XATTRS:
            raise fail(errno.EOPNOTSUPP)
        self._node(path).xattrs[name] = value
        return 0

    def removexattr(self, path: str, name: str) -> int:
        if name in UNSUPPORTED_XATTRS:
            raise fail(errno.EOPNOTSUPP)
        if self._node(path).xattrs.pop(name, None) is None:
            raise fail(errno.ENODATA)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 24, "f_bfree": 1 << 23,
                "f_bavail": 1 << 23, "f_files": 1 << 20, "f_ffree": 1 << 20,
                "f_favail": 1 << 20, "f_namemax": 255}


def main() -> int:
    options: dict[str, Any] = {"fsname": "memfs", "subtype": "memfs", "default_permissions": True,
                               "use_ino": True, "entry_timeout": 1.0, "negative_timeout": 1.0,
                               "attr_timeout": 1.0, "auto_cache": True, "noatime": True}
    if FUSE3:
        options["max_idle_threads"] = 16
    RedisFUSE(MemFs(), sys.argv[1], foreground=True, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
