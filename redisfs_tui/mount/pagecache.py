"""When the kernel may keep a file's cached pages: through this mount's own changes,
yes; after another client's, no.

The kernel used to drop a file's pages itself whenever it saw a new mtime
(``auto_inval_data``) and at each open after a change (libfuse's ``auto_cache``).
Dropping races with a write() through the same mount: the kernel copies the bytes
into a cached page and unlocks it *before* it sends the WRITE; a READ of that page
in between (readahead of another process) brings the old bytes back into the cache,
and a read after the write() returned showed them.  So the mount turns both off
(operations.init) and decides itself, by version: a file's (mtime, size).  The
write and truncate scripts report the version before and after each change; a
version this mount did not make, seen at open, in an attribute read or as the
"before" of its own write, means another client changed the file.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Attr, Version
    from .caches import MetaCache
    from .lowlevel import KernelCache

MAX_VERSIONS = 100_000  # files whose version is remembered (then: forget all, drop pages)


class PageCache:
    def __init__(self, cache: MetaCache, busy: Callable[[int], bool],
                 kernel: Callable[[], KernelCache | None],
                 forget_reads: Callable[[int], None]) -> None:
        self._cache = cache
        self._busy = busy  # is a flush of ours storing this inode right now?
        self._kernel = kernel
        self._forget_reads = forget_reads  # drop the daemon's read window of an inode
        self._versions: dict[int, Version] = {}  # what the kernel's pages of a file show
        self._valid: set[int] = set()  # files whose pages may be kept at the next open
        self._landing: Counter[int] = Counter()  # inodes a change of ours is landing on
        self._landing_mutex = threading.Lock()

    def created(self, attr: Attr) -> None:
        """A file this mount just created: the kernel has no pages of an older one."""
        self._remember(attr.ino, (attr.mtime_ns, attr.size))
        self._valid.add(attr.ino)

    def changed_here(self, ino: int, versions: list[tuple[Version | None, Version]]) -> None:
        """This mount changed the file: each script reported the version before (None:
        unknown) and after.  A "before" that is not the version we knew means another
        client changed the file in between."""
        expected = self._versions.get(ino)
        foreign = False
        for before, after in versions:
            if before is not None and before != expected:
                foreign = True
            expected = after
        if expected is not None:
            self._remember(ino, expected)
        if foreign:
            self._changed_elsewhere(ino)

    def observed(self, attr: Attr, token: int) -> None:
        """Attributes read from Redis (after MetaCache.token() gave ``token``)."""
        if not attr.is_reg:
            return
        version = (attr.mtime_ns, attr.size)
        known = self._versions.get(attr.ino)
        if known == version:
            return
        if known is None:
            self._remember(attr.ino, version)
            return
        if (self._cache.changed_since(attr.ino, token) or attr.ino in self._landing
                or self._busy(attr.ino)):
            return  # a change of ours may be landing: the answer proves nothing
        self._remember(attr.ino, version)
        self._changed_elsewhere(attr.ino)

    def keep_cache(self, attr: Attr, token: int) -> bool:
        """At open, with fresh attributes: may the kernel keep its pages of the file?
        When not, and the kernel knew the file, its cached size goes now too (the
        queued invalidation may come after the first read, which would stop at the
        old end)."""
        known = attr.ino in self._versions
        self.observed(attr, token)
        keep = attr.ino in self._valid
        self._valid.add(attr.ino)
        kernel = self._kernel()
        if not keep and known and kernel is not None:
            kernel.forget_attributes(attr.ino)
        return keep

    @contextmanager
    def changing(self, ino: int) -> Iterator[None]:
        """Wrap a change made here outside a flush (truncate, utimens): an attribute read
        meanwhile may show it before changed_here() knows it."""
        with self._landing_mutex:
            self._landing[ino] += 1
        try:
            yield
        finally:
            self._cache.invalidate(ino)  # (answers read before now: changed_since says so)
            with self._landing_mutex:
                self._landing[ino] -= 1
                if self._landing[ino] <= 0:
                    del self._landing[ino]

    def _remember(self, ino: int, version: Version) -> None:
        if len(self._versions) >= MAX_VERSIONS:
            self._versions.clear()
            self._valid.clear()
        self._versions[ino] = version

    def _changed_elsewhere(self, ino: int) -> None:
        self._valid.discard(ino)
        self._forget_reads(ino)  # the daemon's read window holds the old bytes too
        kernel = self._kernel()
        if kernel is not None:  # descriptors open here must see it too
            kernel.invalidate(ino)
