"""Short-lived metadata caches of one mount.

Answering repeated questions from memory for a short time (attributes of files
being listed, "no such name" while a program creates files, extended attributes the
kernel asks for on every write) saves Redis round trips; changes made through this
mount update the caches at once, changes made by other mounts show after at most
``ttl`` seconds (plus the kernel's own timeouts).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..core import Attr

K = TypeVar("K")
V = TypeVar("V")

MAX_ENTRIES = 100_000


class TtlCache(Generic[K, V]):
    """A dict whose entries expire; thread-safe; wiped when it grows too large."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._data: dict[K, tuple[V, float]] = {}
        self._mutex = threading.Lock()

    def get(self, key: K) -> V | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit[1] < time.monotonic():
            self._data.pop(key, None)
            return None
        return hit[0]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        expires = time.monotonic() + self.ttl
        with self._mutex:
            if len(self._data) >= self.max_entries:
                self._data.clear()
            self._data[key] = (value, expires)

    def put_many(self, items: list[tuple[K, V]]) -> None:
        if self.ttl <= 0:
            return
        expires = time.monotonic() + self.ttl
        with self._mutex:
            if len(self._data) + len(items) >= self.max_entries:
                self._data.clear()
            for key, value in items:
                self._data[key] = (value, expires)

    def pop(self, key: K) -> V | None:
        with self._mutex:
            hit = self._data.pop(key, None)
        return hit[0] if hit else None

    def clear(self) -> None:
        with self._mutex:
            self._data.clear()


@dataclass
class Xattrs:
    """Known extended attributes of one inode; ``complete`` means no others exist."""

    values: dict[str, bytes | None] = field(default_factory=dict)  # None: known absent
    complete: bool = False


class MetaCache:
    """Attributes by inode, directory listings, xattrs."""

    def __init__(self, ttl: float) -> None:
        self.attrs: TtlCache[int, Attr] = TtlCache(ttl)
        self.xattrs: TtlCache[int, Xattrs] = TtlCache(ttl)
        # directory inode -> every name in it, while known completely (answers
        # "no such name" without asking Redis, like the kernel's negative cache)
        self.listings: TtlCache[int, set[str]] = TtlCache(ttl)
        # directory inode -> names looked up in vain lately (-1: too large to list)
        self.misses: TtlCache[int, int] = TtlCache(ttl)
        self._epoch = 0  # counts invalidations (see token())
        self._floor = 0
        self._invalidated: dict[int, int] = {}  # inode -> epoch of its last invalidation
        self._epoch_mutex = threading.Lock()
        self._generation: dict[int, int] = {}  # directory inode -> local change counter
        self._wiped = 0  # times _generation was cleared (it is bounded)
        # directory inode -> (generation, [(name, inode)]) of its last full listing, so a
        # second opendir soon after (rm -rf, find) lists from memory
        self.entries: TtlCache[int, tuple[int, list[tuple[str, int]]]] = TtlCache(ttl)

    # -- attributes: an older answer never overwrites a newer one -----------------
    # Every change of an inode made here (data stored, setattr, rename, ...) calls
    # invalidate(); an answer read from Redis is cached only if its inode was not
    # invalidated since the reader took its token (before asking Redis).  Without
    # that, a getattr that read Redis just before a save finished would cache the
    # size from before the save, after the save had cleared the cache.
    def token(self) -> int:
        """Take before reading attributes from Redis; pass to put_attr()/changed_since()."""
        return self._epoch

    def invalidate(self, ino: int) -> None:
        """``ino`` changed: drop its cached attributes and refuse older answers."""
        with self._epoch_mutex:
            # the entry goes first: a reader that still got it took its token earlier
            # and so sees the new epoch in changed_since()
            self.attrs.pop(ino)
            self._epoch += 1
            if len(self._invalidated) >= MAX_ENTRIES:
                self._invalidated.clear()
                self._floor = self._epoch  # tokens from before know nothing now
            self._invalidated[ino] = self._epoch

    def changed_since(self, ino: int, token: int) -> bool:
        return token < self._floor or self._invalidated.get(ino, -1) > token

    def put_attr(self, ino: int, attr: Attr, token: int) -> None:
        with self._epoch_mutex:
            if not self.changed_since(ino, token):
                self.attrs.put(ino, attr)

    def update(self, ino: int, **changes: int) -> None:
        """Adjust a cached attribute in place (e.g. a parent's mtime after create)."""
        with self._epoch_mutex:
            attr = self.attrs.get(ino)
            if attr is not None:
                self.attrs.put(ino, attr.but(**changes))

    def forget_ino(self, ino: int) -> None:
        self.invalidate(ino)
        self.xattrs.pop(ino)

    # -- directory listings ---------------------------------------------------
    def generation(self, dir_ino: int) -> int:
        """Changes made here to the directory, counted; after the counts were wiped
        (too many directories), every value differs from every earlier one."""
        return (self._wiped << 40) + self._generation.get(dir_ino, 0)

    def listing_from_readdir(self, dir_ino: int, entries: list[tuple[str, int]],
                             generation: int) -> None:
        """Keep a full listing unless this mount changed the directory meanwhile."""
        if self.generation(dir_ino) == generation:
            self.listings.put(dir_ino, {name for name, _ in entries})
            self.entries.put(dir_ino, (generation, entries))

    def listing_from_names(self, dir_ino: int, names: set[str], generation: int) -> None:
        """Keep the names of a directory (no attributes) unless this mount changed it
        meanwhile: a create racing with the fetch must not be forgotten."""
        if self.generation(dir_ino) == generation:
            self.listings.put(dir_ino, names)

    def cached_listing(self, dir_ino: int) -> list[tuple[str, Attr]] | None:
        """The directory's entries with attributes, if all are still cached and this
        mount did not change the directory since they were listed."""
        hit = self.entries.get(dir_ino)
        if hit is None or hit[0] != self.generation(dir_ino):
            return None
        out = []
        for name, ino in hit[1]:
            attr = self.attrs.get(ino)
            if attr is None:
                return None
            out.append((name, attr))
        return out

    def _changed(self, dir_ino: int) -> None:
        """Count a change of the directory made here; under the mutex, because two
        threads counting at once could count once, and a listing fetched between
        the two changes would then be kept without the second one's name."""
        with self._epoch_mutex:
            if len(self._generation) >= MAX_ENTRIES and dir_ino not in self._generation:
                self._generation.clear()
                self._wiped += 1
            self._generation[dir_ino] = self._generation.get(dir_ino, 0) + 1

    def name_added(self, dir_ino: int, name: str) -> None:
        self._changed(dir_ino)
        names = self.listings.get(dir_ino)
        if names is not None:
            names.add(name)

    def name_removed(self, dir_ino: int, name: str) -> None:
        self._changed(dir_ino)
        names = self.listings.get(dir_ino)
        if names is not None:
            names.discard(name)

    def known_absent(self, dir_ino: int, name: str) -> bool:
        names = self.listings.get(dir_ino)
        return names is not None and name not in names

    # -- extended attributes -------------------------------------------------------
    def xattr(self, ino: int, name: str) -> tuple[bool, bytes | None]:
        """(known, value): known is False when Redis must be asked."""
        entry = self.xattrs.get(ino)
        if entry is None:
            return False, None
        if name in entry.values:
            return True, entry.values[name]
        return entry.complete, None

    def set_xattr(self, ino: int, name: str, value: bytes | None) -> None:
        entry = self.xattrs.get(ino)
        if entry is None:
            self.xattrs.put(ino, Xattrs({name: value}))
        else:
            entry.values[name] = value

    def new_inode(self, attr: Attr) -> None:
        """A just-created inode: no xattrs, and an empty listing if it is a directory."""
        self.attrs.put(attr.ino, attr)
        self.xattrs.put(attr.ino, Xattrs(complete=True))
        if attr.is_dir:
            self.listings.put(attr.ino, set())
