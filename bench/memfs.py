"""The floor of the FUSE layer: an in-memory filesystem served exactly like redisfs.

Same FUSE layer (libfuse 3's low-level, inode-based API through our ctypes binding:
``requests.Requests`` answers the requests, ``lowlevel.Session`` mounts and serves
them), same options (default_permissions, noatime, fsname/subtype, 1 s entry, attribute
and negative timeouts, 16 worker threads, 1 MiB readahead), but no Redis and no caches:
every request is answered from Python dicts under one lock.  ``bench_fuse.py`` runs its
steps on it too, so the table shows what any Python filesystem costs on this machine
before a single Redis round trip.  Not a filesystem to use: no permissions beyond the
kernel's, no persistence.

Usage: python bench/memfs.py MOUNTPOINT   (foreground; unmount with fusermount3 -u)
"""

from __future__ import annotations

import argparse
import errno
import itertools
import logging
import os
import stat
import sys
import threading
import time
from typing import Any

from redisfs_tui.core import NAME_MAX, RENAME_EXCHANGE, RENAME_NOREPLACE, FsError
from redisfs_tui.mount.config import (
    DEFAULT_ATTR_TIMEOUT,
    DEFAULT_ENTRY_TIMEOUT,
    DEFAULT_NEGATIVE_TIMEOUT,
    DEFAULT_READAHEAD_KIB,
)
from redisfs_tui.mount.lowlevel import Session
from redisfs_tui.mount.redisio import tune_malloc
from redisfs_tui.mount.requests import Requests
from redisfs_tui.mount.runner import THREADS, set_readahead
from redisfs_tui.mount.xattrs import UNSUPPORTED_XATTRS

OPTIONS = ["fsname=memfs", "subtype=memfs", "default_permissions", "noatime"]
XATTR_CREATE, XATTR_REPLACE = 1, 2
LISTING_PAGE = 512  # entries per readdir answer, as redisfs


class Node:
    """One inode.  ``attrs`` is the stat dict handed to requests.py (its 12 keys)."""

    __slots__ = ("attrs", "children", "data", "opens", "parent", "target", "xattrs")

    def __init__(self, ino: int, mode: int, uid: int, gid: int, rdev: int = 0,
                 parent: int = 0) -> None:
        now = time.time_ns()
        is_dir = stat.S_ISDIR(mode)
        self.attrs = {"st_ino": ino, "st_mode": mode, "st_nlink": 2 if is_dir else 1,
                      "st_uid": uid, "st_gid": gid, "st_size": 0, "st_rdev": rdev,
                      "st_blocks": 0, "st_blksize": 4096, "st_atime": now, "st_mtime": now,
                      "st_ctime": now}
        self.children: dict[str, int] | None = {} if is_dir else None  # name -> ino
        self.parent = parent  # directories: the one holding it (for ".." and renames)
        self.data = bytearray()
        self.xattrs: dict[str, bytes] = {}
        self.target = b""  # symlinks
        self.opens = 0  # open handles: an unlinked inode lives until the last is released

    @property
    def ino(self) -> int:
        return self.attrs["st_ino"]

    def stat(self) -> dict[str, int]:
        return dict(self.attrs)


class Handle:
    __slots__ = ("entries", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.entries: list[tuple[str, dict[str, int]]] | None = None  # directories


class MemFs:
    """The inode-based operations requests.Requests calls, over dicts under one lock."""

    def __init__(self, mountpoint: str) -> None:
        self.mountpoint = mountpoint
        self.lock = threading.Lock()
        self._inos = itertools.count(2)
        self._fhs = itertools.count(1)
        root = Node(1, stat.S_IFDIR | 0o755, os.getuid(), os.getgid(), parent=1)
        self.inodes: dict[int, Node] = {1: root}
        self.handles: dict[int, Handle] = {}

    # -- lifecycle ----------------------------------------------------------------
    def init(self, conn: Any) -> None:
        """As redisfs: the kernel caps readahead at what init answers; sysfs raises it."""
        conn.max_readahead = max(conn.max_readahead, DEFAULT_READAHEAD_KIB * 1024)
        set_readahead(self.mountpoint, DEFAULT_READAHEAD_KIB)

    def destroy(self) -> None:
        pass

    # -- helpers (called under the lock) ----------------------------------------------
    def _node(self, ino: int) -> Node:
        node = self.inodes.get(ino)
        if node is None:
            raise FsError(errno.ESTALE)
        return node

    def _dir(self, ino: int) -> Node:
        node = self._node(ino)
        if node.children is None:
            raise FsError(errno.ENOTDIR)
        return node

    def _child(self, parent: Node, name: str) -> Node:
        ino = parent.children.get(name)  # type: ignore[union-attr]
        if ino is None:
            raise FsError(errno.ENOENT)
        return self.inodes[ino]

    def _handle(self, fh: int) -> Handle:
        handle = self.handles.get(fh)
        if handle is None:
            raise FsError(errno.EBADF)
        return handle

    @staticmethod
    def _check_name(name: str) -> None:
        if len(os.fsencode(name)) > NAME_MAX:
            raise FsError(errno.ENAMETOOLONG)

    @staticmethod
    def _touch(node: Node, now: int, mtime: bool = True) -> None:
        if mtime:
            node.attrs["st_mtime"] = now
        node.attrs["st_ctime"] = now

    def _add(self, parent_ino: int, name: str, mode: int, uid: int, gid: int,
             rdev: int = 0) -> Node:
        """A new inode under a new name; a set-group-ID directory passes on its group."""
        self._check_name(name)
        parent = self._dir(parent_ino)
        if name in parent.children:  # type: ignore[operator]
            raise FsError(errno.EEXIST)
        if parent.attrs["st_mode"] & stat.S_ISGID:
            gid = parent.attrs["st_gid"]
            if stat.S_ISDIR(mode):
                mode |= stat.S_ISGID
        node = Node(next(self._inos), mode, uid, gid, rdev, parent=parent_ino)
        self.inodes[node.ino] = node
        parent.children[name] = node.ino  # type: ignore[index]
        if node.children is not None:
            parent.attrs["st_nlink"] += 1
        self._touch(parent, node.attrs["st_ctime"])
        return node

    def _unlinked(self, node: Node, now: int) -> None:
        """One name of ``node`` is gone (a directory has none left)."""
        if node.children is not None:
            node.attrs["st_nlink"] = 0
        else:
            node.attrs["st_nlink"] -= 1
        node.attrs["st_ctime"] = now
        self._drop_if_unused(node)

    def _drop_if_unused(self, node: Node) -> None:
        if node.attrs["st_nlink"] == 0 and node.opens == 0:
            del self.inodes[node.ino]

    @staticmethod
    def _resize(node: Node, size: int) -> None:
        if size < len(node.data):
            del node.data[size:]
        else:
            node.data.extend(bytes(size - len(node.data)))
        node.attrs["st_size"] = size
        node.attrs["st_blocks"] = (size + 511) // 512

    def _open(self, node: Node) -> int:
        fh = next(self._fhs)
        self.handles[fh] = Handle(node)
        node.opens += 1
        return fh

    def _close(self, fh: int) -> None:
        handle = self.handles.pop(fh, None)
        if handle is not None:
            handle.node.opens -= 1
            self._drop_if_unused(handle.node)

    # -- names ----------------------------------------------------------------------
    def lookup(self, parent_ino: int, name: str) -> dict[str, int]:
        self._check_name(name)
        with self.lock:
            return self._child(self._dir(parent_ino), name).stat()

    def mknod(self, parent_ino: int, name: str, mode: int, rdev: int, uid: int,
              gid: int) -> dict[str, int]:
        with self.lock:
            return self._add(parent_ino, name, mode, uid, gid, rdev).stat()

    def mkdir(self, parent_ino: int, name: str, mode: int, uid: int,
              gid: int) -> dict[str, int]:
        with self.lock:
            return self._add(parent_ino, name, stat.S_IFDIR | (mode & 0o7777), uid, gid).stat()

    def symlink(self, parent_ino: int, name: str, target: bytes, uid: int,
                gid: int) -> dict[str, int]:
        with self.lock:
            node = self._add(parent_ino, name, stat.S_IFLNK | 0o777, uid, gid)
            node.target = bytes(target)
            node.attrs["st_size"] = len(target)
            return node.stat()

    def readlink(self, ino: int) -> bytes:
        with self.lock:
            node = self._node(ino)
            if not stat.S_ISLNK(node.attrs["st_mode"]):
                raise FsError(errno.EINVAL)
            return node.target

    def link(self, ino: int, parent_ino: int, name: str) -> dict[str, int]:
        self._check_name(name)
        with self.lock:
            node = self._node(ino)
            if node.children is not None:
                raise FsError(errno.EPERM)
            parent = self._dir(parent_ino)
            if name in parent.children:  # type: ignore[operator]
                raise FsError(errno.EEXIST)
            parent.children[name] = ino  # type: ignore[index]
            now = time.time_ns()
            node.attrs["st_nlink"] += 1
            self._touch(node, now, mtime=False)
            self._touch(parent, now)
            return node.stat()

    def unlink(self, parent_ino: int, name: str) -> None:
        with self.lock:
            parent = self._dir(parent_ino)
            node = self._child(parent, name)
            if node.children is not None:
                raise FsError(errno.EISDIR)
            del parent.children[name]  # type: ignore[union-attr]
            now = time.time_ns()
            self._touch(parent, now)
            self._unlinked(node, now)

    def rmdir(self, parent_ino: int, name: str) -> None:
        with self.lock:
            parent = self._dir(parent_ino)
            node = self._child(parent, name)
            if node.children is None:
                raise FsError(errno.ENOTDIR)
            if node.children:
                raise FsError(errno.ENOTEMPTY)
            del parent.children[name]  # type: ignore[union-attr]
            now = time.time_ns()
            parent.attrs["st_nlink"] -= 1
            self._touch(parent, now)
            self._unlinked(node, now)

    def _inside(self, ino: int, dir_ino: int) -> bool:
        """Is directory ``dir_ino`` ``ino`` or below it?"""
        while dir_ino != ino:
            node = self.inodes.get(dir_ino)
            if dir_ino == 1 or node is None:
                return False
            dir_ino = node.parent
        return True

    def _move_dir(self, node: Node, src: Node, dst: Node) -> None:
        """Directory ``node`` changes parents: ".." and both link counts follow."""
        if node.children is not None and src is not dst:
            src.attrs["st_nlink"] -= 1
            dst.attrs["st_nlink"] += 1
            node.parent = dst.ino

    def rename(self, src_parent: int, src_name: str, dst_parent: int, dst_name: str,
               flags: int = 0) -> None:
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or flags == (
                RENAME_NOREPLACE | RENAME_EXCHANGE):
            raise FsError(errno.EINVAL)
        self._check_name(dst_name)
        with self.lock:
            src = self._dir(src_parent)
            dst = self._dir(dst_parent)
            node = self._child(src, src_name)
            other_ino = dst.children.get(dst_name)  # type: ignore[union-attr]
            other = None if other_ino is None else self.inodes[other_ino]
            now = time.time_ns()
            if flags & RENAME_EXCHANGE:
                if other is None:
                    raise FsError(errno.ENOENT)
                if (node.children is not None and self._inside(node.ino, dst.ino)) or (
                        other.children is not None and self._inside(other.ino, src.ino)):
                    raise FsError(errno.EINVAL)
                src.children[src_name] = other.ino  # type: ignore[index]
                dst.children[dst_name] = node.ino  # type: ignore[index]
                self._move_dir(node, src, dst)
                self._move_dir(other, dst, src)
                for changed in (node, other):
                    self._touch(changed, now, mtime=False)
                for parent in (src, dst):
                    self._touch(parent, now)
                return
            if other is node:
                return  # two names of one inode (or the same name): nothing happens
            if other is not None:
                if flags & RENAME_NOREPLACE:
                    raise FsError(errno.EEXIST)
                if node.children is not None:
                    if other.children is None:
                        raise FsError(errno.ENOTDIR)
                    if other.children:
                        raise FsError(errno.ENOTEMPTY)
                elif other.children is not None:
                    raise FsError(errno.EISDIR)
            if node.children is not None and self._inside(node.ino, dst.ino):
                raise FsError(errno.EINVAL)
            del src.children[src_name]  # type: ignore[union-attr]
            dst.children[dst_name] = node.ino  # type: ignore[index]
            if other is not None:
                if other.children is not None:
                    dst.attrs["st_nlink"] -= 1
                self._unlinked(other, now)
            self._move_dir(node, src, dst)
            self._touch(node, now, mtime=False)
            self._touch(src, now)
            self._touch(dst, now)

    # -- attributes -------------------------------------------------------------------
    def getattr(self, ino: int, fh: int | None = None) -> dict[str, int]:
        with self.lock:
            return self._node(ino).stat()

    def setattr(self, ino: int, fh: int | None, mode: int | None = None,
                uid: int | None = None, gid: int | None = None, size: int | None = None,
                atime: int | None = None, mtime: int | None = None) -> dict[str, int]:
        """chmod, chown, truncate and utimens in one request; answers the result."""
        with self.lock:
            node = self._node(ino)
            attrs = node.attrs
            now = time.time_ns()
            if size is not None:
                if node.children is not None:
                    raise FsError(errno.EISDIR)
                if not stat.S_ISREG(attrs["st_mode"]):
                    raise FsError(errno.EINVAL)
                self._resize(node, size)
                attrs["st_mtime"] = now
            if mode is not None:
                attrs["st_mode"] = (attrs["st_mode"] & ~0o7777) | (mode & 0o7777)
            if uid is not None:
                attrs["st_uid"] = uid
            if gid is not None:
                attrs["st_gid"] = gid
            if atime is not None:
                attrs["st_atime"] = atime
            if mtime is not None:
                attrs["st_mtime"] = mtime
            attrs["st_ctime"] = now
            return node.stat()

    def statfs(self) -> dict[str, int]:
        with self.lock:
            files = len(self.inodes)
        total = 1 << 20
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 24, "f_bfree": 1 << 23,
                "f_bavail": 1 << 23, "f_files": total, "f_ffree": total - files,
                "f_favail": total - files, "f_namemax": NAME_MAX}

    # -- files -----------------------------------------------------------------------------
    def open(self, ino: int, flags: int) -> tuple[int, bool]:
        """A new handle, and whether the kernel may keep its cached pages: always (every
        change passes through this one mount's page cache) unless truncated here."""
        with self.lock:
            node = self._node(ino)
            if node.children is not None:
                raise FsError(errno.EISDIR)
            truncate = bool(flags & os.O_TRUNC) and stat.S_ISREG(node.attrs["st_mode"])
            if truncate and node.attrs["st_size"]:
                self._resize(node, 0)
                self._touch(node, time.time_ns())
            return self._open(node), not truncate

    def create(self, parent_ino: int, name: str, mode: int, flags: int, uid: int,
               gid: int) -> tuple[int, dict[str, int]]:
        with self.lock:
            parent = self._dir(parent_ino)
            existing = parent.children.get(name)  # type: ignore[union-attr]
            if existing is None:
                node = self._add(parent_ino, name, stat.S_IFREG | (mode & 0o7777), uid, gid)
                return self._open(node), node.stat()
        if flags & os.O_EXCL:
            raise FsError(errno.EEXIST)
        fh, _keep = self.open(existing, flags)  # created meanwhile: open that one
        return fh, self.getattr(existing)

    def read(self, ino: int, size: int, offset: int, fh: int) -> bytearray:
        with self.lock:
            return self._handle(fh).node.data[offset:offset + size]  # a copy

    def write(self, ino: int, data: bytes, offset: int, fh: int) -> int:
        with self.lock:
            node = self._handle(fh).node
            buf = node.data
            if offset > len(buf):
                buf.extend(bytes(offset - len(buf)))
            buf[offset:offset + len(data)] = data
            if len(buf) != node.attrs["st_size"]:
                node.attrs["st_size"] = len(buf)
                node.attrs["st_blocks"] = (len(buf) + 511) // 512
            self._touch(node, time.time_ns())
        return len(data)

    def fallocate(self, ino: int, mode: int, offset: int, length: int, fh: int) -> None:
        """Mode 0 only, as redisfs: make the file at least offset+length long."""
        if mode != 0:
            raise FsError(errno.EOPNOTSUPP)
        with self.lock:
            node = self._handle(fh).node
            if node.attrs["st_size"] < offset + length:
                self._resize(node, offset + length)
                self._touch(node, time.time_ns())

    def flush(self, ino: int, fh: int) -> None:
        pass

    def fsync(self, ino: int, fh: int) -> None:
        pass

    def release(self, ino: int, fh: int) -> None:
        with self.lock:
            self._close(fh)

    # -- directories ------------------------------------------------------------------
    def opendir(self, ino: int) -> int:
        with self.lock:
            return self._open(self._dir(ino))

    def releasedir(self, ino: int, fh: int) -> None:
        with self.lock:
            self._close(fh)

    def listed(self, ino: int, entries: list[tuple[str, int]]) -> None:
        """READDIRPLUS entries the kernel received (redisfs remembers them; nothing here)."""

    def readdir(self, ino: int, fh: int, offset: int,
                limit: int = LISTING_PAGE) -> list[tuple[str, dict[str, int], int]]:
        """Up to ``limit`` entries from ``offset`` on, each with the next one's offset;
        as redisfs, offset 0 takes a snapshot of the directory that later calls page."""
        with self.lock:
            handle = self._handle(fh)
            if offset == 0 or handle.entries is None:
                node = handle.node
                entries = [(".", {"st_ino": node.ino, "st_mode": node.attrs["st_mode"]}),
                           ("..", {"st_ino": node.parent or node.ino, "st_mode": stat.S_IFDIR})]
                inodes = self.inodes
                entries += [(name, inodes[child].stat())
                            for name, child in node.children.items()]  # type: ignore[union-attr]
                handle.entries = entries
            entries = handle.entries
        end = min(len(entries), offset + limit)
        return [(entries[i][0], entries[i][1], i + 1) for i in range(offset, end)]

    # -- extended attributes --------------------------------------------------------------
    def getxattr(self, ino: int, name: str) -> bytes:
        if name in UNSUPPORTED_XATTRS:  # as redisfs: ls and cp stop asking
            raise FsError(errno.EOPNOTSUPP)
        with self.lock:
            value = self._node(ino).xattrs.get(name)
        if value is None:
            raise FsError(errno.ENODATA)
        return value

    def listxattr(self, ino: int) -> list[str]:
        with self.lock:
            return list(self._node(ino).xattrs)

    def setxattr(self, ino: int, name: str, value: bytes, flags: int) -> None:
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
        with self.lock:
            node = self._node(ino)
            if flags & XATTR_CREATE and name in node.xattrs:
                raise FsError(errno.EEXIST)
            if flags & XATTR_REPLACE and name not in node.xattrs:
                raise FsError(errno.ENODATA)
            node.xattrs[name] = bytes(value)
            self._touch(node, time.time_ns(), mtime=False)

    def removexattr(self, ino: int, name: str) -> None:
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
        with self.lock:
            node = self._node(ino)
            if node.xattrs.pop(name, None) is None:
                raise FsError(errno.ENODATA)
            self._touch(node, time.time_ns(), mtime=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mountpoint", help="an existing directory; serves in the foreground")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="memfs: %(levelname)s %(message)s")
    mountpoint = os.path.abspath(args.mountpoint)
    tune_malloc()
    requests = Requests(MemFs(mountpoint), DEFAULT_ENTRY_TIMEOUT, DEFAULT_ATTR_TIMEOUT,
                        DEFAULT_NEGATIVE_TIMEOUT)
    session = Session(requests.table(), mountpoint, OPTIONS)
    requests.session = session
    try:
        session.run(THREADS)
    except OSError as exc:
        print(f"memfs: {exc.strerror}", file=sys.stderr)
        return 1
    if requests.critical is not None:
        raise requests.critical
    return 0


if __name__ == "__main__":
    sys.exit(main())
