"""What this mount must remember of its directories: one listing per ``opendir`` (so
``readdir`` can continue at any offset while other processes change the directory),
and which inode each name it reported to the kernel holds (``KernelNames``)."""

from __future__ import annotations

import itertools
import threading
import time
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
GRACE = 1.0  # seconds within which two lookups/listings may reach the kernel in any order


class KernelNames:
    """(parent inode, name) -> the inode this mount last told the kernel that name holds.

    The kernel removes or replaces a name by (parent, name), and on success marks the
    inode *it* believes the name holds as removed (a directory for good: it lists empty
    from then on).  Another mount may have put another inode there meanwhile; passing
    the believed inode to core's unlink/rename makes them answer ESTALE instead, and the
    kernel looks the name up again and retries.  Unknown names are not checked.

    Lookups and listings of one directory run in parallel (the kernel holds the
    directory shared), and the kernel applies their answers in its own order.  When two
    of them told different inodes for one name within GRACE s (another mount changed
    it between them), which one the kernel kept is unknown: the name is in doubt, and
    a removal answers ESTALE once, so that the kernel looks the name up again -- under
    the directory's exclusive lock, so that answer is the one it keeps.  Creates,
    links and renames made here hold that lock too: they settle a name."""

    def __init__(self) -> None:
        # (parent, name) -> (inode or None for "no such name", when, told by a lookup
        # or a listing); a removed or unknown name has no entry
        self._names: dict[tuple[int, str], tuple[int | None, float, bool]] = {}
        self._doubt: set[tuple[int, str]] = set()
        self._revalidating: set[tuple[int, str]] = set()
        self._mutex = threading.Lock()

    def _record(self, key: tuple[int, str], ino: int | None, shared: bool,
                now: float) -> None:
        old = self._names.get(key)
        if key in self._revalidating:  # the kernel's own look after our ESTALE: it keeps it
            self._revalidating.discard(key)
            self._doubt.discard(key)
        elif not shared:
            self._doubt.discard(key)
        elif old is not None and old[2] and old[0] != ino and now - old[1] < GRACE:
            self._doubt.add(key)
        if ino is None and key not in self._doubt:
            self._names.pop(key, None)
        else:
            self._names[key] = (ino, now, shared)

    def _make_room(self, more: int) -> None:
        if len(self._names) + more >= MAX_NAMES:
            self._names.clear()
            self._doubt.clear()
            self._revalidating.clear()

    def told(self, parent: int, name: str, ino: int, shared: bool = False) -> None:
        """``shared``: the answer to a lookup (which may race with listings)."""
        with self._mutex:
            self._make_room(1)
            self._record((parent, name), ino, shared, time.monotonic())

    def told_many(self, parent: int, entries: list[tuple[str, int]]) -> None:
        """Names a listing (READDIRPLUS) gave the kernel."""
        now = time.monotonic()
        with self._mutex:
            self._make_room(len(entries))
            for name, ino in entries:
                self._record((parent, name), ino, True, now)

    def gone(self, parent: int, name: str, shared: bool = False) -> None:
        with self._mutex:
            self._record((parent, name), None, shared, time.monotonic())

    def believed(self, parent: int, name: str) -> int | None:
        entry = self._names.get((parent, name))
        return entry[0] if entry is not None else None

    def doubtful(self, parent: int, name: str) -> bool:
        """Is it unknown which inode the kernel means by this name?  Then the caller
        answers ESTALE, and the kernel's next lookup of the name settles it."""
        key = (parent, name)
        with self._mutex:
            if key not in self._doubt:
                return False
            self._revalidating.add(key)
            return True
