"""Open files: open/create/read/write/flush/fsync/release/truncate/fallocate.

Writes are buffered per inode and stored as whole compressed blocks by core (see
writeback.py); ``flush``/``fsync``/``release`` return only once Redis has them.
Sequential reads fetch a window of several blocks per Redis round trip.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from typing import TYPE_CHECKING

from ..core import FsError
from ..core.replicas import wait_for_replicas
from .parts import OperationParts, gone_is_stale

if TYPE_CHECKING:
    from .handles import Handle, HandleTable, InodeState
    from .writeback import Writeback

log = logging.getLogger("redisfs.mount")

OPEN_WAIT = 30.0  # seconds an open waits for the first open of the inode to register it
READ_WINDOW = 1024 * 1024  # sequential reads fetch this much per Redis round trip


class FileIo(OperationParts):
    """Mixed into RedisFsOperations, which provides the attributes and helpers below."""

    handles: HandleTable
    writeback: Writeback
    sync_replicas: int = 0  # fsync waits until this many replicas have the data
    sync_timeout_ms: int = 0

    def _handle(self, fh: int) -> Handle | None:
        handle = self.handles.get(fh)
        if handle is not None and handle.drop_token and self.kernel is not None:
            # the opener is back: the kernel dropped the pages as the open asked
            token, handle.drop_token = handle.drop_token, 0
            self.kernel.refill.drop_ended(handle.ino, token)
        return handle

    def _state(self, fh: int) -> InodeState:
        handle = self._handle(fh)
        state = self.handles.state(handle.ino) if handle is not None else None
        if state is None:
            raise FsError(errno.EBADF)
        return state

    def _flush_ino(self, ino: int) -> None:
        """Store whatever this mount buffered for ``ino`` (before reads and setattrs)."""
        state = self.handles.state(ino)
        if state is not None and self.writeback.dirty(state):
            self.writeback.flush(state)

    # -- FUSE operations -------------------------------------------------------------
    def open(self, ino: int, flags: int) -> tuple[int, bool]:
        """A new handle, and whether the kernel may keep the pages it has cached."""
        writing = (flags & os.O_ACCMODE) != os.O_RDONLY or flags & os.O_TRUNC
        if writing and self.read_only:
            raise FsError(errno.EROFS)
        handle, state, first = self.handles.open(ino, flags)
        truncate = bool(flags & os.O_TRUNC)
        try:
            token = self.cache.token()
            if first:
                try:
                    # fresh attributes: close-to-open
                    attr, state.registered = self.fs.open_handle(ino, False, bool(writing))
                    state.size_hint = attr.size
                    self.cache.put_attr(ino, attr, token)
                    keep = self.pages.keep_cache(attr, token)
                    if truncate and attr.size:  # (before any later open may go on)
                        self.truncate(ino, 0)
                except OSError as exc:
                    state.open_error = exc.errno or errno.EIO
                    if exc.errno == errno.ENOENT:  # removed by another mount meanwhile
                        raise FsError(errno.ESTALE) from None
                    raise
                finally:
                    state.opened.set()
            else:
                state.opened.wait(OPEN_WAIT)
                if state.open_error or not state.opened.is_set():
                    raise FsError(state.open_error or errno.EIO)
                # close-to-open, also while another process here keeps the file open:
                # the version in Redis, not the cached one, decides about the pages
                try:
                    attr = self.fs.getattr(ino)
                except FsError as exc:
                    raise gone_is_stale(exc) from None
                self.cache.put_attr(ino, attr, token)
                keep = self.pages.keep_cache(attr, token)
                if truncate:
                    self.truncate(ino, 0)
        except BaseException:
            self._drop_handle(handle.fh)
            raise
        keep = keep and not truncate
        if not keep and self.kernel is not None:  # the kernel drops the pages (refill.py)
            handle.drop_token = self.kernel.refill.drop_begins(ino)
        return handle.fh, keep

    def create(self, parent_ino: int, name: str, mode: int, flags: int, uid: int,
               gid: int) -> tuple[int, dict[str, int]]:
        self._writable()
        self._check_name(name)
        uid, gid, mode = self._owner(parent_ino, stat.S_IFREG | mode, uid, gid)
        try:
            attr = self.fs.create(parent_ino, name, mode, uid, gid)
        except FsError as exc:
            if exc.errno == errno.EEXIST and not flags & os.O_EXCL:
                # lost a race with another creator: open theirs
                existing = self.fs.lookup(parent_ino, name)
                if existing.is_dir:
                    raise FsError(errno.EISDIR) from None
                if not existing.is_reg:
                    raise
                fh, _keep = self.open(existing.ino, flags)
                self.names.told(parent_ino, name, existing.ino)
                return fh, self._consistent_stat(existing.ino)
            raise
        handle, state, _first = self.handles.open(attr.ino, flags)
        state.registered = True  # create() recorded the open handle in Redis
        state.opened.set()
        state.size_hint = 0
        return handle.fh, self._new_entry(parent_ino, name, attr)

    def read(self, ino: int, size: int, offset: int, fh: int) -> memoryview | bytearray:
        """Views into the window fetched from Redis: no copy until libfuse's buffer."""
        state = self._state(fh)
        if self.kernel is not None:
            self.kernel.refill.read(ino, offset, offset + size)
        if self.writeback.dirty(state):
            self.writeback.flush(state)
        with state.read_mutex:
            window = state.window
            sequential = offset == state.read_end
            state.read_end = offset + size
            if window is not None:
                start, data = window
                if start <= offset and offset + size <= start + len(data):
                    return memoryview(data)[offset - start:offset - start + size]
                if start <= offset < start + len(data) and len(data) < READ_WINDOW:
                    return memoryview(data)[offset - start:]  # the window ended at end of file
            if not sequential and size < READ_WINDOW:
                return self.fs.read(state.ino, offset, size)
            # one round trip for the next READ_WINDOW bytes: the kernel's readahead
            # asks for 128 KiB at a time, often several at once
            generation = state.read_generation
            data = self.fs.read(state.ino, offset, max(size, READ_WINDOW))
            state.keep_window(offset, data, generation)
        return memoryview(data)[:size]

    def write(self, ino: int, data: bytes, offset: int, fh: int,
              thread: int | None = None) -> int:
        self._writable()
        state = self._state(fh)
        if "mtime" in state.pending:  # a utimens before this write must not win over it
            self.writeback.flush(state)
        self.writeback.add(state, offset, data)
        kernel = self.kernel
        if kernel is not None and thread is not None and data and kernel.refill.wrote(
                ino, thread, offset, offset + len(data)):
            kernel.drop_range(ino, offset, offset + len(data))  # see refill.py
        return len(data)

    def flush(self, ino: int, fh: int) -> None:
        handle = self._handle(fh)
        if handle is not None:
            try:
                self._flush_ino(handle.ino)
            except OSError:
                # the kernel's page cache already holds the refused bytes (EROFS, ENOSPC):
                # drop it, or readers would see data Redis never stored
                if self.kernel is not None:
                    self.kernel.invalidate(handle.ino)
                raise

    def fsync(self, ino: int, fh: int) -> None:
        self.flush(ino, fh)
        if self.sync_replicas and not self.read_only:
            wait_for_replicas(self.fs, self.sync_replicas, self.sync_timeout_ms)

    def release(self, ino: int, fh: int) -> None:
        handle = self._handle(fh)
        if handle is None:
            return
        try:
            self._flush_ino(handle.ino)
        except OSError as exc:
            log.error("close: lost buffered data of inode %d: %s", handle.ino, exc.strerror)
        self._drop_handle(fh)

    def _drop_handle(self, fh: int) -> None:
        _handle, state, last = self.handles.close(fh)
        if state is not None and last and self.kernel is not None:
            self.kernel.refill.forget(state.ino)
        if state is not None and last and state.registered:
            self.writeback.release_later(state.ino)

    def truncate(self, ino: int, length: int) -> None:
        self._writable()
        state = self.handles.state(ino)
        try:
            with self.pages.changing(ino):
                if state is not None:
                    with state.io_mutex:
                        self.writeback.flush_locked(state)
                        change = self.fs.truncate(ino, length)
                        state.size_hint = length
                        state.forget_reads()
                else:
                    change = self.fs.truncate(ino, length)
                self.pages.changed_here(ino, [change])
        except FsError as exc:
            if exc.errno == errno.ENOENT:
                raise FsError(errno.ESTALE) from None
            raise

    def fallocate(self, ino: int, mode: int, offset: int, length: int, fh: int) -> None:
        """Mode 0 only: make the file at least offset+length long (stays sparse)."""
        self._writable()
        if mode != 0:
            raise FsError(errno.EOPNOTSUPP)
        self._flush_ino(ino)
        if self.fs.getattr(ino).size < offset + length:
            self.truncate(ino, offset + length)
