"""What the operation mixins (fileio, namespace, xattrs) expect from the class that
combines them (operations.RedisFsOperations): shared state and helpers."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..core import FsError

if TYPE_CHECKING:
    from ..core import Attr, FileSystem
    from .caches import MetaCache
    from .lowlevel import KernelCache
    from .names import KernelNames
    from .pagecache import PageCache


def gone_is_stale(exc: FsError) -> FsError:
    """An inode the kernel names by number no longer exists (another mount removed
    it): ESTALE makes the kernel look its path up again instead of failing."""
    return FsError(errno.ESTALE) if exc.errno == errno.ENOENT else exc


class OperationParts:
    """Declared here once; implemented by RedisFsOperations."""

    fs: FileSystem
    cache: MetaCache
    kernel: KernelCache | None
    pages: PageCache
    names: KernelNames
    read_only: bool

    def _writable(self) -> None:
        raise NotImplementedError

    def _check_name(self, name: str) -> None:
        raise NotImplementedError

    def _attr(self, ino: int) -> Attr:
        raise NotImplementedError

    def _new_entry(self, parent_ino: int, name: str, attr: Attr) -> dict[str, int]:
        raise NotImplementedError

    def _owner(self, parent_ino: int, mode: int, uid: int, gid: int) -> tuple[int, int, int]:
        raise NotImplementedError

    def _consistent_stat(self, ino: int) -> dict[str, int]:
        raise NotImplementedError

    def _to_stat(self, attr: Attr) -> dict[str, int]:
        raise NotImplementedError
