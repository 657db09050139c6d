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
from .parts import OperationParts

if TYPE_CHECKING:
    from .handles import HandleTable, InodeState
    from .writeback import Writeback

log = logging.getLogger("redisfs.mount")

OPEN_WAIT = 30.0  # seconds an open waits for the first open of the inode to register it
READ_WINDOW = 1024 * 1024  # sequential reads fetch this much per Redis round trip


class FileIo(OperationParts):
    """Mixed into RedisFsOperations, which provides the attributes and helpers below."""

    handles: HandleTable
    writeback: Writeback

    def _state(self, fh: int) -> InodeState:
        handle = self.handles.get(fh)
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
    def open(self, path: str, flags: int) -> int:
        writing = (flags & os.O_ACCMODE) != os.O_RDONLY or flags & os.O_TRUNC
        if writing and self.read_only:
            raise FsError(errno.EROFS)
        attr = self._lookup(path)
        if not attr.is_reg:
            # the kernel sends OPEN for regular files only: another mount replaced the
            # name since the kernel looked it up.  ESTALE makes it look the name up again.
            raise FsError(errno.ESTALE)
        ino = attr.ino
        handle, state, first = self.handles.open(ino, flags)
        try:
            truncate = bool(flags & os.O_TRUNC)
            if first:
                token = self.cache.token()
                try:
                    # fresh attributes: close-to-open
                    attr, state.registered = self.fs.open_handle(ino, truncate, bool(writing))
                except OSError as exc:
                    state.open_error = exc.errno or errno.EIO
                    raise
                finally:
                    state.opened.set()
                state.size_hint = 0 if truncate else attr.size
                self.cache.put_attr(ino, attr, token)
            else:
                state.opened.wait(OPEN_WAIT)
                if state.open_error or not state.opened.is_set():
                    raise FsError(state.open_error or errno.EIO)
            if truncate and not first:
                with state.io_mutex:
                    self.writeback.flush_locked(state)
                    self.fs.truncate(ino, 0)
                    state.size_hint = 0
                    state.forget_reads()
            if truncate:
                self.cache.invalidate(ino)
                self._changed(ino)
        except BaseException:
            self._drop_handle(handle.fh)
            raise
        return handle.fh

    def create(self, path: str, mode: int, flags: int) -> int:
        self._writable()
        parent_ino, name = self._parent_ino(path)
        uid, gid, mode = self._owner(parent_ino, stat.S_IFREG | mode)
        try:
            attr = self.fs.create(parent_ino, name, mode, uid, gid)
        except FsError as exc:
            if exc.errno == errno.EEXIST and not flags & os.O_EXCL:
                return self.open(path, flags)  # lost a race with another creator
            raise
        handle, state, _first = self.handles.open(attr.ino, flags)
        state.registered = True  # create() recorded the open handle in Redis
        state.opened.set()
        state.size_hint = 0
        self._new_entry(path, parent_ino, name, attr)
        return handle.fh

    def read(self, path: str | None, size: int, offset: int, fh: int) -> memoryview | bytearray:
        """Views into the window fetched from Redis: no copy until libfuse's buffer."""
        state = self._state(fh)
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

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        self._writable()
        state = self._state(fh)
        if "mtime" in state.pending:  # a utimens before this write must not win over it
            self.writeback.flush(state)
        self.writeback.add(state, offset, data)
        if self.links:
            # the kernel's copies of the other names must learn the new size and mtime;
            # queued, not waited for: the kernel holds this name's pages during the write
            # and a write through another name may hold that name's
            self._changed(state.ino, path, wait=False)
        return len(data)

    def flush(self, path: str | None, fh: int) -> int:
        handle = self.handles.get(fh)
        if handle is not None:
            try:
                self._flush_ino(handle.ino)
            except OSError:
                # the kernel's page cache already holds the refused bytes (EROFS, ENOSPC):
                # drop it, or readers would see data Redis never stored
                if path:
                    self.kernel.invalidate(path)
                raise
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        return self.flush(path, fh)

    def release(self, path: str | None, fh: int) -> int:
        handle = self.handles.get(fh)
        if handle is None:
            return 0
        try:
            self._flush_ino(handle.ino)
        except OSError as exc:
            log.error("close: lost buffered data of inode %d: %s", handle.ino, exc.strerror)
        self._drop_handle(fh)
        return 0

    def _drop_handle(self, fh: int) -> None:
        _handle, state, last = self.handles.close(fh)
        if state is not None and last and state.registered:
            self.writeback.release_later(state.ino)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        self._writable()
        ino = self._ino(path, fh)
        state = self.handles.state(ino)
        if state is not None:
            with state.io_mutex:
                self.writeback.flush_locked(state)
                self.fs.truncate(ino, length)
                state.size_hint = length
                state.forget_reads()
        else:
            self.fs.truncate(ino, length)
        self.cache.invalidate(ino)
        self._changed(ino, path)
        return 0

    def fallocate(self, path: str | None, mode: int, offset: int, length: int,
                  fh: int | None = None) -> int:
        """Mode 0 only: make the file at least offset+length long (stays sparse)."""
        self._writable()
        if mode != 0:
            raise FsError(errno.EOPNOTSUPP)
        ino = self._ino(path, fh)
        self._flush_ino(ino)
        if self.fs.getattr(ino).size < offset + length:
            self.truncate(path, offset + length, fh)
        return 0
