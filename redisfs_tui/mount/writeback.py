"""Moving buffered writes and open-handle releases to Redis.

A buffer that passes its bound is handed to a background thread while the kernel
keeps sending the next writes (at most one batch in flight per inode, so blocks
land in order and memory stays bounded).  ``flush`` waits for that batch and then
stores the rest; it returns only once Redis has everything.  A batch that fails
(Redis away) goes back into the buffer, to be retried by the next flush, which
reports the error if it fails too.

Like the kernel's dirty-page writeback, a timer stores what has been buffered
for a while even if nobody closes or syncs the file (a log kept open, a slow
writer): data and deferred chmod/chown/utimens reach Redis, and so other mounts
and a crash-surviving copy, within two ``interval`` ticks.

Releasing an open handle in Redis is not something anybody waits for: the
kernel sends RELEASE after close() has returned.  Releases are queued for one
background thread, which sends all that have collected in one script call, and
retries while Redis is unreachable.  Late is safe: an unlink that runs first finds
the handle still open and keeps the inode as an orphan, which the release frees.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..core import FileSystem, FsError, Version
from .handles import InodeState

log = logging.getLogger("redisfs.mount")

MAX_EXTENTS = 64  # random writes: store before merging gets expensive
RELEASE_LINGER = 0.005  # seconds a queued release waits for company
RELEASE_RETRY = 1.0  # seconds between attempts while Redis is unreachable
WRITEBACK_INTERVAL = 1.0  # seconds; buffered data is stored within two ticks


class Writeback:
    def __init__(self, fs: FileSystem, limit: int,
                 on_stored: Callable[[int, list[tuple[Version | None, Version]]], None]) -> None:
        self.fs = fs
        self.limit = limit
        # called after data reached Redis, with the inode and the (before, after) versions
        # each script reported (see core.data.Version)
        self.on_stored = on_stored
        self._flushers = ThreadPoolExecutor(2, thread_name_prefix="redisfs-flush")
        self._releases: Counter[int] = Counter()  # inode -> handles to release
        self._release_cv = threading.Condition()
        self._closing = False
        self._releaser = threading.Thread(target=self._release_loop, name="redisfs-release",
                                          daemon=True)
        self._releaser.start()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def start_timer(self, states: Callable[[], list[InodeState]],
                    interval: float = WRITEBACK_INTERVAL) -> None:
        """Store buffers that stay dirty for a whole tick (see the module docstring)."""
        self._timer = threading.Thread(target=self._timer_loop, args=(states, interval),
                                       name="redisfs-writeback", daemon=True)
        self._timer.start()

    def _timer_loop(self, states: Callable[[], list[InodeState]], interval: float) -> None:
        dirty_before: dict[int, InodeState] = {}
        while not self._stop.wait(interval):
            dirty_now = {}
            for state in states():
                if not self.dirty(state):
                    continue
                if dirty_before.get(state.ino) is state:
                    self._store_quietly(state)
                else:
                    dirty_now[state.ino] = state
            dirty_before = dirty_now

    def _store_quietly(self, state: InodeState) -> None:
        """Timer flush: skip an inode busy with its own flush; keep data on errors."""
        if not state.io_mutex.acquire(blocking=False):
            return
        try:
            self.flush_locked(state)
        except OSError as exc:
            log.warning("writeback of inode %d failed, retrying: %s", state.ino, exc.strerror)
        finally:
            state.io_mutex.release()

    # -- writes -------------------------------------------------------------
    def add(self, state: InodeState, offset: int, data: bytes) -> None:
        """Buffer one write; start storing in the background when the buffer is full."""
        with state.io_mutex:
            state.buffer.add(offset, data)
            if state.buffer.nbytes < self.limit and len(state.buffer.extents) <= MAX_EXTENTS:
                return
            self._collect(state)
            with state.moving():
                state.inflight_end = state.buffer.end  # before the buffer empties
                extents = state.buffer.take()
            state.forget_reads()
            state.inflight = self._flushers.submit(self._store_batch, state, extents)

    def flush(self, state: InodeState) -> None:
        """Store everything buffered for the inode; raises if Redis cannot take it."""
        with state.io_mutex:
            self.flush_locked(state)

    def flush_locked(self, state: InodeState) -> None:
        """flush() for a caller that holds ``state.io_mutex``.

        Until Redis confirms, the extents count as ``storing`` (so reads wait for this
        flush and stat counts them): a reader must see the buffer or the stored data."""
        self._collect(state)
        if not state.buffer and not state.pending:
            return
        with state.moving():
            state.storing = True
            state.storing_end = state.buffer.end
            state.saving = state.pending
            state.pending = {}
            extents = state.buffer.take()
        changes = list(state.saving.items())
        state.forget_reads()
        try:
            self._store(state, extents, changes)
        except OSError as exc:
            gone = self._gone(state, exc, extents)
            with state.moving():
                if not gone:
                    state.buffer.give_back([(o, d) for o, d in extents if d])
                    state.pending = {**state.saving, **state.pending}
                self._done_storing(state)
            if not gone:  # (dropped once, logged: the close that follows succeeds)
                raise
            return
        with state.moving():
            self._done_storing(state)

    @staticmethod
    def _done_storing(state: InodeState) -> None:
        state.storing = False
        state.storing_end = 0
        state.saving = {}

    @staticmethod
    def _gone(state: InodeState, exc: OSError, extents: list[tuple[int, bytearray]]) -> bool:
        """The inode no longer exists in Redis (removed by another client while open
        here): its buffered data has nowhere to go and is dropped, once, not retried."""
        if exc.errno not in (errno.ENOENT, errno.EISDIR, errno.EINVAL):
            return False
        lost = sum(len(d) for _, d in extents)
        log.warning("inode %d was removed by another client while open here (%s): dropped "
                    "%d bytes of buffered data", state.ino, exc.strerror, lost)
        return True

    def dirty(self, state: InodeState) -> bool:
        """Anything this mount wrote that Redis has not confirmed yet."""
        # (inflight_end is set before the buffer is handed to a batch, state.inflight only
        # after: a reader between the two must still wait, which flush() does)
        return (bool(state.buffer) or state.inflight is not None or state.inflight_end > 0
                or bool(state.pending) or state.storing)

    def _collect(self, state: InodeState) -> None:
        """Wait for the batch in flight; a failed batch goes back into the buffer."""
        if state.inflight is None:
            return
        failed = state.inflight.result()
        with state.moving():
            if failed:
                state.buffer.give_back(failed)
            state.inflight = None
            state.inflight_end = 0

    def _store_batch(self, state: InodeState, extents: list[tuple[int, bytearray]]
                     ) -> list[tuple[int, bytearray]]:
        """Background: store a batch; returns what could not be stored."""
        try:
            self._store(state, extents)
        except OSError as exc:
            if self._gone(state, exc, extents):
                return []
            log.warning("storing inode %d failed, retrying at the next flush: %s",
                        state.ino, exc.strerror)
            return [(o, d) for o, d in extents if d]
        return []

    def _store(self, state: InodeState, extents: list[tuple[int, bytearray]],
               changes: list[tuple[str, int]] | None = None) -> None:
        """Write extents in order (each stored one is emptied in place), then the
        deferred attribute changes, with the last extent when there is one."""
        versions: list[tuple[Version | None, Version]] = []
        try:
            if changes and not extents:
                attr = self.fs.set_attributes(state.ino, changes)
                versions.append((None, (attr.mtime_ns, attr.size)))
            for index, (offset, data) in enumerate(extents):
                last = index == len(extents) - 1
                self.fs.write(state.ino, offset, data, size_hint=state.size_hint,
                              then_set=changes if last else None, versions=versions)
                if state.size_hint is not None:
                    state.size_hint = max(state.size_hint, offset + len(data))
                extents[index] = (offset, bytearray())
        finally:
            # a read window fetched while this store ran may hold the old data
            state.forget_reads()
            self.on_stored(state.ino, versions)  # before the data leaves storing/inflight

    # -- releases ---------------------------------------------------------------
    def release_later(self, ino: int) -> None:
        with self._release_cv:
            self._releases[ino] += 1
            self._release_cv.notify()

    def _release_loop(self) -> None:
        """Background: send queued releases, many per round trip.

        Waiting RELEASE_LINGER after the first one lets a burst of closes (cp, tar,
        a build) share one script call instead of costing one each."""
        while True:
            with self._release_cv:
                while not self._releases and not self._closing:
                    self._release_cv.wait()
                if not self._releases:
                    return
            if not self._closing:
                time.sleep(RELEASE_LINGER)
            if not self.send_releases():
                if self._closing:  # unmounting with Redis away: do not retry for ever
                    log.warning("unmount: open handles not released (Redis unreachable or full); "
                                "fsck or the next daemon start releases them")
                    return
                time.sleep(RELEASE_RETRY)

    def release_pending(self, ino: int | None) -> None:
        """Before a removal of ``ino``: when its close is still queued (or waiting to
        retry after a full Redis refused it), send the queue now, so that the file is
        freed at once instead of staying an orphan until the next attempt."""
        if ino is not None and ino in self._releases:
            self.send_releases()

    def send_releases(self) -> bool:
        """Send every queued release now; False when Redis could not be reached, or
        is full and refuses even the script that frees memory (they stay queued)."""
        with self._release_cv:
            todo, self._releases = self._releases, Counter()
        if not todo:
            return True
        try:
            self.fs.release_many(list(todo.items()))
        except FsError as exc:
            if exc.errno not in (errno.EIO, errno.ENOSPC):
                log.warning("releasing open handles: %s", exc.strerror)
                return True
            log.warning("could not release %d inodes yet: %s", len(todo), exc.strerror)
            with self._release_cv:
                self._releases.update(todo)
            return False
        return True

    def close(self) -> None:
        """Unmounting: finish background work and the queued releases."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        self._flushers.shutdown(wait=True)
        with self._release_cv:
            self._closing = True
            self._release_cv.notify()
        self._releaser.join()
