"""Extended attributes through FUSE, with a per-inode cache of values and absences.

The kernel asks for ``security.capability`` before every write() and ``ls -l``
asks for ACLs of every file, so answers (mostly "no such attribute") are cached;
a file this mount just created is known to have none.
"""

from __future__ import annotations

import errno
import os

from ..core import FsError
from .parts import OperationParts

# Not stored: the kernel would not enforce ACLs kept as plain xattrs, and there is no
# SELinux labelling.  EOPNOTSUPP also tells ls/cp to stop asking for every file.
UNSUPPORTED_XATTRS = frozenset(
    {"system.posix_acl_access", "system.posix_acl_default", "security.selinux"})


class XattrOps(OperationParts):
    """Mixed into RedisFsOperations, which provides the attributes and helpers below."""

    def getxattr(self, ino: int, name: str) -> bytes:
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
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

    def listxattr(self, ino: int) -> list[str]:
        return [os.fsdecode(name) for name in self.fs.listxattr(ino)]

    def setxattr(self, ino: int, name: str, value: bytes, options: int) -> None:
        self._writable()
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
        self.fs.setxattr(ino, name, value, options)
        self.cache.set_xattr(ino, name, value)
        self.cache.invalidate(ino)

    def removexattr(self, ino: int, name: str) -> None:
        self._writable()
        if name in UNSUPPORTED_XATTRS:
            raise FsError(errno.EOPNOTSUPP)
        self.fs.removexattr(ino, name)
        self.cache.set_xattr(ino, name, None)
        self.cache.invalidate(ino)
