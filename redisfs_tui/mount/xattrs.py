"""Extended attributes through FUSE, with a per-inode cache of values and absences.

The kernel asks for ``security.capability`` before every write() and ``ls -l``
asks for ACLs of every file, so answers (mostly "no such attribute") are cached;
a file this mount just created is known to have none.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from ..core import FsError
from .parts import OperationParts

if TYPE_CHECKING:
    pass

# Not stored: the kernel would not enforce ACLs kept as plain xattrs, and there is no
# SELinux labelling.  EOPNOTSUPP also tells ls/cp to stop asking for every file.
UNSUPPORTED_XATTRS = frozenset(
    {"system.posix_acl_access", "system.posix_acl_default", "security.selinux"})


class XattrOps(OperationParts):
    """Mixed into RedisFsOperations, which provides the attributes and helpers below."""

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
        ino = self._ino(path)
        known, value = self.cache.xattr(ino, name)
        if not known:
            try:
                value = self.fs.getxattr(ino, name)
            except FsError as exc:
                if exc.errno == errno.ENODATA:
                    self.cache.set_xattr(ino, name, None)
                raise
            self.cache.set_xattr(ino, name, value)
        if value is None:
            raise FsError(errno.ENODATA)
        return value

    def listxattr(self, path: str) -> list[str]:
        return [os.fsdecode(name) for name in self.fs.listxattr(self._ino(path))]

    def setxattr(self, path: str, name: str, value: bytes, options: int,
                 position: int = 0) -> int:
        self._writable()
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
        ino = self._ino(path)
        self.fs.setxattr(ino, name, value, options)
        self.cache.set_xattr(ino, name, value)
        self.cache.invalidate(ino)
        self._changed(ino, path)
        return 0

    def removexattr(self, path: str, name: str) -> int:
        self._writable()
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
        ino = self._ino(path)
        self.fs.removexattr(ino, name)
        self.cache.set_xattr(ino, name, None)
        self.cache.invalidate(ino)
        self._changed(ino, path)
        return 0
