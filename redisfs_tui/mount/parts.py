"""What the operation mixins (fileio, namespace, xattrs) expect from the class that
combines them (operations.RedisFsOperations): shared state and path helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Attr, FileSystem
    from ._fuse import KernelCache
    from .caches import MetaCache


class OperationParts:
    """Declared here once; implemented by RedisFsOperations."""

    fs: FileSystem
    cache: MetaCache
    kernel: KernelCache
    read_only: bool

    def _writable(self) -> None:
        raise NotImplementedError

    def _lookup(self, path: str) -> Attr:
        raise NotImplementedError

    def _ino(self, path: str | None, fh: int | None = None) -> int:
        raise NotImplementedError

    def _parent_ino(self, path: str) -> tuple[int, str]:
        raise NotImplementedError

    def _new_entry(self, path: str, parent_ino: int, name: str, attr: Attr) -> None:
        raise NotImplementedError

    def _owner(self, parent_ino: int, mode: int) -> tuple[int, int, int]:
        raise NotImplementedError

    def _changed(self, ino: int, path: str | None = None, wait: bool = True) -> None:
        raise NotImplementedError
