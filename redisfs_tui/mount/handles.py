"""Open files: file handles, per-inode write buffers and open counts.

Writes collect in one buffer per inode (shared by every handle of that inode in
this mount, so they are applied in the order the kernel sent them) and go to Redis
as whole blocks when the buffer passes its bound, on flush/fsync/close, and before
anything that must see them (read, truncate, utimens, link, rename over).

Redis counts open handles per mount session, not per file descriptor: the first
local open of an inode registers it, the last local release drops it.  That keeps
an unlinked file alive exactly as long as some descriptor in this mount holds it,
with one Redis call per inode instead of one per open().
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field


class WriteBuffer:
    """Dirty byte ranges of one file: sorted, non-overlapping extents."""

    def __init__(self) -> None:
        self.extents: list[tuple[int, bytearray]] = []
        self.nbytes = 0

    def __bool__(self) -> bool:
        return bool(self.extents)

    @property
    def end(self) -> int:
        """One past the last dirty byte (0 when clean)."""
        extents = self.extents  # one read: take() may swap the list meanwhile
        if not extents:
            return 0
        offset, data = extents[-1]
        return offset + len(data)

    def add(self, offset: int, data: bytes) -> None:
        if self.extents:
            last_off, last = self.extents[-1]
            if last_off + len(last) == offset:  # the common case: sequential writes
                last += data
                self.nbytes += len(data)
                return
        start, end = offset, offset + len(data)
        keep: list[tuple[int, bytearray]] = []
        touching: list[tuple[int, bytearray]] = []
        for ext in self.extents:
            ext_start, ext_end = ext[0], ext[0] + len(ext[1])
            if ext_end < start or ext_start > end:
                keep.append(ext)
            else:
                touching.append(ext)
        if touching:
            new_start = min(start, touching[0][0])
            new_end = max(end, max(o + len(d) for o, d in touching))
            merged = bytearray(new_end - new_start)
            for ext_off, ext_data in touching:
                merged[ext_off - new_start:ext_off - new_start + len(ext_data)] = ext_data
            merged[start - new_start:end - new_start] = data
            keep.append((new_start, merged))
        else:
            keep.append((offset, bytearray(data)))
        keep.sort(key=lambda ext: ext[0])
        self.extents = keep
        self.nbytes = sum(len(d) for _, d in keep)

    def take(self) -> list[tuple[int, bytearray]]:
        """Hand the extents to the caller (who writes them) and start empty."""
        extents, self.extents, self.nbytes = self.extents, [], 0
        return extents

    def give_back(self, extents: list[tuple[int, bytearray]]) -> None:
        """Re-add extents a failed flush could not store, under newer writes."""
        newer = self.take()
        for offset, data in extents + newer:
            self.add(offset, bytes(data))


@dataclass
class InodeState:
    """What this mount holds for one open inode."""

    ino: int
    opens: int = 0
    registered: bool = False  # an open handle is recorded in Redis
    # set once the first open finished recording its handle (open_error: it failed):
    # later opens of the inode wait for it, so none hands out a handle on an inode that
    # another mount removed meanwhile (its writes would have nowhere to go)
    opened: threading.Event = field(default_factory=threading.Event)
    open_error: int = 0
    buffer: WriteBuffer = field(default_factory=WriteBuffer)
    # serialises flushes of this inode so blocks land in write order
    io_mutex: threading.Lock = field(default_factory=threading.Lock)
    # the batch being stored in the background (see writeback.py), and where it ends
    inflight: Future[list[tuple[int, bytearray]]] | None = None
    inflight_end: int = 0
    # a flush storing extents right now (they left the buffer, Redis has not confirmed
    # them yet): where they end, and the attribute changes going with them
    storing: bool = False
    storing_end: int = 0
    saving: dict[str, int] = field(default_factory=dict)
    # counts up by 2 around every move of data between buffer, flight and storing (odd
    # while one is half done), so a stat can tell it read them all at one moment
    seq: int = 0
    size_hint: int | None = None  # file size as last seen (spares reading blocks past EOF)
    # chmod/chown/utimens that arrived while data was buffered: stored with that data by
    # the next flush (one round trip), shown by this mount at once; field -> value as
    # core's set_attributes takes them, and when the last one arrived (the ctime)
    pending: dict[str, int] = field(default_factory=dict)
    pending_ctime: int = 0
    # sequential reads: the last window fetched from Redis (offset, bytes), and where
    # the previous read ended; dropped (and the generation counted up) whenever this
    # mount changes the file, so a fetch that raced with the change is not kept
    window: tuple[int, bytearray] | None = None
    read_generation: int = 0
    read_end: int = -1
    read_mutex: threading.Lock = field(default_factory=threading.Lock)
    # guards the window fields; never held long, never across a call
    window_mutex: threading.Lock = field(default_factory=threading.Lock)

    @property
    def unsaved_end(self) -> int:
        """One past the last byte written here that Redis may not have yet.  Reads the
        buffer first: data moves from it to the flight or storing fields, never back
        without counting ``seq``."""
        return max(self.buffer.end, self.inflight_end, self.storing_end)

    @contextmanager
    def moving(self) -> Iterator[None]:
        """Wrap every change of buffer/inflight/storing (see ``seq``)."""
        self.seq += 1
        try:
            yield
        finally:
            self.seq += 1

    def forget_reads(self) -> None:
        """The file changed here: windows fetched before must not be served."""
        with self.window_mutex:
            self.window = None
            self.read_generation += 1

    def keep_window(self, offset: int, data: bytearray, generation: int) -> None:
        """Keep a fetched window unless the file changed here since ``generation``."""
        with self.window_mutex:
            if generation == self.read_generation:
                self.window = (offset, data)


@dataclass
class Handle:
    fh: int
    ino: int
    flags: int
    # the open told the kernel to drop the file's pages; it does so before the opener
    # makes its next request on this handle (refill.py): the token of that drop, or 0
    drop_token: int = 0


class HandleTable:
    """File handles (fh -> Handle) and the per-inode state they share."""

    def __init__(self) -> None:
        self._handles: dict[int, Handle] = {}
        self._inodes: dict[int, InodeState] = {}
        self._next = itertools.count(1, 2)  # odd: directory handles are even
        self._mutex = threading.Lock()

    def open(self, ino: int, flags: int) -> tuple[Handle, InodeState, bool]:
        """A new handle; the bool says whether it is the first local open of the inode."""
        with self._mutex:
            state = self._inodes.get(ino)
            first = state is None
            if state is None:
                state = self._inodes[ino] = InodeState(ino)
            state.opens += 1
            handle = Handle(next(self._next), ino, flags)
            self._handles[handle.fh] = handle
            return handle, state, first

    def close(self, fh: int) -> tuple[Handle | None, InodeState | None, bool]:
        """Forget a handle; the bool says whether it was the last local open of the inode."""
        with self._mutex:
            handle = self._handles.pop(fh, None)
            if handle is None:
                return None, None, False
            state = self._inodes[handle.ino]
            state.opens -= 1
            last = state.opens <= 0
            if last:
                del self._inodes[handle.ino]
            return handle, state, last

    def get(self, fh: int) -> Handle | None:
        return self._handles.get(fh)

    def state(self, ino: int) -> InodeState | None:
        return self._inodes.get(ino)

    def all_states(self) -> list[InodeState]:
        with self._mutex:
            return list(self._inodes.values())
