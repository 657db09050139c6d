"""Bookkeeping the path-based FUSE API needs on top of core's inode numbers.

* ``LinkNames``: the paths this mount reported for inodes with several hard links,
  so that a change made through one name can be pushed to the kernel's cached
  copy of the others (libfuse gives each path its own kernel inode).
* ``DirHandles``: one directory listing per ``opendir``, so that ``readdir`` can
  continue at any offset while other processes change the directory.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any


class LinkNames:
    """inode -> paths handed to the kernel, for non-directories with nlink > 1."""

    def __init__(self) -> None:
        self._paths: dict[int, set[str]] = {}
        self._mutex = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._paths)

    def track(self, ino: int, path: str) -> None:
        with self._mutex:
            self._paths.setdefault(ino, set()).add(path)

    def others(self, ino: int, path: str | None = None) -> list[str]:
        paths = self._paths.get(ino)
        if not paths:
            return []
        with self._mutex:
            return [p for p in paths if p != path]

    def drop_path(self, ino: int, path: str) -> None:
        with self._mutex:
            paths = self._paths.get(ino)
            if paths is not None:
                paths.discard(path)
                if not paths:
                    del self._paths[ino]

    def moved(self, old: str, new: str) -> None:
        """A rename: rewrite tracked paths at or below ``old``."""
        if not self._paths:
            return
        below = old.rstrip("/") + "/"
        with self._mutex:
            for paths in self._paths.values():
                for path in [p for p in paths if p == old or p.startswith(below)]:
                    paths.discard(path)
                    paths.add(new + path[len(old):])


@dataclass
class DirHandle:
    ino: int
    path: str
    entries: list[tuple[str, dict[str, Any]]] | None = None
    mutex: threading.Lock = field(default_factory=threading.Lock)


class DirHandles:
    """opendir numbers; even numbers, so they never equal a file handle (odd)."""

    def __init__(self) -> None:
        self._handles: dict[int, DirHandle] = {}
        self._next = itertools.count(2, 2)

    def open(self, ino: int, path: str) -> int:
        fh = next(self._next)
        self._handles[fh] = DirHandle(ino, path)
        return fh

    def get(self, fh: int) -> DirHandle | None:
        return self._handles.get(fh)

    def close(self, fh: int) -> None:
        self._handles.pop(fh, None)
