"""Extended attributes: one hash per inode (``{P}:x:<ino>``), mixed into FileSystem."""

from __future__ import annotations

import errno
import os
import time
from typing import TYPE_CHECKING

from .errors import FsError, translated

if TYPE_CHECKING:
    import redis

    from .attrs import Attr
    from .keys import Keys

XATTR_CREATE = 1
XATTR_REPLACE = 2
XATTR_SIZE_MAX = 65536


class XattrOps:
    """get/list/set/removexattr with the errnos getxattr(2) and friends document."""

    client: redis.Redis
    keys: Keys

    def getattr(self, ino: int) -> Attr:  # provided by FileSystem
        raise NotImplementedError

    def _writable(self) -> None:  # provided by FileSystem
        raise NotImplementedError

    def _run(self, script_name: str, *args: object) -> object:  # provided by FileSystem
        raise NotImplementedError

    def getxattr(self, ino: int, name: str | bytes) -> bytes:
        with translated():
            pipe = self.client.pipeline(transaction=False)
            pipe.exists(self.keys.inode(ino))
            pipe.hget(self.keys.xattrs(ino), os.fsencode(name))
            exists, value = pipe.execute()
        if not exists:
            raise FsError(errno.ENOENT)
        if value is None:
            raise FsError(errno.ENODATA)
        return value

    def listxattr(self, ino: int) -> list[bytes]:
        self.getattr(ino)
        with translated():
            return list(self.client.hkeys(self.keys.xattrs(ino)))

    def setxattr(self, ino: int, name: str | bytes, value: bytes, flags: int = 0) -> None:
        self._writable()
        raw = os.fsencode(name)
        if not raw or len(raw) > 255:
            raise FsError(errno.ERANGE if raw else errno.EINVAL)
        if len(value) > XATTR_SIZE_MAX:
            raise FsError(errno.E2BIG)
        self._run("setxattr", ino, raw, value, flags, str(time.time_ns()))

    def removexattr(self, ino: int, name: str | bytes) -> None:
        self._writable()
        self._run("removexattr", ino, os.fsencode(name), str(time.time_ns()))
