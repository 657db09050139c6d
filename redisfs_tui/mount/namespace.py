"""Creating, linking, removing and renaming names through FUSE.

With the inode-based API the kernel updates its own name and attribute caches from
these replies; what is kept here is this mount's short-lived caches (attributes by
inode, directory listings).  A file unlinked or renamed over while open lives on in
Redis as an orphan held by its open handles (core's unlink and rename scripts).
"""

from __future__ import annotations

import errno
import stat
import time
from typing import TYPE_CHECKING

from ..core import RENAME_EXCHANGE, FsError
from .parts import OperationParts

if TYPE_CHECKING:
    from .handles import HandleTable
    from .writeback import Writeback


class NameOps(OperationParts):
    """Mixed into RedisFsOperations, which provides the attributes and helpers below."""

    handles: HandleTable
    writeback: Writeback

    def mknod(self, parent_ino: int, name: str, mode: int, rdev: int, uid: int,
              gid: int) -> dict[str, int]:
        self._writable()
        self._check_name(name)
        uid, gid, mode = self._owner(parent_ino, mode, uid, gid)
        return self._new_entry(parent_ino, name,
                               self.fs.mknod(parent_ino, name, mode, uid, gid, rdev=rdev))

    def mkdir(self, parent_ino: int, name: str, mode: int, uid: int,
              gid: int) -> dict[str, int]:
        self._writable()
        self._check_name(name)
        uid, gid, mode = self._owner(parent_ino, stat.S_IFDIR | mode, uid, gid)
        return self._new_entry(parent_ino, name,
                               self.fs.mkdir(parent_ino, name, mode, uid, gid))

    def symlink(self, parent_ino: int, name: str, target: bytes, uid: int,
                gid: int) -> dict[str, int]:
        self._writable()
        self._check_name(name)
        uid, gid, _mode = self._owner(parent_ino, stat.S_IFLNK, uid, gid)
        return self._new_entry(parent_ino, name,
                               self.fs.symlink(parent_ino, name, target, uid, gid))

    def link(self, ino: int, parent_ino: int, name: str) -> dict[str, int]:
        self._writable()
        self._check_name(name)
        token = self.cache.token()
        attr = self.fs.link(ino, parent_ino, name)
        self.names.told(parent_ino, name, ino)
        self.cache.put_attr(ino, attr, token)
        self.cache.name_added(parent_ino, name)
        self.cache.update(parent_ino, mtime_ns=attr.ctime_ns, ctime_ns=attr.ctime_ns)
        return self._consistent_stat(ino)

    def _removed(self, parent_ino: int, name: str, ino: int, when: int, was_dir: bool) -> None:
        self.names.gone(parent_ino, name)
        self.cache.forget_ino(ino)
        self.cache.name_removed(parent_ino, name)
        parent = self.cache.attrs.get(parent_ino)
        if parent is not None:
            self.cache.update(parent_ino, mtime_ns=when, ctime_ns=when,
                              nlink=parent.nlink - (1 if was_dir else 0))

    def _settled(self, *names: tuple[int, str]) -> None:
        """ESTALE when it is unknown which inode the kernel means by one of the
        (parent, name) pairs (names.KernelNames): the kernel looks them all up again
        and retries."""
        if [pair for pair in names if self.names.doubtful(*pair)]:  # (every one asked)
            raise FsError(errno.ESTALE)

    def unlink(self, parent_ino: int, name: str) -> None:
        self._writable()
        self._settled((parent_ino, name))
        expect = self.names.believed(parent_ino, name)
        self.writeback.release_pending(expect)  # (closed just before: freed now)
        when = time.time_ns()
        removed = self.fs.unlink(parent_ino, name, when, expect=expect)
        self._removed(parent_ino, name, removed, when, was_dir=False)

    def rmdir(self, parent_ino: int, name: str) -> None:
        self._writable()
        self._settled((parent_ino, name))
        when = time.time_ns()
        removed = self.fs.rmdir(parent_ino, name, when,
                                expect=self.names.believed(parent_ino, name))
        self._removed(parent_ino, name, removed, when, was_dir=True)

    def rename(self, src_parent: int, src_name: str, dst_parent: int, dst_name: str,
               flags: int = 0) -> None:
        self._writable()
        self._check_name(dst_name)
        self._settled((src_parent, src_name), (dst_parent, dst_name))
        expect = (self.names.believed(src_parent, src_name),
                  self.names.believed(dst_parent, dst_name))
        self.writeback.release_pending(expect[1])  # (replaced: freed now)
        moved, replaced = self.fs.rename(src_parent, src_name, dst_parent, dst_name, flags,
                                         expect=expect)
        if replaced == moved:
            return  # two names of one inode: rename(2) does nothing, both names stay
        if flags & RENAME_EXCHANGE and replaced is not None:
            self.names.told(src_parent, src_name, replaced)
        else:
            self.names.gone(src_parent, src_name)
        self.names.told(dst_parent, dst_name, moved)
        if not flags & RENAME_EXCHANGE:  # an exchange keeps both names
            self.cache.name_removed(src_parent, src_name)
        self.cache.name_added(dst_parent, dst_name)
        for ino in (moved, replaced, src_parent, dst_parent):
            if ino is not None:
                self.cache.forget_ino(ino)
