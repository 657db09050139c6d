"""Moving buffered writes and open-handle releases to Redis.

A buffer that passes its bound is handed to a background thread while the kernel
keeps sending the next writes (at most one batch in flight per inode, so blocks
land in order and memory stays bounded).  ``flush`` waits for that batch and then
stores the rest; it returns only once Redis has everything.  A batch that fails
(Redis away) goes back into the buffer, to be retried by the next flush, which
reports the error if it fails too.

Releasing an open handle in Redis is not something anybody waits for: the
kernel sends RELEASE after close() has returned.  Releases run on their own
thread, in order, and are retried while Redis is unreachable.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..core import FileSystem, FsError
from .handles import InodeState

log = logging.getLogger("redisfs.mount")

MAX_EXTENTS = 64  # random writes: store before merging gets expensive


class Writeback:
    def __init__(self, fs: FileSystem, limit: int, on_stored: Callable[[int], None]) -> None:
        self.fs = fs
        self.limit = limit
        self.on_stored = on_stored  # called with the inode after data reached Redis
        self._flushers = ThreadPoolExecutor(2, thread_name_prefix="redisfs-flush")
        self._releaser = ThreadPoolExecutor(1, thread_name_prefix="redisfs-release")
        self._unreleased: list[int] = []  # releases that failed while Redis was away
        self._unreleased_mutex = threading.Lock()

    # -- writes -------------------------------------------------------------
    def add(self, state: InodeState, offset: int, data: bytes) -> None:
        """Buffer one write; start storing in the background when the buffer is full."""
        with state.io_mutex:
            state.buffer.add(offset, data)
            if state.buffer.nbytes < self.limit and len(state.buffer.extents) <= MAX_EXTENTS:
                return
            self._collect(state)
            extents = state.buffer.take()
            state.window = None
            state.inflight_end = max(o + len(d) for o, d in extents)
            state.inflight = self._flushers.submit(self._store_batch, state, extents)

    def flush(self, state: InodeState) -> None:
        """Store everything buffered for the inode; raises if Redis cannot take it."""
        with state.io_mutex:
            self.flush_locked(state)

    def flush_locked(self, state: InodeState) -> None:
        """flush() for a caller that holds ``state.io_mutex``."""
        self._collect(state)
        if not state.buffer:
            return
        extents = state.buffer.take()
        state.window = None
        try:
            self._store(state, extents)
        except OSError:
            state.buffer.give_back([(o, d) for o, d in extents if d])
            raise

    def dirty(self, state: InodeState) -> bool:
        return bool(state.buffer) or state.inflight is not None

    def _collect(self, state: InodeState) -> None:
        """Wait for the batch in flight; a failed batch goes back into the buffer."""
        if state.inflight is None:
            return
        failed = state.inflight.result()
        state.inflight = None
        state.inflight_end = 0
        if failed:
            state.buffer.give_back(failed)

    def _store_batch(self, state: InodeState, extents: list[tuple[int, bytearray]]
                     ) -> list[tuple[int, bytearray]]:
        """Background: store a batch; returns what could not be stored."""
        try:
            self._store(state, extents)
        except OSError as exc:
            log.warning("storing inode %d failed, retrying at the next flush: %s",
                        state.ino, exc.strerror)
            return [(o, d) for o, d in extents if d]
        return []

    def _store(self, state: InodeState, extents: list[tuple[int, bytearray]]) -> None:
        """Write extents in order; each stored one is emptied in place."""
        try:
            for index, (offset, data) in enumerate(extents):
                self.fs.write(state.ino, offset, data, size_hint=state.size_hint)
                if state.size_hint is not None:
                    state.size_hint = max(state.size_hint, offset + len(data))
                extents[index] = (offset, bytearray())
        finally:
            self.on_stored(state.ino)

    # -- releases ---------------------------------------------------------------
    def release_later(self, ino: int) -> None:
        self._releaser.submit(self._release, ino)

    def _release(self, ino: int | None = None) -> None:
        """Release ``ino`` after any earlier releases that failed."""
        with self._unreleased_mutex:
            todo = self._unreleased + ([] if ino is None else [ino])
            self._unreleased = []
        for index, item in enumerate(todo):
            try:
                self.fs.release(item)
            except FsError as exc:
                if exc.errno == errno.EIO:
                    log.warning("could not release inode %d yet: %s", item, exc.strerror)
                    with self._unreleased_mutex:
                        self._unreleased[:0] = todo[index:]
                    return
                log.warning("release of inode %d: %s", item, exc.strerror)

    def close(self) -> None:
        """Unmounting: finish background work and try the failed releases once more."""
        self._flushers.shutdown(wait=True)
        self._releaser.shutdown(wait=True)
        self._release()
