"""Load mfusepy against libfuse3 (falling back to libfuse2) and patch what its
path-based wrappers drop: rename flags, file handles on setattr, raw utimens times.

mfusepy picks its library when it is imported, so every module of this package
imports it through here, after ``FUSE_LIBRARY_NAME`` is set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import threading
import time
from typing import Any

if not os.environ.get("FUSE_LIBRARY_PATH") and not os.environ.get("FUSE_LIBRARY_NAME") \
        and ctypes.util.find_library("fuse3"):
    # libfuse3: big writes by default, atomic O_TRUNC, rename flags, fh on setattr.
    os.environ["FUSE_LIBRARY_NAME"] = "fuse3"

import mfusepy

from .renameguard import RenameGuard
from .trace import failure, keep_thread_state

log = logging.getLogger("redisfs.fuse")

FUSE3 = mfusepy.fuse_version_major == 3
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
READDIR_PLUS = 1  # enum fuse_readdir_flags
FILL_DIR_PLUS = 2  # enum fuse_fill_dir_flags


def rename_guard() -> RenameGuard:
    return RenameGuard(mfusepy._libfuse, (mfusepy.fuse_version_major,
                                          mfusepy.fuse_version_minor))


def library_version() -> str:
    return f"{mfusepy.fuse_version_major}.{mfusepy.fuse_version_minor}"


def _timespec_ns(ts: Any) -> int | None:
    """A struct timespec as nanoseconds; None for UTIME_OMIT, now for UTIME_NOW."""
    if ts.tv_nsec == UTIME_OMIT:
        return None
    if ts.tv_nsec == UTIME_NOW:
        return time.time_ns()
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec


STAT_SIZE = ctypes.sizeof(mfusepy.c_stat)
FULL_STAT = 12  # keys of a full attribute dict (operations._to_stat)


def fill_stat(st: Any, attrs: dict[str, int]) -> None:
    """mfusepy.set_st_attrs for our dicts, without its per-key getattr/setattr probing
    (called for every getattr and every READDIRPLUS entry).  ``st`` is zeroed."""
    if len(attrs) != FULL_STAT:
        mfusepy.set_st_attrs(st, attrs, use_ns=True)
        return
    st.st_ino = attrs["st_ino"]
    st.st_mode = attrs["st_mode"]
    st.st_nlink = attrs["st_nlink"]
    st.st_uid = attrs["st_uid"]
    st.st_gid = attrs["st_gid"]
    st.st_size = attrs["st_size"]
    st.st_rdev = attrs["st_rdev"]
    st.st_blocks = attrs["st_blocks"]
    st.st_blksize = attrs["st_blksize"]
    for key, spec in (("st_atime", st.st_atimespec), ("st_mtime", st.st_mtimespec),
                      ("st_ctime", st.st_ctimespec)):
        spec.tv_sec, spec.tv_nsec = divmod(attrs[key], 1_000_000_000)


class RedisFUSE(mfusepy.FUSE):
    """mfusepy's FUSE with the libfuse3 arguments it would otherwise discard, and a
    leaner per-request path (every request of the kernel runs through _wrapper)."""

    def _wrapper(self, func: Any, *args: Any) -> Any:
        """Replaces mfusepy's: the same answers (0 or a result, -errno on OSError, EIO
        instead of its EINVAL for anything else, abort on BaseException), without its
        per-error strerror and log record; pins the worker's thread state first."""
        keep_thread_state()
        try:
            return func(*args) or 0
        except Exception as exc:
            if func.__name__.startswith("init"):
                raise  # mfusepy: init cannot report an errno
            return -failure(func.__name__.removesuffix("_fuse_3"), exc)
        except BaseException as exc:
            # as mfusepy: stop the loop, FUSE() re-raises it after unmounting
            self._FUSE__critical_exception = exc  # type: ignore[attr-defined]
            log.critical("%s: %r, unmounting", func.__name__, exc)
            mfusepy.fuse_exit()
            return -errno.EFAULT

    def _path(self, path: bytes | None) -> str | None:
        return None if path is None else path.decode(self.encoding, self.errors)

    @staticmethod
    def _fh(fip: Any) -> int | None:
        return fip.contents.fh if fip else None

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        return self.operations.rename(self._path(old), self._path(new), flags)

    def chmod_fuse_3(self, path: bytes | None, mode: int, fip: Any) -> int:
        return self.operations.chmod(self._path(path), mode, self._fh(fip))

    def chown_fuse_3(self, path: bytes | None, uid: int, gid: int, fip: Any) -> int:
        if uid == 0xFFFFFFFF:
            uid = -1
        if gid == 0xFFFFFFFF:
            gid = -1
        return self.operations.chown(self._path(path), uid, gid, self._fh(fip))

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        return self.operations.truncate(self._path(path), length, self._fh(fip))

    def utimens_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
        if buf:
            times = (_timespec_ns(buf.contents.actime), _timespec_ns(buf.contents.modtime))
        else:
            now = time.time_ns()
            times = (now, now)
        return self.operations.utimens(self._path(path), times, self._fh(fip))

    def getattr_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
        ctypes.memset(buf, 0, STAT_SIZE)
        fill_stat(buf.contents, self.operations.getattr(self._path(path), self._fh(fip)))
        return 0

    def readdir_fuse_3(self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any,
                       flags: int) -> int:
        """Full attributes with every entry (READDIRPLUS), and real offsets, so the
        kernel needs no LOOKUP per entry and can continue a listing anywhere."""
        plus = FILL_DIR_PLUS if flags & READDIR_PLUS else 0
        st = mfusepy.c_stat()
        while True:
            page = self.operations.readdir_page(self._path(path), fip.contents.fh, offset)
            for name, attrs, next_offset in page:
                ctypes.memset(ctypes.byref(st), 0, STAT_SIZE)
                fill_stat(st, attrs)
                if filler(buf, name.encode(self.encoding, self.errors), st, next_offset, plus):
                    return 0  # the kernel's buffer is full
                offset = next_offset
            if not page:
                return 0

    def getxattr(self, path: bytes, name: bytes, value: Any, size: int, *args: Any) -> int:
        # the kernel asks for security.capability before every write(): keep it short
        ret = self.operations.getxattr(self._path(path), name.decode(self.encoding, self.errors))
        if not value:
            return len(ret)
        if len(ret) > size:
            return -errno.ERANGE
        ctypes.memmove(value, ret, len(ret))
        return len(ret)

    def create(self, path: bytes, mode: int, fip: Any) -> int:
        # mfusepy inspects the signature of operations.create on every call (~25 µs)
        fi = fip.contents
        fi.fh = self.operations.create(self._path(path), mode, fi.flags)
        return 0

    def read(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
        data = self.operations.read(None, size, offset, fip.contents.fh)
        length = len(data)
        if not length:
            return 0
        if type(data) is bytes:
            ctypes.memmove(buf, data, length)
        else:  # a bytearray or a view of one: copied once, straight into libfuse's buffer
            ctypes.memmove(buf, (ctypes.c_char * length).from_buffer(data), length)
        return length

    def write(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
        # the path is only needed (and decoded) while some inode has several names
        name = self._path(path) if self.operations.links else None
        return self.operations.write(name, ctypes.string_at(buf, size), offset, fip.contents.fh)


class KernelCache:
    """Tells the kernel to forget cached attributes/pages of a path (libfuse >= 3.1).

    With the path-based API each hard-link name is its own kernel inode, so a
    change made through one name must be pushed to the others explicitly.

    The kernel carries out an invalidation inside the daemon's write to /dev/fuse and
    waits there for the page locks of that inode -- which a READ request of the same
    inode holds until the daemon answers it.  So invalidations are never sent by a
    request (which may hold a lock such a READ waits for): they are queued and sent by
    one thread of their own that holds nothing -- or, by a request that holds no
    such lock, in its own thread (invalidate_now), never waiting for that queue.
    """

    def __init__(self) -> None:
        self._fuse: int | None = None
        self._invalidate = getattr(mfusepy._libfuse, "fuse_invalidate_path", None)
        if self._invalidate is not None:
            self._invalidate.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            self._invalidate.restype = ctypes.c_int
        self._queue: dict[str, None] = {}  # paths to invalidate, in order, without repeats
        self._queued = threading.Condition()
        self._closing = False
        self._sender: threading.Thread | None = None

    def capture(self) -> int:
        """Call from inside a FUSE callback (init): remembers the struct fuse pointer."""
        self._fuse = mfusepy._libfuse.fuse_get_context().contents.fuse
        if self.available and self._sender is None:
            self._sender = threading.Thread(target=self._send_loop, daemon=True,
                                            name="redisfs-invalidate")
            self._sender.start()
        return self._fuse or 0

    @property
    def available(self) -> bool:
        return bool(self._fuse) and self._invalidate is not None

    def invalidate(self, path: str) -> None:
        """Queue ``path`` for invalidation; returns at once (see the class docstring)."""
        if not self.available:
            return
        with self._queued:
            self._queue[path] = None
            self._queued.notify()

    def invalidate_now(self, path: str) -> None:
        """Invalidate ``path`` in this thread and return once the kernel did it.  Only
        for a request that holds no lock another request may wait for, and whose own
        name is not ``path`` (the kernel holds that name's pages while it runs)."""
        if self.available:
            self._invalidate(self._fuse, os.fsencode(path))

    def _send_loop(self) -> None:
        while True:
            with self._queued:
                while not self._queue and not self._closing:
                    self._queued.wait()
                if self._closing:
                    self._queue.clear()
                    return
                paths = list(self._queue)
                self._queue.clear()
            for path in paths:
                # ENOENT (the path is not in libfuse's table, e.g. never looked up) and
                # the like need nothing done
                self._invalidate(self._fuse, os.fsencode(path))

    def close(self) -> None:
        """Unmounting: stop the sender (pending invalidations no longer matter)."""
        with self._queued:
            self._closing = True
            self._queued.notify_all()


def fuse_context() -> tuple[int, int, int]:
    """(uid, gid, pid) of the process that made the current request."""
    return mfusepy.fuse_get_context()


Operations = mfusepy.Operations
