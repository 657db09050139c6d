"""The C callbacks of the low-level API: unpack a request, call the inode-based
operation (operations.py), send the reply.

Every callback answers exactly once: the operation's result, or the errno of what it
raised (trace.failure).  Inode numbers are the kernel's node ids (root is 1 in both).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import time
from typing import Any

from .lowlevel import (
    PROTOTYPES,
    STAT_SIZE,
    Session,
    c_stat,
    c_statvfs,
    fill_stat,
    fuse_entry_param,
    fuse_lowlevel_ops,
    lib,
)
from .trace import failure, keep_thread_state

log = logging.getLogger("redisfs.fuse")

# setattr's to_set bits (fuse_lowlevel.h)
SET_MODE, SET_UID, SET_GID, SET_SIZE, SET_ATIME, SET_MTIME = 1, 2, 4, 8, 16, 32
SET_ATIME_NOW, SET_MTIME_NOW = 128, 256


def _reply_ok(req: int, _result: Any) -> None:
    lib.fuse_reply_err(req, 0)


def _ns(spec: Any) -> int:
    return spec.tv_sec * 1_000_000_000 + spec.tv_nsec


class Requests:
    """Builds the operation table for ``ops`` (a RedisFsOperations) and answers requests."""

    def __init__(self, ops: Any, entry_timeout: float, attr_timeout: float,
                 negative_timeout: float) -> None:
        self.ops = ops
        self.entry_timeout = entry_timeout
        self.attr_timeout = attr_timeout
        self.negative_timeout = negative_timeout
        self.session: Session | None = None
        self.critical: BaseException | None = None  # ended the loop; re-raised by the runner
        self._callbacks: list[Any] = []  # the C function objects must outlive the session

    def table(self) -> fuse_lowlevel_ops:
        table = fuse_lowlevel_ops()
        for name, prototype in PROTOTYPES.items():
            callback = prototype(getattr(self, "_" + name))
            self._callbacks.append(callback)
            setattr(table, name, ctypes.cast(callback, ctypes.c_void_p).value)
        return table

    # -- replies --------------------------------------------------------------------
    def _fail(self, req: int, name: str, exc: BaseException) -> None:
        if isinstance(exc, Exception):
            lib.fuse_reply_err(req, failure(name, exc))
            return
        # KeyboardInterrupt and the like: stop serving; the runner re-raises it
        self.critical = exc
        log.critical("%s: %r, unmounting", name, exc)
        if self.session is not None:
            self.session.exit()
        lib.fuse_reply_err(req, errno.EIO)

    def _entry(self, attrs: dict[str, int]) -> fuse_entry_param:
        entry = fuse_entry_param()
        entry.ino = attrs["st_ino"]
        fill_stat(entry.attr, attrs)
        entry.attr_timeout = self.attr_timeout
        entry.entry_timeout = self.entry_timeout
        return entry

    def _reply_entry(self, req: int, attrs: dict[str, int]) -> None:
        lib.fuse_reply_entry(req, ctypes.byref(self._entry(attrs)))

    def _reply_attr(self, req: int, attrs: dict[str, int]) -> None:
        st = c_stat()
        fill_stat(st, attrs)
        lib.fuse_reply_attr(req, ctypes.byref(st), self.attr_timeout)

    @staticmethod
    def _reply_data(req: int, data: Any) -> None:
        length = len(data)
        if not length:
            lib.fuse_reply_buf(req, None, 0)
        elif type(data) is bytes:
            lib.fuse_reply_buf(req, data, length)
        else:  # a bytearray or a view of one: libfuse copies it straight from there
            try:
                buf: Any = (ctypes.c_char * length).from_buffer(data)
            except TypeError:  # a read-only view
                buf = bytes(data)
            lib.fuse_reply_buf(req, buf, length)

    @staticmethod
    def _reply_sized(req: int, value: bytes, size: int) -> None:
        """getxattr/listxattr: size 0 asks for the length only."""
        if size == 0:
            lib.fuse_reply_xattr(req, len(value))
        elif len(value) > size:
            lib.fuse_reply_err(req, errno.ERANGE)
        else:
            lib.fuse_reply_buf(req, value, len(value))

    @staticmethod
    def _caller(req: int) -> tuple[int, int]:
        ctx = lib.fuse_req_ctx(req).contents
        return ctx.uid, ctx.gid

    # -- lifecycle ----------------------------------------------------------------------
    def _init(self, userdata: int, conn: Any) -> None:
        keep_thread_state()
        try:
            self.ops.init(conn.contents)
        except BaseException as exc:
            log.critical("init failed: %r", exc, exc_info=exc)
            self.critical = exc
            if self.session is not None:
                self.session.exit()

    def _destroy(self, userdata: int) -> None:
        try:
            self.ops.destroy()
        except Exception:
            log.exception("unmount failed")

    # -- names ----------------------------------------------------------------------------
    def _lookup(self, req: int, parent: int, name: bytes) -> None:
        keep_thread_state()
        try:
            attrs = self.ops.lookup(parent, os.fsdecode(name))
        except OSError as exc:
            if exc.errno == errno.ENOENT and self.negative_timeout > 0:
                entry = fuse_entry_param()  # ino 0: the kernel remembers the absence
                entry.entry_timeout = self.negative_timeout
                lib.fuse_reply_entry(req, ctypes.byref(entry))
                return
            self._fail(req, "lookup", exc)
        except BaseException as exc:
            self._fail(req, "lookup", exc)
        else:
            self._reply_entry(req, attrs)

    def _answer(self, req: int, name: str, reply: Any, *args: Any) -> None:
        """Call operation ``name`` and send its result with ``reply(req, result)``, or
        the errno of what it raised."""
        keep_thread_state()
        try:
            result = getattr(self.ops, name)(*args)
        except BaseException as exc:
            self._fail(req, name, exc)
        else:
            reply(req, result)

    def _mknod(self, req: int, parent: int, name: bytes, mode: int, rdev: int) -> None:
        self._answer(req, "mknod", self._reply_entry, parent, os.fsdecode(name), mode, rdev,
                     *self._caller(req))

    def _mkdir(self, req: int, parent: int, name: bytes, mode: int) -> None:
        self._answer(req, "mkdir", self._reply_entry, parent, os.fsdecode(name), mode,
                     *self._caller(req))

    def _symlink(self, req: int, target: bytes, parent: int, name: bytes) -> None:
        self._answer(req, "symlink", self._reply_entry, parent, os.fsdecode(name), target,
                     *self._caller(req))

    def _link(self, req: int, ino: int, parent: int, name: bytes) -> None:
        self._answer(req, "link", self._reply_entry, ino, parent, os.fsdecode(name))

    def _simple(self, req: int, name: str, *args: Any) -> None:
        """An operation answered with success or an errno only."""
        self._answer(req, name, _reply_ok, *args)

    def _unlink(self, req: int, parent: int, name: bytes) -> None:
        self._simple(req, "unlink", parent, os.fsdecode(name))

    def _rmdir(self, req: int, parent: int, name: bytes) -> None:
        self._simple(req, "rmdir", parent, os.fsdecode(name))

    def _rename(self, req: int, parent: int, name: bytes, new_parent: int, new_name: bytes,
                flags: int) -> None:
        self._simple(req, "rename", parent, os.fsdecode(name), new_parent,
                     os.fsdecode(new_name), flags)

    # -- attributes -------------------------------------------------------------------------
    def _getattr(self, req: int, ino: int, fi: Any) -> None:
        keep_thread_state()
        try:
            attrs = self.ops.getattr(ino, fi.contents.fh if fi else None)
        except BaseException as exc:
            self._fail(req, "getattr", exc)
        else:
            self._reply_attr(req, attrs)

    def _setattr(self, req: int, ino: int, attr: Any, to_set: int, fi: Any) -> None:
        keep_thread_state()
        st = attr.contents
        now = time.time_ns()
        atime = now if to_set & SET_ATIME_NOW else (
            _ns(st.st_atimespec) if to_set & SET_ATIME else None)
        mtime = now if to_set & SET_MTIME_NOW else (
            _ns(st.st_mtimespec) if to_set & SET_MTIME else None)
        try:
            attrs = self.ops.setattr(
                ino, fi.contents.fh if fi else None,
                mode=st.st_mode if to_set & SET_MODE else None,
                uid=st.st_uid if to_set & SET_UID else None,
                gid=st.st_gid if to_set & SET_GID else None,
                size=st.st_size if to_set & SET_SIZE else None,
                atime=atime, mtime=mtime)
        except BaseException as exc:
            self._fail(req, "setattr", exc)
        else:
            self._reply_attr(req, attrs)

    def _readlink(self, req: int, ino: int) -> None:
        self._answer(req, "readlink", lib.fuse_reply_readlink, ino)

    def _statfs(self, req: int, ino: int) -> None:
        keep_thread_state()
        try:
            info = self.ops.statfs()
        except BaseException as exc:
            self._fail(req, "statfs", exc)
            return
        st = c_statvfs()
        for key, value in info.items():
            setattr(st, key, value)
        lib.fuse_reply_statfs(req, ctypes.byref(st))

    # -- files -------------------------------------------------------------------------------
    def _open(self, req: int, ino: int, fi: Any) -> None:
        keep_thread_state()
        info = fi.contents
        try:
            info.fh, keep_cache = self.ops.open(ino, info.flags)
        except BaseException as exc:
            self._fail(req, "open", exc)
        else:
            info.keep_cache = keep_cache
            lib.fuse_reply_open(req, fi)

    def _create(self, req: int, parent: int, name: bytes, mode: int, fi: Any) -> None:
        keep_thread_state()
        info = fi.contents
        try:
            info.fh, attrs = self.ops.create(parent, os.fsdecode(name), mode, info.flags,
                                             *self._caller(req))
        except BaseException as exc:
            self._fail(req, "create", exc)
        else:
            lib.fuse_reply_create(req, ctypes.byref(self._entry(attrs)), fi)

    def _read(self, req: int, ino: int, size: int, offset: int, fi: Any) -> None:
        keep_thread_state()
        try:
            data = self.ops.read(ino, size, offset, fi.contents.fh)
        except BaseException as exc:
            self._fail(req, "read", exc)
        else:
            self._reply_data(req, data)

    def _write(self, req: int, ino: int, buf: int, size: int, offset: int, fi: Any) -> None:
        keep_thread_state()
        try:
            # the writer's thread (refill.py); None: the kernel writing back its own cached
            # pages (mmap): they hold the new bytes, and stay locked until the reply
            thread = None if fi.contents.writepage else lib.fuse_req_ctx(req).contents.pid
            written = self.ops.write(ino, ctypes.string_at(buf, size), offset, fi.contents.fh,
                                     thread)
        except BaseException as exc:
            self._fail(req, "write", exc)
        else:
            lib.fuse_reply_write(req, written)

    def _flush(self, req: int, ino: int, fi: Any) -> None:
        self._simple(req, "flush", ino, fi.contents.fh)

    def _release(self, req: int, ino: int, fi: Any) -> None:
        self._simple(req, "release", ino, fi.contents.fh)

    def _fsync(self, req: int, ino: int, datasync: int, fi: Any) -> None:
        self._simple(req, "fsync", ino, fi.contents.fh)

    def _fallocate(self, req: int, ino: int, mode: int, offset: int, length: int,
                   fi: Any) -> None:
        self._simple(req, "fallocate", ino, mode, offset, length, fi.contents.fh)

    def _ioctl(self, req: int, ino: int, cmd: int, arg: int, fi: Any, flags: int,
               in_buf: int, in_size: int, out_size: int) -> None:
        lib.fuse_reply_err(req, errno.ENOTTY)  # tools probe features by ioctl

    # -- directories -------------------------------------------------------------------------
    def _opendir(self, req: int, ino: int, fi: Any) -> None:
        keep_thread_state()
        try:
            fi.contents.fh = self.ops.opendir(ino)
        except BaseException as exc:
            self._fail(req, "opendir", exc)
        else:
            lib.fuse_reply_open(req, fi)

    def _releasedir(self, req: int, ino: int, fi: Any) -> None:
        self._simple(req, "releasedir", ino, fi.contents.fh)

    def _fsyncdir(self, req: int, ino: int, datasync: int, fi: Any) -> None:
        lib.fuse_reply_err(req, 0)

    def _readdir(self, req: int, ino: int, size: int, offset: int, fi: Any) -> None:
        self._listing(req, ino, size, offset, fi, plus=False)

    def _readdirplus(self, req: int, ino: int, size: int, offset: int, fi: Any) -> None:
        self._listing(req, ino, size, offset, fi, plus=True)

    def _listing(self, req: int, ino: int, size: int, offset: int, fi: Any,
                 plus: bool) -> None:
        """As many entries from ``offset`` on as fit in ``size`` bytes, each with the
        offset of the next (READDIRPLUS: with full attributes, so no LOOKUP follows)."""
        keep_thread_state()
        try:
            entries = self.ops.readdir(ino, fi.contents.fh, offset)
        except BaseException as exc:
            self._fail(req, "readdir", exc)
            return
        try:
            buf, used = self._fill_listing(req, ino, size, entries, plus)
        except BaseException as exc:  # (no request may stay unanswered)
            self._fail(req, "readdir", exc)
            return
        lib.fuse_reply_buf(req, buf, used)

    def _fill_listing(self, req: int, ino: int, size: int,
                      entries: list[tuple[str, dict[str, int], int]], plus: bool
                      ) -> tuple[Any, int]:
        buf = ctypes.create_string_buffer(size)
        base = ctypes.addressof(buf)
        used = 0
        st = c_stat()
        told: list[tuple[str, int]] = []
        for name, attrs, next_offset in entries:
            raw = os.fsencode(name)
            if plus:
                length = lib.fuse_add_direntry_plus(req, base + used, size - used, raw,
                                                    ctypes.byref(self._entry(attrs)),
                                                    next_offset)
            else:
                ctypes.memset(ctypes.byref(st), 0, STAT_SIZE)
                fill_stat(st, attrs)
                length = lib.fuse_add_direntry(req, base + used, size - used, raw,
                                               ctypes.byref(st), next_offset)
            if length > size - used:
                break  # the kernel's buffer is full; it continues at this entry's offset
            used += length
            if plus and name not in (".", ".."):
                told.append((name, attrs["st_ino"]))
        if told:
            self.ops.listed(ino, told)
        return buf, used

    # -- extended attributes ----------------------------------------------------------------
    def _setxattr(self, req: int, ino: int, name: bytes, value: int, size: int,
                  flags: int) -> None:
        self._simple(req, "setxattr", ino, os.fsdecode(name), ctypes.string_at(value, size),
                     flags)

    def _getxattr(self, req: int, ino: int, name: bytes, size: int) -> None:
        self._answer(req, "getxattr", lambda r, value: self._reply_sized(r, value, size),
                     ino, os.fsdecode(name))

    def _listxattr(self, req: int, ino: int, size: int) -> None:
        self._answer(req, "listxattr", lambda r, names: self._reply_sized(
            r, b"".join(os.fsencode(n) + b"\0" for n in names), size), ino)

    def _removexattr(self, req: int, ino: int, name: bytes) -> None:
        self._simple(req, "removexattr", ino, os.fsdecode(name))
