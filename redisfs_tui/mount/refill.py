"""Pages that a READ may have refilled with old bytes under a write in flight.

The kernel copies a write()'s bytes into its cached pages and unlocks every full page
*before* it sends the WRITE to the daemon.  When this mount drops the file's pages in
between (another client changed the file: pagecache.PageCache), a READ -- readahead of
any process -- brings the old bytes back from the daemon, which has not seen the WRITE
yet.  They stay in the cache after the WRITE: the writer's own read-back shows them.

The daemon cannot see a write before its WRITE arrives, but it can tell afterwards that
the race was possible: a drop of the file's pages ended after the WRITE's thread sent
its previous WRITE (so the write's copy may precede the drop), and a READ overlapping the
written range arrived after that drop began.  Then the range is dropped again, now that
the new bytes are in the daemon (KernelCache.drop_range).  A drop that an OPEN reply
asks for happens when the opener runs again, so it ends only with the first request on
that handle.  Events are ordered by one counter; histories are short and, when cut, the
answer errs towards dropping.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field

HISTORY = 64  # READs remembered per inode after a drop
DROPS = 8  # drops remembered per inode
MAX_INODES = 10_000  # inodes tracked at once (then: forget all of them)
OPEN = 1 << 62  # the end of a drop still going on


@dataclass
class _Inode:
    """What happened to one inode since the first drop of its pages seen here."""

    drops: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=DROPS))
    reads: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    reads_cut: int = 0  # the clock of the newest READ that fell out of ``reads``
    writers: dict[int, int] = field(default_factory=dict)  # thread id -> its last WRITE
    going: dict[int, int] = field(default_factory=dict)  # drops begun, not ended: start -> 1


class RefillGuard:
    def __init__(self) -> None:
        self._clock = itertools.count(1)
        self._inodes: dict[int, _Inode] = {}
        self._mutex = threading.Lock()  # guards the records; held for a few steps only

    def drop_begins(self, ino: int) -> int:
        """The kernel is about to drop ``ino``'s pages; returns a token for drop_ended."""
        with self._mutex:
            if len(self._inodes) >= MAX_INODES and ino not in self._inodes:
                self._inodes.clear()
            start = next(self._clock)
            self._inodes.setdefault(ino, _Inode()).going[start] = 1
            return start

    def drop_ended(self, ino: int, start: int) -> None:
        with self._mutex:
            entry = self._inodes.get(ino)
            if entry is not None and entry.going.pop(start, None) is not None:
                entry.drops.append((start, next(self._clock)))

    def read(self, ino: int, start: int, end: int) -> None:
        """A READ of [start, end) arrived (nearly free while no drop of it is known)."""
        if ino not in self._inodes:
            return
        with self._mutex:
            entry = self._inodes.get(ino)
            if entry is not None:
                if len(entry.reads) == HISTORY:
                    entry.reads_cut = entry.reads[0][0]
                entry.reads.append((next(self._clock), start, end))

    def wrote(self, ino: int, thread: int, start: int, end: int) -> bool:
        """A WRITE of [start, end) by ``thread`` arrived and is buffered: may the kernel
        hold old bytes of that range?  (True: drop it again.)"""
        if ino not in self._inodes:
            return False  # no drop since the last close: nothing to refill
        with self._mutex:
            entry = self._inodes.get(ino)
            if entry is None:
                return False
            now = next(self._clock)
            previous = entry.writers.get(thread, 0)  # unknown: every drop counts
            if len(entry.writers) >= MAX_INODES:
                entry.writers.clear()
            entry.writers[thread] = now
            drops = [*entry.drops, *((begun, OPEN) for begun in entry.going)]
            later = [begun for begun, ended in drops if ended > previous]
            if not later:
                return False
            # a READ that refilled old bytes came after the write's copy, so after the
            # previous WRITE, and after the drop began (when older drops fell out of the
            # history, one of them may have begun earlier: the previous WRITE bounds it)
            first = max(previous, min(later)) if len(entry.drops) < DROPS else previous
            if entry.reads_cut > first:
                return True  # READs after the drop fell out of the history
            return any(clock > first and read_start < end and start < read_end
                       for clock, read_start, read_end in entry.reads)

    def forget(self, ino: int) -> None:
        """The last handle of ``ino`` closed here: no write of it can be in flight."""
        with self._mutex:
            self._inodes.pop(ino, None)
