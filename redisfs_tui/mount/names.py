"""What this mount must remember of its directories: one listing per ``opendir`` (so
``readdir`` can continue at any offset while other processes change the directory),
and which inode each name it reported to the kernel holds (``KernelNames``)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DirHandle:
    ino: int
    entries: list[tuple[str, dict[str, Any]]] | None = None
    mutex: threading.Lock = field(default_factory=threading.Lock)


class DirHandles:
    """opendir numbers; even numbers, so they never equal a file handle (odd)."""

    def __init__(self) -> None:
        self._handles: dict[int, DirHandle] = {}
        self._next = itertools.count(2, 2)

    def open(self, ino: int) -> int:
        fh = next(self._next)
        self._handles[fh] = DirHandle(ino)
        return fh

    def get(self, fh: int) -> DirHandle | None:
        return self._handles.get(fh)

    def close(self, fh: int) -> None:
        self._handles.pop(fh, None)


MAX_NAMES = 200_000


class KernelNames:
    """(parent inode, name) -> the inode this mount last told the kernel that name holds.

    The kernel removes or replaces a name by (parent, name), and on success marks the
    inode *it* believes the name holds as removed (a directory for good: it lists empty
    from then on).  Another mount may have put another inode there meanwhile; passing
    the believed inode to core's unlink/rename makes them answer ESTALE instead, and the
    kernel looks the name up again and retries.  Unknown names are not checked."""

    def __init__(self) -> None:
        self._names: dict[tuple[int, str], int] = {}
        self._mutex = threading.Lock()

    def told(self, parent: int, name: str, ino: int) -> None:
        with self._mutex:
            if len(self._names) >= MAX_NAMES:
                self._names.clear()
            self._names[(parent, name)] = ino

    def told_many(self, parent: int, entries: list[tuple[str, int]]) -> None:
        with self._mutex:
            if len(self._names) + len(entries) >= MAX_NAMES:
                self._names.clear()
            for name, ino in entries:
                self._names[(parent, name)] = ino

    def gone(self, parent: int, name: str) -> None:
        with self._mutex:
            self._names.pop((parent, name), None)

    def believed(self, parent: int, name: str) -> int | None:
        return self._names.get((parent, name))
